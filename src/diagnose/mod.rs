//! Stage 8 — diagnose: a verdict for every call (diagnosis.md).
//!
//! Input: a dialog (and later its streams and quality). Output: [`Verdict`] with [`Reason`]s,
//! each citing the frames that prove it. State: none.
//!
//! Implemented so far: the final-response rules of diagnosis.md §4.6 (the code, class and
//! severity a final response to the initial INVITE implies) and the INVITE-timeout rules of §4.1.
//! Media, retransmission, NAT and cross-leg rules are not evaluated yet; a call they would flag
//! still reads `ok` here.

use serde::Serialize;

use crate::correlate::StreamDirection;
use crate::sip::{Dialog, Method};
use crate::time::Timestamp;

/// Class of a reason (diagnosis.md §2). `Info` never makes a call fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonClass {
    /// Route chosen wrong or refused.
    Routing,
    /// Dialog could not be established or maintained.
    Signaling,
    /// Media flowed badly or not at all.
    Media,
    /// Records what happened; never a failure.
    Info,
}

/// Verdict class of a call: `ok` or the class of the deciding reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictClass {
    /// No fail/degrade reason.
    Ok,
    /// Deciding reason is signaling.
    Signaling,
    /// Deciding reason is media.
    Media,
    /// Deciding reason is routing.
    Routing,
}

/// Impact tier used by the precedence rule (§3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Broke the call.
    Fail,
    /// Degraded it.
    Degrade,
    /// Informational.
    Info,
}

/// One finding (contract `Reason`, with the additive `severity`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reason {
    /// Reason code (diagnosis.md §4).
    pub code: &'static str,
    /// Class of the code.
    pub class: ReasonClass,
    /// Direction relative to the caller, when the reason has one.
    pub direction: Option<StreamDirection>,
    /// One sentence a helpdesk can paste into a ticket.
    pub detail: String,
    /// Frame numbers that prove it, ascending.
    pub frames: Vec<u64>,
    /// Impact tier.
    pub severity: Severity,
}

/// A call's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// ok, or the class of `reasons[0]`.
    pub class: VerdictClass,
    /// Reasons sorted by severity, class order, first frame, code (§3).
    pub reasons: Vec<Reason>,
}

/// RFC 3261 Timer B: an INVITE client transaction gives up after 64·T1 = 32 s.
const TIMER_B_NS: i64 = 32_000_000_000;
/// RFC 3261 Timer C (proxy INVITE timer, "> 3 min"), diagnosis.md `no_final_response`.
const TIMER_C_NS: i64 = 180_000_000_000;

/// Diagnoses one call from its signalling; `capture_end` is the last frame time of the input.
pub fn diagnose_call(dialog: &Dialog, capture_end: Timestamp) -> Verdict {
    let mut reasons = Vec::new();
    if let Some(r) = final_response_reason(dialog, capture_end) {
        reasons.push(r);
    }
    verdict_from(reasons)
}

/// Applies the precedence rule of diagnosis.md §3.
pub fn verdict_from(mut reasons: Vec<Reason>) -> Verdict {
    reasons.sort_by(|a, b| {
        (a.severity, a.class, a.frames.first(), a.code).cmp(&(b.severity, b.class, b.frames.first(), b.code))
    });
    let class = match reasons.first() {
        Some(r) if r.severity != Severity::Info => match r.class {
            ReasonClass::Routing => VerdictClass::Routing,
            ReasonClass::Signaling => VerdictClass::Signaling,
            ReasonClass::Media => VerdictClass::Media,
            ReasonClass::Info => VerdictClass::Ok,
        },
        _ => VerdictClass::Ok,
    };
    Verdict { class, reasons }
}

