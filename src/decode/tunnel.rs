//! Tunnel headers looked through: GRE (RFC 2784 / RFC 2890) incl. ERSPAN type I/II/III,
//! GTP-U (3GPP TS 29.281 §5) and VXLAN (RFC 7348 §5). IP-in-IP needs no header of its own and
//! is handled by the IP walk.

use super::link::Next;
use super::{be16, Stop};

/// GTP-U's registered UDP port (3GPP TS 29.281 §4.4.2.3).
pub(super) const GTP_U_PORT: u16 = 2152;
/// VXLAN's IANA UDP port (RFC 7348 §5).
pub(super) const VXLAN_PORT: u16 = 4789;
/// Transparent Ethernet bridging (GRE carrying Ethernet frames).
const ETHERTYPE_TEB: u16 = 0x6558;
/// ERSPAN type I and II (GRE protocol type).
const ETHERTYPE_ERSPAN_2: u16 = 0x88BE;
/// ERSPAN type III.
const ETHERTYPE_ERSPAN_3: u16 = 0x22EB;
/// GTP message type of a T-PDU (user IP packet), TS 29.281 §6.1.
const GTP_T_PDU: u8 = 255;
/// Most GTP extension headers followed.
const MAX_GTP_EXTENSIONS: usize = 16;

/// Looks through a GRE header (version 0 only; version 1 is PPTP's enhanced GRE, which carries
/// PPP and is skipped).
pub(super) fn gre(bytes: &[u8], cut: bool) -> Result<Next<'_>, Stop> {
    let flags = be16(bytes, 0).ok_or_else(|| Stop::short(cut, "GRE header"))?;
    let protocol = be16(bytes, 2).ok_or_else(|| Stop::short(cut, "GRE header"))?;
    if flags & 0x0007 != 0 || flags & 0x4000 != 0 {
        // Version ≠ 0, or RFC 1701 source routing (obsolete): not decoded.
        return Err(Stop::Skip);
    }
    let has_checksum = flags & 0x8000 != 0;
    let has_key = flags & 0x2000 != 0;
    let has_sequence = flags & 0x1000 != 0;
    let len = 4 + 4 * (usize::from(has_checksum) + usize::from(has_key) + usize::from(has_sequence));
    let rest = bytes.get(len..).ok_or_else(|| Stop::short(cut, "GRE header"))?;
    match protocol {
        ETHERTYPE_TEB => Ok(Next::Ethernet(rest)),
        // ERSPAN type I has no header and no sequence number; type II has the sequence number
        // and an 8-byte header (version 1), then the mirrored Ethernet frame.
        ETHERTYPE_ERSPAN_2 if !has_sequence => Ok(Next::Ethernet(rest)),
        ETHERTYPE_ERSPAN_2 => {
            let header = rest.get(..8).ok_or_else(|| Stop::short(cut, "ERSPAN II header"))?;
            if header.first().copied().unwrap_or(0) >> 4 != 1 {
                return Err(Stop::Malformed("ERSPAN type II header with version other than 1"));
            }
            Ok(Next::Ethernet(rest.get(8..).unwrap_or_default()))
        }
        // ERSPAN type III: 12-byte header (version 2), plus an 8-byte platform-specific
        // subheader when the O bit (lowest bit of byte 11) is set; frame type (bits 2..7 of
        // byte 10) 0 is Ethernet.
        ETHERTYPE_ERSPAN_3 => {
            let header = rest.get(..12).ok_or_else(|| Stop::short(cut, "ERSPAN III header"))?;
            if header.first().copied().unwrap_or(0) >> 4 != 2 {
                return Err(Stop::Malformed("ERSPAN type III header with version other than 2"));
            }
            let frame_type = (header.get(10).copied().unwrap_or(0) >> 2) & 0x1F;
            let optional = header.get(11).copied().unwrap_or(0) & 1 != 0;
            if frame_type != 0 {
                return Err(Stop::Skip);
            }
            let len = if optional { 20 } else { 12 };
            let frame = rest.get(len..).ok_or_else(|| Stop::short(cut, "ERSPAN III header"))?;
            Ok(Next::Ethernet(frame))
        }
        other => Ok(Next::EtherType(other, rest)),
    }
}

/// Result of looking at a UDP payload on the GTP-U port.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Gtp<'a> {
    /// Not GTPv1 (version or protocol type differ): treat as ordinary UDP.
    Unrecognised,
    /// A GTP-U message that carries no user packet (echo, error indication, end marker…).
    Signalling,
    /// A T-PDU: the user IP packet.
    Packet(&'a [u8]),
}

