//! B2BUA / PBX leg linking (diagnosis.md §5): explicit identifiers (rule 2) first, then the
//! heuristic score of rule 3: an A-leg whose INVITE
//! goes to host H and a B-leg whose INVITE comes from H (or from an address configured as the
//! same B2BUA in `pairing.b2bua_hosts`) within `pairing.max_invite_lag_ms`.

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use super::config::DiagnosisConfig;
use super::sdpstate::{announced, announced_kinds};
use super::{ms_ns, DiagnosisInput, InputIndex};
use crate::sip::Dialog;
use crate::time::Timestamp;

/// One entry of `calls[].linked`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    /// The other leg's Call-ID.
    pub call_id: String,
    /// `other_leg` or `replaces` (transfers and forwards by Referred-By/Diversion are not
    /// linked yet).
    pub relation: &'static str,
    /// Which rule linked them: `session_id`, `icid`, `correlation_header`, `replaces`
    /// (explicit, certain) or `heuristic`.
    pub basis: &'static str,
    /// Heuristic score (0 for explicit links).
    pub score: u32,
    /// The rule and the evidence, in words (`explicit: Session-ID … on both legs`,
    /// `heuristic: called number, 2xx relayed`).
    pub rule: String,
}

fn within(a: Option<Timestamp>, b: Option<Timestamp>, ns: i64) -> bool {
    matches!((a, b), (Some(a), Some(b)) if (a.0 - b.0).abs() <= ns)
}

/// Significant digits of a number for comparison (numbering rule without configured rewrites:
/// digits only, last 7 compared).
fn number_key(user: Option<&str>) -> Option<String> {
    let digits: String = user?.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 3 {
        Some(digits.chars().rev().take(7).collect())
    } else {
        Some(user?.to_ascii_lowercase())
    }
}

/// What the heuristic compares of one dialog, computed once per run (each call is scored
/// against up to 64 others).
struct LegFacts {
    /// [`number_key`] of the called and calling user.
    called: Option<String>,
    calling: Option<String>,
    /// Every receive address either side announced (any media kind).
    announced: Vec<SocketAddr>,
    /// Ports of the audio addresses the callee's side announced, and the caller's side.
    callee_ports: Vec<u16>,
    caller_ports: Vec<u16>,
    /// SSRCs of the streams paired with the dialog.
    ssrcs: Vec<u32>,
}

impl LegFacts {
    fn of(input: &DiagnosisInput<'_>, index: &InputIndex, i: usize, d: &Dialog) -> LegFacts {
        let ports = |from_caller| announced(d, from_caller).iter().map(SocketAddr::port).collect();
        LegFacts {
            called: number_key(d.to_user.as_deref()),
            calling: number_key(d.from_user.as_deref()),
            announced: announced_kinds(d).into_iter().map(|(addr, _)| addr).collect(),
            callee_ports: ports(false),
            caller_ports: ports(true),
            ssrcs: index.paired_with(i).iter().filter_map(|&k| input.streams.get(k)).map(|s| s.key.ssrc).collect(),
        }
    }
}

fn same_host(cfg: &DiagnosisConfig, a: IpAddr, b: IpAddr) -> bool {
    a == b
        || cfg.pairing.b2bua_hosts.iter().any(|group| {
            let ips: Vec<IpAddr> = group.iter().filter_map(|s| s.parse().ok()).collect();
            ips.contains(&a) && ips.contains(&b)
        })
}

