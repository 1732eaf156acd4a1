//! SIP message and SDP texts for synthetic calls (RFC 3261, RFC 4566 / 8866).
//!
//! Messages carry the real header set an analyzer keys on: Via with an RFC 3261 branch
//! (`z9hG4bK` magic cookie, §8.1.1.7), From/To with tags, Call-ID, CSeq, Contact, Max-Forwards,
//! Content-Type and an exact Content-Length (bytes of the body). Lines end in CRLF.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// One party of a call as its SIP messages describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipParty {
    /// Display name in From/To.
    pub display: String,
    /// User part of the address of record and Contact.
    pub user: String,
    /// Address written in Via, Contact and URIs: the party's own (possibly private, behind NAT)
    /// address, which is not necessarily the source address seen on the wire.
    pub sig: SocketAddr,
    /// Dialog tag (From tag for the caller, To tag for the callee).
    pub tag: String,
}

impl SipParty {
    fn host(&self) -> String {
        match self.sig.ip() {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        }
    }

    /// Address of record: `sip:user@host`.
    pub fn aor(&self) -> String {
        format!("sip:{}@{}", self.user, self.host())
    }

    /// Contact URI: `sip:user@host:port`.
    pub fn contact(&self) -> String {
        format!("sip:{}@{}", self.user, self.sig)
    }
}

/// SIP transport named in Via.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViaTransport {
    /// `SIP/2.0/UDP`.
    Udp,
    /// `SIP/2.0/TCP`.
    Tcp,
}

/// Which request a message belongs to: the fields a request and its responses share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// Method (`INVITE`, `ACK`, `BYE`, `CANCEL`, …).
    pub method: &'static str,
    /// True when the caller sends the request.
    pub from_caller: bool,
    /// Top Via branch.
    pub branch: String,
    /// CSeq number.
    pub cseq: u32,
    /// True when the request's To carries the peer's tag (in-dialog requests and the ACK of a
    /// non-2xx final, RFC 3261 §17.1.1.3).
    pub to_tagged: bool,
    /// Request-URI is the peer's Contact (in-dialog, §12.2.1.1) rather than its address of record.
    pub uri_is_contact: bool,
}

/// One call's SIP dialog: the constant parts of every message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipDialog {
    /// Call-ID.
    pub call_id: String,
    /// The party sending the initial INVITE.
    pub caller: SipParty,
    /// The party receiving it.
    pub callee: SipParty,
    /// Transport named in Via.
    pub transport: ViaTransport,
}

/// Reason phrase for a status code (RFC 3261 §21 and common extensions).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        183 => "Session Progress",
        200 => "OK",
        302 => "Moved Temporarily",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "Unknown",
    }
}

/// A branch parameter with the RFC 3261 magic cookie, unique per (seed, n).
pub fn branch(seed: u64, n: u64) -> String {
    format!("z9hG4bK{:016x}", super::splitmix64(seed ^ n.wrapping_mul(0x9e37)))
}

impl SipDialog {
    fn via(&self, from_caller: bool, branch: &str) -> String {
        let t = match self.transport {
            ViaTransport::Udp => "UDP",
            ViaTransport::Tcp => "TCP",
        };
        let p = if from_caller { &self.caller } else { &self.callee };
        format!("SIP/2.0/{t} {};branch={branch};rport", p.sig)
    }

    fn name_addr(p: &SipParty, tagged: bool) -> String {
        let mut s = format!("\"{}\" <{}>", p.display, p.aor());
        if tagged {
            let _ = write!(s, ";tag={}", p.tag);
        }
        s
    }

    /// (From, To) header values for a request of `tx`; the sender's tag is always present.
    fn address_headers(&self, tx: &Transaction, response_to_tagged: bool) -> (String, String) {
        let (sender, receiver) =
            if tx.from_caller { (&self.caller, &self.callee) } else { (&self.callee, &self.caller) };
        (Self::name_addr(sender, true), Self::name_addr(receiver, tx.to_tagged || response_to_tagged))
    }

    /// A request. `extra` headers go after Contact; `body` is (content type, text).
    pub fn request(&self, tx: &Transaction, extra: &[(&str, String)], body: Option<(&str, &str)>) -> String {
        let (sender, receiver) =
            if tx.from_caller { (&self.caller, &self.callee) } else { (&self.callee, &self.caller) };
        let uri = if tx.uri_is_contact { receiver.contact() } else { receiver.aor() };
        let (from, to) = self.address_headers(tx, false);
        let mut headers: Vec<(&str, String)> = vec![
            ("Via", self.via(tx.from_caller, &tx.branch)),
            ("Max-Forwards", "70".into()),
            ("From", from),
            ("To", to),
            ("Call-ID", self.call_id.clone()),
            ("CSeq", format!("{} {}", tx.cseq, tx.method)),
        ];
        if matches!(tx.method, "INVITE" | "UPDATE") {
            headers.push(("Contact", format!("<{}>", sender.contact())));
            headers.push(("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO".into()));
        }
        headers.extend(extra.iter().cloned());
        headers.push(("User-Agent", "callscope-synth/1".into()));
        render(&format!("{} {uri} SIP/2.0", tx.method), &headers, body)
    }

