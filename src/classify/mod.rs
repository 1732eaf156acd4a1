//! Stage 3 — classify: what a UDP/TCP payload is, from cheap byte tests only.
//!
//! Input: a transport payload. Output: a [`PayloadKind`]. No state, no allocation: every test
//! looks at a handful of bytes at fixed offsets, so it is cheap enough for every packet.
//!
//! Demultiplexing follows RFC 7983 §7 by first byte (0–3 STUN, 16–19 ZRTP, 20–63 DTLS,
//! 64–79 TURN ChannelData, 128–191 RTP/RTCP) and RFC 5761 §4 for RTP vs RTCP (second byte
//! 192–223 is an RTCP packet type). SIP is tested first: its start line begins with an
//! upper-case letter (65–90), which overlaps the TURN channel range 64–79 (`A`…`O`), so the
//! stricter SIP test has to win there. Every branch checks the fixed bytes the protocol
//! guarantees (STUN magic cookie, ZRTP magic, DTLS version, TURN length), so random bytes or
//! RTP rarely match anything but `Rtp`/`Other`.
//!
//! SIP has two tests. Anywhere, [`classify`] wants a strict start line (upper-case method and a
//! `sip:`/`sips:`/`tel:` Request-URI, or `SIP/2.0 <3 digits> `), because media ports carry
//! arbitrary bytes and a loose test would turn RTP payload or garbage into "SIP". On the SIP
//! port 5060 (either side), [`classify_on_ports`] also accepts the loose form tshark 4.0.17
//! accepts there (its SIP dissector is registered on that port; `sip_parse_line` only wants
//! `token SP token SP SIP/2.0`): a damaged capture (flipped bits in `REGIStER pip:…`,
//! `INVITE six:…`) still shows its messages and calls, and a port that carries SIP by
//! convention makes the false-positive risk small.

/// What a payload looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// Starts like a SIP request or response line.
    Sip,
    /// Version 2, not RTCP: candidate RTP.
    Rtp,
    /// Version 2 with an RTCP packet type (SR/RR/SDES/BYE/APP/RTPFB/PSFB/XR).
    Rtcp,
    /// STUN (RFC 5389), incl. ICE checks.
    Stun,
    /// DTLS record (DTLS-SRTP key exchange).
    Dtls,
    /// ZRTP.
    Zrtp,
    /// TURN ChannelData.
    TurnChannel,
    /// Anything else.
    Other,
}

/// Smallest RTP packet: the fixed header (RFC 3550 §5.1).
const RTP_MIN_LEN: usize = 12;
/// Smallest RTCP packet: common header plus sender SSRC (RFC 3550 §6.4).
const RTCP_MIN_LEN: usize = 8;
/// STUN header length (RFC 5389 §6).
const STUN_HEADER_LEN: usize = 20;
/// STUN magic cookie (RFC 5389 §6).
const STUN_MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
/// ZRTP magic cookie "ZRTP" at offset 4 (RFC 6189 §5).
const ZRTP_MAGIC: [u8; 4] = *b"ZRTP";
/// ZRTP header (12) plus CRC (4), RFC 6189 §5.
const ZRTP_MIN_LEN: usize = 16;
/// DTLS record header length (RFC 6347 §4.1).
const DTLS_HEADER_LEN: usize = 13;
/// TURN ChannelData header length (RFC 8656 §12.4).
const TURN_CHANNEL_HEADER_LEN: usize = 4;
/// Shortest SIP start line we accept: `SIP/2.0 200 ` or `ACK sip:x`.
const SIP_MIN_LEN: usize = 9;
/// Longest SIP method token we look at (the standard ones are ≤ 9 characters; extensions are
/// rare and short). Bounds the scan so classification stays O(1).
const SIP_MAX_METHOD_LEN: usize = 16;

/// The registered SIP port (RFC 3261 §19.1.2).
pub const SIP_PORT: u16 = 5060;
/// Longest first line the loose SIP test reads on [`SIP_PORT`] (a real start line is far
/// shorter; the bound keeps classification O(1) on 64 KiB datagrams).
const SIP_LOOSE_MAX_LINE: usize = 2048;

/// Classifies a UDP payload seen between `src_port` and `dst_port`: on [`SIP_PORT`] (either
/// side) a loose SIP start line is enough (see the module docs); elsewhere as [`classify`].
pub fn classify_on_ports(payload: &[u8], src_port: u16, dst_port: u16) -> PayloadKind {
    if (src_port == SIP_PORT || dst_port == SIP_PORT) && is_loose_sip_start_line(payload) {
        return PayloadKind::Sip;
    }
    classify(payload)
}

