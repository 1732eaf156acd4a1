//! RTP fixed-header parsing (RFC 3550 §5.1, §5.3.1). Borrowing only, no allocation.

use super::RtpHeader;

/// Fixed header length (RFC 3550 §5.1).
const FIXED_HEADER_LEN: usize = 12;

/// Parses the fixed header of an RTP packet; `None` when it is not valid RTP (version ≠ 2,
/// too short for its CSRC count / extension, padding longer than the packet).
pub fn parse_header(payload: &[u8]) -> Option<RtpHeader> {
    let mut header = parse_fixed_header(payload)?;
    let b0 = *payload.first()?;
    let padding = b0 & 0x20 != 0;
    let extension = b0 & 0x10 != 0;
    let csrc_count = usize::from(b0 & 0x0F);
    let mut header_len = FIXED_HEADER_LEN + 4 * csrc_count;
    if extension {
        // RFC 3550 §5.3.1: 16-bit profile id, 16-bit length in 32-bit words, then the words.
        let words = payload.get(header_len + 2..header_len + 4)?;
        let words = usize::from(u16::from_be_bytes([*words.first()?, *words.get(1)?]));
        header_len = header_len.checked_add(4 + 4 * words)?;
    }
    let after_header = payload.len().checked_sub(header_len)?;
    let padding_len = if padding {
        // The last octet counts the padding including itself, so 0 is malformed.
        let count = usize::from(*payload.last()?);
        if count == 0 || count > after_header {
            return None;
        }
        count
    } else {
        0
    };
    header.payload_len = u16::try_from(after_header - padding_len).unwrap_or(u16::MAX);
    Some(header)
}

/// Reads only the 12-byte fixed header (version 2 required), ignoring CSRC, extension and
/// padding consistency. Used for flows an SDP announced as RTP: tshark decodes every packet on
/// such a port as RTP and counts it (a mangled packet in `ndpi-fuzz-2006-06-26-2594.pcap`,
/// frame 630, claims 170 bytes of padding in a 170-byte datagram and is still a stream there).
/// `payload_len` is everything after the fixed header.
pub fn parse_fixed_header(payload: &[u8]) -> Option<RtpHeader> {
    let fixed = payload.get(..FIXED_HEADER_LEN)?;
    let [b0, b1, s0, s1, t0, t1, t2, t3, i0, i1, i2, i3] = <[u8; 12]>::try_from(fixed).ok()?;
    if b0 >> 6 != 2 {
        return None;
    }
    Some(RtpHeader {
        marker: b1 & 0x80 != 0,
        pt: b1 & 0x7F,
        seq: u16::from_be_bytes([s0, s1]),
        ts: u32::from_be_bytes([t0, t1, t2, t3]),
        ssrc: u32::from_be_bytes([i0, i1, i2, i3]),
        payload_len: u16::try_from(payload.len() - FIXED_HEADER_LEN).unwrap_or(u16::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(b0: u8, b1: u8, tail: &[u8]) -> Vec<u8> {
        let mut p = vec![b0, b1, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xDE, 0xAD, 0xBE, 0xEF];
        p.extend_from_slice(tail);
        p
    }

    #[test]
    fn fixed_header_fields() {
        let p = packet(0x80, 0x88, &[0u8; 160]);
        let h = parse_header(&p).unwrap();
        assert_eq!(h, RtpHeader { marker: true, pt: 8, seq: 0x1234, ts: 320, ssrc: 0xDEAD_BEEF, payload_len: 160 });
    }

    #[test]
    fn csrc_extension_padding() {
        // 2 CSRCs, extension of 1 word, 4 bytes of padding.
        let mut tail = vec![0u8; 8];
        tail.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]);
        tail.extend_from_slice(&[9u8; 20]);
        tail.extend_from_slice(&[0, 0, 0, 4]);
        let p = packet(0xB2, 0x00, &tail);
        assert_eq!(parse_header(&p).unwrap().payload_len, 20);
    }

    #[test]
    fn rejects_invalid() {
        assert_eq!(parse_header(&[0x80; 11]), None);
        assert_eq!(parse_header(&packet(0x40, 0, &[0; 10])), None); // version 1
        assert_eq!(parse_header(&packet(0x83, 0, &[0; 8])), None); // 3 CSRCs, 8 bytes
        assert_eq!(parse_header(&packet(0x90, 0, &[0, 0])), None); // truncated extension
        assert_eq!(parse_header(&packet(0x90, 0, &[0, 0, 0, 2, 0, 0])), None);
        assert_eq!(parse_header(&packet(0xA0, 0, &[0, 0, 9])), None); // padding too long
        assert_eq!(parse_header(&packet(0xA0, 0, &[1, 0])), None); // padding count 0
        assert_eq!(parse_header(&packet(0x80, 0, &[])).unwrap().payload_len, 0);
    }
}
