//! Scripted captures for the diagnosis rules (diagnosis.md §4): every frame is placed by hand
//! (SIP texts with any header, RTP with gaps, SSRC or payload changes), so each reason code gets
//! a capture that triggers it and a near miss that must not. [`DiagCall`] describes one call;
//! [`Script`] turns calls into a pcap.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use super::packet::{FrameBuilder, Link};
use super::pcap::{PcapWriter, TsResolution};
use super::scenario::DEFAULT_START;
use super::SynthError;
use crate::time::Timestamp;

const MS: i64 = 1_000_000;

/// One placed datagram: time (ns offset), insertion order, source, destination, DSCP, payload.
type Placed = (i64, usize, SocketAddr, SocketAddr, u8, Vec<u8>);

/// Frames of a capture, placed by time offset (ms from [`DEFAULT_START`]).
#[derive(Debug, Default)]
pub struct Script {
    frames: Vec<Placed>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Self {
        Script::default()
    }

    /// One UDP datagram at `t_ms`.
    pub fn udp(&mut self, t_ms: i64, src: SocketAddr, dst: SocketAddr, dscp: u8, payload: Vec<u8>) {
        let n = self.frames.len();
        self.frames.push((t_ms * MS, n, src, dst, dscp, payload));
    }

    /// One RTP packet.
    #[allow(clippy::too_many_arguments)]
    pub fn rtp_packet(
        &mut self,
        t_us: i64,
        src: SocketAddr,
        dst: SocketAddr,
        dscp: u8,
        pt: u8,
        seq: u16,
        ts: u32,
        ssrc: u32,
    ) {
        let mut p = vec![0x80, pt & 0x7F];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend(std::iter::repeat_n(0xD5u8, 160));
        let n = self.frames.len();
        self.frames.push((t_us * 1000, n, src, dst, dscp, p));
    }

    /// Writes the capture (Ethernet, µs).
    pub fn write_to<W: Write>(&self, out: W) -> Result<(), SynthError> {
        let link = Link::Ethernet { vlans: Vec::new() };
        let mut w = PcapWriter::new(out, link.pcap_link_type(), TsResolution::Micro)?;
        let mut fb = FrameBuilder::new(link, 1);
        let mut order: Vec<&Placed> = self.frames.iter().collect();
        order.sort_by_key(|f| (f.0, f.1));
        let mut buf = Vec::new();
        for (t, _, src, dst, dscp, payload) in order {
            fb.udp(*src, *dst, *dscp, payload, &mut buf)?;
            w.write_packet(Timestamp(DEFAULT_START.0 + t), &buf)?;
        }
        w.into_inner()?;
        Ok(())
    }

    /// Writes the capture to a file.
    pub fn write_file(&self, path: &Path) -> Result<(), SynthError> {
        self.write_to(std::io::BufWriter::new(crate::report::create_output_file(path)?))
    }
}

/// RTP of one direction.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    /// Send at all.
    pub enabled: bool,
    /// Payload type.
    pub pt: u8,
    /// DSCP.
    pub dscp: u8,
    /// Silence (ms from the flow start, ms end) with sequence numbers skipped (`lost` gap) when
    /// `true`, or continuous (silence suppression) when `false`.
    pub gap: Option<(i64, i64, bool)>,
    /// Every n-th packet dropped (spread loss).
    pub drop_every: Option<u32>,
    /// New SSRC from this ms on.
    pub ssrc_change_ms: Option<i64>,
    /// Stop sending at this ms after the flow start.
    pub stop_ms: Option<i64>,
    /// Send to this address instead of the announced one.
    pub send_to: Option<SocketAddr>,
}

impl Default for Flow {
    fn default() -> Self {
        Flow {
            enabled: true,
            pt: 0,
            dscp: 46,
            gap: None,
            drop_every: None,
            ssrc_change_ms: None,
            stop_ms: None,
            send_to: None,
        }
    }
}

