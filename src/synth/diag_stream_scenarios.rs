//! Scripted captures for the stream codes of diagnosis.md §4.3/§4.4 (`burst_loss`, `high_rtt`,
//! `silent_payload`, `rtcp_reported_loss`, `rtcp_reported_jitter`, `capture_loss_suspected`,
//! `srtp_unanalyzable`): the SIP of a [`DiagCall`] with its own RTP disabled, plus RTP with a
//! chosen payload and loss, RTCP SR/RR with chosen counters, and DTLS/ZRTP packets, all placed
//! by hand. Each scenario has a near miss that must not fire (see tests/it/diagnosis_stream.rs).

use std::net::SocketAddr;

use super::diag_scenarios::{script, DiagCall, Flow, Script};

/// The µ-law byte of digital silence (decodes to 0, ITU-T G.711).
pub const ULAW_SILENCE: u8 = 0xFF;
/// A µ-law byte that decodes to ±716 (about −33 dBov): "sound" for the silence test.
pub const ULAW_SOUND: u8 = 0xD5;

/// SSRC of the caller's RTP in these scenarios.
pub const CALLER_SSRC: u32 = 0x2222_0000;
/// SSRC of the callee's RTP.
pub const CALLEE_SSRC: u32 = 0x1111_0000;

/// RTP of one direction, 20 ms PCMU packets.
#[derive(Clone, Debug, PartialEq)]
pub struct RtpPlan {
    /// Sequence offsets (0-based packet index) not sent.
    pub lost: Vec<u32>,
    /// Payload byte of packet `i`: `sound_every = n` sends [`ULAW_SOUND`] on every n-th packet
    /// and silence otherwise; 1 = all sound; 0 = all silence.
    pub sound_every: u32,
}

impl Default for RtpPlan {
    fn default() -> Self {
        RtpPlan { lost: Vec::new(), sound_every: 1 }
    }
}

/// Sends one direction: packets from `t0_ms` every 20 ms for `count` packets.
#[allow(clippy::too_many_arguments)]
pub fn rtp(s: &mut Script, src: SocketAddr, dst: SocketAddr, ssrc: u32, t0_ms: i64, count: u32, plan: &RtpPlan) {
    for i in 0..count {
        if plan.lost.contains(&i) {
            continue;
        }
        let sound = plan.sound_every != 0 && i % plan.sound_every == 0;
        let byte = if sound { ULAW_SOUND } else { ULAW_SILENCE };
        let seq = 1000u16.wrapping_add(u16::try_from(i % 65536).unwrap_or(0));
        let ts = i.wrapping_mul(160);
        let mut p = vec![0x80, 0];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend(std::iter::repeat_n(byte, 160));
        s.udp(t0_ms + 20 * i64::from(i), src, dst, 46, p);
    }
}

/// An RTCP SR (RFC 3550 §6.4.1) from `ssrc` with NTP seconds/fraction and a packet count,
/// optionally followed by one report block.
pub fn sender_report(ssrc: u32, ntp: (u32, u32), packets: u32, block: Option<ReportBlockSpec>) -> Vec<u8> {
    let rc = u8::from(block.is_some());
    let words: u16 = 6 + 6 * u16::from(rc);
    let mut p = vec![0x80 | rc, 200];
    p.extend_from_slice(&words.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&ntp.0.to_be_bytes());
    p.extend_from_slice(&ntp.1.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&packets.to_be_bytes());
    p.extend_from_slice(&packets.wrapping_mul(160).to_be_bytes());
    if let Some(b) = block {
        b.append(&mut p);
    }
    p
}

/// An RTCP RR (RFC 3550 §6.4.2) from `ssrc` with one report block.
pub fn receiver_report(ssrc: u32, block: ReportBlockSpec) -> Vec<u8> {
    let mut p = vec![0x81, 201, 0, 7];
    p.extend_from_slice(&ssrc.to_be_bytes());
    block.append(&mut p);
    p
}

