//! Zero-copy SIP message scanner: one payload → [`SipMessageRef`] borrowing it.
//!
//! Why not a crate (measured on the bundled captures, see the SIP helper's report):
//! - rsip 0.4.0 (last release 2022) fails on IPv6 hosts (every message of sngrep-ipv6frag.pcap
//!   when extracting Via/From/To) and on `tel:` URIs;
//! - ezk-sip-types 0.6 fails on `tel:` From / Request-URI;
//! - rsipstack pulls in tokio.
//!
//! The analyzer needs a few dozen headers, read-only. A scanner that records slices into the
//! payload parses every real message of the captures at ≈2 M msg/s without allocating, accepts
//! what real equipment sends (compact forms, folded lines, bare LF, `tel:` URIs, bracketed IPv6
//! hosts) and is bounded ([`ScanLimits`], defaults [`MAX_HEADERS`], [`MAX_HEADER_BYTES`],
//! [`MAX_BODY_BYTES`]).
//!
//! Two modes: [`scan_message`] is for byte streams (TCP) and says [`ScanError::Incomplete`] when
//! more bytes are needed; [`scan_datagram`] is for UDP, where the payload is the whole message
//! (RFC 3261 §18.3): a Content-Length that lies is reported in [`DatagramFlaws`] and what is
//! there is used.

use super::Method;

/// Default for [`ScanLimits::max_headers`]: most header fields accepted in one message (a
/// hostile message with more is malformed).
pub const MAX_HEADERS: usize = 256;
/// Default for [`ScanLimits::max_header_bytes`]: most bytes of start line plus header fields
/// (beyond: malformed, not "incomplete").
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Default for [`ScanLimits::max_body_bytes`]: largest Content-Length accepted on a stream
/// (larger: malformed), largest body kept from a datagram (larger: cut).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Size caps of one SIP message (`[limits.sip.scan]` in the `--config` file). RFC 3261 sets no
/// maximum; these bound what one hostile message can make the scanner walk and the TCP
/// reassembler hold. Hitting one is a `malformed_sip` warning naming the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanLimits {
    /// Most header fields (well-formed plus skipped lines) in one message; more: rejected.
    pub max_headers: usize,
    /// Most bytes of start line plus header section; more: rejected.
    pub max_header_bytes: usize,
    /// Largest Content-Length framed on a stream (more: rejected, the stream resynchronises);
    /// largest body kept from a datagram (more: cut to this size).
    pub max_body_bytes: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits { max_headers: MAX_HEADERS, max_header_bytes: MAX_HEADER_BYTES, max_body_bytes: MAX_BODY_BYTES }
    }
}

/// The defaults, for the scanning functions that take no limits.
const DEFAULT_LIMITS: ScanLimits =
    ScanLimits { max_headers: MAX_HEADERS, max_header_bytes: MAX_HEADER_BYTES, max_body_bytes: MAX_BODY_BYTES };

/// Why a payload is not a SIP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanError {
    /// The bytes so far are the beginning of a message: wait for more (streams only).
    Incomplete,
    /// The bytes are not a well-formed message.
    Malformed(MalformedKind),
}

/// What is wrong with a malformed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MalformedKind {
    /// The first line is neither `METHOD uri SIP/2.0` nor `SIP/2.0 code reason`.
    BadStartLine,
    /// More than [`ScanLimits::max_headers`] header fields.
    TooManyHeaders,
    /// Start line and headers longer than [`ScanLimits::max_header_bytes`].
    HeadersTooLong,
    /// Content-Length not a number (on a stream, where framing depends on it).
    BadContentLength,
    /// Content-Length above [`ScanLimits::max_body_bytes`] (on a stream).
    BodyTooLarge,
}

impl MalformedKind {
    /// A short human description.
    pub fn describe(self) -> &'static str {
        match self {
            MalformedKind::BadStartLine => "not a SIP request or status line",
            MalformedKind::TooManyHeaders => "too many header fields",
            MalformedKind::HeadersTooLong => "header section too long",
            MalformedKind::BadContentLength => "Content-Length is not a number",
            MalformedKind::BodyTooLarge => "Content-Length too large",
        }
    }

    /// The `[limits.sip.scan]` key whose cap this is, `None` for a syntax error.
    pub fn limit_key(self) -> Option<&'static str> {
        match self {
            MalformedKind::TooManyHeaders => Some("max_headers"),
            MalformedKind::HeadersTooLong => Some("max_header_bytes"),
            MalformedKind::BodyTooLarge => Some("max_body_bytes"),
            MalformedKind::BadStartLine | MalformedKind::BadContentLength => None,
        }
    }

    /// The description, naming the configured cap when this is a size limit (so that a reader
    /// of the warning knows which `[limits.sip.scan]` key to raise).
    pub fn describe_with(self, limits: &ScanLimits) -> String {
        let value = match self {
            MalformedKind::TooManyHeaders => limits.max_headers,
            MalformedKind::HeadersTooLong => limits.max_header_bytes,
            MalformedKind::BodyTooLarge => limits.max_body_bytes,
            MalformedKind::BadStartLine | MalformedKind::BadContentLength => return self.describe().to_string(),
        };
        let key = self.limit_key().unwrap_or_default();
        format!("{} (over limits.sip.scan.{key} = {value})", self.describe())
    }
}

/// Request or status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `METHOD Request-URI SIP/2.0`
    Request {
        /// Parsed method.
        method: Method,
        /// The method token as written (for [`Method::Other`]).
        method_token: &'a [u8],
        /// Request-URI as written.
        uri: &'a [u8],
    },
    /// `SIP/2.0 code reason`
    Response {
        /// Status code (100–699).
        status: u16,
        /// Reason phrase.
        reason: &'a [u8],
    },
}

/// A From / To / Contact / P-Asserted-Identity value (`name-addr` or `addr-spec`, RFC 3261 §20).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NameAddrRef<'a> {
    /// Display name without quotes, when present.
    pub display: Option<&'a [u8]>,
    /// The URI (without angle brackets).
    pub uri: &'a [u8],
    /// User part of a sip:/sips: URI, or the number of a tel: URI.
    pub user: Option<&'a [u8]>,
    /// Host part (with port; IPv6 in brackets), empty for tel:.
    pub host: &'a [u8],
    /// `tag` header parameter.
    pub tag: Option<&'a [u8]>,
    /// `expires` header parameter (Contact).
    pub expires: Option<u32>,
}

/// The top Via value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ViaRef<'a> {
    /// Transport token (UDP, TCP, TLS, WS, …).
    pub transport: &'a [u8],
    /// sent-by: `host[:port]` (IPv6 in brackets).
    pub sent_by: &'a [u8],
    /// `branch` parameter.
    pub branch: Option<&'a [u8]>,
    /// `received` parameter.
    pub received: Option<&'a [u8]>,
    /// `rport` parameter: `Some(b"")` when present without value.
    pub rport: Option<&'a [u8]>,
}

/// One Reason header value (RFC 3326): protocol and cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReasonRef<'a> {
    /// Protocol token (`SIP`, `Q.850`, …).
    pub protocol: &'a [u8],
    /// `cause` parameter.
    pub cause: Option<u16>,
    /// `text` parameter without quotes.
    pub text: Option<&'a [u8]>,
}

/// Content-Length as found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContentLength {
    /// No Content-Length header.
    #[default]
    Absent,
    /// A number.
    Value(usize),
    /// Present but not a number (e.g. "xyz").
    Invalid,
}