/// Classifies a payload without regard to ports (strict SIP test).
pub fn classify(payload: &[u8]) -> PayloadKind {
    let Some(&first) = payload.first() else {
        return PayloadKind::Other;
    };
    match first {
        // SIP before the TURN range it overlaps (RFC 7983 does not cover SIP; SIP is only
        // multiplexed with media by broken endpoints, but a SIP port sees only SIP).
        b'A'..=b'Z' if is_sip_start_line(payload) => PayloadKind::Sip,
        0..=3 if is_stun(payload) => PayloadKind::Stun,
        16..=19 if is_zrtp(payload) => PayloadKind::Zrtp,
        20..=63 if is_dtls(payload) => PayloadKind::Dtls,
        64..=79 if is_turn_channel(payload) => PayloadKind::TurnChannel,
        // Version 2 (top bits 10): RFC 7983 range 128–191.
        128..=191 => classify_rtp_or_rtcp(payload),
        _ => PayloadKind::Other,
    }
}

/// RFC 5761 §4: an RTCP packet type (192–223) in the second byte means RTCP; RTP payload types
/// 64–95 (which would collide when the marker bit is set) are not used for that reason.
fn classify_rtp_or_rtcp(payload: &[u8]) -> PayloadKind {
    match payload.get(1) {
        Some(192..=223) if payload.len() >= RTCP_MIN_LEN => PayloadKind::Rtcp,
        Some(192..=223) => PayloadKind::Other,
        Some(_) if payload.len() >= RTP_MIN_LEN => PayloadKind::Rtp,
        _ => PayloadKind::Other,
    }
}

/// RFC 5389 §6: top two bits zero (first byte 0–3), magic cookie at 4..8, message length a
/// multiple of 4 that fits in the payload.
fn is_stun(payload: &[u8]) -> bool {
    if payload.len() < STUN_HEADER_LEN || payload.get(4..8) != Some(&STUN_MAGIC_COOKIE[..]) {
        return false;
    }
    let Some(&[hi, lo]) = payload.get(2..4) else {
        return false;
    };
    let body = usize::from(u16::from_be_bytes([hi, lo]));
    body % 4 == 0 && STUN_HEADER_LEN + body <= payload.len()
}

/// RFC 6189 §5: first nibble 0001 (first byte 16–19) and the magic "ZRTP" at offset 4.
fn is_zrtp(payload: &[u8]) -> bool {
    payload.len() >= ZRTP_MIN_LEN && payload.get(4..8) == Some(&ZRTP_MAGIC[..])
}

/// RFC 6347 §4.1: content type 20–23 (change_cipher_spec, alert, handshake, application_data)
/// and version DTLS 1.0 (0xFEFF) or 1.2 (0xFEFD).
fn is_dtls(payload: &[u8]) -> bool {
    matches!(payload.first(), Some(20..=23))
        && payload.len() >= DTLS_HEADER_LEN
        && matches!(payload.get(1..3), Some([0xFE, 0xFF]) | Some([0xFE, 0xFD]))
}

/// RFC 8656 §12.4: channel number 0x4000–0x4FFF (first byte 64–79), a length that fits, and at
/// most 3 bytes of padding after the data (padding to 4 bytes is optional over UDP).
fn is_turn_channel(payload: &[u8]) -> bool {
    let Some(&[hi, lo]) = payload.get(2..4) else {
        return false;
    };
    let data = usize::from(u16::from_be_bytes([hi, lo]));
    let Some(rest) = payload.len().checked_sub(TURN_CHANNEL_HEADER_LEN) else {
        return false;
    };
    rest >= data && rest - data < 4
}

/// RFC 3261 §7.1/§7.2: `SIP/2.0 <3 digits> ` for a response; `METHOD SP scheme:` for a request,
/// where METHOD is upper-case letters and the scheme is `sip:`, `sips:` or `tel:` (RFC 3966),
/// case-insensitive (RFC 3261 §19.1.1).
fn is_sip_start_line(payload: &[u8]) -> bool {
    if payload.len() < SIP_MIN_LEN {
        return false;
    }
    if let Some(rest) = payload.strip_prefix(b"SIP/2.0 ") {
        return matches!(rest.get(..4), Some([a, b, c, b' ']) if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit());
    }
    let method_len = payload.iter().take(SIP_MAX_METHOD_LEN + 1).take_while(|b| b.is_ascii_uppercase()).count();
    if method_len == 0 || method_len > SIP_MAX_METHOD_LEN {
        return false;
    }
    if payload.get(method_len) != Some(&b' ') {
        return false;
    }
    let Some(uri) = payload.get(method_len + 1..) else {
        return false;
    };
    starts_with_ignore_case(uri, b"sip:")
        || starts_with_ignore_case(uri, b"sips:")
        || starts_with_ignore_case(uri, b"tel:")
}