/// One scripted call between 198.51.100.10 (caller) and 203.0.113.20 (callee).
#[derive(Clone, Debug, PartialEq)]
pub struct DiagCall {
    /// Call-ID.
    pub call_id: String,
    /// Caller user.
    pub from_user: String,
    /// Dialled user.
    pub to_user: String,
    /// Caller SIP address.
    pub caller: SocketAddr,
    /// Callee SIP address.
    pub callee: SocketAddr,
    /// Caller's SDP address.
    pub caller_media: SocketAddr,
    /// Callee's SDP address.
    pub callee_media: SocketAddr,
    /// a= direction of the caller's offer and the callee's answer.
    pub directions: (&'static str, &'static str),
    /// Start offset, ms.
    pub start_ms: i64,
    /// INVITE copies before any response (RFC 3261 T1 schedule).
    pub invite_copies: u32,
    /// No response at all.
    pub silent_callee: bool,
    /// 401 challenge first, then the credentialed INVITE.
    pub challenge: bool,
    /// 180 this long after the INVITE (None: no 18x).
    pub ring_ms: Option<i64>,
    /// Final status and its time after the INVITE.
    pub final_status: (u16, i64),
    /// Extra headers of the final response.
    pub final_headers: String,
    /// The caller cancels this long after the INVITE (then 487).
    pub cancel_ms: Option<i64>,
    /// Copies of the 2xx (T1 doubling).
    pub ok_copies: u32,
    /// The caller ACKs the 2xx.
    pub ack: bool,
    /// Talk time (answer → BYE), ms.
    pub talk_ms: i64,
    /// Reason header of the BYE.
    pub bye_reason: Option<String>,
    /// Extra headers of the INVITE.
    pub invite_headers: String,
    /// Offer T.38 in a re-INVITE this long after the answer; refused 488.
    pub t38_reoffer_ms: Option<i64>,
    /// A re-INVITE this long after the answer moving the caller's media to a new port.
    pub reinvite_ms: Option<i64>,
    /// Caller → callee RTP.
    pub c2e: Flow,
    /// Callee → caller RTP.
    pub e2c: Flow,
    /// The capture goes on this long after the call (OPTIONS marker).
    pub tail_ms: i64,
    /// Payload types in the callee's answer (the offer lists 0 and 8 and 101).
    pub answer_pts: Vec<u8>,
}

impl DiagCall {
    /// A clean answered G.711 call: INVITE at 0, 180 at 100 ms, 200 at 2 s, 10 s of talk.
    pub fn answered(call_id: &str) -> Self {
        let caller: SocketAddr = "198.51.100.10:5060".parse().unwrap_or_else(|_| unreachable!());
        let callee: SocketAddr = "203.0.113.20:5060".parse().unwrap_or_else(|_| unreachable!());
        DiagCall {
            call_id: call_id.to_owned(),
            from_user: "+15551230001".into(),
            to_user: "2002".into(),
            caller,
            callee,
            caller_media: SocketAddr::new(caller.ip(), 40000),
            callee_media: SocketAddr::new(callee.ip(), 50000),
            directions: ("sendrecv", "sendrecv"),
            start_ms: 0,
            invite_copies: 1,
            silent_callee: false,
            challenge: false,
            ring_ms: Some(100),
            final_status: (200, 2000),
            final_headers: String::new(),
            cancel_ms: None,
            ok_copies: 1,
            ack: true,
            talk_ms: 10_000,
            bye_reason: None,
            invite_headers: String::new(),
            t38_reoffer_ms: None,
            reinvite_ms: None,
            c2e: Flow::default(),
            e2c: Flow::default(),
            tail_ms: 1000,
            answer_pts: vec![0, 101],
        }
    }

    /// A call refused with `status` after `at_ms`.
    pub fn refused(call_id: &str, status: u16, at_ms: i64) -> Self {
        DiagCall { final_status: (status, at_ms), ..DiagCall::answered(call_id) }
    }
}

