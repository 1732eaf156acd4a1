//! `--redact`: masks phone numbers and IP addresses in everything a bundle contains.
//!
//! Rules:
//! - Phone numbers: the digits of every phone-like URI user part (`sip:`, `sips:`, `tel:`) and
//!   every digit run equal to a number learned from the bundle's dialogs become `x`, except the
//!   last 2 digits (`+4930123456` → `+xxxxxxxx56`). Masking keeps the length, so SIP
//!   `Content-Length`, IP and UDP/TCP lengths never change. Lines whose numbers are protocol
//!   fields (status line, CSeq, Content-Length, Max-Forwards, Expires, RSeq/RAck, `m=`,
//!   `a=rtpmap/fmtp/ptime`) are left alone in captured SIP so the capture still parses.
//! - IP addresses outside `--keep-net` (default: none kept) are replaced by pseudonyms, the same
//!   pseudonym for the same address everywhere in the bundle. A pseudonym's text has the length
//!   of the original's canonical text: IPv4 in 10.0.0.0/8 (lengths 8–14), 0.0.0.0/8 (length 7,
//!   "this network", never a real peer), 100.100–127.x.x (length 15, RFC 6598 shared space);
//!   IPv6 in fd00::/16 (RFC 4193), written with zero groups padded to the original length.
//!   Loopback and unspecified addresses are kept. In captured payloads an address written
//!   non-canonically (length would change) makes the rewrite refuse rather than leak.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::packet::Rewriter;
use crate::report::registrations::is_phone_like;