/// Score of pairing A-leg `a` with B-leg `b`, with the evidence; `None` when the host/time
/// requirement fails.
fn score(
    input: &DiagnosisInput<'_>,
    facts: &[LegFacts],
    cfg: &DiagnosisConfig,
    ai: usize,
    bi: usize,
) -> Option<(u32, Vec<&'static str>)> {
    let a: &Dialog = input.dialogs.get(ai)?;
    let b: &Dialog = input.dialogs.get(bi)?;
    let (a_inv, b_inv) = (a.first_invite?, b.first_invite?);
    let lag = b_inv.time.0 - a_inv.time.0;
    if lag < 0 || lag > ms_ns(cfg.pairing.max_invite_lag_ms) {
        return None;
    }
    // Two calls between the same two sockets are parallel calls of one UA, not two legs.
    if a.caller == b.caller && a.callee == b.callee {
        return None;
    }
    let host_ok = same_host(cfg, a.callee?.ip(), b.caller?.ip());
    let mut pts = 0;
    let mut why = Vec::new();
    let (af, bf) = (facts.get(ai)?, facts.get(bi)?);
    // An SBC with two interfaces often keeps its media port on both (the fax capture: port
    // 15580 announced by the SBC towards the A-leg and as the B-leg's caller): the B2BUA's
    // side of each leg announcing the same port counts as the copied SDP address.
    let sdp_shared = bf.announced.iter().any(|x| af.announced.contains(x))
        || bf.caller_ports.iter().any(|x| af.callee_ports.contains(x));
    let called = af.called.is_some() && af.called == bf.called;
    // Without the host relation (an SBC with two interfaces and no configured group), only
    // the same called number plus a media address announced on both legs may stand in for it.
    if !(host_ok || called && sdp_shared) {
        return None;
    }
    if called {
        pts += 2;
        why.push("called number");
    }
    if af.calling.is_some() && af.calling == bf.calling {
        pts += 1;
        why.push("calling number");
    }
    let s = 1_000 * super::MS_NS;
    if within(a.first_provisional.map(|f| f.time), b.first_provisional.map(|f| f.time), s) {
        pts += 1;
        why.push("18x relayed");
    }
    if within(a.answered.map(|f| f.time), b.answered.map(|f| f.time), s) {
        pts += 2;
        why.push("2xx relayed");
    }
    if within(a.bye.map(|(f, _)| f.time), b.bye.map(|(f, _)| f.time), s) {
        pts += 2;
        why.push("BYE relayed");
    }
    if matches!((a.final_response, b.final_response), (Some((x, _)), Some((y, _))) if x >= 300 && y >= 300) {
        pts += 2;
        why.push("mirrored failure");
    }
    if sdp_shared {
        pts += 2;
        why.push("SDP address copied");
    }
    if af.ssrcs.iter().any(|x| bf.ssrcs.contains(x)) {
        pts += 3;
        why.push("same SSRC on both legs");
    }
    Some((pts, why))
}

/// Largest group of calls sharing one explicit identifier that is linked pairwise; a bigger
/// group is a constant value (a misconfigured header), not one conversation.
const MAX_EXPLICIT_GROUP: usize = 8;

