//! `registrations[]` records and "was this extension registered at time t?" (issue 10).
//!
//! The SIP stage ([`crate::sip::register`]) keeps one [`Registration`] per address-of-record with
//! its state at the capture's end. Whether an AOR was bound *at a given moment* is rebuilt here
//! from the REGISTER dialogs' timelines (every first-copy 2xx to a REGISTER starts a binding;
//! a binding lasts the expiry the SIP stage recorded, else RFC 3261 §10.2.1.1's default of
//! 3600 s). Known approximation: every 2xx of an AOR is given the expiry of its *last* 2xx,
//! because the per-message expiry is not kept in the dialog timeline; a de-registration
//! (`unregistered` status) ends the binding at its 2xx.
//!
//! It also judges each AOR's attempt history (diagnosis.md §4.5): `registration_failed`
//! (incl. subcode `expired`) on the registration, and the per-AOR churn figures
//! ([`RegisterActivity`]) the sites stage aggregates into `registration_churn`.

use serde::Serialize;

use crate::diagnose::{DiagnosisConfig, Reason, ReasonClass, Severity};
use crate::pipeline::Analysis;
use crate::report::records::RegistrationRecord;
use crate::sip::dialog::TRANSACTION_TIMEOUT_NS;
use crate::sip::register::{AttemptOutcome, RegisterAttempt};
use crate::sip::{Dialog, Method, Registration, RegistrationStatus};
use crate::time::Timestamp;

/// One hour, ns: the window of the churn rule ("per AOR per hour", diagnosis.md §4.5).
const HOUR_NS: i64 = 3_600_000_000_000;

/// An AOR's REGISTER activity: the inputs of `registration_churn` (diagnosis.md §4.5).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegisterActivity {
    /// Most REGISTER transactions (attempts) inside any 60-minute window.
    pub max_attempts_per_hour: u32,
    /// The limit: max(`min_per_hour`, `expiry_factor` × 3600 / the shortest granted expiry).
    pub attempts_limit_per_hour: f64,
    /// Most Contact or source `ip:port` changes between consecutive attempts inside any 60-minute window.
    pub max_address_changes_per_hour: u32,
    /// Longest run of consecutive failed attempts.
    pub max_consecutive_failures: u32,
    /// Any of the three limits was reached: the AOR churns.
    pub churning: bool,
    /// A 2xx granted a binding at some time in the capture.
    pub ever_granted: bool,
    /// Frame of the AOR's first REGISTER.
    pub first_frame: u64,
}

/// Reason phrases of the finals a registrar sends (RFC 3261 §21), for details.
fn register_phrase(code: u16) -> &'static str {
    match code {
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        _ => "response",
    }
}

/// The churn figures of one AOR's history, `None` without history.
pub fn activity(history: &[RegisterAttempt], cfg: &DiagnosisConfig) -> Option<RegisterActivity> {
    let first = history.first()?;
    let c = &cfg.diagnosis.registration_churn;
    let mut max_attempts = 0u32;
    let mut max_changes = 0u32;
    for (i, a) in history.iter().enumerate() {
        let end = a.first.time.0.saturating_add(HOUR_NS);
        let window: Vec<&RegisterAttempt> = history.iter().skip(i).take_while(|b| b.first.time.0 < end).collect();
        max_attempts = max_attempts.max(u32::try_from(window.len()).unwrap_or(u32::MAX));
        let changes = window
            .windows(2)
            .filter(|w| matches!(w, [x, y] if x.source != y.source || x.contact_hash != y.contact_hash))
            .count();
        max_changes = max_changes.max(u32::try_from(changes).unwrap_or(u32::MAX));
    }
    let (mut run, mut max_run) = (0u32, 0u32);
    for a in history {
        run = if a.failed() { run + 1 } else { 0 };
        max_run = max_run.max(run);
    }
    let shortest = history.iter().filter_map(|a| a.expires_s).filter(|&e| e > 0).min();
    let implied = shortest.map_or(0.0, |e| 3600.0 / f64::from(e));
    let limit = f64::from(c.min_per_hour).max(c.expiry_factor * implied);
    Some(RegisterActivity {
        max_attempts_per_hour: max_attempts,
        attempts_limit_per_hour: (limit * 1000.0).round() / 1000.0,
        max_address_changes_per_hour: max_changes,
        max_consecutive_failures: max_run,
        churning: f64::from(max_attempts) > limit
            || max_changes >= c.max_address_changes
            || max_run >= c.max_consecutive_failures,
        ever_granted: history.iter().any(|a| a.outcome == AttemptOutcome::Granted),
        first_frame: first.first.number,
    })
}

