//! Call facts read from headers the scanner does not model (diagnosis.md §4.1 session timers
//! and transfers, §5 explicit leg identifiers, §4.2 emergency location).
//!
//! These headers matter on few messages (REFER, NOTIFY, the initial INVITE, 2xx with
//! Session-Expires), so they are looked up in the message's header section
//! ([`SipMessageRef::head`]) only on those messages, never on every packet. Every value kept is
//! bounded ([`MAX_FACT_TEXT`] bytes) and every list has a cap ([`MAX_TRANSFERS`],
//! [`MAX_SESSION_TIMERS`], [`MAX_NOTIFIES`]).

use std::net::SocketAddr;

use super::scan::SipMessageRef;
use super::Method;
use crate::capture::FrameRef;

/// Longest header value kept (longer values are cut at a character boundary).
pub const MAX_FACT_TEXT: usize = 256;
/// Most REFERs remembered per dialog.
pub const MAX_TRANSFERS: usize = 8;
/// Most NOTIFYs remembered per REFER.
pub const MAX_NOTIFIES: usize = 8;
/// Most 2xx carrying Session-Expires remembered per dialog.
pub const MAX_SESSION_TIMERS: usize = 16;
/// Correlation headers kept from the initial INVITE (diagnosis.md §5 rule 2, `pairing.headers`
/// chooses among them). A fixed list so the SIP stage needs no diagnosis configuration.
pub const CORRELATION_HEADERS: [&str; 5] =
    ["X-CID", "X-Call-ID", "X-Orig-Call-ID", "X-Original-Call-ID", "X-Correlation-ID"];

/// Which side refreshes the session (RFC 4028 §7.4 `refresher` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refresher {
    /// The UAC of the INVITE/UPDATE that the 2xx answers.
    Uac,
    /// The UAS.
    Uas,
}

/// A 2xx to an INVITE or UPDATE that carried Session-Expires (RFC 4028): the session interval
/// in force from that answer on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTimerFact {
    /// Frame of the 2xx (first copy).
    pub at: FrameRef,
    /// CSeq of the request it answers.
    pub cseq: (u32, Method),
    /// Session interval, seconds.
    pub expires_s: u32,
    /// `refresher` parameter, if present.
    pub refresher: Option<Refresher>,
    /// The request that the 2xx answers was sent by the dialog's caller (From tag of the
    /// initial INVITE): tells who the UAC of that transaction was.
    pub request_by_caller: bool,
}

/// A NOTIFY of the implicit `refer` subscription (RFC 3515 §2.4.4), with its sipfrag status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotifyFact {
    /// Frame of the NOTIFY (first copy).
    pub at: FrameRef,
    /// Status code of the `message/sipfrag` body (RFC 3420), e.g. 100, 180, 200, 486.
    pub sipfrag_status: Option<u16>,
    /// `Subscription-State: terminated`.
    pub terminated: bool,
}

/// A REFER (RFC 3515) of the dialog: a transfer attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferFact {
    /// Frame of the REFER (first copy).
    pub refer: FrameRef,
    /// Its CSeq number.
    pub cseq: u32,
    /// Sender and receiver of the REFER (transferor → transferee).
    pub src: SocketAddr,
    /// Receiver of the REFER (the transferee).
    pub dst: SocketAddr,
    /// Sent by the dialog's caller (From tag of the initial INVITE).
    pub by_caller: bool,
    /// Refer-To URI (without `<>` and header part), bounded.
    pub refer_to: String,
    /// User part of the Refer-To URI (the transfer target's number).
    pub refer_to_user: Option<String>,
    /// Call-ID named by a `Replaces` embedded in Refer-To (attended transfer, RFC 3891 §3).
    pub replaces: Option<String>,
    /// Referred-By URI (RFC 3892), bounded.
    pub referred_by: Option<String>,
    /// Final response to the REFER (first copy).
    pub response: Option<(u16, FrameRef)>,
    /// NOTIFYs of the subscription, in order (at most [`MAX_NOTIFIES`]).
    pub notifies: Vec<NotifyFact>,
}

impl TransferFact {
    /// Attended (consultative) transfer: Refer-To carries Replaces.
    pub fn attended(&self) -> bool {
        self.replaces.is_some()
    }

