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
    transfer_target_failed(input, d, cfg, out);
}

/// Rules judged on an egress leg against its ingress leg (diagnosis.md §5 "What pairing
/// enables"): `number_translation_mismatch` and the cross-leg `emergency_routing` subcodes.
/// `links` are dialog `i`'s links; the ingress leg is a linked `other_leg` whose INVITE came
/// first. Without a linked ingress leg nothing is judged ("other leg not captured").
pub fn cross_leg_rules(
    input: &DiagnosisInput<'_>,
    i: usize,
    links: &[super::Link],
    cfg: &DiagnosisConfig,
    out: &mut Vec<Reason>,
) {
    let Some(egress) = input.dialogs.get(i) else { return };
    let Some(e_inv) = egress.first_invite else { return };
    // The ingress leg: the earliest linked other leg that started before this one.
    let ingress = links
        .iter()
        .filter(|l| l.relation == "other_leg")
        .filter_map(|l| input.dialogs.iter().find(|d| d.call_id == l.call_id).map(|d| (d, l)))
        .filter(|(d, _)| d.first_invite.is_some_and(|f| f.time <= e_inv.time && f != e_inv))
        .min_by_key(|(d, _)| d.first_invite.map(|f| f.time));
    let Some((ingress, link)) = ingress else { return };
    let Some(i_inv) = ingress.first_invite else { return };
    if let Some(number) = emergency_number(ingress, cfg) {
        emergency_egress(egress, ingress, &number, cfg, out);
        // The emergency checks cover the called number of emergency calls (`translated`).
        calling_translation(egress, ingress, link, cfg, out);
        return;
    }
    let (Some(in_user), Some(eg_user)) = (ingress.to_user.as_deref(), egress.to_user.as_deref()) else { return };
    if let Some((expected, how)) = translation_differs(in_user, eg_user, cfg) {
        out.push(
            Reason::new(
                "number_translation_mismatch",
                ReasonClass::Routing,
                Severity::Fail,
                Some(StreamDirection::CallerToCallee),
                format!(
                    "Called number {in_user} on the ingress leg {} (frame {}) left as {eg_user} on this leg (frame {}), \
                     expected {expected} ({how}); legs linked by {}.",
                    ingress.call_id, i_inv.number, e_inv.number, link.basis
                ),
                vec![i_inv.number, e_inv.number],
            )
            .with_subcode("called"),
        );
    }
    calling_translation(egress, ingress, link, cfg, out);
}

/// Digits of a number (`+` dropped).
fn only_digits(user: &str) -> String {
    user.chars().filter(char::is_ascii_digit).collect()
}

/// Applies the first matching `numbering.rules` rewrite.
fn translate(user: &str, cfg: &DiagnosisConfig) -> Option<String> {
    cfg.numbering.rules.iter().find_map(|r| {
        let re = regex_lite::Regex::new(&r.pattern).ok()?;
        re.is_match(user).then(|| re.replace(user, r.replace.as_str()).into_owned())
    })
}

/// `Some((expected, how))` when the egress called number is not the ingress one translated:
/// by the first matching rule (exact comparison), else by the trailing
/// `numbering.significant_digits` digits of both (at least 3 digits on each side; names that
/// are not numbers are not judged).
fn translation_differs(in_user: &str, eg_user: &str, cfg: &DiagnosisConfig) -> Option<(String, String)> {
    if let Some(expected) = translate(in_user, cfg) {
        return (expected != eg_user).then(|| (expected, "per the numbering rules".to_owned()));
    }
    let (a, b) = (only_digits(in_user), only_digits(eg_user));
    // Names (alice, sip:voicemail) are not numbers: nothing to compare.
    let numeric = |u: &str| u.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | '(' | ')' | ' '));
    if !numeric(in_user) || !numeric(eg_user) {
        return None;
    }
    let k = cfg.numbering.significant_digits.min(a.len()).min(b.len());
    if k < 3 {
        return None;
    }
    let tail = |s: &str| s.get(s.len() - k..).map(str::to_owned);
    (tail(&a) != tail(&b)).then(|| {
        (format!("…{}", tail(&a).unwrap_or_default()), format!("last {k} digits compared, no numbering rule matched"))
    })
}

/// `number_translation_mismatch`/`calling`: the egress calling number is not the DID the
/// `numbering.did_map` gives for the ingress extension.
fn calling_translation(
    egress: &Dialog,
    ingress: &Dialog,
    link: &super::Link,
    cfg: &DiagnosisConfig,
    out: &mut Vec<Reason>,
) {
    let (Some(e_inv), Some(i_inv)) = (egress.first_invite, ingress.first_invite) else { return };
    let Some(ext) = ingress.from_user.as_deref() else { return };
    let Some(did) = cfg.numbering.did_map.get(ext) else { return };
    let shown = egress.p_asserted_identity.as_deref().or(egress.from_user.as_deref()).unwrap_or("?");
    let shown_user = shown.trim_start_matches("sip:").trim_start_matches("tel:");
    let shown_user = shown_user.split(['@', ';']).next().unwrap_or(shown_user);
    if only_digits(shown_user) == only_digits(did) && !did.is_empty() {
        return;
    }
    out.push(
        Reason::new(
            "number_translation_mismatch",
            ReasonClass::Routing,
            Severity::Degrade,
            Some(StreamDirection::CallerToCallee),
            format!(
                "Extension {ext} (ingress leg {}, frame {}) is presented as {shown_user} on this leg (frame {}), not its \
                 DID {did}; legs linked by {}.",
                ingress.call_id, i_inv.number, e_inv.number, link.basis
            ),
            vec![i_inv.number, e_inv.number],
        )
        .with_subcode("calling"),
    );
}