/// `registration_failed` reasons of one registration (diagnosis.md §4.5): attempts whose final
/// is ≥ 300 and not resolved by a challenge or 423 retry, or unanswered within Timer F; subcode
/// `expired` when a granted binding lapsed unrefreshed while the capture continued. An
/// unretried challenge counts only once Timer F has passed before the capture's end (principle 2).
/// Severity `fail` when the AOR ends unregistered because of it, `degrade` when a later
/// attempt recovered.
pub fn registration_reasons(reg: &Registration, capture_end: Timestamp, cfg: &DiagnosisConfig) -> Vec<Reason> {
    let mut out = Vec::new();
    let covered = |a: &RegisterAttempt| match a.outcome {
        AttemptOutcome::ChallengeUnanswered => {
            a.final_at.is_some_and(|f| capture_end.0.saturating_sub(f.time.0) >= TRANSACTION_TIMEOUT_NS)
        }
        _ => true,
    };
    let failed: Vec<&RegisterAttempt> = reg.history.iter().filter(|a| a.failed() && covered(a)).collect();
    if let Some(last) = failed.last() {
        let recovered = reg.history.iter().rev().take_while(|a| !std::ptr::eq(*a, *last)).any(|a| !a.failed());
        let how = match (last.outcome, last.final_code) {
            (AttemptOutcome::TimedOut, _) | (_, None) => "no final response within Timer F (32 s)".to_owned(),
            (AttemptOutcome::ChallengeUnanswered, Some(code)) => {
                format!("{code} {} never answered with a retry", register_phrase(code))
            }
            (_, Some(code)) => {
                format!("{code} {}{}", register_phrase(code), if last.challenged { " after a challenge" } else { "" })
            }
        };
        let frames: Vec<u64> = failed.iter().flat_map(|a| a.frames.iter().copied()).collect();
        let detail = format!(
            "{} of {} REGISTER attempts for {} failed; the last at {} from {}: {how}{}.",
            failed.len(),
            reg.history.len(),
            reg.aor,
            last.first.time,
            last.source,
            if recovered { "; a later attempt succeeded" } else { "" }
        );
        let severity = if recovered { Severity::Degrade } else { Severity::Fail };
        out.push(
            Reason::new("registration_failed", ReasonClass::Signaling, severity, None, detail, frames)
                .metric("failed_attempts", failed.len() as f64)
                .metric("attempts", reg.history.len() as f64)
                .finish(cfg.diagnosis.max_frames),
        );
    }
    if reg.status == RegistrationStatus::Expired {
        let grant = reg.history.iter().rev().find(|a| a.outcome == AttemptOutcome::Granted);
        if let (Some(g), Some(exp)) = (grant, reg.expires_s) {
            let granted_at = g.final_at.map_or(g.first.time, |f| f.time);
            let lapse = Timestamp(granted_at.0.saturating_add(i64::from(exp).saturating_mul(1_000_000_000)));
            let detail = format!(
                "The binding of {} granted at {granted_at} for {exp} s lapsed at {lapse} without a refresh; the capture went on {:.1} s past it.",
                reg.aor,
                capture_end.ms_since(lapse) / 1000.0
            );
            out.push(
                Reason::new(
                    "registration_failed",
                    ReasonClass::Signaling,
                    Severity::Fail,
                    None,
                    detail,
                    g.frames.clone(),
                )
                .with_subcode("expired")
                .metric("expires_s", f64::from(exp))
                .metric("unrefreshed_s", capture_end.ms_since(lapse) / 1000.0)
                .finish(cfg.diagnosis.max_frames),
            );
        }
    }
    out
}

/// RFC 3261 §10.2.1.1: a registrar without an explicit expiry grants 3600 s.
const DEFAULT_EXPIRES_S: u32 = 3600;

/// Contract status name; `Pending` (capture ended inside the transaction) is mapped onto the
/// contract's five values: still `registered` if the last final was a 2xx, `challenged` after a
/// 401/407, otherwise `failed` (no binding was ever confirmed).
pub fn status_name(reg: &Registration) -> &'static str {
    match reg.status {
        RegistrationStatus::Registered => "registered",
        RegistrationStatus::Failed => "failed",
        RegistrationStatus::Expired => "expired",
        RegistrationStatus::Unregistered => "unregistered",
        RegistrationStatus::Challenged => "challenged",
        RegistrationStatus::Pending => match reg.last_code {
            Some(200..=299) => "registered",
            Some(401 | 407) => "challenged",
            _ => "failed",
        },
    }
}

/// The user part of a SIP/SIPS/TEL URI (`sip:1001@pbx` → `1001`), without parameters.
pub fn uri_user(uri: &str) -> &str {
    let rest = uri.split_once(':').map_or(uri, |(_, r)| r);
    let user = rest.split_once('@').map_or(rest, |(u, _)| u);
    user.split([';', '?', '>']).next().unwrap_or(user)
}