    /// The 2xx (202 Accepted, RFC 3515 §2.4.2) that accepted the REFER, if any: from here on
    /// the transferee calls the target. This is the "transfer happened at frame N / time T"
    /// fact the media rules use.
    pub fn accepted(&self) -> Option<FrameRef> {
        self.response.filter(|(s, _)| (200..300).contains(s)).map(|(_, f)| f)
    }

    /// The final outcome reported by the NOTIFYs: the first sipfrag status ≥ 200 and its frame.
    pub fn outcome(&self) -> Option<(u16, FrameRef)> {
        self.notifies.iter().find_map(|n| n.sipfrag_status.filter(|&s| s >= 200).map(|s| (s, n.at)))
    }
}

/// An INVITE carrying `Replaces` (RFC 3891): this dialog replaces another one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplacesFact {
    /// Frame of the INVITE.
    pub at: FrameRef,
    /// Call-ID of the replaced dialog.
    pub call_id: String,
}

/// Explicit identifiers of the initial INVITE that tie B2BUA legs together (diagnosis.md §5
/// rule 2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Correlation {
    /// Session-ID (RFC 7989) local UUID, lower-case, when not the null UUID.
    pub session_id: Option<String>,
    /// `icid-value` of P-Charging-Vector (RFC 7315 §4.6).
    pub icid: Option<String>,
    /// (header name as in [`CORRELATION_HEADERS`], value) pairs present.
    pub headers: Vec<(&'static str, String)>,
}

/// Header lines of a header section: (name, value) with folded lines joined in one slice
/// (RFC 3261 §7.3.1); the start line is skipped.
struct Headers<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            // One field: up to a line end not followed by SP/HT.
            let mut end = 0usize;
            let next_start = loop {
                match self.rest.get(end..).and_then(|r| memchr::memchr(b'\n', r)) {
                    Some(i) => {
                        let lf = end + i;
                        match self.rest.get(lf + 1) {
                            Some(b' ' | b'\t') => end = lf + 1,
                            _ => {
                                end = lf;
                                break lf + 1;
                            }
                        }
                    }
                    None => {
                        end = self.rest.len();
                        break end;
                    }
                }
            };
            let line = self.rest.get(..end).unwrap_or(&[]);
            self.rest = self.rest.get(next_start..).unwrap_or(&[]);
            let line = trim(line);
            if line.is_empty() {
                // The empty line ends the header section.
                self.rest = &[];
                return None;
            }
            let Some(colon) = memchr::memchr(b':', line) else { continue };
            let (name, value) = (trim(&line[..colon]), trim(line.get(colon + 1..).unwrap_or(&[])));
            return Some((name, value));
        }
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    b.get(start..end).unwrap_or(&[])
}

fn headers(head: &[u8]) -> Headers<'_> {
    // Skip the start line.
    let rest = head.iter().position(|&b| b == b'\n').and_then(|i| head.get(i + 1..)).unwrap_or(&[]);
    Headers { rest }
}

/// First value of header `long` (or its compact form) in a header section.
pub fn header<'a>(head: &'a [u8], long: &str, compact: Option<u8>) -> Option<&'a [u8]> {
    headers(head).find(|(n, _)| is_name(n, long, compact)).map(|(_, v)| v)
}

fn is_name(name: &[u8], long: &str, compact: Option<u8>) -> bool {
    name.eq_ignore_ascii_case(long.as_bytes())
        || matches!((compact, name), (Some(c), [n]) if n.eq_ignore_ascii_case(&c))
}

/// Bounded lossy text of a header value.
pub fn text(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b.get(..MAX_FACT_TEXT).unwrap_or(b));
    s.into_owned()
}

/// `;name=value` parameter of a header value (case-insensitive name), quotes removed.
pub fn param<'a>(value: &'a [u8], name: &str) -> Option<&'a [u8]> {
    // Parameters after the URI's closing '>' when there is one, else after the first ';'.
    let after = value.iter().rposition(|&b| b == b'>').map_or(value, |i| value.get(i + 1..).unwrap_or(&[]));
    after.split(|&b| b == b';').skip_while(|p| p.is_empty()).find_map(|p| {
        let p = trim(p);
        let eq = p.iter().position(|&b| b == b'=')?;
        let (n, v) = (trim(&p[..eq]), trim(p.get(eq + 1..).unwrap_or(&[])));
        n.eq_ignore_ascii_case(name.as_bytes())
            .then(|| v.strip_prefix(b"\"").and_then(|v| v.strip_suffix(b"\"")).unwrap_or(v))
    })
}

