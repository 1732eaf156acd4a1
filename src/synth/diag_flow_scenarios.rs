//! Scripted captures for the media-flow rules of diagnosis.md §4.3 (`rtp_to_unannounced_address`,
//! `rtp_port_mismatch`, `media_stops_after_resume`, `media_stops_after_transfer`,
//! `late_media_start`, `t38_not_flowing`) and the capture vantage of §6. Each function builds a
//! capture that triggers one code, or, with its switch flipped, the near miss that must not.
//!
//! Parties: A (caller, 198.51.100.10, media port 40000), B (callee, 203.0.113.20, 50000) and,
//! for transfers, C (192.0.2.30, 60000). Times are ms from [`super::scenario::DEFAULT_START`].

use std::net::SocketAddr;

use super::diag_scenarios::Script;

/// SIP signalling DSCP (CS3).
const SIG_DSCP: u8 = 24;
/// Media DSCP (EF).
const EF: u8 = 46;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// Party A's SIP address.
pub fn a_sip() -> SocketAddr {
    sa("198.51.100.10:5060")
}
/// Party A's media address.
pub fn a_media() -> SocketAddr {
    sa("198.51.100.10:40000")
}
/// Party B's SIP address.
pub fn b_sip() -> SocketAddr {
    sa("203.0.113.20:5060")
}
/// Party B's media address.
pub fn b_media() -> SocketAddr {
    sa("203.0.113.20:50000")
}
/// Party C's SIP address (transfer target).
pub fn c_sip() -> SocketAddr {
    sa("192.0.2.30:5060")
}
/// Party C's media address.
pub fn c_media() -> SocketAddr {
    sa("192.0.2.30:60000")
}

/// An SDP body: audio (PCMU + telephone-event) with `dir`, or T.38 `m=image` when `image`.
pub fn sdp(addr: SocketAddr, dir: &str, image: bool) -> String {
    let mut s = format!("v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n", ip = addr.ip());
    if image {
        s.push_str(&format!("m=image {} udptl t38\r\na=T38FaxVersion:0\r\n", addr.port()));
    } else {
        s.push_str(&format!(
            "m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na={dir}\r\n",
            addr.port()
        ));
    }
    s
}

/// One dialog between an originator (`from`, who sent the initial INVITE) and a recipient.
#[derive(Clone, Debug)]
pub struct Leg {
    /// Call-ID.
    pub call_id: String,
    /// Originator's SIP address and user.
    pub from: (SocketAddr, String),
    /// Recipient's SIP address and user.
    pub to: (SocketAddr, String),
}

impl Leg {
    /// A dialog `call_id` from `from` to `to`.
    pub fn new(call_id: &str, from: (SocketAddr, &str), to: (SocketAddr, &str)) -> Self {
        Leg { call_id: call_id.to_owned(), from: (from.0, from.1.to_owned()), to: (to.0, to.1.to_owned()) }
    }

