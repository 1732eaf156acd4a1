//! Scripted captures for seven codes of diagnosis.md §4.1/§4.3/§4.4 that had no whole-capture
//! test: `call_leg_does_not_exist` (481 in dialog), `glare` (491), `forwarded` (181, Diversion,
//! History-Info, followed 3xx), `high_jitter`, `late_packets`, `low_mos` and
//! `rtp_from_unexpected_source`. Each builder has a trigger and a near-miss form (see
//! tests/it/diagnosis_more.rs).

use std::net::SocketAddr;

use super::diag_scenarios::{script, DiagCall, Script};
use super::diag_sig_scenarios::SigLeg;
use super::diag_stream_scenarios::{base_call, rtp, with_media, RtpPlan, CALLEE_SSRC, CALLER_SSRC, PACKETS};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|_| unreachable!("literal address"))
}

/// An SDP offer/answer body for `a` (PCMU).
fn sdp(a: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 2 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n\
         a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
        ip = a.ip(),
        port = a.port()
    )
}

/// An answered leg (INVITE at 0, 200 at 1 s) where `method` (CSeq 2) is sent in dialog at 3 s
/// by the caller or the callee and answered `status`; a BYE (or the BYE itself) ends the call.
/// `status` 481 triggers `call_leg_does_not_exist`; 200 is the near miss.
pub fn in_dialog_request(call_id: &str, method: &str, from_callee: bool, status: u16) -> Script {
    let leg = SigLeg::new(call_id, "3001");
    let mut s = Script::new();
    leg.setup(&mut s, 0, 1000, 200, "");
    let (src, dst) = if from_callee { (leg.callee, leg.caller) } else { (leg.caller, leg.callee) };
    let offer = sdp(SocketAddr::new(src.ip(), if from_callee { 50000 } else { 40000 }));
    let body = (method == "INVITE" || method == "UPDATE").then_some(("application/sdp", offer.as_str()));
    s.udp(3000, src, dst, 0, leg.request(method, 2, true, from_callee, "", body));
    s.udp(3010, dst, src, 0, leg.response(status, 2, method, from_callee, "", None));
    if method == "INVITE" && status < 300 {
        s.udp(3015, src, dst, 0, leg.request("ACK", 2, true, from_callee, "", None));
    }
    if method != "BYE" {
        leg.bye(&mut s, 5000, 3);
    }
    s
}

/// The CANCEL/2xx race: the caller CANCELs as the 200 crosses it; the callee answers the CANCEL
/// 481 (RFC 3261 §9.2: the transaction is already complete). A normal race, never
/// `call_leg_does_not_exist`.
pub fn cancel_race(call_id: &str) -> Script {
    let leg = SigLeg::new(call_id, "3001");
    let mut s = Script::new();
    leg.setup(&mut s, 0, 1000, 200, "");
    s.udp(998, leg.caller, leg.callee, 0, leg.request("CANCEL", 1, false, false, "", None));
    s.udp(1010, leg.callee, leg.caller, 0, leg.response(481, 1, "CANCEL", false, "", None));
    leg.bye(&mut s, 4000, 2);
    s
}

/// How a 491 to a re-INVITE is followed up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlareRetry {
    /// Never retried (triggers `glare`).
    None,
    /// Retried by the caller (the Call-ID owner) `ms` after the 491 and answered 200:
    /// 2100–4000 ms is inside RFC 3261 §14.1, anything else outside.
    After(i64),
}

/// An answered leg where the caller's re-INVITE (CSeq 2, 3 s) is answered 491 and then retried
/// (CSeq 3) per `retry`; BYE at 10 s.
pub fn glare(call_id: &str, retry: GlareRetry) -> Script {
    let leg = SigLeg::new(call_id, "3001");
    let mut s = Script::new();
    leg.setup(&mut s, 0, 1000, 200, "");
    let offer = sdp(addr("198.51.100.10:40000"));
    let body = Some(("application/sdp", offer.as_str()));
    let (a, b) = (leg.caller, leg.callee);
    s.udp(3000, a, b, 0, leg.request("INVITE", 2, true, false, "", body));
    s.udp(3010, b, a, 0, leg.response(491, 2, "INVITE", false, "", None));
    s.udp(3015, a, b, 0, leg.request("ACK", 2, true, false, "", None));
    if let GlareRetry::After(ms) = retry {
        let t = 3010 + ms;
        let answer = sdp(addr("203.0.113.20:50000"));
        s.udp(t, a, b, 0, leg.request("INVITE", 3, true, false, "", body));
        s.udp(t + 10, b, a, 0, leg.response(200, 3, "INVITE", false, "", Some(("application/sdp", answer.as_str()))));
        s.udp(t + 15, a, b, 0, leg.request("ACK", 3, true, false, "", None));
    }
    leg.bye(&mut s, 10_000, 4);
    s
}

/// How a call is forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forwarding {
    /// Not forwarded: 180 then 200 (the near miss).
    None,
    /// 181 Call Is Being Forwarded before the 200.
    Ringing181,
    /// The INVITE carries Diversion (RFC 5806) with reason=no-answer.
    Diversion,
    /// The INVITE carries History-Info (RFC 7044) with cause 302 (RFC 4458).
    HistoryInfo,
    /// A 302 to the first INVITE, followed 100 ms later by a new INVITE (same Call-ID, CSeq 2)
    /// to the 302's Contact, answered 200.
    Followed3xx,
}