/// A scanned SIP message, borrowing the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SipMessageRef<'a> {
    /// Request or status line.
    pub start: StartLine<'a>,
    /// Call-ID (`i`).
    pub call_id: Option<&'a [u8]>,
    /// CSeq number and method (`None` when absent or not `number SP method`).
    pub cseq: Option<(u32, Method)>,
    /// The first CSeq value as written (also when it did not parse).
    pub cseq_raw: Option<&'a [u8]>,
    /// From (`f`).
    pub from: Option<NameAddrRef<'a>>,
    /// To (`t`).
    pub to: Option<NameAddrRef<'a>>,
    /// Top Via (`v`): the first value of the first Via header.
    pub via: Option<ViaRef<'a>>,
    /// First Contact (`m`) value.
    pub contact: Option<NameAddrRef<'a>>,
    /// `Contact: *` (RFC 3261 §10.2.2 remove all bindings).
    pub contact_star: bool,
    /// Content-Length (`l`).
    pub content_length: ContentLength,
    /// Content-Type (`c`) media type without parameters (full value in `content_type_full`).
    pub content_type: Option<&'a [u8]>,
    /// Full Content-Type value, with parameters (multipart boundary).
    pub content_type_full: Option<&'a [u8]>,
    /// Expires header.
    pub expires: Option<u32>,
    /// First Reason value with protocol SIP.
    pub reason_sip: Option<ReasonRef<'a>>,
    /// First Reason value with protocol Q.850.
    pub reason_q850: Option<ReasonRef<'a>>,
    /// P-Asserted-Identity (first value).
    pub p_asserted_identity: Option<NameAddrRef<'a>>,
    /// Diversion (raw value of the first header).
    pub diversion: Option<&'a [u8]>,
    /// History-Info present.
    pub has_history_info: bool,
    /// Session-ID (RFC 7989) value without parameters.
    pub session_id: Option<&'a [u8]>,
    /// User-Agent.
    pub user_agent: Option<&'a [u8]>,
    /// Server.
    pub server: Option<&'a [u8]>,
    /// Supported (`k`) lists 100rel.
    pub supports_100rel: bool,
    /// Require lists 100rel.
    pub requires_100rel: bool,
    /// RSeq.
    pub rseq: Option<u32>,
    /// RAck (raw).
    pub rack: Option<&'a [u8]>,
    /// Max-Forwards.
    pub max_forwards: Option<u32>,
    /// Session-Expires (`x`) delta seconds.
    pub session_expires: Option<u32>,
    /// Replaces present.
    pub has_replaces: bool,
    /// Referred-By (`b`) present.
    pub has_referred_by: bool,
    /// Refer-To (`r`) present.
    pub has_refer_to: bool,
    /// Number of header fields.
    pub header_count: usize,
    /// Header lines that were skipped because they have no `name:` (no colon, an empty name or
    /// a name with non-token bytes, e.g. a damaged capture). Matches tshark, which reports such
    /// lines ("Header has no colon after the name", "Unrecognised SIP header") and goes on with
    /// the next line instead of dropping the message. The SIP stage warns when this is non-zero.
    pub bad_header_lines: usize,
    /// The body (Content-Length bytes, or what the datagram has).
    pub body: &'a [u8],
    /// The start line and header section as received (up to the empty line), for the few
    /// headers the SIP stage reads only on some messages (Refer-To, Event, correlation ids:
    /// `sip::facts`); borrowed, so scanning allocates nothing for it.
    pub head: &'a [u8],
}

impl<'a> SipMessageRef<'a> {
    /// Request method, `None` for a response.
    pub fn method(&self) -> Option<Method> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The method of a CSeq whose number did not parse (e.g. `CSeq: \x11 INVITE` in a damaged
    /// capture): its last word when that is a token. tshark reads the method the same way.
    /// `None` when the CSeq parsed, is absent, or has no such word.
    pub fn cseq_method_of_garbled(&self) -> Option<Method> {
        if self.cseq.is_some() {
            return None;
        }
        let raw = trim(self.cseq_raw?);
        let last = raw.rsplit(|&b| is_ws(b)).next()?;
        (!last.is_empty() && last.len() < raw.len() && last.iter().all(|&b| is_token_char(b)))
            .then(|| Method::from_token(last))
    }

    /// Status code, `None` for a request.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    /// From tag.
    pub fn from_tag(&self) -> Option<&'a [u8]> {
        self.from.and_then(|f| f.tag)
    }

    /// To tag.
    pub fn to_tag(&self) -> Option<&'a [u8]> {
        self.to.and_then(|t| t.tag)
    }

    /// True when Content-Type is application/sdp (case-insensitive).
    pub fn is_sdp(&self) -> bool {
        self.content_type.is_some_and(|c| c.eq_ignore_ascii_case(b"application/sdp"))
    }

    /// The SDP body: the body itself for application/sdp, the first application/sdp part of a
    /// multipart body (RFC 2046 §5.1, minimal), else `None`.
    pub fn sdp_body(&self) -> Option<&'a [u8]> {
        if self.body.is_empty() {
            return None;
        }
        if self.is_sdp() {
            return Some(self.body);
        }
        let ct = self.content_type?;
        if ct.len() >= 10 && ct[..10].eq_ignore_ascii_case(b"multipart/") {
            let boundary = header_param(self.content_type_full?, b"boundary")?;
            return multipart_sdp(self.body, unquote(boundary));
        }
        None
    }
}

/// Flaws of a datagram that were tolerated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatagramFlaws {
    /// Content-Length larger than the bytes present (the body is what is there).
    pub content_length_too_large: bool,
    /// Content-Length not a number (the body is the rest of the datagram).
    pub content_length_invalid: bool,
    /// The header section does not end with an empty line (accepted up to the datagram's end).
    pub headers_unterminated: bool,
    /// The body was longer than [`ScanLimits::max_body_bytes`] and was cut to it.
    pub body_cut: bool,
}

/// Scans one message at the start of a byte stream. Returns the message and the bytes it used
/// (start line, headers, empty line and Content-Length bytes of body). A missing Content-Length
/// means an empty body (RFC 3261 §18.3 requires it on streams).
pub fn scan_message(buf: &[u8]) -> Result<(SipMessageRef<'_>, usize), ScanError> {
    scan_message_limited(buf, &DEFAULT_LIMITS)
}

/// [`scan_message`] with configured size caps.
pub fn scan_message_limited<'a>(buf: &'a [u8], limits: &ScanLimits) -> Result<(SipMessageRef<'a>, usize), ScanError> {
    let (mut msg, body_start) = scan_head(buf, false, limits)?;
    msg.head = buf.get(..body_start).unwrap_or(buf);
    let len = match msg.content_length {
        ContentLength::Absent => 0,
        ContentLength::Value(n) if n > limits.max_body_bytes => {
            return Err(ScanError::Malformed(MalformedKind::BodyTooLarge))
        }
        ContentLength::Value(n) => n,
        ContentLength::Invalid => return Err(ScanError::Malformed(MalformedKind::BadContentLength)),
    };
    let end = body_start.checked_add(len).ok_or(ScanError::Malformed(MalformedKind::BodyTooLarge))?;
    msg.body = buf.get(body_start..end).ok_or(ScanError::Incomplete)?;
    Ok((msg, end))
}

/// Scans a whole UDP payload as one message, tolerating a lying or non-numeric Content-Length
/// and a missing final empty line (reported in [`DatagramFlaws`]).
pub fn scan_datagram(buf: &[u8]) -> Result<(SipMessageRef<'_>, DatagramFlaws), ScanError> {
    scan_datagram_limited(buf, &DEFAULT_LIMITS)
}

/// [`scan_datagram`] with configured size caps; a body over `max_body_bytes` is cut to it
/// (`DatagramFlaws::body_cut`).
pub fn scan_datagram_limited<'a>(
    buf: &'a [u8],
    limits: &ScanLimits,
) -> Result<(SipMessageRef<'a>, DatagramFlaws), ScanError> {
    let mut flaws = DatagramFlaws::default();
    let (mut msg, body_start) = scan_head(buf, true, limits)?;
    msg.head = buf.get(..body_start).unwrap_or(buf);
    if body_start > buf.len() {
        // scan_head in datagram mode signals "no empty line" by body_start == len + 1.
        flaws.headers_unterminated = true;
    }
    let rest = buf.get(body_start..).unwrap_or(&[]);
    msg.body = match msg.content_length {
        // RFC 3261 §18.3: over UDP without Content-Length the body runs to the datagram's end.
        ContentLength::Absent => rest,
        ContentLength::Value(n) => match rest.get(..n) {
            Some(b) => b,
            None => {
                flaws.content_length_too_large = true;
                rest
            }
        },
        ContentLength::Invalid => {
            flaws.content_length_invalid = true;
            rest
        }
    };
    if let Some(cut) = msg.body.get(..limits.max_body_bytes).filter(|c| c.len() < msg.body.len()) {
        msg.body = cut;
        flaws.body_cut = true;
    }
    Ok((msg, flaws))
}