    /// A request at `t_ms`, sent by the originator (`by_originator`) or the recipient.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &self,
        s: &mut Script,
        t_ms: i64,
        method: &str,
        cseq: u32,
        by_originator: bool,
        to_tag: bool,
        extra: &str,
        body: Option<String>,
    ) {
        let (src, dst) = if by_originator { (self.from.0, self.to.0) } else { (self.to.0, self.from.0) };
        let (fu, tu) = if by_originator { (&self.from.1, &self.to.1) } else { (&self.to.1, &self.from.1) };
        let (ftag, ttag) = if by_originator { ("o", "r") } else { ("r", "o") };
        let id = &self.call_id;
        let tt = if to_tag { format!(";tag={ttag}{id}") } else { String::new() };
        let head = format!(
            "{method} sip:{tu}@{dst} SIP/2.0\r\nVia: SIP/2.0/UDP {src};branch=z9hG4bK{method}{cseq}{id}\r\n\
             From: <sip:{fu}@{sip}>;tag={ftag}{id}\r\nTo: <sip:{tu}@{dip}>{tt}\r\nCall-ID: {id}\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:{fu}@{src}>\r\nMax-Forwards: 70\r\n{extra}",
            sip = src.ip(),
            dip = dst.ip(),
        );
        s.udp(t_ms, src, dst, SIG_DSCP, finish(head, body));
    }

    /// A response at `t_ms` to a request the originator (`to_originator`) or recipient sent.
    #[allow(clippy::too_many_arguments)]
    pub fn response(
        &self,
        s: &mut Script,
        t_ms: i64,
        status: u16,
        method: &str,
        cseq: u32,
        to_originator: bool,
        body: Option<String>,
    ) {
        let (src, dst) = if to_originator { (self.to.0, self.from.0) } else { (self.from.0, self.to.0) };
        let (fu, tu) = if to_originator { (&self.from.1, &self.to.1) } else { (&self.to.1, &self.from.1) };
        let (ftag, ttag) = if to_originator { ("o", "r") } else { ("r", "o") };
        let id = &self.call_id;
        let tt = if status > 100 { format!(";tag={ttag}{id}") } else { String::new() };
        let head = format!(
            "SIP/2.0 {status} {}\r\nVia: SIP/2.0/UDP {dst};branch=z9hG4bK{method}{cseq}{id}\r\n\
             From: <sip:{fu}@{dip}>;tag={ftag}{id}\r\nTo: <sip:{tu}@{sip}>{tt}\r\nCall-ID: {id}\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:{tu}@{src}>\r\n",
            super::sip::reason_phrase(status),
            sip = src.ip(),
            dip = dst.ip(),
        );
        s.udp(t_ms, src, dst, SIG_DSCP, finish(head, body));
    }

    /// INVITE at `t_ms` with `offer`, 180 after 100 ms, 200 with `answer` at `answer_ms`, ACK
    /// 10 ms later.
    pub fn setup(&self, s: &mut Script, t_ms: i64, offer: String, answer_ms: i64, answer: String) {
        self.request(s, t_ms, "INVITE", 1, true, false, "", Some(offer));
        self.response(s, t_ms + 5, 100, "INVITE", 1, true, None);
        self.response(s, t_ms + 100, 180, "INVITE", 1, true, None);
        self.response(s, answer_ms, 200, "INVITE", 1, true, Some(answer));
        self.request(s, answer_ms + 10, "ACK", 1, true, true, "", None);
    }

    /// A completed re-offer (re-INVITE, 200, ACK) at `t_ms` from the originator or recipient.
    pub fn reinvite(&self, s: &mut Script, t_ms: i64, cseq: u32, by_originator: bool, offer: String, answer: String) {
        self.request(s, t_ms, "INVITE", cseq, by_originator, true, "", Some(offer));
        self.response(s, t_ms + 20, 200, "INVITE", cseq, by_originator, Some(answer));
        self.request(s, t_ms + 25, "ACK", cseq, by_originator, true, "", None);
    }

    /// BYE from the originator at `t_ms` and its 200.
    pub fn bye(&self, s: &mut Script, t_ms: i64, cseq: u32) {
        self.request(s, t_ms, "BYE", cseq, true, true, "", None);
        self.response(s, t_ms + 5, 200, "BYE", cseq, true, None);
    }
}

