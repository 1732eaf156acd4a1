//! B2BUA / PBX leg linking (diagnosis.md §5, heuristic score of rule 3): an A-leg whose INVITE
//! goes to host H and a B-leg whose INVITE comes from H (or from an address configured as the
//! same B2BUA in `pairing.b2bua_hosts`) within `pairing.max_invite_lag_ms`.

use std::net::IpAddr;

use serde::Serialize;

use super::config::DiagnosisConfig;
use super::sdpstate::{announced, announced_kinds};
use super::{ms_ns, DiagnosisInput};
use crate::sip::Dialog;
use crate::time::Timestamp;

/// One entry of `calls[].linked`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    /// The other leg's Call-ID.
    pub call_id: String,
    /// `other_leg` (transfers and forwards are not linked yet).
    pub relation: &'static str,
    /// `heuristic` (explicit identifiers need headers the SIP stage does not keep yet).
    pub basis: &'static str,
    /// Heuristic score.
    pub score: u32,
    /// The evidence that scored, in words.
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

fn same_host(cfg: &DiagnosisConfig, a: IpAddr, b: IpAddr) -> bool {
    a == b
        || cfg.pairing.b2bua_hosts.iter().any(|group| {
            let ips: Vec<IpAddr> = group.iter().filter_map(|s| s.parse().ok()).collect();
            ips.contains(&a) && ips.contains(&b)
        })
}

/// Score of pairing A-leg `a` with B-leg `b`, with the evidence; `None` when the host/time
/// requirement fails.
fn score(input: &DiagnosisInput<'_>, cfg: &DiagnosisConfig, ai: usize, bi: usize) -> Option<(u32, Vec<&'static str>)> {
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
    let sdp_shared = {
        let ak: Vec<_> = announced_kinds(a).into_iter().map(|(x, _)| x).collect();
        announced_kinds(b).iter().any(|(x, _)| ak.contains(x))
    };
    // An SBC with two interfaces often keeps its media port on both (the fax capture: port
    // 15580 announced by the SBC towards the A-leg and as the B-leg's caller): the B2BUA's
    // side of each leg announcing the same port counts as the copied SDP address.
    let sbc_port = {
        let a_callee: Vec<u16> = announced(a, false).iter().map(|x| x.port()).collect();
        announced(b, true).iter().any(|x| a_callee.contains(&x.port()))
    };
    let sdp_shared = sdp_shared || sbc_port;
    let called = number_key(a.to_user.as_deref()).is_some()
        && number_key(a.to_user.as_deref()) == number_key(b.to_user.as_deref());
    // Without the host relation (an SBC with two interfaces and no configured group), only
    // the same called number plus a media address announced on both legs may stand in for it.
    if !(host_ok || called && sdp_shared) {
        return None;
    }
    if called {
        pts += 2;
        why.push("called number");
    }
    if number_key(a.from_user.as_deref()).is_some()
        && number_key(a.from_user.as_deref()) == number_key(b.from_user.as_deref())
    {
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
    let ssrcs = |i: usize| -> Vec<u32> {
        input
            .streams
            .iter()
            .zip(input.pairing)
            .filter(|(_, p)| p.is_some_and(|p| p.dialog == i))
            .map(|(s, _)| s.key.ssrc)
            .collect()
    };
    let (sa, sb) = (ssrcs(ai), ssrcs(bi));
    if sa.iter().any(|x| sb.contains(x)) {
        pts += 3;
        why.push("same SSRC on both legs");
    }
    Some((pts, why))
}

/// Links per dialog (index-aligned with `input.dialogs`).
pub fn link(input: &DiagnosisInput<'_>, cfg: &DiagnosisConfig) -> Vec<Vec<Link>> {
    let n = input.dialogs.len();
    let mut links: Vec<Vec<Link>> = vec![Vec::new(); n];
    // Calls sorted by INVITE time, so candidates are the calls starting within the lag.
    let mut calls: Vec<usize> = (0..n).filter(|&i| input.dialogs[i].first_invite.is_some()).collect();
    calls.sort_by_key(|&i| input.dialogs[i].first_invite.map(|f| f.time));
    let lag = ms_ns(cfg.pairing.max_invite_lag_ms);
    for (pos, &a) in calls.iter().enumerate() {
        let Some(a_t) = input.dialogs[a].first_invite.map(|f| f.time) else { continue };
        let mut scored: Vec<(u32, usize, Vec<&'static str>)> = Vec::new();
        // Bounded look-ahead: at most 64 candidates within the lag window.
        for &b in calls.iter().skip(pos + 1).take(64) {
            let Some(b_t) = input.dialogs[b].first_invite.map(|f| f.time) else { continue };
            if b_t.0 - a_t.0 > lag {
                break;
            }
            if let Some((s, why)) = score(input, cfg, a, b) {
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