/// Longest method token [`looks_like_start_line`] accepts (the longest registered method,
/// SUBSCRIBE/NOTIFY/REGISTER/UPDATE/PUBLISH…, is 9 characters).
pub const MAX_METHOD_LEN: usize = 32;
/// Longest request line [`looks_like_start_line`] accepts.
pub const MAX_START_LINE: usize = 8 * 1024;

/// True when `buf` starts like a SIP request or status line (used to recognise SIP streams on
/// any port and to resynchronise after a gap). Needs the whole first line, or at least 8 bytes.
pub fn looks_like_start_line(buf: &[u8]) -> bool {
    if buf.len() >= 8 && buf[..8].eq_ignore_ascii_case(b"SIP/2.0 ") {
        return true;
    }
    // Bounded look: the method token and the whole request line are short in any real message.
    // Unbounded, a 1 MB line of token characters ending in " SIP/2.0" made every resync step
    // scan the whole line again (quadratic; hostile test `ten_megabyte_sip_body_over_tcp…`).
    let Some(sp) = memchr::memchr(b' ', buf.get(..=MAX_METHOD_LEN).unwrap_or(buf)) else {
        return false;
    };
    let window = buf.get(..=MAX_START_LINE).unwrap_or(buf);
    let line_end = match memchr::memchr(b'\n', window) {
        Some(i) => i,
        None if window.len() > MAX_START_LINE => return false,
        None => buf.len(),
    };
    let line = trim_cr(buf.get(..line_end).unwrap_or(&[]));
    if line.len() < 8 || sp >= line.len() {
        return false;
    }
    let token = &line[..sp];
    if token.is_empty() || !token.iter().all(|&b| is_token_char(b)) {
        return false;
    }
    line.len() >= 7 && line[line.len() - 7..].eq_ignore_ascii_case(b"SIP/2.0")
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn is_token_char(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~')
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trims spaces, tabs and the CR/LF of folded lines on both sides.
pub(crate) fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_ws(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_ws(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn unquote(s: &[u8]) -> &[u8] {
    let s = trim(s);
    s.strip_prefix(b"\"").and_then(|x| x.strip_suffix(b"\"")).unwrap_or(s)
}

fn parse_u32(s: &[u8]) -> Option<u32> {
    let s = trim(s);
    if s.is_empty() || s.len() > 10 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, &d| acc.checked_mul(10)?.checked_add(u32::from(d - b'0')))
}

/// Parses the start line; returns it and the offset after its line end. The line ends at the
/// first CR or LF (CRLF counts as one end), as tshark's `tvb_find_line_end` has it: a damaged
/// capture with a lone CR after `SIP/2.0` still has a readable start line.
fn parse_start_line(buf: &[u8], datagram: bool, max_header_bytes: usize) -> Result<(StartLine<'_>, usize), ScanError> {
    let Some(end) = memchr::memchr2(b'\r', b'\n', buf) else {
        if buf.len() > max_header_bytes {
            return Err(ScanError::Malformed(MalformedKind::HeadersTooLong));
        }
        if !datagram {
            return Err(ScanError::Incomplete);
        }
        return parse_start(buf).map(|s| (s, buf.len()));
    };
    if end > max_header_bytes {
        return Err(ScanError::Malformed(MalformedKind::HeadersTooLong));
    }
    let next = match (buf[end], buf.get(end + 1)) {
        (b'\r', Some(b'\n')) => end + 2,
        // A CR as the last byte of a stream: an LF may follow in the next segment.
        (b'\r', None) if !datagram => return Err(ScanError::Incomplete),
        _ => end + 1,
    };
    parse_start(&buf[..end]).map(|s| (s, next))
}

fn parse_start(line: &[u8]) -> Result<StartLine<'_>, ScanError> {
    let bad = ScanError::Malformed(MalformedKind::BadStartLine);
    // Matches tshark (`dissect_sip_common`): a NUL in the first line means "not SIP" (binary
    // data that happens to start with letters).
    if line.contains(&0) {
        return Err(bad);
    }
    if line.len() >= 8 && line[..8].eq_ignore_ascii_case(b"SIP/2.0 ") {
        let rest = &line[8..];
        let code = rest.get(..3).ok_or(bad)?;
        if !code.iter().all(u8::is_ascii_digit) {
            return Err(bad);
        }
        let status = code.iter().fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
        if !(100..=699).contains(&status) {
            return Err(bad);
        }
        let after = rest.get(3..).unwrap_or(&[]);
        if !after.is_empty() && after[0] != b' ' {
            return Err(bad);
        }
        return Ok(StartLine::Response { status, reason: trim(after) });
    }
    let sp1 = memchr::memchr(b' ', line).ok_or(bad)?;
    let method_token = &line[..sp1];
    // Like tshark, the method is not checked beyond "not empty" (a damaged `REGIStER` is an
    // unknown method, `Method::Other`); control bytes still reject the line. Which payloads get
    // here at all is decided by the classifier (strict off the SIP port) or, on streams, by
    // `looks_like_start_line`.
    if method_token.is_empty() || method_token.iter().any(|&b| b.is_ascii_control()) {
        return Err(bad);
    }
    let rest = &line[sp1 + 1..];
    let sp2 = memchr::memrchr(b' ', rest).ok_or(bad)?;
    let uri = trim(&rest[..sp2]);
    let version = &rest[sp2 + 1..];
    if uri.is_empty() || !version.eq_ignore_ascii_case(b"SIP/2.0") {
        return Err(bad);
    }
    Ok(StartLine::Request { method: Method::from_token(method_token), method_token, uri })
}

/// Scans start line and headers. Returns the message (empty body) and the body offset; in
/// datagram mode a header section without an empty line gives `buf.len() + 1` as body offset.
fn scan_head<'a>(buf: &'a [u8], datagram: bool, limits: &ScanLimits) -> Result<(SipMessageRef<'a>, usize), ScanError> {
    let (start, mut pos) = parse_start_line(buf, datagram, limits.max_header_bytes)?;
    let mut msg = SipMessageRef {
        start,
        call_id: None,
        cseq: None,
        cseq_raw: None,
        from: None,
        to: None,
        via: None,
        contact: None,
        contact_star: false,
        content_length: ContentLength::Absent,
        content_type: None,
        content_type_full: None,
        expires: None,
        reason_sip: None,
        reason_q850: None,
        p_asserted_identity: None,
        diversion: None,
        has_history_info: false,
        session_id: None,
        user_agent: None,
        server: None,
        supports_100rel: false,
        requires_100rel: false,
        rseq: None,
        rack: None,
        max_forwards: None,
        session_expires: None,
        has_replaces: false,
        has_referred_by: false,
        has_refer_to: false,
        header_count: 0,
        bad_header_lines: 0,
        body: &[],
        head: &[],
    };
    loop {
        if pos > limits.max_header_bytes {
            return Err(ScanError::Malformed(MalformedKind::HeadersTooLong));
        }
        let rest = buf.get(pos..).unwrap_or(&[]);
        if rest.is_empty() {
            if datagram {
                return Ok((msg, buf.len() + 1));
            }
            return Err(ScanError::Incomplete);
        }
        // Empty line: end of headers (CRLF or bare LF).
        if rest[0] == b'\n' {
            return Ok((msg, pos + 1));
        }
        if rest[0] == b'\r' {
            match rest.get(1) {
                Some(b'\n') => return Ok((msg, pos + 2)),
                None if !datagram => return Err(ScanError::Incomplete),
                None => return Ok((msg, buf.len())),
                // A CR not followed by LF is not an empty line: the line is a bad header line
                // (no name), skipped below like any other.
                Some(_) => {}
            }
        }
        // One header field: up to a line end not followed by SP/HT (folding, RFC 3261 §7.3.1).
        let mut end = 0usize;
        let next;
        loop {
            match memchr::memchr(b'\n', &rest[end..]) {
                Some(i) => {
                    let lf = end + i;
                    match rest.get(lf + 1) {
                        Some(b' ') | Some(b'\t') => end = lf + 1,
                        Some(_) => {
                            next = pos + lf + 1;
                            end = lf;
                            break;
                        }
                        None if datagram => {
                            next = buf.len();
                            end = lf;
                            break;
                        }
                        None => return Err(ScanError::Incomplete),
                    }
                }
                None if datagram => {
                    next = buf.len();
                    end = rest.len();
                    break;
                }
                None => {
                    if rest.len() > limits.max_header_bytes {
                        return Err(ScanError::Malformed(MalformedKind::HeadersTooLong));
                    }
                    return Err(ScanError::Incomplete);
                }
            }
        }
        let field = &rest[..end];
        // Skipped lines count towards the bound too, so a hostile message cannot make the
        // scanner walk more than `max_headers` lines.
        if msg.header_count + msg.bad_header_lines >= limits.max_headers {
            return Err(ScanError::Malformed(MalformedKind::TooManyHeaders));
        }
        match header_name_value(field) {
            Some((name, value)) => {
                msg.header_count += 1;
                apply_header(&mut msg, name, value);
            }
            // Matches tshark: a line without `name:` is reported and skipped; the message and
            // the headers around it are kept (RFC 3261 §7.3 has no recovery rule; dropping
            // the whole message would lose a damaged capture's calls).
            None => msg.bad_header_lines += 1,
        }
        pos = next;
    }
}

/// Splits a header field into trimmed name and value: `None` when there is no colon, or the
/// name is empty or has bytes outside RFC 3261 §25.1 `token`.
fn header_name_value(field: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = memchr::memchr(b':', field)?;
    let name = trim(&field[..colon]);
    if name.is_empty() || !name.iter().all(|&b| is_token_char(b)) {
        return None;
    }
    Some((name, trim(&field[colon + 1..])))
}

/// A header the scanner keeps (RFC 3261 §20).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Known {
    CallId,
    Cseq,
    From,
    To,
    Via,
    Contact,
    ContentLength,
    ContentType,
    Expires,
    Reason,
    PAssertedIdentity,
    Diversion,
    HistoryInfo,
    SessionId,
    UserAgent,
    Server,
    Supported,
    Require,
    Rseq,
    Rack,
    MaxForwards,
    SessionExpires,
    Replaces,
    ReferredBy,
    ReferTo,
}

