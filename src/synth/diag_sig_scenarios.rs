//! Scripted captures for the signaling and routing codes of diagnosis.md §4.1/§4.2 that need
//! headers the plain [`super::diag_scenarios::DiagCall`] does not write: session timers
//! (RFC 4028), transfers (REFER/NOTIFY, RFC 3515; Replaces, RFC 3891), explicit leg identifiers
//! (Session-ID, X-CID, P-Charging-Vector) and two-leg calls through a PBX (number translation,
//! emergency egress). Each builder has a trigger and a near-miss form.

use std::net::SocketAddr;

use super::diag_scenarios::Script;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|_| unreachable!("literal address"))
}

/// One SIP leg: Call-ID, parties and the headers of its initial INVITE.
#[derive(Clone, Debug)]
pub struct SigLeg {
    /// Call-ID.
    pub call_id: String,
    /// Caller user.
    pub from_user: String,
    /// Dialled user (Request-URI and To).
    pub to_user: String,
    /// Caller SIP address.
    pub caller: SocketAddr,
    /// Callee SIP address.
    pub callee: SocketAddr,
    /// Extra header lines of the initial INVITE (each ending in CRLF).
    pub invite_headers: String,
}

impl SigLeg {
    /// A leg 198.51.100.10 → 203.0.113.20, caller 2001 dialling `to_user`.
    pub fn new(call_id: &str, to_user: &str) -> Self {
        SigLeg {
            call_id: call_id.to_owned(),
            from_user: "2001".into(),
            to_user: to_user.into(),
            caller: addr("198.51.100.10:5060"),
            callee: addr("203.0.113.20:5060"),
            invite_headers: String::new(),
        }
    }

    /// A request; `from_callee` swaps the roles (in-dialog request of the callee).
    pub fn request(
        &self,
        method: &str,
        cseq: u32,
        in_dialog: bool,
        from_callee: bool,
        extra: &str,
        body: Option<(&str, &str)>,
    ) -> Vec<u8> {
        let (src, dst, fu, tu) = if from_callee {
            (self.callee, self.caller, &self.to_user, &self.from_user)
        } else {
            (self.caller, self.callee, &self.from_user, &self.to_user)
        };
        let (ftag, ttag) = if from_callee { ("tt", "ft") } else { ("ft", "tt") };
        let to_tag = if in_dialog { format!(";tag={ttag}{}", self.call_id) } else { String::new() };
        let head = format!(
            "{method} sip:{tu}@{dst} SIP/2.0\r\nVia: SIP/2.0/UDP {src};branch=z9hG4bK{}{method}{cseq}\r\n\
             From: <sip:{fu}@{}>;tag={ftag}{}\r\nTo: <sip:{tu}@{}>{to_tag}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:{fu}@{src}>\r\nMax-Forwards: 70\r\n{extra}",
            self.call_id,
            src.ip(),
            self.call_id,
            dst.ip(),
            self.call_id
        );
        finish(head, body)
    }

    /// A response to a request of the caller (`to_callee == false`) or of the callee.
    pub fn response(
        &self,
        status: u16,
        cseq: u32,
        method: &str,
        request_by_callee: bool,
        extra: &str,
        body: Option<(&str, &str)>,
    ) -> Vec<u8> {
        let (uac, fu, tu) = if request_by_callee {
            (self.callee, &self.to_user, &self.from_user)
        } else {
            (self.caller, &self.from_user, &self.to_user)
        };
        let (ftag, ttag) = if request_by_callee { ("tt", "ft") } else { ("ft", "tt") };
        let head = format!(
            "SIP/2.0 {status} {}\r\nVia: SIP/2.0/UDP {uac};branch=z9hG4bK{}{method}{cseq}\r\n\
             From: <sip:{fu}@h>;tag={ftag}{}\r\nTo: <sip:{tu}@h>;tag={ttag}{}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n{extra}",
            super::sip::reason_phrase(status),
            self.call_id,
            self.call_id,
            self.call_id,
            self.call_id
        );
        finish(head, body)
    }