/// The URI of a name-addr or addr-spec value (`"x" <sip:a@b;p>;tag=1` → `sip:a@b;p`).
pub fn uri_of(value: &[u8]) -> &[u8] {
    match (value.iter().position(|&b| b == b'<'), value.iter().position(|&b| b == b'>')) {
        (Some(a), Some(b)) if b > a => value.get(a + 1..b).unwrap_or(&[]),
        _ => value.split(|&b| b == b';').next().unwrap_or(value),
    }
}

/// User part of a SIP/tel URI (`sip:2001@h` → `2001`, `tel:+1555` → `+1555`).
pub fn uri_user(uri: &[u8]) -> Option<&[u8]> {
    let colon = uri.iter().position(|&b| b == b':')?;
    let rest = uri.get(colon + 1..)?;
    let end = rest.iter().position(|&b| matches!(b, b'@' | b';' | b'?' | b'>')).unwrap_or(rest.len());
    let user = rest.get(..end)?;
    (!user.is_empty() && (rest.get(end) == Some(&b'@') || uri.starts_with(b"tel:"))).then_some(user)
}

/// Percent-decodes a URI header value (RFC 3986 §2.1), bounded by the input.
fn percent_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0usize;
    while i < v.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (v.get(i), v.get(i + 1).copied().and_then(hex), v.get(i + 2).copied().and_then(hex)) {
            (Some(b'%'), Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (Some(&b), _, _) => {
                out.push(b);
                i += 1;
            }
            (None, _, _) => break,
        }
    }
    out
}

/// The Call-ID of a `Replaces` embedded in a Refer-To URI's headers
/// (`<sip:b@h?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>`, RFC 3891 §3 / RFC 3515 §2.1).
fn embedded_replaces(refer_to: &[u8]) -> Option<String> {
    let uri = uri_of(refer_to);
    let q = uri.iter().position(|&b| b == b'?')?;
    let headers = uri.get(q + 1..)?;
    headers.split(|&b| b == b'&').find_map(|h| {
        let eq = h.iter().position(|&b| b == b'=')?;
        if !h[..eq].eq_ignore_ascii_case(b"Replaces") {
            return None;
        }
        let decoded = percent_decode(h.get(eq + 1..)?);
        let call_id = decoded.split(|&b| b == b';').next().unwrap_or(&[]);
        (!call_id.is_empty()).then(|| text(call_id))
    })
}

/// The Refer-To URI without its header part (`?Replaces=…`).
fn bare_uri(refer_to: &[u8]) -> &[u8] {
    let uri = uri_of(refer_to);
    uri.split(|&b| b == b'?').next().unwrap_or(uri)
}

/// Reads a REFER into a [`TransferFact`] (response and NOTIFYs are added later).
pub fn transfer_of(
    msg: &SipMessageRef<'_>,
    at: FrameRef,
    src: SocketAddr,
    dst: SocketAddr,
    by_caller: bool,
    cseq: u32,
) -> TransferFact {
    let refer_to = header(msg.head, "Refer-To", Some(b'r')).unwrap_or(&[]);
    let uri = bare_uri(refer_to);
    TransferFact {
        refer: at,
        cseq,
        src,
        dst,
        by_caller,
        refer_to: text(uri),
        refer_to_user: uri_user(uri).map(text),
        replaces: embedded_replaces(refer_to),
        referred_by: header(msg.head, "Referred-By", Some(b'b')).map(|v| text(uri_of(v))),
        response: None,
        notifies: Vec::new(),
    }
}