/// Long name, compact form (RFC 3261 §7.3.3) and kind of every kept header.
const KNOWN_HEADERS: [(&[u8], Option<u8>, Known); 25] = [
    (b"Call-ID", Some(b'i'), Known::CallId),
    (b"CSeq", None, Known::Cseq),
    (b"From", Some(b'f'), Known::From),
    (b"To", Some(b't'), Known::To),
    (b"Via", Some(b'v'), Known::Via),
    (b"Contact", Some(b'm'), Known::Contact),
    (b"Content-Length", Some(b'l'), Known::ContentLength),
    (b"Content-Type", Some(b'c'), Known::ContentType),
    (b"Expires", None, Known::Expires),
    (b"Reason", None, Known::Reason),
    (b"P-Asserted-Identity", None, Known::PAssertedIdentity),
    (b"Diversion", None, Known::Diversion),
    (b"History-Info", None, Known::HistoryInfo),
    (b"Session-ID", None, Known::SessionId),
    (b"User-Agent", None, Known::UserAgent),
    (b"Server", None, Known::Server),
    (b"Supported", Some(b'k'), Known::Supported),
    (b"Require", None, Known::Require),
    (b"RSeq", None, Known::Rseq),
    (b"RAck", None, Known::Rack),
    (b"Max-Forwards", None, Known::MaxForwards),
    (b"Session-Expires", Some(b'x'), Known::SessionExpires),
    (b"Replaces", None, Known::Replaces),
    (b"Referred-By", Some(b'b'), Known::ReferredBy),
    (b"Refer-To", Some(b'r'), Known::ReferTo),
];

/// Which kept header `name` is (case-insensitive, compact forms included). Names are compared
/// only when the lengths match, rather than against every kept name in turn.
fn known_header(name: &[u8]) -> Option<Known> {
    if let [c] = name {
        return KNOWN_HEADERS
            .iter()
            .find(|(_, compact, _)| compact.is_some_and(|k| k.eq_ignore_ascii_case(c)))
            .map(|h| h.2);
    }
    KNOWN_HEADERS.iter().find(|(long, _, _)| long.len() == name.len() && long.eq_ignore_ascii_case(name)).map(|h| h.2)
}

fn apply_header<'a>(msg: &mut SipMessageRef<'a>, name: &[u8], value: &'a [u8]) {
    let Some(header) = known_header(name) else { return };
    match header {
        Known::CallId => {
            msg.call_id.get_or_insert(value);
        }
        Known::Cseq => {
            if msg.cseq_raw.is_none() {
                msg.cseq_raw = Some(value);
                msg.cseq = parse_cseq(value);
            }
        }
        Known::From => {
            if msg.from.is_none() {
                msg.from = Some(parse_name_addr(first_value(value)));
            }
        }
        Known::To => {
            if msg.to.is_none() {
                msg.to = Some(parse_name_addr(first_value(value)));
            }
        }
        Known::Via => {
            if msg.via.is_none() {
                msg.via = Some(parse_via(first_value(value)));
            }
        }
        Known::Contact => {
            if value == b"*" {
                msg.contact_star = true;
            } else if msg.contact.is_none() {
                msg.contact = Some(parse_name_addr(first_value(value)));
            }
        }
        Known::ContentLength => {
            msg.content_length = match parse_u32(value) {
                Some(n) => ContentLength::Value(n as usize),
                None => ContentLength::Invalid,
            };
        }
        Known::ContentType => {
            msg.content_type_full = Some(value);
            let media = memchr::memchr(b';', value).map_or(value, |i| &value[..i]);
            msg.content_type = Some(trim(media));
        }
        Known::Expires => {
            msg.expires = parse_u32(value);
        }
        Known::Reason => {
            for v in CommaValues::new(value) {
                let r = parse_reason(v);
                if r.protocol.eq_ignore_ascii_case(b"SIP") {
                    msg.reason_sip.get_or_insert(r);
                } else if r.protocol.eq_ignore_ascii_case(b"Q.850") {
                    msg.reason_q850.get_or_insert(r);
                }
            }
        }
        Known::PAssertedIdentity => {
            if msg.p_asserted_identity.is_none() {
                msg.p_asserted_identity = Some(parse_name_addr(first_value(value)));
            }
        }
        Known::Diversion => {
            msg.diversion.get_or_insert(value);
        }
        Known::HistoryInfo => {
            msg.has_history_info = true;
        }
        Known::SessionId => {
            let id = memchr::memchr(b';', value).map_or(value, |i| &value[..i]);
            msg.session_id.get_or_insert(trim(id));
        }
        Known::UserAgent => {
            msg.user_agent.get_or_insert(value);
        }
        Known::Server => {
            msg.server.get_or_insert(value);
        }
        Known::Supported => {
            msg.supports_100rel |= lists_token(value, b"100rel");
        }
        Known::Require => {
            msg.requires_100rel |= lists_token(value, b"100rel");
        }
        Known::Rseq => {
            msg.rseq = parse_u32(value);
        }
        Known::Rack => {
            msg.rack = Some(value);
        }
        Known::MaxForwards => {
            msg.max_forwards = parse_u32(value);
        }
        Known::SessionExpires => {
            let delta = memchr::memchr(b';', value).map_or(value, |i| &value[..i]);
            msg.session_expires = parse_u32(delta);
        }
        Known::Replaces => {
            msg.has_replaces = true;
        }
        Known::ReferredBy => {
            msg.has_referred_by = true;
        }
        Known::ReferTo => {
            msg.has_refer_to = true;
        }
    }
}

fn parse_cseq(value: &[u8]) -> Option<(u32, Method)> {
    let value = trim(value);
    let sp = value.iter().position(|&b| is_ws(b))?;
    let num = parse_u32(&value[..sp])?;
    Some((num, Method::from_token(trim(&value[sp..]))))
}

fn lists_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|t| trim(t).eq_ignore_ascii_case(token))
}

/// Iterates comma-separated values at top level (not inside quotes or angle brackets).
struct CommaValues<'a> {
    rest: &'a [u8],
}