    /// Initial INVITE at `t`, 180 at +50 ms, final `status` at +`answer_ms` (2xx: with
    /// `ok_headers`, then ACK).
    pub fn setup(&self, s: &mut Script, t: i64, answer_ms: i64, status: u16, ok_headers: &str) {
        let (a, b) = (self.caller, self.callee);
        let sdp = |ip: std::net::IpAddr, port: u16| {
            format!(
                "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n\
                 a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
            )
        };
        let (offer, answer) = (sdp(a.ip(), 40000), sdp(b.ip(), 50000));
        let sdp_type = "application/sdp";
        s.udp(
            t,
            a,
            b,
            0,
            self.request("INVITE", 1, false, false, &self.invite_headers.clone(), Some((sdp_type, &offer))),
        );
        s.udp(t + 50, b, a, 0, self.response(180, 1, "INVITE", false, "", None));
        let body = (status < 300).then_some((sdp_type, answer.as_str()));
        s.udp(t + answer_ms, b, a, 0, self.response(status, 1, "INVITE", false, ok_headers, body));
        s.udp(t + answer_ms + 5, a, b, 0, self.request("ACK", 1, status < 300, false, "", None));
    }

    /// BYE from the caller at `t` and its 200.
    pub fn bye(&self, s: &mut Script, t: i64, cseq: u32) {
        s.udp(t, self.caller, self.callee, 0, self.request("BYE", cseq, true, false, "", None));
        s.udp(t + 5, self.callee, self.caller, 0, self.response(200, cseq, "BYE", false, "", None));
    }
}

fn finish(head: String, body: Option<(&str, &str)>) -> Vec<u8> {
    match body {
        Some((ct, b)) => format!("{head}Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{b}", b.len()).into_bytes(),
        None => format!("{head}Content-Length: 0\r\n\r\n").into_bytes(),
    }
}

/// An OPTIONS at `t_ms` so the capture runs that long.
pub fn end_marker(s: &mut Script, t_ms: i64) {
    let (a, b) = (addr("192.0.2.200:5060"), addr("192.0.2.201:5060"));
    let opts = format!(
        "OPTIONS sip:x@{b} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bKo{t_ms}\r\nFrom: <sip:m@{a}>;tag=1\r\nTo: <sip:x@{b}>\r\n\
         Call-ID: marker-{t_ms}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    s.udp(t_ms, a, b, 0, opts.into_bytes());
}

/// How a session-timer call ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionTimerCase {
    /// Session-Expires 90 s, refresher=uac, no refresh, BYE 60 s after the answer
    /// (expiry − min(32, 30) s): `session_timer_expiry`/`not_refreshed`.
    NotRefreshed,
    /// The caller refreshes at 45 s (answered 200) and hangs up at 80 s: near miss.
    Refreshed,
    /// The refresh at 45 s is answered 481, BYE at 46 s: `refresh_failed`.
    RefreshFailed,
    /// No refresh but BYE after 20 s, long before expiry: near miss.
    EarlyBye,
}

/// A call with Session-Expires: 90;refresher=uac in its 2xx (RFC 4028), ended as `case` says.
pub fn session_timer(call_id: &str, case: SessionTimerCase) -> Script {
    let mut s = Script::new();
    let leg = SigLeg::new(call_id, "2002");
    let se = "Session-Expires: 90;refresher=uac\r\nRequire: timer\r\n";
    leg.setup(&mut s, 0, 1000, 200, se);
    let ans = 1000;
    let (a, b) = (leg.caller, leg.callee);
    let bye_at = match case {
        SessionTimerCase::NotRefreshed => ans + 60_000,
        SessionTimerCase::EarlyBye => ans + 20_000,
        SessionTimerCase::Refreshed | SessionTimerCase::RefreshFailed => {
            let status = if case == SessionTimerCase::Refreshed { 200 } else { 481 };
            s.udp(
                ans + 45_000,
                a,
                b,
                0,
                leg.request("UPDATE", 2, true, false, "Session-Expires: 90;refresher=uac\r\n", None),
            );
            let extra = if status == 200 { se } else { "" };
            s.udp(ans + 45_020, b, a, 0, leg.response(status, 2, "UPDATE", false, extra, None));
            if status == 200 {
                ans + 80_000
            } else {
                ans + 46_000
            }
        }
    };
    leg.bye(&mut s, bye_at, 3);
    end_marker(&mut s, bye_at + 40_000);
    s
}