/// Matches tshark 4.0.17 `dissect_sip_common` + `sip_parse_line` (its SIP dissector on the SIP
/// port): the first byte is printable ASCII; the first line (up to the first CR or LF) has no
/// NUL byte and is either `SIP/2.0 SP 3DIGIT SP …` (status line) or `token1 SP token2 SP
/// SIP/2.0` where token1 is not empty and token2 (the Request-URI) is at least 3 bytes with a
/// colon after its first byte. Neither the method nor the URI scheme is checked (tshark
/// decodes `REGIStER pip:…` and `INVITE six:…`); `SIP/2.0` is case-sensitive (tshark's
/// default `strict_sip_version`).
fn is_loose_sip_start_line(payload: &[u8]) -> bool {
    if !payload.first().is_some_and(|b| (0x21..=0x7E).contains(b)) {
        return false;
    }
    let head = payload.get(..payload.len().min(SIP_LOOSE_MAX_LINE)).unwrap_or_default();
    let line_end = head.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(head.len());
    let Some(line) = head.get(..line_end) else {
        return false;
    };
    if line.contains(&0) {
        return false;
    }
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(first), Some(second), Some(third)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if first == b"SIP/2.0" {
        return second.len() == 3 && second.iter().all(u8::is_ascii_digit);
    }
    !first.is_empty()
        && second.len() >= 3
        && second.get(1..).is_some_and(|rest| rest.contains(&b':'))
        && third == b"SIP/2.0"
}