impl<'a> CommaValues<'a> {
    fn new(value: &'a [u8]) -> Self {
        CommaValues { rest: value }
    }
}

impl<'a> Iterator for CommaValues<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let end = top_level_find(self.rest, b',');
        let v = &self.rest[..end];
        self.rest = self.rest.get(end + 1..).unwrap_or(&[]);
        Some(trim(v))
    }
}

/// Index of the first `needle` outside quotes and `<…>`, or `s.len()`. Jumps from one byte
/// that matters to the next with memchr (a quote, an angle bracket, the needle; inside a
/// quoted string a backslash escapes the next byte): a byte-at-a-time walk cost about 2.5 k
/// instructions per SIP message (callgrind). `top_level_find_tests` holds it to that walk.
fn top_level_find(s: &[u8], needle: u8) -> usize {
    let rest = |from: usize| s.get(from..).unwrap_or_default();
    let mut i = 0;
    let mut in_angle = false;
    loop {
        // Inside `<…>` the needle does not count; a quote still opens a quoted string.
        let found =
            if in_angle { memchr::memchr2(b'"', b'>', rest(i)) } else { memchr::memchr3(needle, b'"', b'<', rest(i)) };
        let Some(at) = found.map(|k| i + k) else { return s.len() };
        match s.get(at).copied() {
            Some(b) if b == needle && !in_angle => return at,
            Some(b'"') => {
                let mut j = at + 1;
                loop {
                    let Some(q) = memchr::memchr2(b'"', b'\\', rest(j)).map(|k| j + k) else { return s.len() };
                    if s.get(q) == Some(&b'\\') {
                        j = q + 2;
                    } else {
                        i = q + 1;
                        break;
                    }
                }
            }
            Some(b'<') => {
                in_angle = true;
                i = at + 1;
            }
            _ => {
                in_angle = false;
                i = at + 1;
            }
        }
    }
}

fn first_value(value: &[u8]) -> &[u8] {
    trim(&value[..top_level_find(value, b',')])
}

/// Finds a `;name=value` parameter (case-insensitive name) in a parameter list; a parameter
/// without `=` yields an empty value.
pub(crate) fn header_param<'a>(params: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let [value] = header_params(params, [name]);
    value
}

/// [`header_param`] for several names in one pass over the list (each gets its first match).
fn header_params<'a, const N: usize>(params: &'a [u8], names: [&[u8]; N]) -> [Option<&'a [u8]>; N] {
    let mut found = [None; N];
    for p in params.split(|&b| b == b';').skip(1) {
        let (n, v) = match memchr::memchr(b'=', p) {
            Some(i) => (&p[..i], trim(&p[i + 1..])),
            None => (p, &p[p.len()..]),
        };
        let n = trim(n);
        for (slot, name) in found.iter_mut().zip(names) {
            if slot.is_none() && n.eq_ignore_ascii_case(name) {
                *slot = Some(v);
            }
        }
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    found
}

/// Parses a name-addr / addr-spec (RFC 3261 §20.10, §25.1).
fn parse_name_addr(value: &[u8]) -> NameAddrRef<'_> {
    let value = trim(value);
    let mut out = NameAddrRef::default();
    let lt = top_level_find(value, b'<');
    // top_level_find skips quoted text, so a '<' inside a quoted display name is not taken.
    let (uri, params) = if let Some(gt_rel) = value.get(lt + 1..).and_then(|r| memchr::memchr(b'>', r)) {
        let display = trim(&value[..lt]);
        if !display.is_empty() {
            out.display = Some(unquote(display));
        }
        let uri = &value[lt + 1..lt + 1 + gt_rel];
        (trim(uri), value.get(lt + 2 + gt_rel..).unwrap_or(&[]))
    } else {
        // addr-spec without brackets: parameters after ';' belong to the header (RFC 3261 §20.10).
        let semi = memchr::memchr(b';', value).unwrap_or(value.len());
        (trim(&value[..semi]), &value[semi..])
    };
    out.uri = uri;
    let (user, host) = uri_user_host(uri);
    out.user = user;
    out.host = host;
    // Header parameters start at the first ';' after the '>' (or after the addr-spec).
    let params = match memchr::memchr(b';', params) {
        Some(i) => &params[i..],
        None => &[][..],
    };
    // `header_param` skips the text before the first ';': here that text is empty.
    let [tag, expires] = header_params(params, [b"tag", b"expires"]);
    out.tag = tag.filter(|t| !t.is_empty());
    out.expires = expires.and_then(parse_u32);
    out
}

/// User and host of a sip:/sips:/tel: URI. IPv6 hosts keep their brackets.
pub(crate) fn uri_user_host(uri: &[u8]) -> (Option<&[u8]>, &[u8]) {
    let lower_starts = |p: &[u8]| uri.len() >= p.len() && uri[..p.len()].eq_ignore_ascii_case(p);
    if lower_starts(b"tel:") {
        let rest = &uri[4..];
        let end = memchr::memchr(b';', rest).unwrap_or(rest.len());
        return (Some(&rest[..end]), &[]);
    }
    let rest = if lower_starts(b"sips:") {
        &uri[5..]
    } else if lower_starts(b"sip:") {
        &uri[4..]
    } else {
        return (None, &[]);
    };
    // The headers part (after '?') never holds the user; '@' can appear only before it.
    let rest = &rest[..memchr::memchr(b'?', rest).unwrap_or(rest.len())];
    match memchr::memrchr(b'@', rest) {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = &userinfo[..memchr::memchr(b':', userinfo).unwrap_or(userinfo.len())];
            (Some(user), host_of(&rest[at + 1..]))
        }
        None => (None, host_of(rest)),
    }
}

fn host_of(hostport_params: &[u8]) -> &[u8] {
    let end = memchr::memchr(b';', hostport_params).unwrap_or(hostport_params.len());
    trim(&hostport_params[..end])
}

fn parse_via(value: &[u8]) -> ViaRef<'_> {
    let value = trim(value);
    let mut out = ViaRef::default();
    // sent-protocol = name SLASH version SLASH transport, with optional LWS around the slashes.
    let semi = memchr::memchr(b';', value).unwrap_or(value.len());
    let head = &value[..semi];
    let mut slashes = 0;
    let mut i = 0;
    while i < head.len() && slashes < 2 {
        if head[i] == b'/' {
            slashes += 1;
        }
        i += 1;
    }
    let after = trim(&head[i..]);
    let t_end = after.iter().position(|&b| is_ws(b)).unwrap_or(after.len());
    out.transport = &after[..t_end];
    out.sent_by = trim(&after[t_end..]);
    let params = &value[semi..];
    let [branch, received, rport] = header_params(params, [b"branch", b"received", b"rport"]);
    out.branch = branch.filter(|b| !b.is_empty());
    out.received = received;
    out.rport = rport;
    out
}

fn parse_reason(value: &[u8]) -> ReasonRef<'_> {
    let semi = memchr::memchr(b';', value).unwrap_or(value.len());
    let cause = header_param(&value[semi..], b"cause").and_then(parse_u32).and_then(|c| u16::try_from(c).ok());
    ReasonRef { protocol: trim(&value[..semi]), cause, text: header_param_quoted(&value[semi..], b"text") }
}

/// Like [`header_param`] but the value may be a quoted string containing ';'.
fn header_param_quoted<'a>(params: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut i = 0;
    while i < params.len() {
        let rest = &params[i..];
        let semi_rel = top_level_find(rest, b';');
        let p = &rest[..semi_rel];
        if let Some(eq) = memchr::memchr(b'=', p) {
            if trim(&p[..eq]).eq_ignore_ascii_case(name) {
                return Some(unquote(&p[eq + 1..]));
            }
        }
        i += semi_rel + 1;
    }
    None
}

