//! Routing rules (diagnosis.md §4.2) that are not a plain final response: emergency calls,
//! caller-ID format on trunk legs, unanswered ringing.

use super::config::DiagnosisConfig;
use super::{DiagnosisInput, Reason, ReasonClass, Severity};
use crate::correlate::StreamDirection;
use crate::sip::{Dialog, Method};

/// Runs the routing rules for dialog `i`.
pub fn rules(input: &DiagnosisInput<'_>, i: usize, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let Some(d) = input.dialogs.get(i) else { return };
    emergency(input, d, cfg, out);
    caller_id_format(d, cfg, out);
    unanswered_ringing(d, cfg, out);
}

/// The dialled digits of a user part: `tel:`/`sip:` user with visual separators removed.
fn digits(user: &str) -> String {
    user.chars().filter(|c| !matches!(c, '-' | '.' | '(' | ')' | ' ')).collect()
}

/// The emergency number dialled, if any: the To user (Request-URI user) as digits with one
/// configured access code stripped, or a `urn:service:sos` URI (RFC 5031).
pub fn emergency_number(d: &Dialog, cfg: &DiagnosisConfig) -> Option<String> {
    if d.to_uri.as_deref().is_some_and(|u| u.to_ascii_lowercase().contains("urn:service:sos")) {
        return Some("urn:service:sos".to_owned());
    }
    let user = digits(d.to_user.as_deref()?);
    let numbers = &cfg.emergency.numbers;
    if numbers.contains(&user) {
        return Some(user);
    }
    cfg.emergency
        .access_codes
        .iter()
        .filter_map(|code| user.strip_prefix(code.as_str()))
        .find(|rest| numbers.iter().any(|n| n == rest))
        .map(str::to_owned)
}

/// `emergency_call` (info, every call to an emergency number) and `emergency_routing`
/// (`failed`, `abandoned`).
fn emergency(input: &DiagnosisInput<'_>, d: &Dialog, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let Some(number) = emergency_number(d, cfg) else { return };
    let Some(invite) = d.first_invite else { return };
    let test = cfg.emergency.test_numbers.contains(&number);
    let mut frames = vec![invite.number];
    frames.extend(d.final_response.map(|(_, f)| f.number));
    let outcome = match d.final_response {
        Some((s, _)) => format!("final {s}"),
        None => "no final response".to_owned(),
    };
    out.push(Reason::new(
        "emergency_call",
        ReasonClass::Info,
        Severity::Info,
        Some(StreamDirection::CallerToCallee),
        format!(
            "{} call to {number} from {} (frame {}), {outcome}; location not checked (no Geolocation rule configured).",
            if test { "Emergency test" } else { "Emergency" },
            d.from_user.as_deref().unwrap_or("?"),
            invite.number
        ),
        frames.clone(),
    ));
    let cancelled_before_ringing =
        d.cancel.is_some_and(|c| d.first_provisional.is_none_or(|p| c.time < p.time)) && d.answered.is_none();
    // The same Timer B/C judgement as `invite_timeout`/`no_final_response` and the outcome.
    let timed_out = matches!(
        crate::sip::no_final_state(
            d,
            input.capture_end,
            super::ms_ns(cfg.sip.timer_b_s.saturating_mul(1000)),
            super::ms_ns(cfg.sip.timer_c_s.saturating_mul(1000)),
        ),
        Some(crate::sip::NoFinal::TimerB { .. } | crate::sip::NoFinal::TimerC { .. })
    );
    let (sub, severity) = if cancelled_before_ringing {
        frames.extend(d.cancel.map(|c| c.number));
        ("abandoned", Severity::Degrade)
    } else if d.final_response.is_some_and(|(s, _)| s >= 300) || timed_out {
        ("failed", Severity::Fail)
    } else {
        return;
    };
    out.push(
        Reason::new(
            "emergency_routing",
            ReasonClass::Routing,
            severity,
            Some(StreamDirection::CallerToCallee),
            format!(
                "Emergency call to {number} {}: {outcome}.",
                if sub == "abandoned" { "cancelled by the caller before any ringing" } else { "did not connect" }
            ),
            frames,
        )
        .with_subcode(sub),
    );
}

/// `caller_id_format` on INVITEs sent to a configured trunk host (`caller_id.trunk_hosts`;
/// without a site map nothing else says which legs go to a trunk).
fn caller_id_format(d: &Dialog, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let (Some(invite), Some(callee)) = (d.first_invite, d.callee) else { return };
    let to_trunk = cfg.caller_id.trunk_hosts.iter().any(|h| h.parse::<std::net::IpAddr>().ok() == Some(callee.ip()));
    if !to_trunk {
        return;
    }
    let Some(identity) = d.p_asserted_identity.as_deref().or(d.from_user.as_deref()) else { return };
    let user = identity.trim_start_matches("sip:").trim_start_matches("tel:");
    let user = user.split(['@', ';']).next().unwrap_or(user);
    let Ok(pattern) = regex_lite::Regex::new(&cfg.caller_id.trunk_pattern) else { return };
    if pattern.is_match(user) {
        return;
    }
    let is_extension = !user.is_empty()
        && user.len() <= cfg.caller_id.extension_max_digits
        && user.bytes().all(|b| b.is_ascii_digit());
    let refused = matches!(d.final_response, Some((403 | 484, _)))
        || d.final_reason.as_ref().and_then(|r| r.q850_cause).is_some_and(|c| c == 21 || c == 28);
    let mut frames = vec![invite.number];
    if refused {
        frames.extend(d.final_response.map(|(_, f)| f.number));
    }
    out.push(
        Reason::new(
            "caller_id_format",
            ReasonClass::Routing,
            if refused { Severity::Fail } else { Severity::Degrade },
            Some(StreamDirection::CallerToCallee),
            format!(
                "Calling identity {user} sent to trunk {} {} (expected {}){}.",
                callee.ip(),
                if is_extension { "is an internal extension" } else { "is not E.164" },
                cfg.caller_id.trunk_pattern,
                if refused { "; the trunk refused the call" } else { "" }
            ),
            frames,
        )
        .with_subcode(if is_extension { "extension_exposed" } else { "not_e164" }),
    );
}

/// `unanswered_ringing`: 18x then no 2xx for ≥ `ring_s`, ended by CANCEL/487/408/480, no
/// forwarding (181, Diversion/History-Info).
fn unanswered_ringing(d: &Dialog, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let (Some(invite), Some(ring)) = (d.first_invite, d.first_provisional) else { return };
    if d.answered.is_some() || d.diverted || d.messages.iter().any(|m| m.status == Some(181)) {
        return;
    }
    let end = match d.final_response {
        Some((487 | 408 | 480, f)) => f,
        _ => match d.cancel {
            Some(c) => c,
            None => return,
        },
    };
    let ring_s = end.time.ms_since(ring.time) / 1000.0;
    if ring_s < cfg.diagnosis.unanswered_ringing.ring_s as f64 {
        return;
    }
    let mut frames = vec![invite.number, ring.number, end.number];
    frames.extend(d.cancel.map(|c| c.number));
    let ended = if d.messages.iter().any(|m| m.method == Some(Method::Cancel)) { "cancelled" } else { "timed out" };
    out.push(
        Reason::new(
            "unanswered_ringing",
            ReasonClass::Routing,
            Severity::Degrade,
            None,
            format!(
                "Rang {ring_s:.0} s (18x in frame {}) without answer or forwarding, then {ended} (frame {}); the limit is {} s.",
                ring.number, end.number, cfg.diagnosis.unanswered_ringing.ring_s
            ),
            frames,
        )
        .metric("ring_s", ring_s),
    );
}