/// One report block (RFC 3550 §6.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportBlockSpec {
    /// Source reported on.
    pub ssrc: u32,
    /// Cumulative number of packets lost (24-bit signed, ≥ 0 here).
    pub cumulative_lost: u32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter, timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR from that source.
    pub lsr: u32,
    /// Delay since that SR, 1/65536 s.
    pub dlsr: u32,
}

impl ReportBlockSpec {
    fn append(self, p: &mut Vec<u8>) {
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.push(0);
        p.extend_from_slice(&self.cumulative_lost.to_be_bytes()[1..]);
        p.extend_from_slice(&self.highest_seq.to_be_bytes());
        p.extend_from_slice(&self.jitter.to_be_bytes());
        p.extend_from_slice(&self.lsr.to_be_bytes());
        p.extend_from_slice(&self.dlsr.to_be_bytes());
    }

    /// A block about `ssrc` with the given loss, jitter and highest sequence, no LSR.
    pub fn about(ssrc: u32, cumulative_lost: u32, highest_seq: u32, jitter: u32) -> Self {
        ReportBlockSpec { ssrc, cumulative_lost, highest_seq, jitter, lsr: 0, dlsr: 0 }
    }
}

/// The RTCP port next to an RTP address (RFC 3550 §11).
pub fn rtcp_of(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip(), a.port().wrapping_add(1))
}

/// The clean base call: 2 s to answer, 10 s of talk, RTP both ways from the scenario.
pub fn base_call(call_id: &str) -> DiagCall {
    DiagCall {
        c2e: Flow { enabled: false, ..Flow::default() },
        e2c: Flow { enabled: false, ..Flow::default() },
        ..DiagCall::answered(call_id)
    }
}

/// Packets per direction in [`with_media`] (9.9 s at 20 ms).
pub const PACKETS: u32 = 495;

/// A script of `call` with RTP both ways per the plans, starting 30/20 ms after the answer.
pub fn with_media(call: &DiagCall, c2e: &RtpPlan, e2c: &RtpPlan) -> Script {
    let mut s = script(std::slice::from_ref(call));
    let ans = call.start_ms + call.final_status.1;
    rtp(&mut s, call.caller_media, call.callee_media, CALLER_SSRC, ans + 30, PACKETS, c2e);
    rtp(&mut s, call.callee_media, call.caller_media, CALLEE_SSRC, ans + 20, PACKETS, e2c);
    s
}

/// `burst_loss`: caller→callee loses runs of `run` consecutive packets at three places
/// (run 8 = 160 ms of audio fires; run 3 = 60 ms is the near miss).
pub fn burst_loss(run: u32) -> Script {
    let call = base_call("burst-loss");
    let lost: Vec<u32> = [100u32, 250, 400].iter().flat_map(|&at| at..at + run).collect();
    with_media(&call, &RtpPlan { lost, ..RtpPlan::default() }, &RtpPlan::default())
}

/// `high_rtt`: SRs from both parties, each answered by the other's RR with a DLSR that makes
/// each leg `leg_ms` long at the capture point (the capture sees SR at t, RR at t + gap).
pub fn high_rtt(leg_ms: i64) -> Script {
    let call = base_call("high-rtt");
    let mut s = with_media(&call, &RtpPlan::default(), &RtpPlan::default());
    let ans = call.start_ms + call.final_status.1;
    let hold_ms: i64 = 500; // the reporter holds the SR this long before answering (DLSR)
    for (k, base) in [ans + 3000, ans + 6000].into_iter().enumerate() {
        let sec = 100 + u32::try_from(k).unwrap_or(0);
        for (src, dst, ssrc, peer_ssrc, off) in [
            (call.caller_media, call.callee_media, CALLER_SSRC, CALLEE_SSRC, 0),
            (call.callee_media, call.caller_media, CALLEE_SSRC, CALLER_SSRC, 200),
        ] {
            let t = base + off;
            s.udp(t, rtcp_of(src), rtcp_of(dst), 46, sender_report(ssrc, (sec, 0), 150, None));
            let lsr = (sec & 0xFFFF) << 16;
            let dlsr = u32::try_from(hold_ms * 65536 / 1000).unwrap_or(0);
            let block = ReportBlockSpec { ssrc, cumulative_lost: 0, highest_seq: 1100, jitter: 0, lsr, dlsr };
            s.udp(t + hold_ms + leg_ms, rtcp_of(dst), rtcp_of(src), 46, receiver_report(peer_ssrc, block));
        }
    }
    s
}