/// First `application/sdp` part of a multipart body delimited by `boundary`.
fn multipart_sdp<'a>(body: &'a [u8], boundary: &[u8]) -> Option<&'a [u8]> {
    if boundary.is_empty() || boundary.len() > 200 {
        return None;
    }
    let finder = memchr::memmem::Finder::new(boundary);
    let mut starts = finder.find_iter(body);
    let mut prev = starts.next()?;
    for _ in 0..64 {
        let part_start = prev + boundary.len();
        let next = starts.next();
        let part_end = next.unwrap_or(body.len());
        let part = body.get(part_start..part_end)?;
        // Part: CRLF, headers, empty line, content, CRLF "--" before the next boundary.
        let part = part.strip_prefix(b"\r\n").or_else(|| part.strip_prefix(b"\n"));
        if let Some(part) = part {
            let (head_end, body_start) = match memchr::memmem::find(part, b"\r\n\r\n") {
                Some(i) => (i, i + 4),
                None => match memchr::memmem::find(part, b"\n\n") {
                    Some(i) => (i, i + 2),
                    None => (part.len(), part.len()),
                },
            };
            let head = &part[..head_end];
            let is_sdp = head.split(|&b| b == b'\n').any(|line| {
                let line = trim(line);
                memchr::memchr(b':', line).is_some_and(|c| {
                    known_header(trim(&line[..c])) == Some(Known::ContentType) && {
                        let v = trim(&line[c + 1..]);
                        let v = &v[..memchr::memchr(b';', v).unwrap_or(v.len())];
                        trim(v).eq_ignore_ascii_case(b"application/sdp")
                    }
                })
            });
            if is_sdp {
                let content = part.get(body_start..).unwrap_or(&[]);
                let content = content.strip_suffix(b"--").unwrap_or(content);
                let content = content.strip_suffix(b"\r\n").or_else(|| content.strip_suffix(b"\n")).unwrap_or(content);
                return Some(content);
            }
        }
        prev = next?;
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn start_line_look_is_bounded() {
        // A token longer than MAX_METHOD_LEN, or a line longer than MAX_START_LINE, is not a
        // start line (and is rejected without scanning the whole buffer).
        let mut long_token = vec![b'a'; 1 << 20];
        long_token.extend_from_slice(b"INVITE sip:b@h SIP/2.0\r\n");
        assert!(!super::looks_like_start_line(&long_token));
        let mut long_uri = b"INVITE sip:".to_vec();
        long_uri.resize(20_000, b'x');
        long_uri.extend_from_slice(b" SIP/2.0\r\n");
        assert!(!super::looks_like_start_line(&long_uri));
        assert!(super::looks_like_start_line(b"INVITE sip:b@h SIP/2.0\r\n"));
        assert!(super::looks_like_start_line(b"INVITE sip:b@h SIP/2.0"));
        assert!(!super::looks_like_start_line(b"INVITE"));
    }

    use super::*;

    /// Synthetic: an INVITE with compact headers, a folded Subject, bare LF line ends.
    const COMPACT_LF: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\n\
v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport\n\
f: \"Alice A\" <sip:alice@example.com>;tag=1928\n\
t: <sip:bob@example.com>\n\
i: a84b4c76e66710@10.0.0.1\n\
CSeq: 314159 INVITE\n\
m: <sip:alice@10.0.0.1:5060>;expires=60\n\
s: a subject\n  folded onto two lines\n\
k: timer, 100rel\n\
c: application/sdp\n\
l: 4\n\
\n\
v=0\n";

    #[test]
    fn compact_headers_and_bare_lf() {
        let (m, used) = scan_message(COMPACT_LF).expect("scans");
        assert_eq!(used, COMPACT_LF.len());
        assert_eq!(m.method(), Some(Method::Invite));
        assert_eq!(m.call_id, Some(&b"a84b4c76e66710@10.0.0.1"[..]));
        assert_eq!(m.cseq, Some((314159, Method::Invite)));
        let from = m.from.expect("from");
        assert_eq!(from.display, Some(&b"Alice A"[..]));
        assert_eq!(from.user, Some(&b"alice"[..]));
        assert_eq!(from.tag, Some(&b"1928"[..]));
        assert_eq!(m.to_tag(), None);
        let via = m.via.expect("via");
        assert_eq!(via.transport, b"UDP");
        assert_eq!(via.sent_by, b"10.0.0.1:5060");
        assert_eq!(via.branch, Some(&b"z9hG4bKabc"[..]));
        assert_eq!(via.rport, Some(&b""[..]));
        assert_eq!(m.contact.and_then(|c| c.expires), Some(60));
        assert!(m.supports_100rel);
        assert!(m.is_sdp());
        assert_eq!(m.body, b"v=0\n");
        assert_eq!(m.header_count, 10);
    }

    /// Synthetic, shaped like sngrep-ipv6frag.pcap: IPv6 Via/From/To hosts in brackets, CRLF.
    const IPV6: &[u8] = b"SIP/2.0 183 Session Progress\r\n\
Via: SIP/2.0/UDP [2001:db8::10]:5060;branch=z9hG4bK-1;received=2001:db8::10\r\n\
From: <sip:1000@[2001:db8::10]>;tag=aa\r\n\
To: \"Bob\" <sip:2000@[2001:db8::20]:5060;transport=udp>;tag=bb\r\n\
Call-ID: v6call\r\n\
CSeq: 1 INVITE\r\n\
Require: 100rel\r\n\
RSeq: 7\r\n\
Content-Length: 0\r\n\
\r\n";

    #[test]
    fn ipv6_hosts() {
        let (m, used) = scan_message(IPV6).expect("scans");
        assert_eq!(used, IPV6.len());
        assert_eq!(m.status(), Some(183));
        let via = m.via.expect("via");
        assert_eq!(via.sent_by, b"[2001:db8::10]:5060");
        assert_eq!(via.received, Some(&b"2001:db8::10"[..]));
        let from = m.from.expect("from");
        assert_eq!(from.user, Some(&b"1000"[..]));
        assert_eq!(from.host, b"[2001:db8::10]");
        let to = m.to.expect("to");
        assert_eq!(to.host, b"[2001:db8::20]:5060");
        assert_eq!(to.tag, Some(&b"bb"[..]));
        assert!(m.requires_100rel);
        assert_eq!(m.rseq, Some(7));
        assert!(m.body.is_empty());
    }

    /// Synthetic: tel: URIs in Request-URI, From (addr-spec without brackets) and To.
    const TEL: &[u8] = b"INVITE tel:+4930123456;phone-context=example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP gw.example.com;branch=z9hG4bKx\r\n\
From: tel:+4930999;tag=t1\r\n\
To: <tel:+4930123456>\r\n\
Call-ID: telcall\r\n\
CSeq: 2 INVITE\r\n\
Reason: SIP;cause=200;text=\"Call completed; elsewhere\", Q.850;cause=16\r\n\
P-Asserted-Identity: <sip:+4930999@gw.example.com;user=phone>\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn tel_uris_and_reason() {
        let (m, _) = scan_message(TEL).expect("scans");
        match m.start {
            StartLine::Request { uri, .. } => {
                assert_eq!(uri, b"tel:+4930123456;phone-context=example.com")
            }
            StartLine::Response { .. } => panic!("request expected"),
        }
        let from = m.from.expect("from");
        assert_eq!(from.uri, b"tel:+4930999");
        assert_eq!(from.user, Some(&b"+4930999"[..]));
        assert_eq!(from.tag, Some(&b"t1"[..]));
        assert_eq!(m.to.and_then(|t| t.user), Some(&b"+4930123456"[..]));
        assert_eq!(m.reason_sip.and_then(|r| r.cause), Some(200));
        assert_eq!(m.reason_sip.and_then(|r| r.text), Some(&b"Call completed; elsewhere"[..]));
        assert_eq!(m.reason_q850.and_then(|r| r.cause), Some(16));
        assert_eq!(m.p_asserted_identity.and_then(|p| p.user), Some(&b"+4930999"[..]));
    }

    /// Shaped like zeek-invalid-content-length.pcap frames 1–2: Content-Length "xyz" / too big.
    const BAD_CL: &[u8] = b"OPTIONS sip:x@y SIP/2.0\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: xyz\r\n\r\nabc";
    const BIG_CL: &[u8] = b"OPTIONS sip:x@y SIP/2.0\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nl: 500\r\n\r\nabc";

    #[test]
    fn lying_content_length_over_udp_and_tcp() {
        let (m, flaws) = scan_datagram(BAD_CL).expect("tolerated");
        assert!(flaws.content_length_invalid);
        assert_eq!(m.body, b"abc");
        assert_eq!(scan_message(BAD_CL), Err(ScanError::Malformed(MalformedKind::BadContentLength)));
        let (m, flaws) = scan_datagram(BIG_CL).expect("tolerated");
        assert!(flaws.content_length_too_large);
        assert_eq!(m.body, b"abc");
        assert_eq!(scan_message(BIG_CL), Err(ScanError::Incomplete));
    }

    #[test]
    fn truncated_messages_are_incomplete() {
        // Every proper prefix of a complete message asks for more bytes on a stream.
        for cut in 1..IPV6.len() {
            assert_eq!(scan_message(&IPV6[..cut]).map(|(_, n)| n), Err(ScanError::Incomplete), "cut {cut}");
        }
        let (_, used) = scan_message(IPV6).expect("whole");
        assert_eq!(used, IPV6.len());
    }

    #[test]
    fn ten_thousand_headers_are_malformed() {
        let mut msg = b"MESSAGE sip:a@b SIP/2.0\r\n".to_vec();
        for i in 0..10_000 {
            msg.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        msg.extend_from_slice(b"\r\n");
        assert_eq!(scan_message(&msg).map(|(_, n)| n), Err(ScanError::Malformed(MalformedKind::TooManyHeaders)));
        assert!(scan_datagram(&msg).is_err());
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(matches!(scan_datagram(b"\x16\x03\x01\x02\x00"), Err(ScanError::Malformed(_))));
        assert!(matches!(scan_datagram(b"HTTP/1.1 200 OK\r\n\r\n"), Err(ScanError::Malformed(_))));
        assert!(matches!(scan_datagram(b"SIP/2.0 99 x\r\n\r\n"), Err(ScanError::Malformed(_))));
        assert!(!looks_like_start_line(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_start_line(b"SIP/2.0 200 OK\r\n"));
        assert!(looks_like_start_line(b"BYE sip:a@b SIP/2.0\r\n"));
    }

    /// Synthetic RFC 5621-style multipart body with an SDP part.
    const MULTIPART: &[u8] = b"INVITE sip:b@c SIP/2.0\r\nCall-ID: m\r\nCSeq: 1 INVITE\r\n\
Content-Type: multipart/mixed;boundary=\"unique-boundary-1\"\r\n\r\n\
--unique-boundary-1\r\nContent-Type: application/isup\r\n\r\nxx\r\n\
--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n\
--unique-boundary-1--\r\n";

    #[test]
    fn multipart_sdp_part_is_found() {
        let (m, _) = scan_datagram(MULTIPART).expect("scans");
        assert_eq!(m.sdp_body(), Some(&b"v=0\r\no=- 1 1 IN IP4 1.2.3.4"[..]));
    }

    #[test]
    fn bad_header_lines_are_counted_and_skipped_on_datagrams_and_streams() {
        // A line without colon, one with a non-token name (`v\xE9a`), and a lone CR line.
        let text = b"REGISTER sip:h SIP/2.0\r\nVia SIP/2.0/UDP x\r\nv\xE9a: SIP/2.0/UDP y\r\n\rjunk\r\n\
Call-ID: c1\r\nCSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n";
        let (m, flaws) = scan_datagram(text).expect("kept");
        assert_eq!(flaws, DatagramFlaws::default());
        assert_eq!(m.bad_header_lines, 3);
        assert_eq!(m.header_count, 3);
        assert_eq!(m.call_id, Some(&b"c1"[..]));
        assert_eq!(m.cseq, Some((2, Method::Register)));
        let (m, used) = scan_message(text).expect("kept on a stream too");
        assert_eq!((m.bad_header_lines, used), (3, text.len()));
    }

    #[test]
    fn loose_start_lines_scan_and_nul_rejects() {
        // ndpi-fuzz-2006-06-26-2594.pcap frames 107 and 578: a mixed-case method and a bad URI
        // scheme still make a request (the classifier decides where that is allowed).
        let (m, _) = scan_datagram(b"REGIStER pip:sip.h SIP/2.0\r\nCall-ID: c\r\n\r\n").expect("request");
        assert_eq!(m.method(), Some(Method::Other));
        let (m, _) = scan_datagram(b"INVITE six:0097@h SIP/2.0\r\n\r\n").expect("request");
        assert_eq!(m.method(), Some(Method::Invite));
        // A lone CR ends the start line (tvb_find_line_end), the next line is a header.
        let (m, _) = scan_datagram(b"SIP/2.0 200 OK\rCall-ID: cr\r\n\r\n").expect("response");
        assert_eq!((m.status(), m.call_id), (Some(200), Some(&b"cr"[..])));
        // A NUL in the start line: not SIP (frames 108 and 348 of the same capture).
        let nul = scan_datagram(b"SIP/2.0 401 Unauthori%s\x00\r\nCall-ID: c\r\n\r\n");
        assert_eq!(nul.map(|_| ()), Err(ScanError::Malformed(MalformedKind::BadStartLine)));
        // A stream whose last byte is the CR of the start line waits for more.
        assert_eq!(scan_message(b"SIP/2.0 200 OK\r").map(|_| ()), Err(ScanError::Incomplete));
    }

    #[test]
    fn method_of_a_garbled_cseq() {
        let method_of = |cseq: &[u8]| {
            let mut text = b"SIP/2.0 407 x\r\nCSeq: ".to_vec();
            text.extend_from_slice(cseq);
            text.extend_from_slice(b"\r\n\r\n");
            let (m, _) = scan_datagram(&text).expect("scans");
            (m.cseq, m.cseq_method_of_garbled())
        };
        assert_eq!(method_of(b"12 INVITE"), (Some((12, Method::Invite)), None));
        assert_eq!(method_of(b"\x11 INVITE"), (None, Some(Method::Invite)));
        assert_eq!(method_of(b"%s\x00 REGISTER"), (None, Some(Method::Register)));
        assert_eq!(method_of(b"INVITE"), (None, None));
        assert_eq!(method_of(b"x1 INV\xFFTE"), (None, None));
    }

    #[test]
    fn configured_size_caps_reject_or_cut_and_name_the_key() {
        let msg = b"OPTIONS sip:x@y SIP/2.0\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nA: 1\r\nB: 2\r\nContent-Length: 10\r\n\r\n0123456789";
        let few = ScanLimits { max_headers: 4, ..ScanLimits::default() };
        let too_many = Err(ScanError::Malformed(MalformedKind::TooManyHeaders));
        assert_eq!(scan_datagram_limited(msg, &few).map(|_| ()), too_many);
        assert_eq!(scan_message_limited(msg, &few).map(|_| ()), too_many);
        assert_eq!(
            MalformedKind::TooManyHeaders.describe_with(&few),
            "too many header fields (over limits.sip.scan.max_headers = 4)"
        );
        assert!(scan_datagram_limited(msg, &ScanLimits { max_headers: 5, ..few }).is_ok(), "exactly at the cap");
        let short = ScanLimits { max_header_bytes: 40, ..ScanLimits::default() };
        let too_long = Err(ScanError::Malformed(MalformedKind::HeadersTooLong));
        assert_eq!(scan_datagram_limited(msg, &short).map(|_| ()), too_long);
        assert_eq!(scan_message_limited(msg, &short).map(|_| ()), too_long);
        let small = ScanLimits { max_body_bytes: 4, ..ScanLimits::default() };
        assert_eq!(
            scan_message_limited(msg, &small).map(|_| ()),
            Err(ScanError::Malformed(MalformedKind::BodyTooLarge))
        );
        let (m, flaws) = scan_datagram_limited(msg, &small).expect("datagram kept, body cut");
        assert_eq!((m.body, flaws.body_cut), (&b"0123"[..], true));
        let (m, flaws) = scan_datagram(msg).expect("defaults");
        assert_eq!((m.body.len(), flaws.body_cut, m.header_count), (10, false, 5));
        assert_eq!(MalformedKind::BadStartLine.limit_key(), None);
    }

    mod round_trip {
        use super::super::*;
        use proptest::prelude::*;

        fn token() -> impl Strategy<Value = String> {
            "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,30}"
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
            /// Any message built from header values the grammar allows (RFC 3261 §25.1 tokens,
            /// IPv4 hosts, any CSeq number, compact or long names, LF or CRLF) scans back to
            /// the same fields, as a datagram and on a stream.
            #[test]
            fn built_message_scans_back_to_its_fields(
                method in prop::sample::select(vec![Method::Invite, Method::Ack, Method::Bye, Method::Cancel,
                    Method::Register, Method::Options, Method::Update, Method::Prack, Method::Info]),
                call_id in token(),
                from_user in "[a-z0-9+]{1,16}",
                to_user in "[a-z0-9+]{1,16}",
                from_tag in token(),
                to_tag in prop::option::of(token()),
                branch in "z9hG4bK[A-Za-z0-9]{1,20}",
                host in (any::<u8>(), any::<u8>(), any::<u8>(), 1u8..255),
                port in 1u16..,
                cseq in any::<u32>(),
                compact in any::<bool>(),
                bare_lf in any::<bool>(),
                extra in prop::collection::vec(("X-[A-Za-z]{1,10}", "[ -~]{0,40}"), 0..8),
                body in "[ -~]{0,200}",
            ) {
                let host = format!("{}.{}.{}.{}", host.0, host.1, host.2, host.3);
                let eol = if bare_lf { "\n" } else { "\r\n" };
                let name = |long: &'static str, short: &'static str| if compact { short } else { long };
                let to_tag_param = to_tag.as_ref().map_or(String::new(), |t| format!(";tag={t}"));
                let mut text = format!("{} sip:{to_user}@{host}:{port} SIP/2.0{eol}", method.as_str());
                text += &format!("{}: SIP/2.0/UDP {host}:{port};branch={branch}{eol}", name("Via", "v"));
                text += &format!("{}: <sip:{from_user}@{host}>;tag={from_tag}{eol}", name("From", "f"));
                text += &format!("{}: <sip:{to_user}@{host}>{to_tag_param}{eol}", name("To", "t"));
                text += &format!("{}: {call_id}{eol}", name("Call-ID", "i"));
                text += &format!("CSeq: {cseq} {}{eol}", method.as_str());
                for (n, v) in &extra {
                    text += &format!("{n}: {v}{eol}");
                }
                text += &format!("{}: {}{eol}{eol}{body}", name("Content-Length", "l"), body.len());
                let bytes = text.as_bytes();
                let (d, flaws) = scan_datagram(bytes).expect("datagram scans");
                prop_assert_eq!(flaws, DatagramFlaws::default());
                let (s, used) = scan_message(bytes).expect("stream scans");
                prop_assert_eq!(used, bytes.len());
                prop_assert_eq!(&d, &s);
                prop_assert_eq!(d.method(), Some(method));
                prop_assert_eq!(d.call_id, Some(call_id.as_bytes()));
                prop_assert_eq!(d.cseq, Some((cseq, method)));
                prop_assert_eq!(d.from.map(|f| f.user), Some(Some(from_user.as_bytes())));
                prop_assert_eq!(d.to.map(|t| t.user), Some(Some(to_user.as_bytes())));
                prop_assert_eq!(d.from_tag(), Some(from_tag.as_bytes()));
                prop_assert_eq!(d.to_tag(), to_tag.as_ref().map(|t| t.as_bytes()));
                let via = d.via.expect("via");
                prop_assert_eq!(via.branch, Some(branch.as_bytes()));
                let sent_by = format!("{host}:{port}");
                prop_assert_eq!(via.sent_by, sent_by.as_bytes());
                prop_assert_eq!(d.header_count, 6 + extra.len());
                prop_assert_eq!(d.content_length, ContentLength::Value(body.len()));
                prop_assert_eq!(d.body, body.as_bytes());
            }
        }
    }
}

#[cfg(test)]
/// The faster scanning paths held to the simpler code they replaced.
mod fast_path_tests {
    use super::{header_params, known_header, top_level_find, trim, Known, KNOWN_HEADERS};

    /// The byte-at-a-time walk `top_level_find` replaced (the specification it must match).
    fn walk(s: &[u8], needle: u8) -> usize {
        let (mut in_quote, mut in_angle, mut escaped) = (false, false, false);
        for (i, &b) in s.iter().enumerate() {
            if in_quote {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_quote = false;
                }
                continue;
            }
            if b == needle && !in_angle {
                return i;
            }
            match b {
                b'"' => in_quote = true,
                b'<' => in_angle = true,
                b'>' => in_angle = false,
                _ => {}
            }
        }
        s.len()
    }

    #[test]
    fn jumps_find_what_the_byte_walk_finds() {
        let cases: [&[u8]; 8] = [
            b"\"Alice, A.\" <sip:a@x;lr,b>;tag=1, <sip:b@y>",
            b"<sip:a@x>;q=0.5",
            b"\"a\\\"<b\" <sip:c,d>, e",
            b"\"unterminated, <x>",
            b"\"ends in backslash\\",
            b"<<a>,b>,c",
            b"",
            b"plain;param,next",
        ];
        for case in cases {
            for needle in [b',', b'<', b';'] {
                assert_eq!(
                    top_level_find(case, needle),
                    walk(case, needle),
                    "{:?} {}",
                    String::from_utf8_lossy(case),
                    needle as char
                );
            }
        }
        // Every string of the bytes that matter, up to 6 long, and random longer ones.
        let alphabet = [b'a', b',', b';', b'<', b'>', b'"', b'\\'];
        let mut s = Vec::new();
        for len in 0..=6u32 {
            for mut code in 0..alphabet.len().pow(len) {
                s.clear();
                for _ in 0..len {
                    s.push(alphabet[code % alphabet.len()]);
                    code /= alphabet.len();
                }
                for needle in [b',', b'<', b';'] {
                    assert_eq!(top_level_find(&s, needle), walk(&s, needle), "{:?}", String::from_utf8_lossy(&s));
                }
            }
        }
        let mut rng = crate::synth::XorShift64::new(3);
        for _ in 0..20_000 {
            let state = rng.next_u64();
            s.clear();
            s.extend((0..(state % 40) as usize).map(|k| alphabet[((state >> (k % 60)) as usize + k) % alphabet.len()]));
            for needle in [b',', b'<', b';'] {
                assert_eq!(top_level_find(&s, needle), walk(&s, needle), "{:?}", String::from_utf8_lossy(&s));
            }
        }
    }

    #[test]
    fn names_compact_forms_and_case_are_recognised() {
        for (long, compact, kind) in KNOWN_HEADERS {
            assert_eq!(known_header(long), Some(kind));
            assert_eq!(known_header(&long.to_ascii_lowercase()), Some(kind));
            assert_eq!(known_header(&long.to_ascii_uppercase()), Some(kind));
            if let Some(c) = compact {
                assert_eq!(known_header(&[c]), Some(kind));
                assert_eq!(known_header(&[c.to_ascii_uppercase()]), Some(kind));
            }
        }
        assert_eq!(known_header(b"T"), Some(Known::To));
        for other in [&b"Allow"[..], b"Call-Info", b"e", b"", b"Call-IDs", b"Via-", b"s"] {
            assert_eq!(known_header(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    /// One name at a time, as `header_param` searched before it shared a pass.
    fn first_match<'a>(params: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
        params.split(|&b| b == b';').skip(1).find_map(|p| {
            let (n, v) = match p.iter().position(|&b| b == b'=') {
                Some(i) => (&p[..i], trim(&p[i + 1..])),
                None => (p, &p[p.len()..]),
            };
            trim(n).eq_ignore_ascii_case(name).then_some(v)
        })
    }

    #[test]
    fn one_pass_finds_each_first_match() {
        let lists: [&[u8]; 7] = [
            b";branch=z9hG4bK1;rport;received=10.0.0.1",
            b";rport=5060 ; BRANCH = z9;branch=second;received",
            b"",
            b";",
            b";tag=;tag=x;expires=60",
            b"no-leading-semicolon;tag=1",
            b" ; Expires=3600;TAG=abc;expires=1",
        ];
        for list in lists {
            let names: [&[u8]; 3] = [b"branch", b"received", b"rport"];
            assert_eq!(header_params(list, names), names.map(|n| first_match(list, n)));
            let names: [&[u8]; 2] = [b"tag", b"expires"];
            assert_eq!(header_params(list, names), names.map(|n| first_match(list, n)));
        }
    }
}