/// Options of a transfer scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferCase {
    /// Answer to the REFER (None: unanswered).
    pub refer_status: Option<u16>,
    /// Final sipfrag status reported by NOTIFY (None: no final NOTIFY).
    pub sipfrag: Option<u16>,
    /// Attended: Refer-To carries Replaces of another dialog.
    pub attended: bool,
    /// The transferee's INVITE to the target (new dialog with Referred-By) and its final.
    pub target_call: Option<u16>,
}

/// An answered call in which the callee (203.0.113.20) transfers the caller to 3003 with a
/// REFER at 5 s after the answer; NOTIFYs report 100 then `sipfrag`.
pub fn transfer(call_id: &str, case: &TransferCase) -> Script {
    let mut s = Script::new();
    let leg = SigLeg::new(call_id, "2002");
    leg.setup(&mut s, 0, 1000, 200, "");
    let (a, b) = (leg.caller, leg.callee);
    let t = 6000;
    let replaces = if case.attended { "?Replaces=consult-1%40h%3Bto-tag%3D7%3Bfrom-tag%3D8" } else { "" };
    let refer_hdr = format!("Refer-To: <sip:3003@203.0.113.30{replaces}>\r\nReferred-By: <sip:2002@203.0.113.20>\r\n");
    s.udp(t, b, a, 0, leg.request("REFER", 1, true, true, &refer_hdr, None));
    let mut end = t + 40_000;
    if let Some(status) = case.refer_status {
        s.udp(t + 20, a, b, 0, leg.response(status, 1, "REFER", true, "", None));
        if (200..300).contains(&status) {
            let notify = |cseq: u32, frag: u16, state: &str| {
                leg.request(
                    "NOTIFY",
                    cseq,
                    true,
                    false,
                    &format!("Event: refer;id=1\r\nSubscription-State: {state}\r\n"),
                    Some((
                        "message/sipfrag;version=2.0",
                        &format!("SIP/2.0 {frag} {}", super::sip::reason_phrase(frag)),
                    )),
                )
            };
            s.udp(t + 40, a, b, 0, notify(2, 100, "active;expires=60"));
            s.udp(t + 45, b, a, 0, leg.response(200, 2, "NOTIFY", false, "", None));
            if let Some(target) = case.target_call {
                let mut tl = SigLeg::new(&format!("{call_id}-target"), "3003");
                tl.from_user = leg.from_user.clone();
                tl.callee = addr("203.0.113.30:5060");
                tl.invite_headers = "Referred-By: <sip:2002@203.0.113.20>\r\n".into();
                tl.setup(&mut s, t + 60, 2000, target, "");
                if target < 300 {
                    tl.bye(&mut s, t + 20_000, 2);
                }
            }
            if let Some(frag) = case.sipfrag {
                s.udp(t + 2100, a, b, 0, notify(3, frag, "terminated;reason=noresource"));
                s.udp(t + 2105, b, a, 0, leg.response(200, 3, "NOTIFY", false, "", None));
            }
            // The transferor leaves the call.
            s.udp(t + 2200, b, a, 0, leg.request("BYE", 2, true, true, "", None));
            s.udp(t + 2205, a, b, 0, leg.response(200, 2, "BYE", true, "", None));
            end = t + 30_000;
        } else {
            leg.bye(&mut s, t + 3000, 4);
        }
    }
    end_marker(&mut s, end + 40_000);
    s
}