/// `silent_payload`: the caller sends digital silence except every `sound_every`-th packet
/// (0 = all silence), the callee sends sound. With `dtls`, a DTLS handshake on the media
/// 5-tuple makes the media SRTP (`srtp_unanalyzable`, payload checks skipped).
pub fn silent_payload(sound_every: u32, dtls: bool) -> Script {
    let call = base_call("silent-payload");
    let mut s = with_media(&call, &RtpPlan { lost: Vec::new(), sound_every }, &RtpPlan::default());
    if dtls {
        let ans = call.start_ms + call.final_status.1;
        // DTLS 1.2 ClientHello record header (RFC 6347 §4.1): type 22, version 0xFEFD.
        let mut hello = vec![22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12];
        hello.extend(std::iter::repeat_n(0u8, 12));
        s.udp(ans + 15, call.caller_media, call.callee_media, 46, hello);
    }
    s
}

/// `rtcp_reported_loss` / `rtcp_reported_jitter`: a clean capture in which the callee's RR
/// about the caller's stream reports `cumulative_lost` lost and `jitter` units of jitter.
pub fn receiver_reports(cumulative_lost: u32, jitter: u32) -> Script {
    let call = base_call("rtcp-report");
    let mut s = with_media(&call, &RtpPlan::default(), &RtpPlan::default());
    let ans = call.start_ms + call.final_status.1;
    let block = ReportBlockSpec::about(CALLER_SSRC, cumulative_lost, 1000 + 480, jitter);
    s.udp(ans + 9700, rtcp_of(call.callee_media), rtcp_of(call.caller_media), 46, receiver_report(CALLEE_SSRC, block));
    s
}

/// `capture_loss_suspected` by RTCP: the capture misses `missing` scattered caller packets
/// while the callee's RR reports `reported_lost` lost (0: the capture lost them; `missing`:
/// real loss before the capture point, the near miss).
pub fn capture_loss_rtcp(missing: u32, reported_lost: u32) -> Script {
    let call = base_call("capture-loss-rtcp");
    let lost: Vec<u32> = (0..missing).map(|k| 20 + k * 15).collect();
    let mut s = with_media(&call, &RtpPlan { lost, ..RtpPlan::default() }, &RtpPlan::default());
    let ans = call.start_ms + call.final_status.1;
    let block = ReportBlockSpec::about(CALLER_SSRC, reported_lost, 1000 + 480, 0);
    s.udp(ans + 9700, rtcp_of(call.callee_media), rtcp_of(call.caller_media), 46, receiver_report(CALLEE_SSRC, block));
    s
}

/// `capture_loss_suspected` by coinciding gaps: two unrelated calls (other hosts, other
/// SSRCs) both lose 10 packets (200 ms); the second call's hole starts `offset_ms` later
/// (0 fires; 500 is the near miss).
pub fn coinciding_gaps(offset_ms: i64) -> Script {
    let a = base_call("gap-a");
    let b = DiagCall {
        caller: "198.51.100.30:5060".parse().unwrap_or_else(|_| unreachable!()),
        callee: "203.0.113.40:5060".parse().unwrap_or_else(|_| unreachable!()),
        caller_media: "198.51.100.30:42000".parse().unwrap_or_else(|_| unreachable!()),
        callee_media: "203.0.113.40:52000".parse().unwrap_or_else(|_| unreachable!()),
        ..base_call("gap-b")
    };
    let mut s = script(&[a.clone(), b.clone()]);
    let ans = a.start_ms + a.final_status.1;
    // Both calls answer at the same time; the hole covers packets 200..210 of call a.
    let hole_b = u32::try_from(offset_ms / 20).unwrap_or(0);
    let plan = |from: u32| RtpPlan { lost: (from..from + 10).collect(), ..RtpPlan::default() };
    rtp(&mut s, a.caller_media, a.callee_media, CALLER_SSRC, ans + 30, PACKETS, &plan(200));
    rtp(&mut s, a.callee_media, a.caller_media, CALLEE_SSRC, ans + 20, PACKETS, &RtpPlan::default());
    rtp(&mut s, b.caller_media, b.callee_media, 0x3333_0000, ans + 30, PACKETS, &plan(200 + hole_b));
    rtp(&mut s, b.callee_media, b.caller_media, 0x4444_0000, ans + 20, PACKETS, &RtpPlan::default());
    s
}