/// Digits of a phone number or extension (`+49 (30) 1234-56` → `4930123456`).
pub fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// True when `s` is a phone number in some format: digits with `+ - ( ) . /` and spaces.
pub fn is_phone_like(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_digit()) && s.bytes().all(|b| b.is_ascii_digit() || b"+-(). /".contains(&b))
}

/// True when two user parts name the same number: equal text, or both phone-like with equal
/// digits (at least 2).
pub fn same_user(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    let (da, db) = (digits(a), digits(b));
    is_phone_like(a) && is_phone_like(b) && da.len() >= 2 && da == db
}

/// How an AOR stood at one moment, rebuilt from its REGISTER dialogs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingAt {
    /// A 2xx granted a binding that had not lapsed.
    Registered,
    /// REGISTER traffic for the AOR was seen before, but no binding was valid then.
    NotRegistered,
    /// The first binding of the AOR came only after that moment.
    NotYetRegistered,
    /// No REGISTER of the AOR in the capture at all.
    Unknown,
}

/// Times of first-copy 2xx responses to REGISTER for `aor` (dialogs whose To URI is the AOR),
/// and the time of the first REGISTER request.
fn register_events(dialogs: &[Dialog], aor: &str) -> (Vec<Timestamp>, Option<Timestamp>) {
    let mut grants = Vec::new();
    let mut first_request: Option<Timestamp> = None;
    for d in dialogs.iter().filter(|d| d.first_invite.is_none() && d.to_uri.as_deref() == Some(aor)) {
        for m in d.messages.iter().filter(|m| m.cseq.1 == Method::Register && !m.retransmission && !m.mirror_duplicate)
        {
            match (m.method, m.status) {
                (Some(Method::Register), _) => {
                    first_request = Some(first_request.map_or(m.at.time, |t| t.min(m.at.time)));
                }
                (None, Some(200..=299)) => grants.push(m.at.time),
                _ => {}
            }
        }
    }
    grants.sort();
    (grants, first_request)
}

/// Whether `reg` held a binding at `t`.
pub fn binding_at(dialogs: &[Dialog], reg: &Registration, t: Timestamp) -> BindingAt {
    let (grants, first_request) = register_events(dialogs, &reg.aor);
    let Some(first_seen) = first_request.or(Some(reg.first_time)) else {
        return BindingAt::Unknown;
    };
    let expires_ns =
        i64::from(reg.expires_s.filter(|&e| e > 0).unwrap_or(DEFAULT_EXPIRES_S)).saturating_mul(1_000_000_000);
    let last_grant = grants.last().copied();
    let valid = grants.iter().any(|&g| {
        let ends_binding = reg.status == RegistrationStatus::Unregistered && Some(g) == last_grant;
        g <= t && !ends_binding && t.0 < g.0.saturating_add(expires_ns) && !grants_after_unreg(reg, last_grant, g, t)
    });
    if valid {
        BindingAt::Registered
    } else if first_seen > t {
        if grants.is_empty() {
            BindingAt::Unknown
        } else {
            BindingAt::NotYetRegistered
        }
    } else {
        BindingAt::NotRegistered
    }
}

/// A de-registration 2xx between a grant `g` and `t` ends that grant.
fn grants_after_unreg(reg: &Registration, last_grant: Option<Timestamp>, g: Timestamp, t: Timestamp) -> bool {
    reg.status == RegistrationStatus::Unregistered && last_grant.is_some_and(|u| u > g && u <= t)
}

/// For a call that ended 404 or 480: the registration of its callee (To user) when that AOR was
/// not registered at the moment of the final response. The diagnosis can cite it ("extension
/// 1001 was not registered: last REGISTER failed 403").
pub fn callee_unregistered<'a>(
    dialogs: &[Dialog],
    registrations: &'a [Registration],
    call: &Dialog,
) -> Option<(&'a Registration, BindingAt)> {
    let (code, at) = call.final_response?;
    if !matches!(code, 404 | 480) {
        return None;
    }
    let user = call.to_user.as_deref()?;
    let reg = registrations.iter().find(|r| same_user(uri_user(&r.aor), user))?;
    match binding_at(dialogs, reg, at.time) {
        b @ (BindingAt::NotRegistered | BindingAt::NotYetRegistered) => Some((reg, b)),
        _ => None,
    }
}