    /// A response to the request of `tx`. The To tag is added to every response but 100
    /// (RFC 3261 §8.2.6.2); Contact to 18x/2xx of INVITE.
    pub fn response(
        &self,
        tx: &Transaction,
        code: u16,
        extra: &[(&str, String)],
        body: Option<(&str, &str)>,
    ) -> String {
        let responder = if tx.from_caller { &self.callee } else { &self.caller };
        let (from, to) = self.address_headers(tx, code != 100);
        let mut headers: Vec<(&str, String)> = vec![
            ("Via", self.via(tx.from_caller, &tx.branch)),
            ("From", from),
            ("To", to),
            ("Call-ID", self.call_id.clone()),
            ("CSeq", format!("{} {}", tx.cseq, tx.method)),
        ];
        if tx.method == "INVITE" && (101..300).contains(&code) {
            headers.push(("Contact", format!("<{}>", responder.contact())));
        }
        headers.extend(extra.iter().cloned());
        headers.push(("Server", "callscope-synth/1".into()));
        render(&format!("SIP/2.0 {code} {}", reason_phrase(code)), &headers, body)
    }
}

/// Start line, headers, Content-Type/Content-Length, blank line, body.
fn render(start: &str, headers: &[(&str, String)], body: Option<(&str, &str)>) -> String {
    let mut s = String::with_capacity(512 + body.map_or(0, |b| b.1.len()));
    s.push_str(start);
    s.push_str("\r\n");
    for (name, value) in headers {
        let _ = write!(s, "{name}: {value}\r\n");
    }
    match body {
        Some((ctype, text)) => {
            let _ = write!(s, "Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{text}", text.len());
        }
        None => s.push_str("Content-Length: 0\r\n\r\n"),
    }
    s
}

/// Digest challenge header for a 401 (`WWW-Authenticate`) or 407 (`Proxy-Authenticate`).
pub fn challenge_header(code: u16, realm: &str, nonce: &str) -> (&'static str, String) {
    let name = if code == 407 { "Proxy-Authenticate" } else { "WWW-Authenticate" };
    (name, format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\""))
}

/// Credentials answering [`challenge_header`] (RFC 3261 §22.2 / §22.3). The `response` value is
/// a deterministic 32-hex-digit stand-in, not a real MD5 digest: nothing here verifies it.
pub fn authorization_header(
    code: u16,
    user: &str,
    realm: &str,
    nonce: &str,
    uri: &str,
    seed: u64,
) -> (&'static str, String) {
    let name = if code == 407 { "Proxy-Authorization" } else { "Authorization" };
    let r = format!("{:016x}{:016x}", super::splitmix64(seed), super::splitmix64(seed ^ 1));
    (
        name,
        format!(
            "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{r}\", algorithm=MD5, cnonce=\"{:08x}\", qop=auth, nc=00000001",
            seed as u32
        ),
    )
}