/// `capture_loss_suspected` `path_not_captured`: no caller→callee RTP in the capture, but
/// (with `rr`) the callee's RTCP reports on the caller's SSRC: it received that media.
pub fn path_not_captured(rr: bool) -> Script {
    let call = base_call("path-not-captured");
    let mut s = script(std::slice::from_ref(&call));
    let ans = call.start_ms + call.final_status.1;
    rtp(&mut s, call.callee_media, call.caller_media, CALLEE_SSRC, ans + 20, PACKETS, &RtpPlan::default());
    if rr {
        let block = ReportBlockSpec::about(CALLER_SSRC, 0, 1000 + 240, 8);
        s.udp(
            ans + 5000,
            rtcp_of(call.callee_media),
            rtcp_of(call.caller_media),
            46,
            receiver_report(CALLEE_SSRC, block),
        );
    }
    s
}

/// `srtp_unanalyzable` by ZRTP: a ZRTP Hello (RFC 6189 §5) on the call's media 5-tuple.
pub fn zrtp_call() -> Script {
    let call = base_call("zrtp");
    let mut s = with_media(&call, &RtpPlan::default(), &RtpPlan::default());
    let ans = call.start_ms + call.final_status.1;
    let mut hello = vec![0x10, 0, 0, 1];
    hello.extend_from_slice(b"ZRTP");
    hello.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    hello.extend_from_slice(&[0x50, 0x5A, 0, 3]);
    hello.extend_from_slice(b"Hello   ");
    hello.extend(std::iter::repeat_n(0u8, 12));
    s.udp(ans + 10, call.caller_media, call.callee_media, 46, hello);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtcp_builders_have_consistent_lengths() {
        let sr = sender_report(1, (2, 3), 4, Some(ReportBlockSpec::about(5, 6, 7, 8)));
        assert_eq!(sr.len(), 52);
        assert_eq!(usize::from(u16::from_be_bytes([sr[2], sr[3]]) + 1) * 4, sr.len());
        let rr = receiver_report(1, ReportBlockSpec::about(5, 6, 7, 8));
        assert_eq!(rr.len(), 32);
        assert_eq!(usize::from(u16::from_be_bytes([rr[2], rr[3]]) + 1) * 4, rr.len());
        // Cumulative lost is the 24-bit field after the fraction byte.
        assert_eq!(&rr[13..16], &[0, 0, 6]);
    }

    #[test]
    fn rtp_plan_drops_and_silences() {
        let mut s = Script::new();
        let a: SocketAddr = "192.0.2.1:4000".parse().unwrap_or_else(|_| unreachable!());
        let b: SocketAddr = "192.0.2.2:4000".parse().unwrap_or_else(|_| unreachable!());
        rtp(&mut s, a, b, 1, 0, 10, &RtpPlan { lost: vec![3, 4], sound_every: 0 });
        let mut out = Vec::new();
        s.write_to(&mut out).expect("writes");
        // 24-byte pcap header + 8 frames of (16 + 14 + 20 + 8 + 172).
        assert_eq!(out.len(), 24 + 8 * (16 + 14 + 20 + 8 + 172));
    }
}