/// For a NOTIFY: `Some((event id, notify))` when it belongs to a `refer` subscription
/// (Event: refer, RFC 3515 §2.4.4); the id is the REFER's CSeq number when given.
pub fn refer_notify(msg: &SipMessageRef<'_>, at: FrameRef) -> Option<(Option<u32>, NotifyFact)> {
    let event = header(msg.head, "Event", Some(b'o'))?;
    let package = trim(event.split(|&b| b == b';').next().unwrap_or(&[]));
    if !package.eq_ignore_ascii_case(b"refer") {
        return None;
    }
    let id = param(event, "id").and_then(|v| std::str::from_utf8(v).ok()).and_then(|v| v.parse().ok());
    let sipfrag = msg.content_type.is_some_and(|c| c.eq_ignore_ascii_case(b"message/sipfrag"));
    // RFC 3420: the body is a status line "SIP/2.0 200 OK" (possibly followed by headers).
    let sipfrag_status = sipfrag
        .then(|| {
            let line = trim(msg.body.split(|&b| b == b'\n').next().unwrap_or(&[]));
            let code = line.strip_prefix(b"SIP/2.0 ")?.get(..3)?;
            std::str::from_utf8(code).ok()?.parse::<u16>().ok().filter(|c| (100..700).contains(c))
        })
        .flatten();
    let terminated = header(msg.head, "Subscription-State", None)
        .is_some_and(|v| trim(v.split(|&b| b == b';').next().unwrap_or(&[])).eq_ignore_ascii_case(b"terminated"));
    Some((id, NotifyFact { at, sipfrag_status, terminated }))
}

/// The Session-Expires `refresher` parameter of a message (RFC 4028 §4).
pub fn refresher_of(msg: &SipMessageRef<'_>) -> Option<Refresher> {
    let v = header(msg.head, "Session-Expires", Some(b'x'))?;
    let r = param(v, "refresher")?;
    if r.eq_ignore_ascii_case(b"uac") {
        Some(Refresher::Uac)
    } else if r.eq_ignore_ascii_case(b"uas") {
        Some(Refresher::Uas)
    } else {
        None
    }
}

/// Explicit leg identifiers of an initial INVITE.
pub fn correlation_of(msg: &SipMessageRef<'_>) -> Correlation {
    let session_id = msg
        .session_id
        .map(|v| text(v).to_ascii_lowercase())
        // RFC 7989 §4: the null UUID means "not known yet", not an identifier.
        .filter(|v| !v.is_empty() && !v.bytes().all(|b| b == b'0'));
    let icid = header(msg.head, "P-Charging-Vector", None).and_then(|v| {
        // The value starts with `icid-value=…` (RFC 7315 §4.6), parameters follow.
        v.split(|&b| b == b';').find_map(|p| {
            let p = trim(p);
            let eq = p.iter().position(|&b| b == b'=')?;
            trim(&p[..eq])
                .eq_ignore_ascii_case(b"icid-value")
                .then(|| text(trim(p.get(eq + 1..).unwrap_or(&[])).trim_ascii_start()))
                .map(|s| s.trim_matches('"').to_owned())
        })
    });
    let mut headers_found = Vec::new();
    for (name, value) in headers(msg.head) {
        if let Some(known) = CORRELATION_HEADERS.iter().find(|k| name.eq_ignore_ascii_case(k.as_bytes())) {
            if !value.is_empty() && headers_found.len() < CORRELATION_HEADERS.len() {
                headers_found.push((*known, text(value)));
            }
        }
    }
    Correlation { session_id, icid: icid.filter(|v| !v.is_empty()), headers: headers_found }
}

/// The Call-ID named by a `Replaces` header (RFC 3891 §6.1: `callid;to-tag=…;from-tag=…`).
pub fn replaces_of(msg: &SipMessageRef<'_>) -> Option<String> {
    if !msg.has_replaces {
        return None;
    }
    let v = header(msg.head, "Replaces", None)?;
    let id = trim(v.split(|&b| b == b';').next().unwrap_or(&[]));
    (!id.is_empty()).then(|| text(id))
}