/// Explicit identifiers (diagnosis.md §5 rule 2, certain): Session-ID equal on both legs
/// (RFC 7989), P-Charging-Vector icid-value equal (RFC 7315), a configured correlation header
/// (`pairing.headers`) carrying the other leg's Call-ID or the same value on both legs, and
/// Replaces (RFC 3891) naming the other dialog. Returns how many links were made.
fn explicit_links(input: &DiagnosisInput<'_>, cfg: &DiagnosisConfig, links: &mut [Vec<Link>]) {
    use std::collections::HashMap;
    let calls: Vec<usize> = (0..input.dialogs.len()).filter(|&i| input.dialogs[i].first_invite.is_some()).collect();
    let by_call_id: HashMap<&str, usize> = calls.iter().map(|&i| (input.dialogs[i].call_id.as_str(), i)).collect();
    // (basis, rule text, key) → calls carrying it.
    let mut groups: HashMap<(&'static str, String), Vec<usize>> = HashMap::new();
    let add =
        |a: usize, b: usize, relation: &'static str, basis: &'static str, rule: String, links: &mut [Vec<Link>]| {
            if a == b || links[a].iter().any(|l| l.call_id == input.dialogs[b].call_id) {
                return;
            }
            links[a].push(Link {
                call_id: input.dialogs[b].call_id.clone(),
                relation,
                basis,
                score: 0,
                rule: rule.clone(),
            });
            links[b].push(Link { call_id: input.dialogs[a].call_id.clone(), relation, basis, score: 0, rule });
        };
    for &i in &calls {
        let d = &input.dialogs[i];
        if let Some(id) = &d.correlation.session_id {
            groups.entry(("session_id", id.clone())).or_default().push(i);
        }
        if let Some(icid) = &d.correlation.icid {
            groups.entry(("icid", icid.clone())).or_default().push(i);
        }
        for (name, value) in &d.correlation.headers {
            if !cfg.pairing.headers.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                continue;
            }
            // The header names the other leg's Call-ID: certain on its own.
            if let Some(&other) = by_call_id.get(value.as_str()) {
                add(
                    i,
                    other,
                    "other_leg",
                    "correlation_header",
                    format!("explicit: {name} carries the other leg's Call-ID"),
                    links,
                );
            }
            groups.entry(("correlation_header", format!("{name}={value}"))).or_default().push(i);
        }
        if let Some(rep) = &d.replaces {
            if let Some(&other) = by_call_id.get(rep.call_id.as_str()) {
                add(
                    i,
                    other,
                    "replaces",
                    "replaces",
                    format!("explicit: INVITE with Replaces (frame {})", rep.at.number),
                    links,
                );
            }
        }
    }
    let mut keys: Vec<&(&'static str, String)> = groups.keys().collect();
    keys.sort();
    for key in keys {
        let Some(members) = groups.get(key) else { continue };
        if members.len() < 2 || members.len() > MAX_EXPLICIT_GROUP {
            continue;
        }
        let rule = match key.0 {
            "session_id" => format!("explicit: Session-ID {} on both legs (RFC 7989)", key.1),
            "icid" => format!("explicit: P-Charging-Vector icid-value {} on both legs (RFC 7315)", key.1),
            _ => format!("explicit: {} on both legs", key.1),
        };
        for (k, &a) in members.iter().enumerate() {
            for &b in members.iter().skip(k + 1) {
                add(a, b, "other_leg", key.0, rule.clone(), links);
            }
        }
    }
}

/// Links per dialog (index-aligned with `input.dialogs`): explicit identifiers first, then the
/// heuristic score for legs no explicit identifier linked.
pub(crate) fn link(input: &DiagnosisInput<'_>, index: &InputIndex, cfg: &DiagnosisConfig) -> Vec<Vec<Link>> {
    let n = input.dialogs.len();
    let facts: Vec<LegFacts> =
        input.dialogs.iter().enumerate().map(|(i, d)| LegFacts::of(input, index, i, d)).collect();
    let mut links: Vec<Vec<Link>> = vec![Vec::new(); n];
    explicit_links(input, cfg, &mut links);
    let explicit: Vec<bool> = links.iter().map(|l| !l.is_empty()).collect();
    // Calls sorted by INVITE time, so candidates are the calls starting within the lag.
    let mut calls: Vec<usize> = (0..n).filter(|&i| input.dialogs[i].first_invite.is_some()).collect();
    calls.sort_by_key(|&i| input.dialogs[i].first_invite.map(|f| f.time));
    let lag = ms_ns(cfg.pairing.max_invite_lag_ms);
    for (pos, &a) in calls.iter().enumerate() {
        let Some(a_t) = input.dialogs[a].first_invite.map(|f| f.time) else { continue };
        // An explicitly linked leg is not paired again by guesswork.
        if explicit[a] {
            continue;
        }
        let mut scored: Vec<(u32, usize, Vec<&'static str>)> = Vec::new();
        // Bounded look-ahead: at most 64 candidates within the lag window.
        for &b in calls.iter().skip(pos + 1).take(64) {
            let Some(b_t) = input.dialogs[b].first_invite.map(|f| f.time) else { continue };
            if b_t.0 - a_t.0 > lag {
                break;
            }
            if explicit[b] {
                continue;
            }
            if let Some((s, why)) = score(input, &facts, cfg, a, b) {
                scored.push((s, b, why));
            }
        }
        scored.sort_by_key(|x| std::cmp::Reverse(x.0));
        let Some((best, b, why)) = scored.first().cloned() else { continue };
        let runner = scored.get(1).map_or(0, |x| x.0);
        if best < cfg.pairing.min_score || best < runner + cfg.pairing.min_margin {
            continue;
        }
        let rule = format!("heuristic: {}", why.join(", "));
        links[a].push(Link {
            call_id: input.dialogs[b].call_id.clone(),
            relation: "other_leg",
            basis: "heuristic",
            score: best,
            rule: rule.clone(),
        });
        links[b].push(Link {
            call_id: input.dialogs[a].call_id.clone(),
            relation: "other_leg",
            basis: "heuristic",
            score: best,
            rule,
        });
    }
    links
}