/// An IPv4 or IPv6 network (`--keep-net`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s.split_once('/').unwrap_or((s, ""));
        let addr: IpAddr = a.trim().parse().map_err(|e| format!("{s}: {e}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() { max } else { p.trim().parse::<u8>().map_err(|e| format!("{s}: {e}"))? };
        if prefix > max {
            return Err(format!("{s}: prefix longer than {max}"));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl Cidr {
    /// True when `ip` is inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Most distinct numbers learned (further ones are still masked in URIs, just not elsewhere).
const MAX_NUMBERS: usize = 10_000;
/// Numbers shorter than this are masked only inside URIs (3-digit extensions collide with
/// everything else).
const MIN_FREE_NUMBER_DIGITS: usize = 3;

/// The redaction state of one bundle.
#[derive(Debug, Default)]
pub struct Redactor {
    keep: Vec<Cidr>,
    v4: HashMap<Ipv4Addr, Ipv4Addr>,
    v6: HashMap<Ipv6Addr, Ipv6Addr>,
    next_v4_by_len: HashMap<usize, u32>,
    next_v6: u32,
    numbers: Vec<String>,
    macs: HashMap<[u8; 6], [u8; 6]>,
    /// Addresses seen in the bundle: a pseudonym must never equal one of them.
    avoid: HashSet<IpAddr>,
    /// Every original address replaced (for tests and the report).
    pub replaced: Vec<IpAddr>,
}

/// Header lines whose digits are protocol fields (lower case, up to the colon or `=`).
const PROTOCOL_LINES: &[&str] = &[
    "sip/2.0 ",
    "cseq:",
    "content-length:",
    "l:",
    "max-forwards:",
    "expires:",
    "min-expires:",
    "session-expires:",
    "x:",
    "min-se:",
    "rseq:",
    "rack:",
    "m=",
    "a=rtpmap",
    "a=fmtp",
    "a=ptime",
    "a=maxptime",
    "a=rtcp:",
];

impl Redactor {
    /// A redactor keeping addresses inside `keep`.
    pub fn new(keep: Vec<Cidr>) -> Self {
        Redactor { keep, ..Redactor::default() }
    }

    /// Learns a number (its digits) to mask wherever it appears.
    pub fn learn_number(&mut self, user: &str) {
        if !is_phone_like(user) {
            return;
        }
        let digits: String = user.chars().filter(char::is_ascii_digit).collect();
        if digits.len() >= MIN_FREE_NUMBER_DIGITS && !self.numbers.contains(&digits) && self.numbers.len() < MAX_NUMBERS
        {
            self.numbers.push(digits);
        }
    }

    /// Notes an address of the bundle, so that no pseudonym equals it (call before redacting).
    pub fn avoid(&mut self, ip: IpAddr) {
        if self.avoid.len() < MAX_NUMBERS * 10 {
            self.avoid.insert(ip);
        }
    }

    /// Learns the phone-like user parts of every URI in `text` (a SIP message) and the
    /// addresses written in it.
    pub fn learn_from_text(&mut self, text: &[u8]) {
        for token in text.split(|b| !(b.is_ascii_hexdigit() || *b == b'.' || *b == b':')) {
            let Ok(t) = std::str::from_utf8(token) else { continue };
            let t = t.trim_end_matches(['.', ':']);
            let ip = t.parse::<IpAddr>().ok().or_else(|| t.rsplit_once(':').and_then(|(a, _)| a.parse().ok()));
            if let Some(ip) = ip {
                self.avoid(ip);
            }
        }
        let mut i = 0;
        while i < text.len() {
            if let Some((start, end)) = uri_user_at(text, i) {
                self.learn_number(&String::from_utf8_lossy(text.get(start..end).unwrap_or_default()));
                i = end.max(i + 1);
            } else {
                i += 1;
            }
        }
    }

    fn kept(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || ip.is_unspecified() || self.keep.iter().any(|c| c.contains(ip))
    }

    /// The pseudonym of an address (itself when kept).
    pub fn map(&mut self, ip: IpAddr) -> Result<IpAddr, String> {
        if self.kept(ip) {
            return Ok(ip);
        }
        match ip {
            IpAddr::V4(a) => {
                if let Some(p) = self.v4.get(&a) {
                    return Ok(IpAddr::V4(*p));
                }
                let len = a.to_string().len();
                let k = self.next_v4_by_len.entry(len).or_insert(0);
                // Skip candidates that are real addresses of the bundle (bounded by their count).
                let p = loop {
                    let p = v4_pseudonym(len, *k).ok_or_else(|| format!("too many IPv4 addresses of length {len}"))?;
                    *k += 1;
                    if !self.avoid.contains(&IpAddr::V4(p)) {
                        break p;
                    }
                };
                self.v4.insert(a, p);
                self.replaced.push(ip);
                Ok(IpAddr::V4(p))
            }
            IpAddr::V6(a) => {
                if let Some(p) = self.v6.get(&a) {
                    return Ok(IpAddr::V6(*p));
                }
                let p = loop {
                    self.next_v6 += 1;
                    let last = u16::try_from(self.next_v6).map_err(|_| "too many IPv6 addresses".to_owned())?;
                    let p = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last);
                    if !self.avoid.contains(&IpAddr::V6(p)) {
                        break p;
                    }
                };
                self.v6.insert(a, p);
                self.replaced.push(ip);
                Ok(IpAddr::V6(p))
            }
        }
    }

    /// Text of the pseudonym of `ip` with exactly `len` characters, when it can be written so.
    fn pseudonym_text(&mut self, ip: IpAddr, len: usize) -> Result<Option<String>, String> {
        if self.kept(ip) {
            return Ok(None);
        }
        Ok(Some(match self.map(ip)? {
            IpAddr::V4(p) => p.to_string(),
            IpAddr::V6(p) => v6_text(p.segments()[7], len).unwrap_or_else(|| p.to_string()),
        }))
    }

    /// Redacts a generated text (summary, ladder, JSON string). Never fails: an address written
    /// non-canonically is still replaced, only its length may change.
    pub fn text(&mut self, s: &str) -> String {
        let mut bytes = s.as_bytes().to_vec();
        let _ = self.rewrite(&mut bytes, false);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Redacts a captured payload in place, keeping its length; `Err` when that is impossible.
    pub fn bytes(&mut self, b: &mut [u8]) -> Result<(), String> {
        let mut v = b.to_vec();
        self.rewrite(&mut v, true)?;
        if v.len() != b.len() {
            return Err("an address is written in a non-canonical form: rewriting would change lengths".to_owned());
        }
        b.copy_from_slice(&v);
        Ok(())
    }

    fn rewrite(&mut self, b: &mut Vec<u8>, captured: bool) -> Result<(), String> {
        let mut out = Vec::with_capacity(b.len());
        let mut line_start = true;
        let mut protocol_line = false;
        let mut i = 0;
        let mut changed_len = false;
        while i < b.len() {
            if line_start {
                let rest = b.get(i..(i + 20).min(b.len())).unwrap_or_default().to_ascii_lowercase();
                protocol_line = captured && PROTOCOL_LINES.iter().any(|p| rest.starts_with(p.as_bytes()));
                line_start = false;
            }
            let c = b.get(i).copied().unwrap_or(0);
            if c == b'\n' {
                line_start = true;
                out.push(c);
                i += 1;
                continue;
            }
            let prev = if i == 0 { b' ' } else { b.get(i - 1).copied().unwrap_or(b' ') };
            let boundary = !(prev.is_ascii_alphanumeric() || prev == b'.' || prev == b':');
            // Addresses: IPv6 (≥ 2 colons) first, then dotted quads.
            if boundary && (c.is_ascii_hexdigit() || c == b':') {
                let run = run_len(b, i, |x| x.is_ascii_hexdigit() || x == b':' || x == b'.');
                let cand = b.get(i..i + run).unwrap_or_default();
                if cand.iter().filter(|&&x| x == b':').count() >= 2 {
                    if let Some(ip) = std::str::from_utf8(cand).ok().and_then(|t| t.parse::<Ipv6Addr>().ok()) {
                        if let Some(t) = self.pseudonym_text(IpAddr::V6(ip), run)? {
                            changed_len |= t.len() != run;
                            out.extend_from_slice(t.as_bytes());
                            i += run;
                            continue;
                        }
                    }
                }
            }
            // "sip:10.0.2.20" — a colon may precede a dotted quad (IPv6 was tried first).
            let v4_boundary = boundary || prev == b':';
            if v4_boundary && c.is_ascii_digit() {
                let run = run_len(b, i, |x| x.is_ascii_digit() || x == b'.');
                let cand = b.get(i..i + run).unwrap_or_default();
                let cand = cand.strip_suffix(b".").unwrap_or(cand);
                if let Some(ip) = std::str::from_utf8(cand).ok().and_then(|t| t.parse::<Ipv4Addr>().ok()) {
                    if let Some(t) = self.pseudonym_text(IpAddr::V4(ip), cand.len())? {
                        changed_len |= t.len() != cand.len();
                        out.extend_from_slice(t.as_bytes());
                        i += cand.len();
                        continue;
                    }
                }
            }
            // URI user parts: mask phone-like ones.
            if let Some((start, end)) = uri_user_at(b, i) {
                out.extend_from_slice(b.get(i..start).unwrap_or_default());
                let user = b.get(start..end).unwrap_or_default();
                if is_phone_like(&String::from_utf8_lossy(user)) {
                    out.extend_from_slice(&mask_digits(user));
                } else {
                    out.extend_from_slice(user);
                }
                i = end;
                continue;
            }
            // Learned numbers anywhere else (not in protocol fields of captured SIP).
            if c.is_ascii_digit() && !prev.is_ascii_digit() && !protocol_line {
                let run = run_len(b, i, |x| x.is_ascii_digit());
                let digits = b.get(i..i + run).unwrap_or_default();
                if self.numbers.iter().any(|n| n.as_bytes() == digits) {
                    out.extend_from_slice(&mask_digits(digits));
                } else {
                    out.extend_from_slice(digits);
                }
                i += run;
                continue;
            }
            out.push(c);
            i += 1;
        }
        if captured && changed_len {
            return Err("an address is written in a non-canonical form: rewriting would change lengths".to_owned());
        }
        *b = out;
        Ok(())
    }

    /// Redacts every string of a JSON value (keys are schema names and stay).
    pub fn json(&mut self, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => *s = self.text(s),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| self.json(x)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| self.json(x)),
            _ => {}
        }
    }
}

impl Rewriter for Redactor {
    fn map_ip(&mut self, ip: IpAddr) -> Result<IpAddr, String> {
        self.map(ip)
    }
    fn payload(&mut self, bytes: &mut [u8]) -> Result<(), String> {
        // Only text is rewritten: SIP/SDP (and TCP segments continuing them) and RTCP, whose
        // SDES items (CNAME "user@host") are text. RTP audio, T.38 and other binary payloads
        // stay as they are: random bytes must not be "redacted" into corrupt media.
        let textual = bytes.iter().all(|&b| b == b'\r' || b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b));
        let rtcp =
            bytes.first().is_some_and(|b| b >> 6 == 2) && bytes.get(1).is_some_and(|pt| (200..=207).contains(pt));
        if textual || rtcp || crate::classify::classify(bytes) == crate::classify::PayloadKind::Sip {
            self.bytes(bytes)
        } else {
            Ok(())
        }
    }
    fn map_mac(&mut self, mac: [u8; 6]) -> [u8; 6] {
        // Broadcast/multicast (group bit) stays; unicast gets 02:00:00:00:hi:lo (locally
        // administered), numbered in order of first appearance.
        if mac[0] & 1 == 1 {
            return mac;
        }
        let next = u16::try_from(self.macs.len() + 1).unwrap_or(u16::MAX).to_be_bytes();
        *self.macs.entry(mac).or_insert([0x02, 0, 0, 0, next[0], next[1]])
    }
}

fn run_len(b: &[u8], from: usize, pred: impl Fn(u8) -> bool) -> usize {
    b.get(from..).map_or(0, |r| r.iter().take_while(|&&x| pred(x)).count())
}

/// `x` for every digit but the last 2.
fn mask_digits(s: &[u8]) -> Vec<u8> {
    let total = s.iter().filter(|b| b.is_ascii_digit()).count();
    let mut seen = 0;
    s.iter()
        .map(|&b| {
            if b.is_ascii_digit() {
                seen += 1;
                if seen + 2 <= total {
                    return b'x';
                }
            }
            b
        })
        .collect()
}

/// When `b[i..]` starts a URI scheme `sip:`, `sips:` or `tel:` followed by a user part, the
/// user part's range (for sip/sips only when an `@` ends it).
fn uri_user_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let prev = if i == 0 { b' ' } else { *b.get(i - 1)? };
    if prev.is_ascii_alphanumeric() {
        return None;
    }
    let head = b.get(i..(i + 5).min(b.len()))?.to_ascii_lowercase();
    let (start, tel) = if head.starts_with(b"sips:") {
        (i + 5, false)
    } else if head.starts_with(b"sip:") {
        (i + 4, false)
    } else if head.starts_with(b"tel:") {
        (i + 4, true)
    } else {
        return None;
    };
    let len = run_len(b, start, |x| !matches!(x, b'@' | b';' | b'>' | b'?' | b' ' | b'\r' | b'\n' | b'"' | b','));
    let end = start + len;
    if len == 0 || (!tel && b.get(end) != Some(&b'@')) {
        return None;
    }
    Some((start, end))
}

