//! Signaling rules (diagnosis.md §4.1) and the final-response table (§4.6).

use std::collections::BTreeMap;

use super::config::DiagnosisConfig;
use super::sdpstate::{initial_cseq, message_at};
use super::{message_direction, ms_ns, secs, DiagnosisInput, Reason, ReasonClass, Severity};
use crate::correlate::StreamDirection;
use crate::sdp::MediaKind;
use crate::sip::{no_final_state, Dialog, Method, NoFinal, Refresher, RegistrationStatus, SessionTimerFact};

use ReasonClass::{Info, Routing, Signaling};

/// Runs the signaling rules (and the final-response table) for dialog `i`.
pub fn rules(input: &DiagnosisInput<'_>, i: usize, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let Some(d) = input.dialogs.get(i) else { return };
    final_response(input, d, cfg, out);
    retransmissions(d, cfg, out);
    no_ack(input, d, cfg, out);
    long_setup(d, cfg, out);
    bye_reason(d, cfg, out);
    malformed(input, d, out);
    sdp_missing(d, out);
    in_dialog_failures(d, out);
    session_timer_expiry(d, cfg, out);
    transfer_rejected(input, d, cfg, out);
}

/// The code a final response to the initial INVITE implies (diagnosis.md §4.6).
pub fn final_status_code(status: u16, cancelled: bool) -> Option<(&'static str, ReasonClass, Severity)> {
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

/// True when `user` authenticated successfully somewhere in the capture: a registration of
/// that user was granted, or a challenged call from that user was answered (the credential rule
/// separating `forbidden` from `auth_failure`).
fn user_authenticated(input: &DiagnosisInput<'_>, user: &str) -> bool {
    let aor_user = |aor: &str| {
        let rest = aor.split_once(':').map_or(aor, |(_, r)| r);
        rest.split(['@', ';', '>']).next().unwrap_or("").to_owned()
    };
    input.registrations.iter().any(|r| {
        aor_user(&r.aor) == user
            && (matches!(r.status, RegistrationStatus::Registered | RegistrationStatus::Expired)
                || r.attempts > r.failures)
    }) || input.dialogs.iter().any(|d| d.from_user.as_deref() == Some(user) && d.challenges > 0 && d.answered.is_some())
}

/// Q.850 causes that make a 486/480 a congestion failure (diagnosis.md `service_unavailable`).
const CONGESTION_CAUSES: [u16; 5] = [34, 38, 41, 42, 47];

fn final_response(input: &DiagnosisInput<'_>, d: &Dialog, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let Some(invite) = d.first_invite else { return };
    let to_user = d.to_user.as_deref().unwrap_or("?");
    let Some((status, at)) = d.final_response else {
        no_final(input, d, cfg, out);
        return;
    };
    let cancelled = d.cancel.is_some();
    let Some((mut code, mut class, mut severity)) = final_status_code(status, cancelled) else { return };
    let mut subcode = None;
    let q850 = d.final_reason.as_ref().and_then(|r| r.q850_cause);
    let mut frames = vec![invite.number, at.number];
    let challenged = d.challenges > 0;
    let from_user = d.from_user.as_deref().unwrap_or("");
    match status {
        403 if challenged && !user_authenticated(input, from_user) => {
            (code, class, severity) = ("auth_failure", Signaling, Severity::Fail);
            subcode = Some("rejected_credentials");
        }
        401 | 407 => {
            let bad = d.challenges > cfg.diagnosis.auth_failure.max_challenges;
            subcode = Some(if bad { "bad_credentials" } else { "not_answered" });
        }
        486 | 480 if q850.is_some_and(|c| CONGESTION_CAUSES.contains(&c)) => {
            (code, class, severity) = ("service_unavailable", Routing, Severity::Fail);
        }
        480 => {
            let registered = input
                .registrations
                .iter()
                .any(|r| r.aor.contains(&format!(":{to_user}@")) && r.status == RegistrationStatus::Registered);
            subcode = Some(if registered { "registered" } else { "not_registered" });
        }
        // A refused T.38 offer has its own code (§4.3 `t38_rejected`).
        488 | 606 if offered_t38(d, invite.number) => {
            (code, class, severity) = ("t38_rejected", ReasonClass::Media, Severity::Fail);
        }
        _ => {}
    }
    if code == "auth_failure" {
        frames.extend(d.messages.iter().filter(|m| matches!(m.status, Some(401 | 407))).map(|m| m.at.number));
        frames.extend(d.messages.iter().filter(|m| m.method == Some(Method::Invite)).map(|m| m.at.number));
    }
    if code == "cancelled_by_caller" {
        frames.extend(d.cancel.map(|c| c.number));
    }
    let direction = matches!(code, "cancelled_by_caller" | "auth_failure").then_some(StreamDirection::CallerToCallee);
    let mut detail = format!(
        "INVITE to {to_user} (frame {}, {}) answered {status} in frame {} after {:.0} ms",
        invite.number,
        invite.time,
        at.number,
        at.time.ms_since(invite.time)
    );
    if let Some(r) = &d.final_reason {
        if let Some(c) = r.q850_cause {
            detail.push_str(&format!("; Reason Q.850 cause {c}"));
        }
        if let Some(t) = &r.text {
            detail.push_str(&format!(" \"{t}\""));
        }
    }
    match subcode {
        Some("rejected_credentials") => {
            detail.push_str(&format!(", after {} challenge(s); {from_user} never authenticated here", d.challenges))
        }
        Some("bad_credentials") => detail.push_str(&format!(", challenged {} times", d.challenges)),
        Some("not_registered") => detail.push_str(&format!("; {to_user} has no registration in the capture")),
        Some("registered") => detail.push_str(&format!("; {to_user} is registered")),
        _ => {}
    }
    detail.push('.');
    let mut r = Reason::new(code, class, severity, direction, detail, frames);
    if let Some(s) = subcode {
        r = r.with_subcode(s);
    }
    if status == 400 {
        r = r.with_subcode("peer_400");
    }
    out.push(r);
}

/// True when an INVITE of the dialog at or after `from_frame` offered `m=image` (T.38).
fn offered_t38(d: &Dialog, from_frame: u64) -> bool {
    d.sdp.iter().any(|e| {
        e.at.number >= from_frame
            && e.carried_by == "INVITE"
            && e.session.media.iter().any(|m| m.kind == MediaKind::Image && m.port != 0)
    })
}

/// `invite_timeout` and `no_final_response`: claim only what the capture covers (principle 2).
/// Both read [`no_final_state`], which also decides the outcome, so a `failed` call without a
/// final response always carries one of the two and an `incomplete` one never does.
fn no_final(input: &DiagnosisInput<'_>, d: &Dialog, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let Some(invite) = d.first_invite else { return };
    let to_user = d.to_user.as_deref().unwrap_or("?");
    let timer_b = ms_ns(cfg.sip.timer_b_s.saturating_mul(1000));
    let timer_c = ms_ns(cfg.sip.timer_c_s.saturating_mul(1000));
    let copies: Vec<u64> =
        d.messages.iter().filter(|m| m.method == Some(Method::Invite)).map(|m| m.at.number).collect();
    match no_final_state(d, input.capture_end, timer_b, timer_c) {
        Some(NoFinal::TimerB { from, waited_ns }) => {
            let callee = d.callee;
            let icmp: Vec<u64> = input
                .icmp
                .iter()
                .filter(|e| Some(e.quoted_dst) == callee && Some(e.quoted_src) == d.caller)
                .map(|e| e.at.number)
                .collect();
            let silent = callee.is_some_and(|c| !input.dialogs.iter().any(|o| o.messages.iter().any(|m| m.src == c)));
            let sub = if !icmp.is_empty() {
                "icmp_unreachable"
            } else if silent {
                "peer_silent"
            } else {
                "no_response"
            };
            let mut frames = copies.clone();
            frames.extend(icmp);
            out.push(
                Reason::new(
                    "invite_timeout",
                    Signaling,
                    Severity::Fail,
                    Some(StreamDirection::CallerToCallee),
                    format!(
                        "INVITE to {to_user} on the hop {} (first sent {}) got no response at all, not even 100, in \
                         {:.1} s after its first copy (frame {}; {} copies; Timer B is {} s){}.",
                        hop(d.caller, d.callee),
                        invite.time,
                        waited_ns as f64 / 1e9,
                        from.number,
                        copies.len(),
                        cfg.sip.timer_b_s,
                        match sub {
                            "icmp_unreachable" => "; an ICMP error reports the destination unreachable",
                            "peer_silent" => "; that address never sent SIP in the capture",
                            _ => "",
                        }
                    ),
                    frames,
                )
                .with_subcode(sub)
                .metric("waited_s", waited_ns as f64 / 1e9)
                .metric("timer_b_s", cfg.sip.timer_b_s as f64)
                .cd(),
            );
        }
        Some(NoFinal::TimerC { from, waited_ns }) if d.cancel.is_none() => {
            let last_prov = d.last_provisional.map(|f| f.number);
            let mut frames = vec![invite.number];
            frames.extend(last_prov);
            out.push(
                Reason::new(
                    "no_final_response",
                    Signaling,
                    Severity::Fail,
                    Some(StreamDirection::CallerToCallee),
                    format!(
                        "INVITE to {to_user} (frame {}, {}) got provisional responses (last in frame {}) but no final \
                         response in {:.0} s after frame {} (Timer C is {} s).",
                        invite.number,
                        invite.time,
                        last_prov.map_or_else(|| "?".to_owned(), |f| f.to_string()),
                        waited_ns as f64 / 1e9,
                        from.number,
                        cfg.sip.timer_c_s
                    ),
                    frames,
                )
                .metric("waited_s", waited_ns as f64 / 1e9)
                .metric("timer_c_s", cfg.sip.timer_c_s as f64),
            );
        }
        Some(NoFinal::TimerC { from, waited_ns }) => {
            // A CANCEL that never got its 487: the caller gave up, the callee side never
            // closed the transaction. Still a failure, and it must carry a reason.
            let mut frames = vec![invite.number];
            frames.extend(d.cancel.map(|c| c.number));
            out.push(
                Reason::new(
                    "no_final_response",
                    Signaling,
                    Severity::Fail,
                    Some(StreamDirection::CallerToCallee),
                    format!(
                        "INVITE to {to_user} (frame {}) was cancelled (frame {}) but no final response (487) followed \
                         in {:.0} s after frame {} (Timer C is {} s).",
                        invite.number,
                        d.cancel.map_or(0, |c| c.number),
                        waited_ns as f64 / 1e9,
                        from.number,
                        cfg.sip.timer_c_s
                    ),
                    frames,
                )
                .with_subcode("cancel_unanswered"),
            );
        }
        _ => {}
    }
}

/// The outcome of a call as reported: the SIP stage's, except that for an attempt without
/// final response the diagnosis decides between `failed` and `incomplete` with the configured
/// Timer B/C (the SIP stage uses the defaults), so the outcome and `invite_timeout` /
/// `no_final_response` always agree (diagnosis.md §4.6).
pub fn reported_outcome(d: &Dialog, verdict: &super::Verdict) -> Option<crate::sip::Outcome> {
    use crate::sip::Outcome;
    let outcome = d.outcome?;
    if d.final_response.is_some() || !matches!(outcome, Outcome::Failed | Outcome::Incomplete) {
        return Some(outcome);
    }
    let timed_out = verdict.reasons.iter().any(|r| matches!(r.code, "invite_timeout" | "no_final_response"));
    Some(if timed_out { Outcome::Failed } else { Outcome::Incomplete })
}

fn hop(a: Option<std::net::SocketAddr>, b: Option<std::net::SocketAddr>) -> String {
    let s = |x: Option<std::net::SocketAddr>| x.map_or_else(|| "?".to_owned(), |x| x.to_string());
    format!("{}→{}", s(a), s(b))
}

/// `retransmissions`: copies of one message on one hop (principle 3: mirror duplicates and hop
/// copies are not retransmissions).
fn retransmissions(d: &Dialog, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    type Key = (u32, Method, Option<Method>, Option<u16>, std::net::SocketAddr, std::net::SocketAddr);
    let mut groups: BTreeMap<Key, Vec<u64>> = BTreeMap::new();
    let mut order: Vec<Key> = Vec::new();
    for m in d.messages.iter().filter(|m| !m.mirror_duplicate) {
        let key = (m.cseq.0, m.cseq.1, m.method, m.status, m.src, m.dst);
        let entry = groups.entry(key).or_default();
        if entry.is_empty() {
            order.push(key);
        }
        entry.push(m.at.number);
    }
    let min = usize::try_from(cfg.diagnosis.retransmissions.min_copies).unwrap_or(usize::MAX);
    let mut parts = Vec::new();
    let mut frames = Vec::new();
    let mut direction = None;
    let mut max_copies = 0usize;
    for key in order {
        let Some(copies) = groups.get(&key) else { continue };
        // Only copies flagged as retransmissions count beyond the first.
        let retrans = d
            .messages
            .iter()
            .filter(|m| {
                m.retransmission
                    && (m.cseq.0, m.cseq.1, m.method, m.status, m.src, m.dst) == key
                    && copies.contains(&m.at.number)
            })
            .count();
        let n = retrans + 1;
        if n < min {
            continue;
        }
        let what = match (key.2, key.3) {
            (Some(m), _) => m.as_str().to_owned(),
            (None, Some(s)) => format!("{s} to {}", key.1.as_str()),
            _ => "message".to_owned(),
        };
        parts.push(format!("{what} sent {n} times on the hop {}→{}", key.4, key.5));
        if n > max_copies {
            max_copies = n;
            if let Some(m) = d.messages.iter().find(|m| copies.first() == Some(&m.at.number)) {
                direction = Some(message_direction(d, m));
            }
        }
        frames.extend(copies.iter().copied());
    }
    if parts.is_empty() {
        return;
    }
    out.push(
        Reason::new(
            "retransmissions",
            Signaling,
            Severity::Degrade,
            direction,
            format!("{} (at least {} copies count, ≥ 1.5 s lost).", parts.join("; "), min),
            frames,
        )
        .metric("copies_max", max_copies as f64)
        .metric("min_copies", min as f64)
        .cd(),
    );
}

/// `no_ack`: a 2xx to an INVITE retransmitted and never acknowledged within `sip.ack_wait_s`.
fn no_ack(input: &DiagnosisInput<'_>, d: &Dialog, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let mut seen: Vec<u32> = Vec::new();
    for m in &d.messages {
        if m.cseq.1 != Method::Invite || !m.status.is_some_and(|s| (200..300).contains(&s)) || seen.contains(&m.cseq.0)
        {
            continue;
        }
        let n = m.cseq.0;
        seen.push(n);
        let copies: Vec<&crate::sip::MessageSummary> = d
            .messages
            .iter()
            .filter(|x| x.cseq == (n, Method::Invite) && x.status == m.status && !x.mirror_duplicate)
            .collect();
        let acked = d.messages.iter().any(|x| x.method == Some(Method::Ack) && x.cseq.0 == n);
        let waited = input.capture_end.0.saturating_sub(m.at.time.0);
        if copies.len() < 2 || acked || waited < ms_ns(cfg.sip.ack_wait_s.saturating_mul(1000)) {
            continue;
        }
        let mut frames: Vec<u64> = copies.iter().map(|x| x.at.number).collect();
        let bye = d.bye.map(|(b, _)| b);
        frames.extend(bye.map(|b| b.number));
        let dir = message_direction(d, m).reverse();
        let bye_txt = bye.map_or_else(String::new, |b| {
            format!("; BYE {:.1} s after the first 2xx (frame {})", secs(m.at.time, b.time), b.number)
        });
        out.push(
            Reason::new(
                "no_ack",
                Signaling,
                Severity::Fail,
                Some(dir),
                format!(
                    "2xx to INVITE (CSeq {n}) sent {} times on the hop {}→{} and no ACK seen in {:.1} s \
                     (waits {} s){bye_txt}.",
                    copies.len(),
                    m.src,
                    m.dst,
                    waited as f64 / 1e9,
                    cfg.sip.ack_wait_s
                ),
                frames,
            )
            .metric("copies", copies.len() as f64)
            .cd(),
        );
    }
}

/// `long_setup`: post-dial delay above the off-net limit (no site map: every call is off-net).
fn long_setup(d: &Dialog, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let Some(invite) = d.first_invite else { return };
    let Some(end) = d.first_provisional.or(d.final_response.map(|(_, f)| f)) else { return };
    let pdd_ms = end.time.ms_since(invite.time);
    let limit = cfg.diagnosis.long_setup.pdd_off_net_ms as f64;
    if pdd_ms > limit {
        out.push(
            Reason::new(
                "long_setup",
                Signaling,
                Severity::Degrade,
                None,
                format!(
                    "Post-dial delay {:.1} s (INVITE frame {} to frame {}), above the {:.1} s off-net limit.",
                    pdd_ms / 1000.0,
                    invite.number,
                    end.number,
                    limit / 1000.0
                ),
                vec![invite.number, end.number],
            )
            .metric("pdd_ms", pdd_ms)
            .metric("threshold_ms", limit),
        );
    }
}

/// `dropped_by_timeout` (`explicit`) and `bye_with_reason_header`.
fn bye_reason(d: &Dialog, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let Some((bye, by)) = d.bye else { return };
    let Some(reason) = &d.bye_reason else { return };
    let dir = match by {
        crate::sip::EndedBy::Caller => Some(StreamDirection::CallerToCallee),
        crate::sip::EndedBy::Callee => Some(StreamDirection::CalleeToCaller),
        crate::sip::EndedBy::Unknown => None,
    };
    let text = reason.text.as_deref().unwrap_or("");
    let lower = text.to_ascii_lowercase();
    let timeout_text = cfg.diagnosis.dropped_by_timeout.timeout_texts.iter().any(|t| lower.contains(&t.to_lowercase()));
    let quoted = format!(
        "{}{}{}",
        reason.sip_cause.map_or_else(String::new, |c| format!("SIP cause {c} ")),
        reason.q850_cause.map_or_else(String::new, |c| format!("Q.850 cause {c} ")),
        if text.is_empty() { String::new() } else { format!("\"{text}\"") }
    );
    if reason.sip_cause == Some(408) || reason.q850_cause == Some(102) || timeout_text {
        let mut frames = vec![bye.number];
        frames.extend(d.answered.map(|a| a.number));
        out.push(
            Reason::new(
                "dropped_by_timeout",
                Signaling,
                Severity::Fail,
                None,
                format!(
                    "Call ended by a BYE (frame {}) whose Reason says a timer fired: {}.",
                    bye.number,
                    quoted.trim()
                ),
                frames,
            )
            .with_subcode("explicit"),
        );
        return;
    }
    let abnormal_q850 =
        reason.q850_cause.is_some_and(|c| !cfg.diagnosis.bye_with_reason_header.normal_causes.contains(&c));
    if abnormal_q850 || reason.sip_cause.is_some_and(|c| c >= 400) {
        out.push(Reason::new(
            "bye_with_reason_header",
            Signaling,
            Severity::Degrade,
            dir,
            format!("BYE (frame {}) carries an abnormal Reason: {}.", bye.number, quoted.trim()),
            vec![bye.number],
        ));
    }
}

/// `malformed_sip`: messages of the dialog the SIP stage warned about.
fn malformed(input: &DiagnosisInput<'_>, d: &Dialog, out: &mut Vec<Reason>) {
    let bad: Vec<&crate::sip::MessageSummary> =
        d.messages.iter().filter(|m| input.malformed_sip_frames.binary_search(&m.at.number).is_ok()).collect();
    if bad.is_empty() {
        return;
    }
    let init = initial_cseq(d);
    let vital = bad.iter().any(|m| {
        Some(m.cseq.0) == init
            && (m.method == Some(Method::Invite)
                || m.method == Some(Method::Ack)
                || m.status.is_some_and(|s| (200..300).contains(&s)))
    });
    let first = bad[0];
    out.push(Reason::new(
        "malformed_sip",
        Signaling,
        if vital { Severity::Fail } else { Severity::Degrade },
        Some(message_direction(d, first)),
        format!(
            "{} SIP message(s) of this call break RFC 3261 §7 framing or syntax (first: frame {}, {}); see the input warnings.",
            bad.len(),
            first.at.number,
            first.method.map_or_else(|| format!("{} response", first.status.unwrap_or(0)), |m| m.as_str().to_owned())
        ),
        bad.iter().map(|m| m.at.number).collect(),
    ));
}

/// `sdp_missing_or_invalid`: offer/answer never completes, an SDP that does not parse, or an
/// answer naming a codec the offer did not list (RFC 3264 §6).
fn sdp_missing(d: &Dialog, out: &mut Vec<Reason>) {
    let (Some(invite), Some(ans)) = (d.first_invite, d.answered) else { return };
    let mut frames = vec![invite.number, ans.number];
    frames.extend(d.ack.map(|a| a.number));
    let any_sdp = d.messages.iter().any(|m| m.has_sdp);
    let invite_sdp = message_at(d, invite.number).is_some_and(|m| m.has_sdp);
    let problem: Option<(String, Option<StreamDirection>)> = if !any_sdp {
        Some((
            "Neither the INVITE nor its 2xx (nor PRACK/UPDATE) carried SDP: offer/answer never completed".into(),
            None,
        ))
    } else if !invite_sdp {
        // Delayed offer: the 2xx (or a reliable 18x) offers, the ACK (or PRACK) answers.
        let offer = d.sdp.iter().find(|e| !e.from_caller);
        let answered = offer.is_some_and(|o| d.sdp.iter().any(|e| e.from_caller && e.at.time >= o.at.time));
        match offer {
            Some(_) if answered => None,
            Some(o) => Some((
                format!("Delayed offer in frame {} but no answer in the ACK or a PRACK/UPDATE", o.at.number),
                Some(StreamDirection::CallerToCallee),
            )),
            None => None,
        }
    } else {
        None
    };
    let unparsed: Vec<u64> = d
        .messages
        .iter()
        .filter(|m| m.has_sdp && !m.retransmission && !m.mirror_duplicate)
        .filter(|m| !d.sdp.iter().any(|e| e.at.number == m.at.number))
        .map(|m| m.at.number)
        .collect();
    let problem = problem.or_else(|| {
        (!unparsed.is_empty() && d.sdp.len() < 32)
            .then(|| (format!("SDP body in frame {} does not parse", unparsed[0]), None))
    });
    // Not checked (yet): an answer naming codecs the offer did not list. Real answerers
    // (Asterisk, sipp) routinely list their whole codec set, and RFC 3264 §6.1 lets the
    // answerer list codecs it can receive; only RTP with such a payload type is a fault, and
    // `codec_mismatch` judges that from the packets.
    if let Some((text, dir)) = problem {
        frames.extend(unparsed);
        out.push(Reason::new("sdp_missing_or_invalid", Signaling, Severity::Fail, dir, format!("{text}."), frames));
    }
}

/// In-dialog failures: `call_leg_does_not_exist` (481), `glare` (491), `not_acceptable` on a
/// re-INVITE/UPDATE (D), `t38_rejected` for a refused T.38 re-offer.
fn in_dialog_failures(d: &Dialog, out: &mut Vec<Reason>) {
    let init = initial_cseq(d);
    let mut seen: Vec<(u32, Method, u16)> = Vec::new();
    for m in &d.messages {
        let Some(status) = m.status else { continue };
        let initial = m.cseq.1 == Method::Invite && Some(m.cseq.0) == init;
        if initial || m.retransmission || m.mirror_duplicate || seen.contains(&(m.cseq.0, m.cseq.1, status)) {
            continue;
        }
        seen.push((m.cseq.0, m.cseq.1, status));
        let request = d.messages.iter().find(|r| r.method == Some(m.cseq.1) && r.cseq == m.cseq);
        let mut frames: Vec<u64> = request.map(|r| r.at.number).into_iter().collect();
        frames.push(m.at.number);
        let dir = request.map(|r| message_direction(d, r));
        let method = m.cseq.1.as_str();
        match status {
            481 if m.cseq.1 != Method::Cancel && m.cseq.1 != Method::Ack => {
                let refresh = matches!(m.cseq.1, Method::Invite | Method::Update);
                out.push(Reason::new(
                    "call_leg_does_not_exist",
                    Signaling,
                    if refresh { Severity::Fail } else { Severity::Degrade },
                    dir,
                    format!(
                        "{method} (CSeq {}) answered 481 in frame {}: the peer lost the dialog.",
                        m.cseq.0, m.at.number
                    ),
                    frames,
                ));
            }
            491 => {
                // RFC 3261 §14.1: the Call-ID owner (the caller) retries after 2.1–4 s, the other
                // side after 0–2 s. A retry in that window resolved the glare; none, one outside
                // it, or a second 491 in the dialog is the code (diagnosis.md §4.1).
                let owner = dir == Some(StreamDirection::CallerToCallee);
                let window = if owner { ms_ns(2100)..=ms_ns(4000) } else { 0..=ms_ns(2000) };
                let retry = d.messages.iter().find(|r| {
                    matches!(r.method, Some(Method::Invite | Method::Update))
                        && r.cseq.0 > m.cseq.0
                        && r.at.time >= m.at.time
                        && !r.retransmission
                        && !r.mirror_duplicate
                        && Some(message_direction(d, r)) == dir
                });
                let refusals = d
                    .messages
                    .iter()
                    .filter(|x| x.status == Some(491) && !x.retransmission && !x.mirror_duplicate)
                    .map(|x| x.cseq)
                    .fold(Vec::new(), |mut v, c| {
                        if !v.contains(&c) {
                            v.push(c);
                        }
                        v
                    })
                    .len();
                let delay = retry.map(|r| r.at.time.0.saturating_sub(m.at.time.0));
                if refusals < 2 && delay.is_some_and(|ns| window.contains(&ns)) {
                    continue;
                }
                frames.extend(retry.map(|r| r.at.number));
                let what = match delay {
                    None => "never retried".to_owned(),
                    Some(ns) => format!(
                        "retried after {} ms (frame {}), outside the {} window of RFC 3261 §14.1",
                        ns / super::MS_NS,
                        retry.map_or(0, |r| r.at.number),
                        if owner { "2.1–4 s" } else { "0–2 s" }
                    ),
                };
                let repeated =
                    if refusals >= 2 { format!("; {refusals} requests of this dialog got 491") } else { String::new() };
                out.push(Reason::new(
                    "glare",
                    Signaling,
                    Severity::Degrade,
                    dir,
                    format!(
                        "{method} (CSeq {}) answered 491 Request Pending in frame {}, {what}{repeated}.",
                        m.cseq.0, m.at.number
                    ),
                    frames,
                ));
            }
            488 | 606 | 415 if matches!(m.cseq.1, Method::Invite | Method::Update) => {
                let t38 = request.is_some_and(|r| {
                    d.sdp.iter().any(|e| {
                        e.at.number == r.at.number && e.session.media.iter().any(|x| x.kind == MediaKind::Image)
                    })
                });
                if t38 {
                    // Every copy of the re-offer and of its refusal (hop copies included).
                    frames.extend(
                        d.messages.iter().filter(|x| x.cseq.0 == m.cseq.0 && x.cseq.1 == m.cseq.1).map(|x| x.at.number),
                    );
                    let next = d
                        .messages
                        .iter()
                        .find(|x| x.method == Some(Method::Invite) && x.at.time > m.at.time && !x.retransmission)
                        .map(|x| x.at.number);
                    frames.extend(next);
                    out.push(
                        Reason::new(
                            "t38_rejected",
                            ReasonClass::Media,
                            Severity::Degrade,
                            dir,
                            format!(
                                "T.38 fax offer ({method}, CSeq {}) refused {status} in frame {}{}.",
                                m.cseq.0,
                                m.at.number,
                                next.map_or_else(String::new, |f| format!(
                                    "; the call went on with a new offer in frame {f} (G.711 pass-through)"
                                ))
                            ),
                            frames,
                        )
                        .metric("status", f64::from(status)),
                    );
                } else if status != 415 {
                    out.push(Reason::new(
                        "not_acceptable",
                        Signaling,
                        Severity::Degrade,
                        dir,
                        format!(
                            "Re-offer ({method}, CSeq {}) refused {status} in frame {}; the call stayed up.",
                            m.cseq.0, m.at.number
                        ),
                        frames,
                    ));
                }
            }
            _ => {}
        }
    }
}

/// The way a refresh should travel: the UAC of the transaction whose 2xx set the interval
/// refreshes when `refresher=uac`, its UAS when `uas` (RFC 4028 §7.4, §9).
fn refresher_direction(f: &SessionTimerFact) -> Option<StreamDirection> {
    let uac = if f.request_by_caller { StreamDirection::CallerToCallee } else { StreamDirection::CalleeToCaller };
    match f.refresher? {
        Refresher::Uac => Some(uac),
        Refresher::Uas => Some(uac.reverse()),
    }
}

/// `session_timer_expiry` (RFC 4028): Session-Expires negotiated in the 2xx to the initial
/// INVITE, and either no refresh (re-INVITE/UPDATE answered 2xx) before the interval ran out,
/// with the BYE in [expiry − min(32 s, SE/3) − early margin, expiry + late margin] after the
/// last refresh or the answer (§10: the side without refresh duty sends BYE then); or a refresh
/// answered 408/481/5xx, an unresolved 491, or unanswered, then BYE.
fn session_timer_expiry(d: &Dialog, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let (Some(ans), Some((bye, _))) = (d.answered, d.bye) else { return };
    let init = initial_cseq(d);
    let Some(first_se) = d.session_timers.iter().find(|f| f.cseq.1 == Method::Invite && Some(f.cseq.0) == init) else {
        return;
    };
    let in_dialog = |m: &&crate::sip::MessageSummary| {
        matches!(m.cseq.1, Method::Invite | Method::Update)
            && (m.cseq.1 != Method::Invite || Some(m.cseq.0) != init)
            && !m.retransmission
            && !m.mirror_duplicate
            && m.at.time > ans.time
            && m.at.time < bye.time
    };
    // The last successful refresh (2xx to a re-INVITE or UPDATE) before the BYE, else the answer.
    let last_ok = d
        .messages
        .iter()
        .filter(in_dialog)
        .filter(|m| m.status.is_some_and(|s| (200..300).contains(&s)))
        .map(|m| m.at)
        .next_back()
        .unwrap_or(ans);
    // The interval in force: the latest Session-Expires at or before that 2xx.
    let se = d.session_timers.iter().rev().find(|f| f.at.time <= last_ok.time).unwrap_or(first_se);
    let se_s = i64::from(se.expires_s);
    if se_s == 0 {
        return;
    }
    let expiry_ns = last_ok.time.0.saturating_add(se_s.saturating_mul(1_000_000_000));
    let cfg_st = &cfg.diagnosis.session_timer_expiry;
    // A refresh after the last success that failed or went unanswered.
    let failed =
        d.messages.iter().filter(in_dialog).filter(|m| m.method.is_some() && m.at.time > last_ok.time).find_map(
            |req| {
                let answer = d
                    .messages
                    .iter()
                    .find(|r| r.cseq == req.cseq && r.status.is_some_and(|s| s >= 200) && r.at.time >= req.at.time);
                match answer.and_then(|a| a.status.map(|s| (s, a))) {
                    Some((s, a)) if s == 408 || s == 481 || s == 491 || (500..600).contains(&s) => {
                        Some((req, Some((s, a))))
                    }
                    None => Some((req, None)),
                    _ => None,
                }
            },
        );
    let bye_after_s = secs(last_ok.time, bye.time);
    let (subcode, direction, frames, detail) = if let Some((req, answer)) = failed {
        let what = req.cseq.1.as_str();
        let answered = answer.map_or_else(
            || "went unanswered".to_owned(),
            |(s, a)| format!("was answered {s} in frame {}", a.at.number),
        );
        let mut frames = vec![se.at.number, req.at.number, bye.number];
        frames.extend(answer.map(|(_, a)| a.at.number));
        (
            "refresh_failed",
            Some(message_direction(d, req)),
            frames,
            format!(
                "Session refresh {what} (frame {}, {}) {answered}, then BYE at {} (frame {}); the {} s session interval \
                 was negotiated in frame {}.",
                req.at.number, req.at.time, bye.time, bye.number, se_s, se.at.number
            ),
        )
    } else {
        // RFC 4028 §10: without a refresh, the side that does not refresh sends BYE
        // min(32 s, SE/3) before the interval ends.
        let lead_ns = (se_s / 3).min(32).saturating_mul(1_000_000_000);
        let lower = expiry_ns - lead_ns - ms_ns(cfg_st.early_margin_s.saturating_mul(1000));
        let upper = expiry_ns.saturating_add(ms_ns(cfg_st.late_margin_s.saturating_mul(1000)));
        if bye.time.0 < lower || bye.time.0 > upper {
            return;
        }
        let refresher = match se.refresher {
            Some(Refresher::Uac) | Some(Refresher::Uas) => {
                let dir = refresher_direction(se).unwrap_or(StreamDirection::CallerToCallee);
                if dir == StreamDirection::CallerToCallee {
                    "the caller"
                } else {
                    "the callee"
                }
            }
            None => "the refresher (not named)",
        };
        (
            "not_refreshed",
            refresher_direction(se),
            vec![se.at.number, last_ok.number, bye.number],
            format!(
                "Session interval {se_s} s (Session-Expires in frame {}) ran out without a refresh from {refresher}: BYE \
                 at {} (frame {}) came {bye_after_s:.1} s after the last answer or refresh (frame {}).",
                se.at.number, bye.time, bye.number, last_ok.number
            ),
        )
    };
    out.push(
        Reason::new("session_timer_expiry", Signaling, Severity::Fail, direction, detail, frames)
            .with_subcode(subcode)
            .metric("session_expires_s", se_s as f64)
            .metric("bye_after_s", bye_after_s),
    );
}

/// `transfer_rejected`: a REFER (RFC 3515) answered ≥ 300 or unanswered (the capture runs
/// Timer F past it), or an INVITE with Replaces (RFC 3891) answered 481 or 400.
fn transfer_rejected(input: &DiagnosisInput<'_>, d: &Dialog, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let timer_f = ms_ns(cfg.sip.timer_b_s.saturating_mul(1000));
    for t in &d.transfers {
        let dir = if t.by_caller { StreamDirection::CallerToCallee } else { StreamDirection::CalleeToCaller };
        let kind = if t.attended() { "Attended" } else { "Blind" };
        let (text, frames) = match t.response {
            Some((s, f)) if s >= 300 => (
                format!(
                    "{kind} transfer REFER from {} to {} (frame {}, {}) towards {} was refused {s} in frame {}.",
                    t.src, t.dst, t.refer.number, t.refer.time, t.refer_to, f.number
                ),
                vec![t.refer.number, f.number],
            ),
            None if input.capture_end.0.saturating_sub(t.refer.time.0) >= timer_f => (
                format!(
                    "{kind} transfer REFER from {} to {} (frame {}, {}) towards {} got no final response in {:.0} s \
                     (Timer F is {} s).",
                    t.src,
                    t.dst,
                    t.refer.number,
                    t.refer.time,
                    t.refer_to,
                    secs(t.refer.time, input.capture_end),
                    cfg.sip.timer_b_s
                ),
                vec![t.refer.number],
            ),
            _ => continue,
        };
        let mut r = Reason::new("transfer_rejected", Signaling, Severity::Degrade, Some(dir), text, frames)
            .with_subcode(if t.response.is_some() { "refused" } else { "unanswered" });
        if let Some((s, _)) = t.response {
            r = r.metric("status", f64::from(s));
        }
        out.push(r);
    }
    // The target side of an attended transfer: INVITE with Replaces refused 481/400.
    if let (Some(rep), Some((status @ (481 | 400), f))) = (&d.replaces, d.final_response) {
        out.push(
            Reason::new(
                "transfer_rejected",
                Signaling,
                Severity::Degrade,
                Some(StreamDirection::CallerToCallee),
                format!(
                    "INVITE with Replaces for dialog {} (frame {}, {}) was refused {status} in frame {}: the dialog to \
                     replace was not found or not accepted.",
                    rep.call_id, rep.at.number, rep.at.time, f.number
                ),
                vec![rep.at.number, f.number],
            )
            .with_subcode("replaces_refused")
            .metric("status", f64::from(status)),
        );
    }
}