/// Cross-leg `emergency_routing` subcodes on the egress leg of an emergency call:
/// `wrong_egress`, `no_location`, `translated`.
fn emergency_egress(egress: &Dialog, ingress: &Dialog, number: &str, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let (Some(e_inv), Some(i_inv)) = (egress.first_invite, ingress.first_invite) else { return };
    let frames = vec![i_inv.number, e_inv.number];
    let mut push = |sub: &'static str, text: String| {
        out.push(
            Reason::new(
                "emergency_routing",
                ReasonClass::Routing,
                Severity::Fail,
                Some(StreamDirection::CallerToCallee),
                text,
                frames.clone(),
            )
            .with_subcode(sub),
        );
    };
    if let Some(callee) = egress.callee {
        let allowed = &cfg.emergency.allowed_egress;
        if !allowed.is_empty() && !allowed.iter().any(|a| a.parse::<std::net::IpAddr>().ok() == Some(callee.ip())) {
            push(
                "wrong_egress",
                format!(
                    "Emergency call to {number} (ingress frame {}) left by {} (frame {}), which is not an allowed \
                     emergency egress ({}).",
                    i_inv.number,
                    callee.ip(),
                    e_inv.number,
                    allowed.join(", ")
                ),
            );
        }
    }
    if cfg.emergency.require_location && !egress.location {
        push(
            "no_location",
            format!(
                "Emergency call to {number} left on the egress leg (frame {}, {}) without a location: no Geolocation \
                 header (RFC 6442) and no PIDF-LO body (RFC 4119).",
                e_inv.number, e_inv.time
            ),
        );
    }
    let dialled = ingress.to_user.as_deref().unwrap_or(number);
    let sent = egress.to_user.as_deref().unwrap_or("?");
    let by_rule = translate(dialled, cfg).is_some_and(|t| t == sent);
    let same = only_digits(sent) == only_digits(number)
        || egress.to_uri.as_deref().is_some_and(|u| u.contains("urn:service:sos"));
    if !same && !by_rule {
        push(
            "translated",
            format!(
                "Emergency number {number} dialled as {dialled} (frame {}) left as {sent} on the egress leg (frame {}), \
                 altered other than by the configured numbering rules.",
                i_inv.number, e_inv.number
            ),
        );
    }
}

/// `transfer_target_failed`: a REFER accepted (2xx) whose NOTIFY sipfrag reports a final
/// ≥ 300 (RFC 3515 §2.4.5), or whose transferee's INVITE to the Refer-To target (a new dialog
/// within `target_window_s`, to the Refer-To user, carrying Referred-By or sent from the
/// transferee's address) fails with a final ≥ 300.
fn transfer_target_failed(input: &DiagnosisInput<'_>, d: &Dialog, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let window = super::ms_ns(cfg.diagnosis.transfer_target_failed.target_window_s.saturating_mul(1000));
    for t in &d.transfers {
        let Some(accepted) = t.accepted() else { continue };
        let mut frames = vec![t.refer.number, accepted.number];
        let via_notify = t.outcome().filter(|(s, _)| *s >= 300);
        let target_call = input.dialogs.iter().find(|o| {
            o.call_id != d.call_id
                && o.first_invite.is_some_and(|f| f.time >= t.refer.time && f.time.0 - t.refer.time.0 <= window)
                && t.refer_to_user.is_some()
                && o.to_user == t.refer_to_user
                && (o.referred_by.is_some() || o.caller.map(|c| c.ip()) == Some(t.dst.ip()))
        });
        let failed_target = target_call.and_then(|o| o.final_response.filter(|(s, _)| *s >= 300).map(|r| (o, r)));
        let text = match (via_notify, failed_target) {
            (Some((s, n)), target) => {
                frames.extend(t.notifies.iter().map(|x| x.at.number));
                if let Some((o, (_, f))) = target {
                    frames.extend(o.first_invite.map(|x| x.number));
                    frames.push(f.number);
                }
                format!(
                    "Transfer by {} of {} to {} (REFER frame {}, {}) was accepted but the NOTIFY in frame {} reports {s} \
                     from the target.",
                    t.src, t.dst, t.refer_to, t.refer.number, t.refer.time, n.number
                )
            }
            (None, Some((o, (s, f)))) => {
                frames.extend(o.first_invite.map(|x| x.number));
                frames.push(f.number);
                format!(
                    "Transfer by {} of {} to {} (REFER frame {}, {}) was accepted but the transferee's INVITE to the \
                     target (Call-ID {}) was answered {s} in frame {}.",
                    t.src, t.dst, t.refer_to, t.refer.number, t.refer.time, o.call_id, f.number
                )
            }
            (None, None) => continue,
        };
        let status = via_notify.map(|(s, _)| s).or(failed_target.map(|(_, (s, _))| s)).unwrap_or(0);
        out.push(
            Reason::new("transfer_target_failed", ReasonClass::Routing, Severity::Fail, None, text, frames)
                .metric("status", f64::from(status)),
        );
    }
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