/// The k-th IPv4 pseudonym whose text has `len` characters.
fn v4_pseudonym(len: usize, k: u32) -> Option<Ipv4Addr> {
    // (first octet, allowed ranges of the second octet by digit count)
    let (first, first_len): (u8, usize) = match len {
        7 => (0, 1),
        8..=14 => (10, 2),
        15 => (100, 3),
        _ => return None,
    };
    let digits = len.checked_sub(first_len + 3)?; // three dots
    let range = |n: usize| -> Option<(u32, u32)> {
        match n {
            1 => Some((0, 9)),
            2 => Some((10, 99)),
            3 => Some((100, 255)),
            _ => None,
        }
    };
    let mut k = k;
    for l1 in 1..=3usize {
        for l2 in 1..=3usize {
            let Some(l3) = digits.checked_sub(l1 + l2) else { continue };
            let (Some(r1), Some(r2), Some(r3)) = (range(l1), range(l2), range(l3)) else { continue };
            // 100.x: keep the second octet in 100..=127 (RFC 6598 100.64.0.0/10).
            let r1 = if first == 100 { (r1.0.max(100), r1.1.min(127)) } else { r1 };
            if r1.0 > r1.1 {
                continue;
            }
            let (n1, n2, n3) = (r1.1 - r1.0 + 1, r2.1 - r2.0 + 1, r3.1 - r3.0 + 1);
            let cap = n1 * n2 * n3;
            if k < cap {
                let a = r1.0 + k / (n2 * n3);
                let b = r2.0 + (k / n3) % n2;
                let c = r3.0 + k % n3;
                return Some(Ipv4Addr::new(first, a as u8, b as u8, c as u8));
            }
            k -= cap;
        }
    }
    None
}