fn sdp(addr: SocketAddr, dir: &str, pts: &[u8], image: bool) -> String {
    let fmt: Vec<String> = pts.iter().map(u8::to_string).collect();
    let mut s = format!("v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n", ip = addr.ip());
    if image {
        s.push_str(&format!("m=image {} udptl t38\r\n", addr.port()));
        return s;
    }
    s.push_str(&format!("m=audio {} RTP/AVP {}\r\n", addr.port(), fmt.join(" ")));
    for pt in pts {
        match pt {
            0 => s.push_str("a=rtpmap:0 PCMU/8000\r\n"),
            8 => s.push_str("a=rtpmap:8 PCMA/8000\r\n"),
            101 => s.push_str("a=rtpmap:101 telephone-event/8000\r\n"),
            _ => {}
        }
    }
    s.push_str(&format!("a={dir}\r\n"));
    s
}

struct Msg<'a> {
    c: &'a DiagCall,
    to_tag: bool,
}

impl Msg<'_> {
    fn headers(&self, via_host: SocketAddr, branch: &str, cseq: u32, method: &str) -> String {
        let c = self.c;
        format!(
            "Via: SIP/2.0/UDP {via_host};branch=z9hG4bK{branch}\r\nFrom: <sip:{fu}@{cip}>;tag=ft{id}\r\nTo: <sip:{tu}@{eip}>{tt}\r\n\
             Call-ID: {id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:{fu}@{cs}>\r\nMax-Forwards: 70\r\n",
            fu = c.from_user,
            tu = c.to_user,
            cip = c.caller.ip(),
            eip = c.callee.ip(),
            cs = c.caller,
            id = c.call_id,
            tt = if self.to_tag { format!(";tag=tt{}", c.call_id) } else { String::new() },
        )
    }

    fn request(
        &self,
        method: &str,
        cseq: u32,
        branch: &str,
        extra: &str,
        body: Option<String>,
        from_callee: bool,
    ) -> Vec<u8> {
        let c = self.c;
        let (target, via) = if from_callee { (c.caller, c.callee) } else { (c.callee, c.caller) };
        let mut h = self.headers(via, branch, cseq, method);
        if from_callee {
            // In-dialog request from the callee: From/To swap roles, tags kept.
            h = format!(
                "Via: SIP/2.0/UDP {via};branch=z9hG4bK{branch}\r\nFrom: <sip:{tu}@{eip}>;tag=tt{id}\r\nTo: <sip:{fu}@{cip}>;tag=ft{id}\r\n\
                 Call-ID: {id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n",
                tu = c.to_user,
                fu = c.from_user,
                eip = c.callee.ip(),
                cip = c.caller.ip(),
                id = c.call_id
            );
        }
        let user = if from_callee { &c.from_user } else { &c.to_user };
        finish(format!("{method} sip:{user}@{target} SIP/2.0\r\n{h}{extra}"), body)
    }

    fn response(
        &self,
        status: u16,
        cseq: u32,
        method: &str,
        branch: &str,
        extra: &str,
        body: Option<String>,
    ) -> Vec<u8> {
        let h = self.headers(self.c.caller, branch, cseq, method);
        finish(format!("SIP/2.0 {status} {}\r\n{h}{extra}", super::sip::reason_phrase(status)), body)
    }
}

