//! Info codes (diagnosis.md §4.4) that are not a final response: hold, codec change,
//! forwarding, T.38 switch-over, SRTP. They never make a call fail.

use super::config::DiagnosisConfig;
use super::sdpstate::{audio_of, codec_name};
use super::{DiagnosisInput, Reason, ReasonClass, Severity};
use crate::correlate::StreamDirection;
use crate::sdp::MediaKind;
use crate::sip::{Dialog, Method};

fn dir_of(from_caller: bool) -> StreamDirection {
    if from_caller {
        StreamDirection::CallerToCallee
    } else {
        StreamDirection::CalleeToCaller
    }
}

fn info(code: &'static str, dir: Option<StreamDirection>, detail: String, frames: Vec<u64>) -> Reason {
    Reason::new(code, ReasonClass::Info, Severity::Info, dir, detail, frames)
}

/// Runs the info rules for dialog `i`.
pub fn rules(input: &DiagnosisInput<'_>, i: usize, _cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let Some(d) = input.dialogs.get(i) else { return };
    hold(d, out);
    codec_change(input, i, d, out);
    forwarded(d, out);
    t38_fax(d, out);
    // `srtp_unanalyzable` is built with the stream codes (super::streams::call_rules).
    transfer(d, out);
}

/// `transfer`: every REFER (RFC 3515) with Refer-To, Referred-By (RFC 3892) and Replaces
/// (RFC 3891, attended when present), its answer and the outcome the sipfrag NOTIFYs report.
fn transfer(d: &Dialog, out: &mut Vec<Reason>) {
    for t in &d.transfers {
        let kind = if t.attended() { "Attended" } else { "Blind" };
        let mut frames = vec![t.refer.number];
        frames.extend(t.response.map(|(_, f)| f.number));
        frames.extend(t.notifies.iter().map(|n| n.at.number));
        let answer =
            t.response.map_or_else(|| "no answer".to_owned(), |(s, f)| format!("answered {s} (frame {})", f.number));
        let outcome = match t.outcome() {
            Some((s, f)) => format!("; the NOTIFY in frame {} reports {s} from the target", f.number),
            None if t.notifies.is_empty() => String::new(),
            None => "; the NOTIFYs report no final outcome".to_owned(),
        };
        out.push(info(
            "transfer",
            Some(dir_of(t.by_caller)),
            format!(
                "{kind} transfer: {} asked {} at {} (REFER frame {}) to call {}{}{}, {answer}{outcome}.",
                t.src,
                t.dst,
                t.refer.time,
                t.refer.number,
                t.refer_to,
                t.replaces.as_ref().map_or_else(String::new, |c| format!(" replacing dialog {c}")),
                t.referred_by.as_ref().map_or_else(String::new, |b| format!(", referred by {b}")),
            ),
            frames,
        ));
    }
}

/// `hold`: a re-offer with sendonly/inactive or c=0.0.0.0 (RFC 3264 §8.4), and its resume.
fn hold(d: &Dialog, out: &mut Vec<Reason>) {
    let Some(ans) = d.answered else { return };
    let mut held: Option<&crate::sip::SdpEvent> = None;
    for e in d.sdp.iter().filter(|e| e.at.time > ans.time) {
        let is_hold = e.session.is_hold();
        match held {
            None if is_hold && e.carried_by.bytes().any(|b| b.is_ascii_alphabetic()) => held = Some(e),
            Some(h) if !is_hold && e.from_caller == h.from_caller => {
                out.push(info(
                    "hold",
                    Some(dir_of(h.from_caller)),
                    format!(
                        "{} put the call on hold at {} (frame {}) and resumed at {} (frame {}).",
                        if h.from_caller { "The caller" } else { "The callee" },
                        h.at.time,
                        h.at.number,
                        e.at.time,
                        e.at.number
                    ),
                    vec![h.at.number, e.at.number],
                ));
                held = None;
            }
            _ => {}
        }
    }
    if let Some(h) = held {
        out.push(info(
            "hold",
            Some(dir_of(h.from_caller)),
            format!(
                "{} put the call on hold at {} (frame {}) and did not resume.",
                if h.from_caller { "The caller" } else { "The callee" },
                h.at.time,
                h.at.number
            ),
            vec![h.at.number],
        ));
    }
}