/// `fd00::<last>` written with exactly `len` characters (zero groups expanded and padded).
fn v6_text(last: u16, len: usize) -> Option<String> {
    let tail = format!("{last:x}");
    // Compressed: "fd00:" + "0:"*z + ":" + tail padded to p digits (z ≤ 5).
    for z in 0..=5usize {
        for p in tail.len()..=4 {
            if 5 + 2 * z + 1 + p == len {
                return Some(format!("fd00:{}:{:0>p$}", "0:".repeat(z), tail, p = p));
            }
        }
    }
    // Full form: eight groups, the six zero groups padded to 1–4 digits each.
    for p in tail.len()..=4 {
        let base = 4 + 7 + 6 + p; // "fd00", seven colons, six "0", tail
        if len >= base && len - base <= 18 {
            let mut extra = len - base;
            let groups: Vec<String> = (0..6)
                .map(|_| {
                    let add = extra.min(3);
                    extra -= add;
                    "0".repeat(1 + add)
                })
                .collect();
            return Some(format!("fd00:{}:{:0>p$}", groups.join(":"), tail, p = p));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_pseudonyms_keep_text_length() {
        for len in 7..=15 {
            for k in [0u32, 1, 500] {
                let p = v4_pseudonym(len, k).unwrap();
                assert_eq!(p.to_string().len(), len, "{p}");
            }
        }
        assert_eq!(v4_pseudonym(8, 0), Some(Ipv4Addr::new(10, 0, 0, 0)));
    }

    #[test]
    fn v6_pseudonym_text_parses_to_the_same_address() {
        for len in 7..=39 {
            let t = v6_text(5, len).unwrap();
            assert_eq!(t.len(), len, "{t}");
            assert_eq!(t.parse::<Ipv6Addr>().unwrap(), Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 5));
        }
    }

    #[test]
    fn masks_numbers_and_addresses_keeping_lengths() {
        let mut r = Redactor::new(vec!["192.0.2.0/24".parse().unwrap()]);
        r.learn_number("+4930123456");
        let sip = b"INVITE sip:+4930123456@10.1.2.3 SIP/2.0\r\nFrom: \"4930123456\" <sip:1001@192.0.2.7>\r\nCSeq: 1001 INVITE\r\nContent-Length: 0\r\n\r\n";
        let mut bytes = sip.to_vec();
        r.bytes(&mut bytes).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(bytes.len(), sip.len());
        assert!(text.starts_with("INVITE sip:+xxxxxxxx56@10.0.0.0 SIP/2.0\r\n"), "{text}");
        assert!(text.contains("From: \"xxxxxxxx56\" <sip:xx01@192.0.2.7>"), "{text}");
        assert!(text.contains("CSeq: 1001 INVITE"), "{text}");
        // Same address → same pseudonym.
        assert_eq!(r.text("10.1.2.3:5060"), "10.0.0.0:5060");
        assert_eq!(r.text("[2001:db8::1]:5060"), "[fd00:0::001]:5060");
    }

    #[test]
    fn cidr_contains() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
    }
}