/// Looks through a GTPv1-U header (TS 29.281 §5.1): 8 mandatory bytes; 4 more when any of the
/// E, S, PN flags is set; then, when E is set, a chain of extension headers each `4·n` bytes
/// long whose last byte names the next type (0 = none).
pub(super) fn gtp_u(bytes: &[u8], cut: bool) -> Result<Gtp<'_>, Stop> {
    let Some(&flags) = bytes.first() else {
        return Ok(Gtp::Unrecognised);
    };
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return Ok(Gtp::Unrecognised);
    }
    let message_type = bytes.get(1).copied().ok_or_else(|| Stop::short(cut, "GTP-U header"))?;
    let length = usize::from(be16(bytes, 2).ok_or_else(|| Stop::short(cut, "GTP-U header"))?);
    if bytes.len() < 8 {
        return Err(Stop::short(cut, "GTP-U header"));
    }
    let end = 8 + length;
    if end > bytes.len() && !cut {
        return Err(Stop::Malformed("GTP-U length exceeds the UDP payload"));
    }
    let body = bytes.get(8..end.min(bytes.len())).unwrap_or_default();
    let mut pos = 0usize;
    if flags & 0x07 != 0 {
        // sequence number (2), N-PDU number (1), next extension header type (1)
        let mut next = body.get(3).copied().ok_or_else(|| Stop::short(cut, "GTP-U optional fields"))?;
        pos = 4;
        if flags & 0x04 != 0 {
            let mut followed = 0;
            while next != 0 {
                followed += 1;
                if followed > MAX_GTP_EXTENSIONS {
                    return Err(Stop::Malformed("more than 16 GTP-U extension headers"));
                }
                let units = body.get(pos).copied().ok_or_else(|| Stop::short(cut, "GTP-U extension header"))?;
                if units == 0 {
                    return Err(Stop::Malformed("GTP-U extension header of length 0"));
                }
                let len = usize::from(units) * 4;
                next = body.get(pos + len - 1).copied().ok_or_else(|| Stop::short(cut, "GTP-U extension header"))?;
                pos += len;
            }
        }
    }
    if message_type != GTP_T_PDU {
        return Ok(Gtp::Signalling);
    }
    Ok(Gtp::Packet(body.get(pos..).unwrap_or_default()))
}

/// Looks through a VXLAN header: 8 bytes, flags with the I bit (0x08) set (RFC 7348 §5).
/// `None` when the I bit is clear (not VXLAN: treat as ordinary UDP).
pub(super) fn vxlan(bytes: &[u8]) -> Option<&[u8]> {
    let flags = *bytes.first()?;
    if flags & 0x08 == 0 {
        return None;
    }
    bytes.get(8..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtp_follows_the_extension_chain() {
        // flags: version 1, PT, E; T-PDU; length; TEID; seq, N-PDU, next type 0x85 (PDU
        // session container); extension of 1 unit ending with next type 0; payload.
        let mut msg = vec![0x34, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0x10, 0x09, 0, 0x45];
        msg[3] = u8::try_from(msg.len() - 8).unwrap();
        assert_eq!(gtp_u(&msg, false), Ok(Gtp::Packet(&[0x45][..])));
        msg[1] = 1; // echo request
        assert_eq!(gtp_u(&msg, false), Ok(Gtp::Signalling));
        msg[1] = 0xFF;
        msg[12] = 0; // extension length 0
        assert!(matches!(gtp_u(&msg, false), Err(Stop::Malformed(_))));
        assert_eq!(gtp_u(&[0x48, 0xFF], false), Ok(Gtp::Unrecognised)); // GTPv2-C
    }

    #[test]
    fn gre_skips_optional_fields() {
        // C and K set: checksum+reserved (4) and key (4).
        let packet = [0xA0, 0x00, 0x08, 0x00, 0, 0, 0, 0, 1, 2, 3, 4, 0x45];
        assert_eq!(gre(&packet, false), Ok(Next::EtherType(0x0800, &[0x45][..])));
        assert_eq!(gre(&packet[..11], false), Err(Stop::Short("GRE header")));
        let pptp = [0x30, 0x01, 0x88, 0x0B];
        assert_eq!(gre(&pptp, false), Err(Stop::Skip));
    }
}