/// `codec_change`: the first codec of successive answers changes (e.g. PCMU → Opus).
fn codec_change(input: &DiagnosisInput<'_>, i: usize, d: &Dialog, out: &mut Vec<Reason>) {
    let mut prev: Option<(String, u64)> = None;
    for (k, e) in d.sdp.iter().enumerate() {
        // An answer is an SDP in a response, or in an ACK/PRACK after an offer in a response.
        let is_response = e.carried_by.bytes().all(|b| b.is_ascii_digit());
        if !is_response {
            continue;
        }
        let Some(m) = audio_of(e) else { continue };
        if m.port == 0 {
            continue;
        }
        let Some(&pt) = m.formats.first() else { continue };
        let Some(name) = codec_name(m, pt) else { continue };
        if let Some((old, _)) = &prev {
            if !old.eq_ignore_ascii_case(&name) {
                let offer = d.sdp[..k].iter().rev().find(|o| o.from_caller != e.from_caller).map(|o| o.at.number);
                let mut frames: Vec<u64> = offer.into_iter().collect();
                frames.push(e.at.number);
                // First packet of a stream of this call carrying the new payload type.
                let follow = input
                    .streams
                    .iter()
                    .zip(input.pairing)
                    .filter(|(s, p)| p.is_some_and(|p| p.dialog == i) && s.pts_seen & (1u128 << (pt & 0x7F)) != 0)
                    .map(|(s, _)| s.first)
                    .filter(|f| f.time >= e.at.time)
                    .min_by_key(|f| f.time);
                frames.extend(follow.map(|f| f.number));
                out.push(info(
                    "codec_change",
                    None,
                    format!(
                        "Codec renegotiated from {old} to {name} (answer in frame {}){}.",
                        e.at.number,
                        if follow.is_some() { ", and media followed" } else { "" }
                    ),
                    frames,
                ));
            }
        }
        prev = Some((name, e.at.number));
    }
}

/// `forwarded`: 181, Diversion or History-Info.
fn forwarded(d: &Dialog, out: &mut Vec<Reason>) {
    let Some(invite) = d.first_invite else { return };
    // A 3xx to an INVITE followed within `follow_ms` (2000 ms, diagnosis.md §4.2 `moved`) by a new
    // INVITE of the same call is a followed redirect: forwarded, not `moved`.
    let redirect = d.messages.iter().filter(|m| m.cseq.1 == Method::Invite).find_map(|r| {
        let status = r.status.filter(|s| (300..400).contains(s))?;
        let next = d.messages.iter().find(|n| {
            n.method == Some(Method::Invite)
                && n.cseq.0 > r.cseq.0
                && !n.retransmission
                && (0..=super::ms_ns(FOLLOW_MS)).contains(&n.at.time.0.saturating_sub(r.at.time.0))
        })?;
        Some((status, r.at.number, next.at.number))
    });
    if let Some((status, at, next)) = redirect {
        out.push(info(
            "forwarded",
            None,
            format!("Redirected: {status} in frame {at} was followed by a new INVITE in frame {next}."),
            vec![invite.number, at, next],
        ));
        return;
    }
    let m181 = d.messages.iter().find(|m| m.status == Some(181)).map(|m| m.at.number);
    if d.diverted || m181.is_some() {
        let mut frames = vec![invite.number];
        frames.extend(m181);
        out.push(info(
            "forwarded",
            None,
            if d.diverted {
                format!("The INVITE (frame {}) carries Diversion/History-Info: a forwarded call.", invite.number)
            } else {
                format!("181 Call Is Being Forwarded in frame {}.", m181.unwrap_or(0))
            },
            frames,
        ));
    }
}

/// A 3xx followed by a new INVITE this soon is a followed redirect (diagnosis.md §4.2 `moved`).
const FOLLOW_MS: u64 = 2000;

/// `t38_fax`: a T.38 offer accepted (2xx with `m=image` port ≠ 0). UDPTL is not measured, so
/// the detail does not claim it flowed.
fn t38_fax(d: &Dialog, out: &mut Vec<Reason>) {
    let accepted = d.sdp.iter().find(|e| {
        e.carried_by.starts_with('2') && e.session.media.iter().any(|m| m.kind == MediaKind::Image && m.port != 0)
    });
    if let Some(a) = accepted {
        let offer = d
            .sdp
            .iter()
            .rev()
            .find(|o| o.at.time <= a.at.time && o.from_caller != a.from_caller)
            .map(|o| (o.at.number, o.from_caller));
        let mut frames = vec![a.at.number];
        frames.extend(offer.map(|o| o.0));
        out.push(info(
            "t38_fax",
            offer.map(|o| dir_of(o.1)),
            format!("Switch to T.38 fax accepted in frame {} (UDPTL flow not measured).", a.at.number),
            frames,
        ));
    }
}