/// The code a final response to the initial INVITE implies (diagnosis.md §4.6).
fn final_status_code(status: u16, cancelled: bool) -> Option<(&'static str, ReasonClass, Severity)> {
    use ReasonClass::{Info, Routing, Signaling};
    use Severity::{Fail, Info as I};
    let code = match status {
        200..=299 => return None,
        300..=399 => ("moved", Routing, Fail),
        400 => ("malformed_sip", Signaling, Fail),
        401 | 407 => ("auth_failure", Signaling, Fail),
        403 => ("forbidden", Routing, Fail),
        404 | 410 | 604 => ("not_found", Routing, Fail),
        408 => ("request_timeout", Routing, Fail),
        415 | 420 | 421 | 422 => ("extension_unsupported", Signaling, Fail),
        480 => ("temporarily_unavailable", Routing, Fail),
        482 | 483 => ("routing_loop", Routing, Fail),
        484 | 485 => ("address_incomplete", Routing, Fail),
        486 | 600 => ("busy", Info, I),
        487 if cancelled => ("cancelled_by_caller", Info, I),
        488 | 606 => ("not_acceptable", Signaling, Fail),
        503 => ("service_unavailable", Routing, Fail),
        500..=599 => ("server_error", Signaling, Fail),
        603 => ("declined", Info, I),
        _ => ("unclassified_failure", Signaling, Fail),
    };
    Some(code)
}

fn final_response_reason(d: &Dialog, capture_end: Timestamp) -> Option<Reason> {
    let invite = d.first_invite?;
    let to_user = d.to_user.as_deref().unwrap_or("?");
    if let Some((status, at)) = d.final_response {
        let cancelled = d.messages.iter().any(|m| m.method == Some(Method::Cancel));
        let (code, class, severity) = final_status_code(status, cancelled)?;
        let direction = (code == "cancelled_by_caller").then_some(StreamDirection::CallerToCallee);
        let detail = format!(
            "INVITE to {to_user} (frame {}, {}) answered {status} in frame {} after {:.0} ms.",
            invite.number,
            invite.time,
            at.number,
            at.time.ms_since(invite.time)
        );
        let mut frames = vec![invite.number, at.number];
        frames.sort_unstable();
        frames.dedup();
        return Some(Reason { code, class, direction, detail, frames, severity });
    }
    // No final response: claim only what the capture covers (diagnosis.md §1 principle 2).
    let invites: Vec<u64> = invite_copies(d);
    let last_copy =
        d.messages.iter().filter(|m| m.method == Some(Method::Invite)).map(|m| m.at.time).max().unwrap_or(invite.time);
    let any_response = d.messages.iter().any(|m| m.status.is_some() && m.cseq.1 == Method::Invite);
    let waited = capture_end.0.saturating_sub(last_copy.0);
    if !any_response && waited >= TIMER_B_NS {
        return Some(Reason {
            code: "invite_timeout",
            class: ReasonClass::Signaling,
            direction: Some(StreamDirection::CallerToCallee),
            detail: format!(
                "INVITE to {to_user} got no response at all in {:.1} s after the last of {} copies (Timer B is 32 s).",
                waited as f64 / 1e9,
                invites.len()
            ),
            frames: invites,
            severity: Severity::Fail,
        });
    }
    let since_first = capture_end.0.saturating_sub(invite.time.0);
    if any_response && since_first >= TIMER_C_NS && !d.messages.iter().any(|m| m.method == Some(Method::Cancel)) {
        return Some(Reason {
            code: "no_final_response",
            class: ReasonClass::Signaling,
            direction: Some(StreamDirection::CallerToCallee),
            detail: format!(
                "INVITE to {to_user} got provisional responses but no final response in {:.0} s (Timer C is 180 s).",
                since_first as f64 / 1e9
            ),
            frames: invites,
            severity: Severity::Fail,
        });
    }
    None
}

fn invite_copies(d: &Dialog) -> Vec<u64> {
    let mut frames: Vec<u64> =
        d.messages.iter().filter(|m| m.method == Some(Method::Invite)).map(|m| m.at.number).take(32).collect();
    frames.sort_unstable();
    frames.dedup();
    frames
}