fn finish(head: String, body: Option<String>) -> Vec<u8> {
    let body = body.unwrap_or_default();
    let (ct, ctype) = if body.is_empty() {
        ("", "")
    } else if body.starts_with("SIP/2.0") {
        ("Content-Type: ", "message/sipfrag\r\n")
    } else {
        ("Content-Type: ", "application/sdp\r\n")
    };
    format!("{head}{ct}{ctype}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// G.711 RTP every 20 ms from `t0_ms` (inclusive) to `t1_ms` (exclusive).
pub fn rtp(s: &mut Script, src: SocketAddr, dst: SocketAddr, t0_ms: i64, t1_ms: i64, ssrc: u32) {
    let mut seq: u16 = 100;
    let mut ts: u32 = 0;
    let mut t = t0_ms;
    // Bounded by the interval: (t1 − t0) / 20 iterations.
    while t < t1_ms {
        s.rtp_packet(t * 1000 + 3, src, dst, EF, 0, seq, ts, ssrc);
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(160);
        t += 20;
    }
}

/// UDPTL (T.38) datagrams every 40 ms from `t0_ms` to `t1_ms`: sequence number, then a small IFP.
pub fn udptl(s: &mut Script, src: SocketAddr, dst: SocketAddr, t0_ms: i64, t1_ms: i64) {
    let mut seq: u16 = 0;
    let mut t = t0_ms;
    while t < t1_ms {
        let mut p = seq.to_be_bytes().to_vec();
        p.extend_from_slice(&[0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
        s.udp(t, src, dst, EF, p);
        seq = seq.wrapping_add(1);
        t += 40;
    }
}

/// The capture keeps running until `t_ms` (an OPTIONS between unrelated hosts).
pub fn end_marker(s: &mut Script, t_ms: i64) {
    let a = sa("192.0.2.200:5060");
    let b = sa("192.0.2.201:5060");
    let opts = format!(
        "OPTIONS sip:x@{b} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKo\r\nFrom: <sip:m@{a}>;tag=1\r\nTo: <sip:x@{b}>\r\n\
         Call-ID: marker\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    s.udp(t_ms, a, b, 0, opts.into_bytes());
}

fn ab(call_id: &str) -> Leg {
    Leg::new(call_id, (a_sip(), "1001"), (b_sip(), "2002"))
}

/// A → B answered at 1 s, BYE at 20 s. A's RTP goes to `a_sends_to` (B announced
/// [`b_media`]); when `also_correct`, A also sends to `b_media` from a second port. B's RTP
/// flows normally. With `also_correct`, a second SSRC from A reaches [`b_media`] (D). Triggers `rtp_to_unannounced_address` with 203.0.113.99:50000,
/// `rtp_port_mismatch` with 203.0.113.20:50010; near miss with [`b_media`].
pub fn misdirected(a_sends_to: SocketAddr, also_correct: bool) -> Script {
    let mut s = Script::new();
    let leg = ab("flow-stray");
    leg.setup(&mut s, 0, sdp(a_media(), "sendrecv", false), 1000, sdp(b_media(), "sendrecv", false));
    rtp(&mut s, b_media(), a_media(), 1020, 19_980, 0xB0B0_0001);
    rtp(&mut s, a_media(), a_sends_to, 1030, 19_980, 0xA0A0_0001);
    if also_correct {
        // A second SSRC from A's announced address to the announced destination.
        rtp(&mut s, a_media(), b_media(), 1030, 19_980, 0xA0A0_0002);
    }
    leg.bye(&mut s, 20_000, 2);
    end_marker(&mut s, 22_000);
    s
}

/// B moves its media from port 50000 to 50002 by a re-INVITE at 5 s; A keeps sending to the
/// old port (`stale`) or follows (near miss). Triggers `rtp_port_mismatch` `stale_port`.
pub fn stale_port(stale: bool) -> Script {
    let mut s = Script::new();
    let leg = ab("flow-stale");
    leg.setup(&mut s, 0, sdp(a_media(), "sendrecv", false), 1000, sdp(b_media(), "sendrecv", false));
    let moved = SocketAddr::new(b_media().ip(), 50002);
    leg.reinvite(&mut s, 5000, 1, false, sdp(moved, "sendrecv", false), sdp(a_media(), "sendrecv", false));
    rtp(&mut s, b_media(), a_media(), 1020, 5000, 0xB0B0_0001);
    rtp(&mut s, moved, a_media(), 5040, 19_980, 0xB0B0_0002);
    if stale {
        rtp(&mut s, a_media(), b_media(), 1030, 19_980, 0xA0A0_0001);
    } else {
        rtp(&mut s, a_media(), b_media(), 1030, 5040, 0xA0A0_0001);
        rtp(&mut s, a_media(), moved, 5060, 19_980, 0xA0A0_0001);
    }
    leg.bye(&mut s, 20_000, 2);
    end_marker(&mut s, 22_000);
    s
}

/// A holds B (sendonly re-INVITE at 5 s), resumes at 10 s. A's RTP (music on hold) runs
/// throughout; B's stops at the hold and restarts 100 ms after the resume (`restarts`, near
/// miss) or never (triggers `media_stops_after_resume` callee→caller).
pub fn hold_resume(restarts: bool) -> Script {
    let mut s = Script::new();
    let leg = ab("flow-resume");
    leg.setup(&mut s, 0, sdp(a_media(), "sendrecv", false), 1000, sdp(b_media(), "sendrecv", false));
    leg.reinvite(&mut s, 5000, 2, true, sdp(a_media(), "sendonly", false), sdp(b_media(), "recvonly", false));
    leg.reinvite(&mut s, 10_000, 3, true, sdp(a_media(), "sendrecv", false), sdp(b_media(), "sendrecv", false));
    rtp(&mut s, a_media(), b_media(), 1030, 24_980, 0xA0A0_0001);
    rtp(&mut s, b_media(), a_media(), 1020, 5000, 0xB0B0_0001);
    if restarts {
        rtp(&mut s, b_media(), a_media(), 10_120, 24_980, 0xB0B0_0002);
    }
    leg.bye(&mut s, 25_000, 4);
    end_marker(&mut s, 27_000);
    s
}

/// Blind transfer: A calls B (answered at 1 s, two-way audio); at 5 s B sends REFER (Refer-To
/// C) to A, A answers 202 and NOTIFYs; A calls C at 5.5 s (Referred-By), C answers at 6.5 s;
/// B hangs up the first call at 7 s. On the new call A's RTP flows; C's flows
/// (`target_sends`, near miss) or not at all (triggers `media_stops_after_transfer`).
pub fn transfer(target_sends: bool) -> Script {
    let mut s = Script::new();
    let first = ab("flow-xfer-1");
    first.setup(&mut s, 0, sdp(a_media(), "sendrecv", false), 1000, sdp(b_media(), "sendrecv", false));
    rtp(&mut s, a_media(), b_media(), 1030, 5000, 0xA0A0_0001);
    rtp(&mut s, b_media(), a_media(), 1020, 5000, 0xB0B0_0001);
    let refer_to = format!("Refer-To: <sip:3003@{}>\r\nReferred-By: <sip:2002@{}>\r\n", c_sip().ip(), b_sip().ip());
    first.request(&mut s, 5000, "REFER", 1, false, true, &refer_to, None);
    first.response(&mut s, 5010, 202, "REFER", 1, false, None);
    let ev = "Event: refer\r\nSubscription-State: active;expires=60\r\n";
    first.request(&mut s, 5020, "NOTIFY", 2, true, true, ev, Some("SIP/2.0 100 Trying\r\n".to_owned()));
    first.response(&mut s, 5030, 200, "NOTIFY", 2, true, None);
    let second = Leg::new("flow-xfer-2", (a_sip(), "1001"), (c_sip(), "3003"));
    let referred = format!("Referred-By: <sip:2002@{}>\r\n", b_sip().ip());
    second.request(&mut s, 5500, "INVITE", 1, true, false, &referred, Some(sdp(a_media(), "sendrecv", false)));
    second.response(&mut s, 5600, 180, "INVITE", 1, true, None);
    second.response(&mut s, 6500, 200, "INVITE", 1, true, Some(sdp(c_media(), "sendrecv", false)));
    second.request(&mut s, 6510, "ACK", 1, true, true, "", None);
    let done = "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n";
    first.request(&mut s, 6600, "NOTIFY", 3, true, true, done, Some("SIP/2.0 200 OK\r\n".to_owned()));
    first.response(&mut s, 6610, 200, "NOTIFY", 3, true, None);
    first.request(&mut s, 7000, "BYE", 2, false, true, "", None);
    first.response(&mut s, 7005, 200, "BYE", 2, false, None);
    rtp(&mut s, a_media(), c_media(), 6540, 19_980, 0xA0A0_0002);
    if target_sends {
        rtp(&mut s, c_media(), a_media(), 6530, 19_980, 0xC0C0_0001);
    }
    second.bye(&mut s, 20_000, 2);
    end_marker(&mut s, 22_000);
    s
}

/// A → B answered at 1 s; both flows start `delay_ms` after the 200 (3000: triggers
/// `late_media_start` both ways; 200: near miss).
pub fn late_start(delay_ms: i64) -> Script {
    let mut s = Script::new();
    let leg = ab("flow-late");
    leg.setup(&mut s, 0, sdp(a_media(), "sendrecv", false), 1000, sdp(b_media(), "sendrecv", false));
    rtp(&mut s, a_media(), b_media(), 1000 + delay_ms, 14_980, 0xA0A0_0001);
    rtp(&mut s, b_media(), a_media(), 1000 + delay_ms + 10, 14_980, 0xB0B0_0001);
    leg.bye(&mut s, 15_000, 2);
    end_marker(&mut s, 17_000);
    s
}

/// A → B answered at 1 s with audio; at 5 s A re-INVITEs to T.38 (`m=image`), B accepts. With
/// `fax_flows`, UDPTL runs both ways from 5.2 s (near miss); otherwise no UDPTL and A's RTP
/// goes on to B's old audio port (triggers `t38_not_flowing`, `rtp_on_old_port` caller→callee,
/// `no_udptl` callee→caller).
pub fn t38(fax_flows: bool) -> Script {
    let mut s = Script::new();
    let leg = ab("flow-t38");
    leg.setup(&mut s, 0, sdp(a_media(), "sendrecv", false), 1000, sdp(b_media(), "sendrecv", false));
    let a_fax = SocketAddr::new(a_media().ip(), 40010);
    let b_fax = SocketAddr::new(b_media().ip(), 50010);
    leg.reinvite(&mut s, 5000, 2, true, sdp(a_fax, "sendrecv", true), sdp(b_fax, "sendrecv", true));
    rtp(&mut s, b_media(), a_media(), 1020, 5000, 0xB0B0_0001);
    if fax_flows {
        rtp(&mut s, a_media(), b_media(), 1030, 5000, 0xA0A0_0001);
        udptl(&mut s, a_fax, b_fax, 5200, 19_900);
        udptl(&mut s, b_fax, a_fax, 5220, 19_900);
    } else {
        rtp(&mut s, a_media(), b_media(), 1030, 19_980, 0xA0A0_0001);
    }
    leg.bye(&mut s, 20_000, 3);
    end_marker(&mut s, 22_000);
    s
}

/// A clean call whose caller is behind a NAT and the capture sits inside it: A signals and
/// sends media from 10.1.1.10 (`inside`: vantage `caller_site`), or from its public address
/// 198.51.100.10 while its SDP says 10.1.1.10 (`transit`).
pub fn vantage(inside: bool) -> Script {
    let mut s = Script::new();
    let private_media = sa("10.1.1.10:40000");
    let (sig, media_src) =
        if inside { (sa("10.1.1.10:5060"), private_media) } else { (a_sip(), SocketAddr::new(a_sip().ip(), 40000)) };
    let leg = Leg::new("flow-vantage", (sig, "1001"), (b_sip(), "2002"));
    leg.setup(&mut s, 0, sdp(private_media, "sendrecv", false), 1000, sdp(b_media(), "sendrecv", false));
    rtp(&mut s, media_src, b_media(), 1030, 9_980, 0xA0A0_0001);
    rtp(&mut s, b_media(), media_src, 1020, 9_980, 0xB0B0_0001);
    leg.bye(&mut s, 10_000, 2);
    end_marker(&mut s, 12_000);
    s
}