/// An answered call forwarded per `how`.
pub fn forwarded(call_id: &str, how: Forwarding) -> Script {
    let mut leg = SigLeg::new(call_id, "3001");
    leg.invite_headers = match how {
        Forwarding::Diversion => "Diversion: <sip:3001@203.0.113.20>;reason=no-answer;counter=1\r\n".into(),
        Forwarding::HistoryInfo => "History-Info: <sip:3001@203.0.113.20>;index=1,\
             <sip:3009@203.0.113.20;cause=302>;index=1.1;mp=1\r\n"
            .into(),
        _ => String::new(),
    };
    let mut s = Script::new();
    let (a, b) = (leg.caller, leg.callee);
    match how {
        Forwarding::Followed3xx => {
            let target = addr("203.0.113.30:5060");
            leg.setup(&mut s, 0, 500, 302, "Contact: <sip:3009@203.0.113.30:5060>\r\n");
            let second = SigLeg { callee: target, to_user: "3009".into(), ..leg.clone() };
            let offer = sdp(addr("198.51.100.10:40000"));
            let answer = sdp(addr("203.0.113.30:50000"));
            s.udp(600, a, target, 0, second.request("INVITE", 2, false, false, "", Some(("application/sdp", &offer))));
            s.udp(650, target, a, 0, second.response(180, 2, "INVITE", false, "", None));
            s.udp(1500, target, a, 0, second.response(200, 2, "INVITE", false, "", Some(("application/sdp", &answer))));
            s.udp(1505, a, target, 0, second.request("ACK", 2, true, false, "", None));
            second.bye(&mut s, 6000, 3);
        }
        _ => {
            leg.setup(&mut s, 0, 1000, 200, "");
            if how == Forwarding::Ringing181 {
                s.udp(60, b, a, 0, leg.response(181, 1, "INVITE", false, "", None));
            }
            leg.bye(&mut s, 6000, 2);
        }
    }
    s
}

/// The answered base call (caller 198.51.100.10:40000, callee 203.0.113.20:50000) with clean
/// RTP callee→caller and caller→callee RTP whose arrival is delayed by `delay_ms(i)` for packet
/// `i` (sent every 20 ms, arrival order follows the delayed times).
pub fn delayed_media(call_id: &str, delay_ms: impl Fn(u32) -> i64, lost: &[u32]) -> Script {
    let call = base_call(call_id);
    let mut s = script(std::slice::from_ref(&call));
    let ans = call.start_ms + call.final_status.1;
    rtp(&mut s, call.callee_media, call.caller_media, CALLEE_SSRC, ans + 20, PACKETS, &RtpPlan::default());
    for i in 0..PACKETS {
        if lost.contains(&i) {
            continue;
        }
        let seq = 1000u16.wrapping_add(u16::try_from(i % 65536).unwrap_or(0));
        let t_us = (ans + 30 + 20 * i64::from(i) + delay_ms(i)) * 1000;
        s.rtp_packet(t_us, call.caller_media, call.callee_media, 46, 0, seq, i.wrapping_mul(160), CALLER_SSRC);
    }
    s
}

/// `high_jitter`: caller→callee packets held and released in bursts of `burst` packets (a
/// queue draining every `burst × 20` ms). Burst 20 (400 ms) fires; burst 1 is clean.
pub fn bursty_arrival(call_id: &str, burst: u32) -> Script {
    let b = burst.max(1);
    delayed_media(call_id, move |i| i64::from((b - 1 - i % b) * 20), &[])
}

/// `late_packets`: one caller→callee packet in `every` arrives `spike_ms` late (after the
/// packets sent behind it), the rest on time.
pub fn delay_spikes(call_id: &str, every: u32, spike_ms: i64) -> Script {
    let e = every.max(1);
    delayed_media(call_id, move |i| if i % e == e / 2 { spike_ms } else { 0 }, &[])
}

/// `low_mos`: caller→callee loses one packet in `every` (random-like isolated loss of G.711
/// without burst).
pub fn spread_loss(call_id: &str, every: u32) -> Script {
    let e = every.max(1);
    let lost: Vec<u32> = (1..PACKETS).filter(|i| i % e == 0).collect();
    with_media(&base_call(call_id), &RtpPlan { lost, ..RtpPlan::default() }, &RtpPlan::default())
}

/// Where the extra RTP to the caller's announced address comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StraySource {
    /// A third address (192.0.2.99:6000) during the call: triggers `rtp_from_unexpected_source`.
    Unknown,
    /// The callee announced a private address (10.0.0.5:50000) and its RTP arrives from its NAT
    /// address 203.0.113.77:31000: expected, the near miss.
    CalleeNat,
}

/// An answered call with RTP both ways plus RTP to the caller per `stray`.
pub fn stray_source(call_id: &str, stray: StraySource) -> Script {
    let mut call = base_call(call_id);
    if stray == StraySource::CalleeNat {
        call.callee_media = addr("10.0.0.5:50000");
    }
    let mut s = script(std::slice::from_ref(&call));
    let ans = call.start_ms + call.final_status.1;
    let plan = RtpPlan::default();
    rtp(&mut s, call.caller_media, call.callee_media, CALLER_SSRC, ans + 30, PACKETS, &plan);
    match stray {
        StraySource::Unknown => {
            rtp(&mut s, call.callee_media, call.caller_media, CALLEE_SSRC, ans + 20, PACKETS, &plan);
            rtp(&mut s, addr("192.0.2.99:6000"), call.caller_media, 0x7777_0000, ans + 2000, 100, &plan);
        }
        StraySource::CalleeNat => {
            rtp(&mut s, addr("203.0.113.77:31000"), call.caller_media, CALLEE_SSRC, ans + 20, PACKETS, &plan);
        }
    }
    s
}

/// A plain answered call with clean RTP, for reference (no code of this module fires).
pub fn clean(call_id: &str) -> Script {
    let call: DiagCall = base_call(call_id);
    with_media(&call, &RtpPlan::default(), &RtpPlan::default())
}