fn finish(head: String, body: Option<String>) -> Vec<u8> {
    let body = body.unwrap_or_default();
    let ct = if body.is_empty() { "" } else { "Content-Type: application/sdp\r\n" };
    format!("{head}{ct}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// RTP of one direction from `t0_ms` for `dur_ms`.
fn flow(s: &mut Script, f: &Flow, src: SocketAddr, dst: SocketAddr, t0_ms: i64, dur_ms: i64, ssrc: u32) {
    if !f.enabled {
        return;
    }
    let dst = f.send_to.unwrap_or(dst);
    let n = dur_ms / 20;
    let mut seq: u16 = 1000;
    let mut ssrc_now = ssrc;
    for i in 0..n {
        let t = i * 20;
        if f.stop_ms.is_some_and(|stop| t >= stop) {
            break;
        }
        if f.ssrc_change_ms.is_some_and(|c| t >= c) {
            ssrc_now = ssrc ^ 0x5A5A_0000;
        }
        let ts = u32::try_from(i * 160).unwrap_or(0);
        let cur = seq;
        seq = seq.wrapping_add(1);
        if let Some((a, b, lost)) = f.gap {
            if t >= a && t < b {
                if !lost {
                    seq = cur; // silence suppression: sequence continues after the silence
                }
                continue;
            }
        }
        if f.drop_every.is_some_and(|k| k > 0 && i % i64::from(k) == 0 && i > 0) {
            continue;
        }
        s.rtp_packet((t0_ms + t) * 1000 + 7, src, dst, f.dscp, f.pt, cur, ts, ssrc_now);
    }
}

/// Builds the script of calls.
pub fn script(calls: &[DiagCall]) -> Script {
    let mut s = Script::new();
    let mut last = 0i64;
    for c in calls {
        let t0 = c.start_ms;
        let m = Msg { c, to_tag: false };
        let mt = Msg { c, to_tag: true };
        let offer = sdp(c.caller_media, c.directions.0, &[0, 8, 101], false);
        let mut inv_cseq = 1;
        let mut branch = "a1".to_owned();
        let mut t = t0;
        if c.challenge {
            s.udp(
                t,
                c.caller,
                c.callee,
                24,
                m.request("INVITE", 1, &branch, &c.invite_headers, Some(offer.clone()), false),
            );
            s.udp(
                t + 10,
                c.callee,
                c.caller,
                24,
                m.response(401, 1, "INVITE", &branch, "WWW-Authenticate: Digest realm=\"x\", nonce=\"1\"\r\n", None),
            );
            s.udp(t + 12, c.caller, c.callee, 24, m.request("ACK", 1, &branch, "", None, false));
            inv_cseq = 2;
            branch = "a2".into();
            t += 20;
        }
        let extra = if c.challenge {
            format!(
                "{}Authorization: Digest username=\"{}\", realm=\"x\", nonce=\"1\", response=\"0\"\r\n",
                c.invite_headers, c.from_user
            )
        } else {
            c.invite_headers.clone()
        };
        let offsets = [0i64, 500, 1500, 3500, 7500, 15500, 31500];
        for k in 0..c.invite_copies.clamp(1, 7) {
            let off = offsets.get(k as usize).copied().unwrap_or(0);
            s.udp(
                t + off,
                c.caller,
                c.callee,
                24,
                m.request("INVITE", inv_cseq, &branch, &extra, Some(offer.clone()), false),
            );
        }
        last = last.max(t + 31_500);
        if c.silent_callee {
            continue;
        }
        let t_inv = t + offsets.get(c.invite_copies.clamp(1, 7) as usize - 1).copied().unwrap_or(0);
        s.udp(t_inv + 5, c.callee, c.caller, 24, m.response(100, inv_cseq, "INVITE", &branch, "", None));
        if let Some(r) = c.ring_ms {
            s.udp(t + r, c.callee, c.caller, 24, mt.response(180, inv_cseq, "INVITE", &branch, "", None));
        }
        let (status, at) = c.final_status;
        if let Some(cancel) = c.cancel_ms {
            s.udp(t + cancel, c.caller, c.callee, 24, m.request("CANCEL", inv_cseq, &branch, "", None, false));
            s.udp(t + cancel + 5, c.callee, c.caller, 24, m.response(200, inv_cseq, "CANCEL", &branch, "", None));
            s.udp(t + cancel + 8, c.callee, c.caller, 24, mt.response(487, inv_cseq, "INVITE", &branch, "", None));
            s.udp(t + cancel + 10, c.caller, c.callee, 24, mt.request("ACK", inv_cseq, &branch, "", None, false));
            last = last.max(t + cancel + 10);
            continue;
        }
        if status >= 300 {
            s.udp(
                t + at,
                c.callee,
                c.caller,
                24,
                mt.response(status, inv_cseq, "INVITE", &branch, &c.final_headers, None),
            );
            s.udp(t + at + 2, c.caller, c.callee, 24, mt.request("ACK", inv_cseq, &branch, "", None, false));
            last = last.max(t + at + 2);
            continue;
        }
        let answer = sdp(c.callee_media, c.directions.1, &c.answer_pts, false);
        let mut copy_t = 0;
        let mut gap = 500;
        for _ in 0..c.ok_copies.max(1) {
            s.udp(
                t + at + copy_t,
                c.callee,
                c.caller,
                24,
                mt.response(200, inv_cseq, "INVITE", &branch, &c.final_headers, Some(answer.clone())),
            );
            copy_t += gap;
            gap = (gap * 2).min(4000);
        }
        let ans = t + at;
        if c.ack {
            s.udp(ans + 10, c.caller, c.callee, 24, mt.request("ACK", inv_cseq, "ack1", "", None, false));
        }
        let end = ans + c.talk_ms;
        flow(&mut s, &c.e2c, c.callee_media, c.caller_media, ans + 20, c.talk_ms - 40, 0x1111_0000);
        flow(&mut s, &c.c2e, c.caller_media, c.callee_media, ans + 30, c.talk_ms - 50, 0x2222_0000);
        let mut cseq = inv_cseq + 1;
        if let Some(r) = c.t38_reoffer_ms {
            let img = sdp(c.caller_media, "sendrecv", &[], true);
            s.udp(ans + r, c.caller, c.callee, 24, mt.request("INVITE", cseq, "t38", "", Some(img), false));
            s.udp(ans + r + 20, c.callee, c.caller, 24, mt.response(488, cseq, "INVITE", "t38", "", None));
            s.udp(ans + r + 22, c.caller, c.callee, 24, mt.request("ACK", cseq, "t38", "", None, false));
            cseq += 1;
        }
        if let Some(r) = c.reinvite_ms {
            let moved = SocketAddr::new(c.caller_media.ip(), c.caller_media.port() + 2);
            let re = sdp(moved, "sendrecv", &[0, 8, 101], false);
            s.udp(ans + r, c.caller, c.callee, 24, mt.request("INVITE", cseq, "re", "", Some(re), false));
            s.udp(
                ans + r + 20,
                c.callee,
                c.caller,
                24,
                mt.response(200, cseq, "INVITE", "re", "", Some(answer.clone())),
            );
            s.udp(ans + r + 25, c.caller, c.callee, 24, mt.request("ACK", cseq, "reack", "", None, false));
            cseq += 1;
        }
        let reason = c.bye_reason.as_ref().map_or_else(String::new, |r| format!("Reason: {r}\r\n"));
        s.udp(end, c.caller, c.callee, 24, mt.request("BYE", cseq, "bye", &reason, None, false));
        s.udp(end + 5, c.callee, c.caller, 24, mt.response(200, cseq, "BYE", "bye", "", None));
        last = last.max(end + 5 + c.tail_ms);
        last = last.max(ans + copy_t);
    }
    // End marker so that "the capture runs past X" holds as the calls ask.
    let tail = calls.iter().map(|c| c.tail_ms).max().unwrap_or(0);
    let a: SocketAddr = "192.0.2.200:5060".parse().unwrap_or_else(|_| unreachable!());
    let b: SocketAddr = "192.0.2.201:5060".parse().unwrap_or_else(|_| unreachable!());
    let opts = format!(
        "OPTIONS sip:x@{b} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKo\r\nFrom: <sip:m@{a}>;tag=1\r\nTo: <sip:x@{b}>\r\n\
         Call-ID: marker\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    s.udp(last + tail, a, b, 0, opts.into_bytes());
    s
}