fn starts_with_ignore_case(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_requests_and_responses() {
        assert_eq!(classify(b"INVITE sip:bob@example.com SIP/2.0\r\n"), PayloadKind::Sip);
        assert_eq!(classify(b"ACK sips:a@b SIP/2.0\r\n"), PayloadKind::Sip);
        assert_eq!(classify(b"OPTIONS SIP:x SIP/2.0\r\n"), PayloadKind::Sip);
        assert_eq!(classify(b"INVITE tel:+1555 SIP/2.0\r\n"), PayloadKind::Sip);
        assert_eq!(classify(b"SIP/2.0 200 OK\r\n"), PayloadKind::Sip);
        assert_eq!(classify(b"SIP/2.0 180 Ringing\r\n"), PayloadKind::Sip);
    }

    #[test]
    fn not_sip() {
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), PayloadKind::Other);
        assert_eq!(classify(b"SIP/2.0 2x0 OK\r\n"), PayloadKind::Other);
        assert_eq!(classify(b"invite sip:a SIP/2.0"), PayloadKind::Other);
        assert_eq!(classify(b"INVITE  sip:a"), PayloadKind::Other);
        assert_eq!(classify(b"\r\n\r\n"), PayloadKind::Other);
        assert_eq!(classify(b"INVITE"), PayloadKind::Other);
        assert_eq!(classify(b""), PayloadKind::Other);
        // A method longer than the bound is not scanned further.
        assert_eq!(classify(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ sip:a"), PayloadKind::Other);
    }

    #[test]
    fn rtp_and_rtcp() {
        let mut rtp = [0u8; 172];
        rtp[0] = 0x80;
        rtp[1] = 0x00; // PCMU
        assert_eq!(classify(&rtp), PayloadKind::Rtp);
        rtp[1] = 0x80 | 8; // marker + PCMA
        assert_eq!(classify(&rtp), PayloadKind::Rtp);
        assert_eq!(classify(&rtp[..11]), PayloadKind::Other);
        let rr = [0x81, 201, 0, 7, 1, 2, 3, 4];
        assert_eq!(classify(&rr), PayloadKind::Rtcp);
        let sr = [0x80, 200, 0, 6, 1, 2, 3, 4];
        assert_eq!(classify(&sr), PayloadKind::Rtcp);
        assert_eq!(classify(&sr[..7]), PayloadKind::Other);
        // Version 1 or 3 is not RTP.
        rtp[0] = 0x40 | 0x3f;
        assert_ne!(classify(&rtp), PayloadKind::Rtp);
        rtp[0] = 0xC0;
        assert_eq!(classify(&rtp), PayloadKind::Other);
    }

    #[test]
    fn stun_needs_the_magic_cookie() {
        let mut stun = [0u8; 28];
        stun[0] = 0x00;
        stun[1] = 0x01; // Binding request
        stun[3] = 8; // 8 bytes of attributes
        stun[4..8].copy_from_slice(&STUN_MAGIC_COOKIE);
        assert_eq!(classify(&stun), PayloadKind::Stun);
        stun[4] = 0;
        assert_eq!(classify(&stun), PayloadKind::Other);
        stun[4] = 0x21;
        stun[3] = 12; // longer than the payload
        assert_eq!(classify(&stun), PayloadKind::Other);
    }

    #[test]
    fn zrtp_dtls_turn() {
        let mut zrtp = [0u8; 28];
        zrtp[0] = 0x10;
        zrtp[4..8].copy_from_slice(b"ZRTP");
        assert_eq!(classify(&zrtp), PayloadKind::Zrtp);
        zrtp[5] = b'X';
        assert_eq!(classify(&zrtp), PayloadKind::Other);

        let mut dtls = [0u8; 40];
        dtls[0] = 22;
        dtls[1] = 0xFE;
        dtls[2] = 0xFD;
        assert_eq!(classify(&dtls), PayloadKind::Dtls);
        dtls[2] = 0xFF;
        assert_eq!(classify(&dtls), PayloadKind::Dtls);
        dtls[2] = 0x03;
        assert_eq!(classify(&dtls), PayloadKind::Other);
        dtls[2] = 0xFD;
        dtls[0] = 30;
        assert_eq!(classify(&dtls), PayloadKind::Other);

        let mut turn = [0u8; 24];
        turn[0] = 0x40;
        turn[1] = 0x01;
        turn[3] = 20;
        assert_eq!(classify(&turn), PayloadKind::TurnChannel);
        turn[3] = 17; // 3 bytes of padding
        assert_eq!(classify(&turn), PayloadKind::TurnChannel);
        turn[3] = 16; // 4 bytes left over: not ChannelData
        assert_eq!(classify(&turn), PayloadKind::Other);
        turn[3] = 21;
        assert_eq!(classify(&turn), PayloadKind::Other);
    }

    #[test]
    fn loose_sip_start_line_only_on_port_5060() {
        // ndpi-fuzz-2006-06-26-2594.pcap frames 107 and 578 (tshark decodes both as SIP).
        let mixed_case = b"REGIStER pip:sip.cybercity.dk SIP/2.0\r\nCSeq: 1 REGISTER\r\n\r\n";
        let bad_scheme = b"INVITE six:0097239287044@sip.cybercity.dk SIP/2.0\r\n\r\n";
        for payload in [&mixed_case[..], &bad_scheme[..]] {
            assert_eq!(classify_on_ports(payload, 5060, 5060), PayloadKind::Sip);
            assert_eq!(classify_on_ports(payload, 40000, 5060), PayloadKind::Sip);
            assert_eq!(classify_on_ports(payload, 5060, 40000), PayloadKind::Sip);
            assert_eq!(classify_on_ports(payload, 40000, 40002), PayloadKind::Other);
            assert_eq!(classify(payload), PayloadKind::Other);
        }
        // Strict SIP is SIP on any port.
        assert_eq!(classify_on_ports(b"INVITE sip:a@b SIP/2.0\r\n", 6000, 6002), PayloadKind::Sip);
        assert_eq!(classify_on_ports(b"SIP/2.0 180 Ringing\r\n", 5060, 5060), PayloadKind::Sip);
    }

    #[test]
    fn loose_test_still_rejects_what_tshark_rejects_on_5060() {
        let on_5060 = |p: &[u8]| classify_on_ports(p, 5060, 5060);
        // A NUL in the first line (frame 154 of the fuzzed capture; tshark: "data"). The
        // strict test still accepts its prefix (`REGISTER sip:`): the scanner rejects it.
        assert_eq!(on_5060(b"REGIStER sip:sip.cyb%s\x00ity.dk SIP/2.0\r\n"), PayloadKind::Other);
        // Version not exactly `SIP/2.0`, no colon in the URI, URI shorter than 3, first byte
        // not printable, missing third token, status code not 3 digits.
        assert_eq!(on_5060(b"REGIStER sip:h SIP/2.1\r\n"), PayloadKind::Other);
        assert_eq!(on_5060(b"REGIStER siph SIP/2.0\r\n"), PayloadKind::Other);
        assert_eq!(on_5060(b"REGIStER :h SIP/2.0\r\n"), PayloadKind::Other);
        assert_eq!(on_5060(b"ReG s: SIP/2.0\r\n"), PayloadKind::Other);
        assert_eq!(on_5060(b"\x01EGIStER sip:h SIP/2.0\r\n"), PayloadKind::Other);
        assert_eq!(on_5060(b"REGIStER sip:h\r\nSIP/2.0\r\n"), PayloadKind::Other);
        assert_eq!(on_5060(b"SIP/2.0 20 OK\r\n"), PayloadKind::Other);
        // RTP on 5060 stays RTP.
        let mut rtp = [0u8; 172];
        rtp[0] = 0x80;
        assert_eq!(on_5060(&rtp), PayloadKind::Rtp);
    }
}