/// Location conveyed (RFC 6442 Geolocation header, or a PIDF-LO body, RFC 4119).
pub fn has_location(msg: &SipMessageRef<'_>) -> bool {
    let pidf = |b: &[u8]| b.windows(9).any(|w| w.eq_ignore_ascii_case(b"pidf+xml"));
    header(msg.head, "Geolocation", None).is_some()
        || msg.content_type_full.is_some_and(pidf)
        || (msg.content_type.is_some_and(|c| c.starts_with(b"multipart")) && pidf(msg.body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::scan::scan_datagram;

    fn msg(text: &str) -> SipMessageRef<'_> {
        scan_datagram(text.as_bytes()).expect("scan").0
    }

    #[test]
    fn header_lookup_handles_compact_and_folded_lines() {
        let m = msg("REFER sip:b@h SIP/2.0\r\nCall-ID: x\r\nCSeq: 3 REFER\r\nr: <sip:2003@pbx?Replaces=abc%40h%3Bto-tag%3D1>\r\nReferred-By:\r\n <sip:2001@pbx>\r\n\r\n");
        let t = transfer_of(
            &m,
            FrameRef::default(),
            "10.0.0.1:5060".parse().unwrap(),
            "10.0.0.2:5060".parse().unwrap(),
            true,
            3,
        );
        assert_eq!(t.refer_to, "sip:2003@pbx");
        assert_eq!(t.refer_to_user.as_deref(), Some("2003"));
        assert_eq!(t.replaces.as_deref(), Some("abc@h"));
        assert_eq!(t.referred_by.as_deref(), Some("sip:2001@pbx"));
        assert!(t.attended());
    }

    #[test]
    fn notify_sipfrag_status_and_state() {
        let m = msg("NOTIFY sip:a@h SIP/2.0\r\nCall-ID: x\r\nCSeq: 4 NOTIFY\r\nEvent: refer;id=3\r\nSubscription-State: terminated;reason=noresource\r\nContent-Type: message/sipfrag;version=2.0\r\nContent-Length: 21\r\n\r\nSIP/2.0 486 Busy Here");
        let (id, n) = refer_notify(&m, FrameRef::default()).expect("refer notify");
        assert_eq!(id, Some(3));
        assert_eq!(n.sipfrag_status, Some(486));
        assert!(n.terminated);
        let other =
            msg("NOTIFY sip:a@h SIP/2.0\r\nCall-ID: x\r\nCSeq: 4 NOTIFY\r\nEvent: dialog\r\nContent-Length: 0\r\n\r\n");
        assert!(refer_notify(&other, FrameRef::default()).is_none());
    }

    #[test]
    fn correlation_ids_and_refresher() {
        let m = msg("INVITE sip:b@h SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nSession-ID: AB12cd34ab12cd34ab12cd34ab12cd34;remote=00000000000000000000000000000000\r\nP-Charging-Vector: icid-value=\"pcv-77\";icid-generated-at=10.0.0.1\r\nx-cid: leg-a@h\r\nSession-Expires: 1800;refresher=uas\r\nGeolocation: <cid:loc@h>\r\n\r\n");
        let c = correlation_of(&m);
        assert_eq!(c.session_id.as_deref(), Some("ab12cd34ab12cd34ab12cd34ab12cd34"));
        assert_eq!(c.icid.as_deref(), Some("pcv-77"));
        assert_eq!(c.headers, vec![("X-CID", "leg-a@h".to_owned())]);
        assert_eq!(refresher_of(&m), Some(Refresher::Uas));
        assert!(has_location(&m));
        let null = msg("INVITE sip:b@h SIP/2.0\r\nCall-ID: y\r\nCSeq: 1 INVITE\r\nSession-ID: 00000000000000000000000000000000\r\n\r\n");
        assert_eq!(correlation_of(&null).session_id, None);
        assert!(!has_location(&null));
    }

    #[test]
    fn replaces_header_and_uri_user() {
        let m = msg(
            "INVITE sip:b@h SIP/2.0\r\nCall-ID: y\r\nCSeq: 1 INVITE\r\nReplaces: abc@h;to-tag=1;from-tag=2\r\n\r\n",
        );
        assert_eq!(replaces_of(&m).as_deref(), Some("abc@h"));
        assert_eq!(uri_user(b"tel:+15551234"), Some(&b"+15551234"[..]));
        assert_eq!(uri_user(b"sip:pbx.example.com"), None);
        assert_eq!(param(b"<sip:a@b>;refresher=uac", "refresher"), Some(&b"uac"[..]));
    }
}