/// The target side of an attended transfer: an INVITE with Replaces answered `status`.
pub fn replaces_invite(call_id: &str, status: u16) -> Script {
    let mut s = Script::new();
    let mut leg = SigLeg::new(call_id, "3003");
    leg.invite_headers = "Replaces: consult-1@h;to-tag=7;from-tag=8\r\n".into();
    leg.setup(&mut s, 0, 300, status, "");
    if status < 300 {
        leg.bye(&mut s, 10_000, 2);
    }
    end_marker(&mut s, 12_000);
    s
}

/// Two legs of one call through a PBX at 203.0.113.20: A 198.51.100.10 → PBX dialling
/// `a_user`, B PBX → carrier 192.0.2.50 sending `b_user` (from `b_from`), 300 ms later.
/// `a_headers`/`b_headers` are extra INVITE headers (explicit identifiers, Geolocation);
/// `b_callee` overrides the carrier address. Both answered, BYE after 5 s.
pub fn two_legs(
    tag: &str,
    a_user: &str,
    b_user: &str,
    b_from: &str,
    a_headers: &str,
    b_headers: &str,
    b_callee: Option<&str>,
) -> Script {
    let mut s = Script::new();
    let mut a = SigLeg::new(&format!("{tag}-a"), a_user);
    a.invite_headers = a_headers.to_owned();
    let mut b = SigLeg::new(&format!("{tag}-b"), b_user);
    b.from_user = b_from.to_owned();
    b.caller = addr("203.0.113.20:5080");
    b.callee = addr(b_callee.unwrap_or("192.0.2.50:5060"));
    b.invite_headers = b_headers.to_owned();
    a.setup(&mut s, 0, 2000, 200, "");
    b.setup(&mut s, 300, 1690, 200, "");
    a.bye(&mut s, 7000, 2);
    b.bye(&mut s, 7010, 2);
    end_marker(&mut s, 9000);
    s
}

/// An INVITE that gets 180 and nothing else, the capture ending `tail_ms` later (Timer C
/// is 180 s: `incomplete` below, `failed` + `no_final_response` above).
pub fn ringing_forever(call_id: &str, tail_ms: i64) -> Script {
    let mut s = Script::new();
    let leg = SigLeg::new(call_id, "2002");
    s.udp(0, leg.caller, leg.callee, 0, leg.request("INVITE", 1, false, false, "", None));
    s.udp(50, leg.callee, leg.caller, 0, leg.response(180, 1, "INVITE", false, "", None));
    end_marker(&mut s, 50 + tail_ms);
    s
}

/// A call refused `status` starting `start_ms` after the capture start (for multi-file tests).
pub fn refused_at(call_id: &str, start_ms: i64, status: u16) -> Script {
    let mut s = Script::new();
    let leg = SigLeg::new(call_id, "2002");
    end_marker(&mut s, start_ms - 10);
    leg.setup(&mut s, start_ms, 200, status, "");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_write_pcaps() {
        let mut buf = Vec::new();
        session_timer("st", SessionTimerCase::NotRefreshed).write_to(&mut buf).expect("write");
        // pcap global header (24 bytes) and at least the 7 call frames plus the marker.
        assert!(buf.len() > 24 + 8 * 100, "{}", buf.len());
        let leg = SigLeg::new("x", "2002");
        let text =
            String::from_utf8(leg.request("REFER", 5, true, true, "Refer-To: <sip:3@h>\r\n", None)).expect("utf8");
        assert!(text.starts_with("REFER sip:2001@198.51.100.10:5060 SIP/2.0\r\n"), "{text}");
        assert!(text.contains("From: <sip:2002@203.0.113.20>;tag=ttx\r\nTo: <sip:2001@198.51.100.10>;tag=ftx\r\n"));
    }
}