/// Builds `registrations[]`.
pub fn build(analysis: &Analysis) -> Vec<RegistrationRecord> {
    let mut records: Vec<RegistrationRecord> = analysis
        .registrations
        .iter()
        .map(|r| RegistrationRecord {
            aor: r.aor.clone(),
            contact: r.contact.clone(),
            source: r.source,
            user_agent: r.user_agent.clone(),
            first_time: r.first_time,
            last_time: r.last_time,
            expires_s: r.expires_s,
            status: status_name(r),
            last_code: r.last_code,
            attempts: r.attempts,
            failures: r.failures,
            missed_calls: Vec::new(),
            reasons: registration_reasons(r, analysis.capture_end, &analysis.diagnosis),
            activity: activity(&r.history, &analysis.diagnosis),
        })
        .collect();
    for d in analysis.dialogs.iter().filter(|d| d.first_invite.is_some()) {
        if let Some((reg, _)) = callee_unregistered(&analysis.dialogs, &analysis.registrations, d) {
            if let Some(rec) = records.iter_mut().find(|x| x.aor == reg.aor) {
                // Bounded by the number of calls, which the dialog table already bounds.
                rec.missed_calls.push(d.call_id.clone());
            }
        }
    }
    records
}

/// Writes the registrations table (`callscope registrations`).
pub fn write_table(records: &[RegistrationRecord], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<36} {:<12} {:>4} {:>8} {:>8} {:>8} {:<22} {:<27} {:<27} {:<24} MISSED CALLS",
        "AOR", "STATUS", "CODE", "EXPIRES", "ATTEMPTS", "FAILURES", "SOURCE", "FIRST (UTC)", "LAST (UTC)", "USER AGENT"
    )?;
    for r in records {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
        writeln!(
            out,
            "{:<36} {:<12} {:>4} {:>8} {:>8} {:>8} {:<22} {:<27} {:<27} {:<24} {}",
            r.aor,
            r.status,
            opt(r.last_code.map(|c| c.to_string())),
            opt(r.expires_s.map(|c| c.to_string())),
            r.attempts,
            r.failures,
            opt(r.source.map(|s| s.to_string())),
            r.first_time.to_string(),
            r.last_time.to_string(),
            opt(r.user_agent.clone()),
            if r.missed_calls.is_empty() { "-".to_owned() } else { r.missed_calls.join(",") }
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::capture::FrameRef;
    use crate::sip::MessageSummary;
    use std::net::SocketAddr;

    fn at(ms: i64) -> FrameRef {
        FrameRef { file: 0, number: u64::try_from(ms).unwrap(), time: Timestamp(ms * 1_000_000) }
    }

    fn msg(ms: i64, method: Option<Method>, status: Option<u16>) -> MessageSummary {
        let a: SocketAddr = "10.0.0.1:5060".parse().unwrap();
        MessageSummary {
            at: at(ms),
            src: a,
            dst: a,
            method,
            status,
            cseq: (1, Method::Register),
            retransmission: false,
            has_sdp: false,
            mirror_duplicate: false,
        }
    }

    #[test]
    fn flags_a_404_to_an_extension_whose_registration_failed() {
        let register = Dialog {
            call_id: "reg-1".into(),
            to_uri: Some("sip:2002@pbx".into()),
            messages: vec![msg(1000, Some(Method::Register), None), msg(1100, None, Some(403))],
            ..Dialog::default()
        };
        let call = Dialog {
            call_id: "call-1".into(),
            to_user: Some("2002".into()),
            first_invite: Some(at(5000)),
            final_response: Some((404, at(5100))),
            ..Dialog::default()
        };
        let reg = Registration {
            aor: "sip:2002@pbx".into(),
            status: RegistrationStatus::Failed,
            last_code: Some(403),
            first_time: Timestamp(1_000_000_000),
            ..Registration::default()
        };
        let dialogs = vec![register.clone(), call.clone()];
        let regs = vec![reg.clone()];
        let (found, state) = callee_unregistered(&dialogs, &regs, &call).unwrap();
        assert_eq!((found.aor.as_str(), state), ("sip:2002@pbx", BindingAt::NotRegistered));
        // The same extension with a granted binding (200, 3600 s) is not flagged.
        let ok =
            Dialog { messages: vec![msg(1000, Some(Method::Register), None), msg(1100, None, Some(200))], ..register };
        let reg_ok = Registration { status: RegistrationStatus::Registered, expires_s: Some(3600), ..reg };
        assert!(callee_unregistered(&[ok, call.clone()], &[reg_ok], &call).is_none());
    }

    #[test]
    fn user_part_and_digit_matching() {
        assert_eq!(uri_user("sip:1001@pbx.example;transport=udp"), "1001");
        assert_eq!(uri_user("tel:+4930123456;phone-context=x"), "+4930123456");
        assert_eq!(digits("+49 (30) 1234-56"), "4930123456");
        assert!(same_user("1001", "1001"));
        assert!(same_user("+4930123456", "4930123456"));
        assert!(!same_user("1001", "1002"));
        assert!(!same_user("alice", "bob"));
    }
}