/// One audio media description and its session (RFC 8866).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sdp {
    /// `o=` user name.
    pub owner: String,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` version; bump it in a re-INVITE (RFC 3264 §8).
    pub version: u64,
    /// `c=` address (where the author wants to receive media).
    pub addr: IpAddr,
    /// `m=` port.
    pub port: u16,
    /// Payload types offered, in preference order (0 PCMU, 8 PCMA, 18 G729, 101 telephone-event).
    pub payload_types: Vec<u8>,
    /// `a=ptime`.
    pub ptime_ms: u32,
    /// `a=sendrecv` / `sendonly` / `recvonly` / `inactive`.
    pub direction: &'static str,
    /// Extra `a=` attribute values (without `a=`), e.g. to make a body large enough to fragment.
    pub extra_attributes: Vec<String>,
}

fn rtpmap(pt: u8) -> Option<&'static str> {
    match pt {
        0 => Some("PCMU/8000"),
        8 => Some("PCMA/8000"),
        9 => Some("G722/8000"),
        18 => Some("G729/8000"),
        101 => Some("telephone-event/8000"),
        _ => None,
    }
}

impl Sdp {
    /// The SDP text, CRLF line ends.
    pub fn render(&self) -> String {
        let (net, addr) = match self.addr {
            IpAddr::V4(a) => ("IP4", a.to_string()),
            IpAddr::V6(a) => ("IP6", a.to_string()),
        };
        let mut s = String::with_capacity(256);
        let _ = write!(
            s,
            "v=0\r\no={} {} {} IN {net} {addr}\r\ns=callscope synth\r\nc=IN {net} {addr}\r\nt=0 0\r\n",
            self.owner, self.session_id, self.version
        );
        let pts: Vec<String> = self.payload_types.iter().map(|p| p.to_string()).collect();
        let _ = write!(s, "m=audio {} RTP/AVP {}\r\n", self.port, pts.join(" "));
        for &pt in &self.payload_types {
            if let Some(map) = rtpmap(pt) {
                let _ = write!(s, "a=rtpmap:{pt} {map}\r\n");
            }
            if pt == 101 {
                s.push_str("a=fmtp:101 0-16\r\n");
            }
        }
        let _ = write!(s, "a=ptime:{}\r\na={}\r\n", self.ptime_ms, self.direction);
        for a in &self.extra_attributes {
            let _ = write!(s, "a={a}\r\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog() -> SipDialog {
        SipDialog {
            call_id: "abc@10.0.0.1".into(),
            caller: SipParty {
                display: "Alice".into(),
                user: "1001".into(),
                sig: "10.0.0.1:5060".parse().unwrap(),
                tag: "a1".into(),
            },
            callee: SipParty {
                display: "Bob".into(),
                user: "1002".into(),
                sig: "10.0.0.2:5060".parse().unwrap(),
                tag: "b2".into(),
            },
            transport: ViaTransport::Udp,
        }
    }

    fn invite_tx() -> Transaction {
        Transaction {
            method: "INVITE",
            from_caller: true,
            branch: branch(1, 1),
            cseq: 1,
            to_tagged: false,
            uri_is_contact: false,
        }
    }

    #[test]
    fn invite_has_exact_content_length_and_headers() {
        let sdp = Sdp {
            owner: "alice".into(),
            session_id: 1,
            version: 1,
            addr: "10.0.0.1".parse().unwrap(),
            port: 4000,
            payload_types: vec![0, 8, 101],
            ptime_ms: 20,
            direction: "sendrecv",
            extra_attributes: vec![],
        }
        .render();
        let d = dialog();
        let m = d.request(&invite_tx(), &[], Some(("application/sdp", &sdp)));
        let (head, body) = m.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("INVITE sip:1002@10.0.0.2 SIP/2.0\r\n"));
        assert!(head.contains("\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK"));
        assert!(head.contains("\r\nFrom: \"Alice\" <sip:1001@10.0.0.1>;tag=a1\r\n"));
        assert!(head.contains("\r\nTo: \"Bob\" <sip:1002@10.0.0.2>\r\n"));
        assert!(head.contains("\r\nCSeq: 1 INVITE\r\n"));
        assert!(head.contains("\r\nContact: <sip:1001@10.0.0.1:5060>\r\n"));
        assert!(head.ends_with(&format!("Content-Length: {}", body.len())));
        assert!(body.contains("m=audio 4000 RTP/AVP 0 8 101\r\n"));
        assert!(body.contains("c=IN IP4 10.0.0.1\r\n"));
        assert!(body.contains("a=rtpmap:8 PCMA/8000\r\n"));
    }

    #[test]
    fn responses_tag_to_except_100() {
        let d = dialog();
        let tx = invite_tx();
        let trying = d.response(&tx, 100, &[], None);
        assert!(trying.contains("To: \"Bob\" <sip:1002@10.0.0.2>\r\n"));
        let ringing = d.response(&tx, 180, &[], None);
        assert!(ringing.starts_with("SIP/2.0 180 Ringing\r\n"));
        assert!(ringing.contains("To: \"Bob\" <sip:1002@10.0.0.2>;tag=b2\r\n"));
        assert!(ringing.ends_with("Content-Length: 0\r\n\r\n"));
        let bye = Transaction {
            method: "BYE",
            from_caller: false,
            branch: branch(1, 2),
            cseq: 101,
            to_tagged: true,
            uri_is_contact: true,
        };
        let m = d.request(&bye, &[], None);
        assert!(m.starts_with("BYE sip:1001@10.0.0.1:5060 SIP/2.0\r\n"));
        assert!(m.contains("From: \"Bob\" <sip:1002@10.0.0.2>;tag=b2\r\n"));
        assert!(m.contains("To: \"Alice\" <sip:1001@10.0.0.1>;tag=a1\r\n"));
    }

    #[test]
    fn ipv6_sdp_uses_ip6() {
        let s = Sdp {
            owner: "x".into(),
            session_id: 2,
            version: 3,
            addr: "2001:db8::5".parse().unwrap(),
            port: 7000,
            payload_types: vec![8],
            ptime_ms: 20,
            direction: "sendrecv",
            extra_attributes: vec!["x-pad:1".into()],
        }
        .render();
        assert!(s.contains("c=IN IP6 2001:db8::5\r\n"));
        assert!(s.ends_with("a=x-pad:1\r\n"));
    }
}
