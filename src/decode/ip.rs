//! IPv4 and IPv6 headers, IPv6 extension headers and IPsec AH, parsed by hand.
//!
//! Every length is checked before use. A length that claims more bytes than the frame has is
//! accepted when the capture cut the frame (snap length): then the captured part is used and
//! flagged `payload_cut`. Otherwise it is a malformed packet, except an IPv4 total length that
//! exceeds the frame: like tshark, the captured part is used (`length_exceeds_frame`, warned).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{be16, be32, Stop};

/// IP protocol number of IPv6 hop-by-hop options (RFC 8200 §4.3).
const HOP_BY_HOP: u8 = 0;
/// IPv6 routing header (RFC 8200 §4.4).
const ROUTING: u8 = 43;
/// IPv6 fragment header (RFC 8200 §4.5).
const FRAGMENT: u8 = 44;
/// IPsec Authentication Header (RFC 4302 §2), in IPv4 and IPv6.
const AUTH_HEADER: u8 = 51;
/// IPv6 "no next header" (RFC 8200 §4.7).
const NO_NEXT_HEADER: u8 = 59;
/// IPv6 destination options (RFC 8200 §4.6).
const DEST_OPTIONS: u8 = 60;
/// Mobility header (RFC 6275 §6.1), same length encoding as options headers.
const MOBILITY: u8 = 135;
/// More extension headers than this in one packet: treated as malformed (hostile input).
const MAX_EXTENSION_HEADERS: usize = 16;

/// One fragment's place in its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Fragment {
    /// Identification (16 bits for IPv4, 32 for IPv6).
    pub id: u32,
    /// Offset of this fragment's data in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
}

impl Fragment {
    /// An "atomic fragment" (offset 0, no more fragments, RFC 6946) is a whole datagram.
    pub fn is_whole(self) -> bool {
        self.offset == 0 && !self.more
    }
}

/// A parsed IP header and what follows it.
#[derive(Clone, Copy, Debug)]
pub(super) struct IpHeader<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// DSCP (TOS / traffic class >> 2).
    pub dscp: u8,
    /// Protocol of `payload` (for a fragment: of the reassembled datagram's first header).
    pub proto: u8,
    /// What follows the headers walked so far, up to the length the header gives.
    pub payload: &'a [u8],
    /// `payload` is shorter than the header says (the capture cut the frame, or see
    /// `length_exceeds_frame`).
    pub payload_cut: bool,
    /// IPv4 only: the total length claims more bytes than the frame has although the capture
    /// did not cut it (a lying length field). The captured bytes are used, as tshark does; the
    /// decoder warns.
    pub length_exceeds_frame: bool,
    /// Set when this is a fragment.
    pub fragment: Option<Fragment>,
}

/// Parses an IPv4 header (RFC 791 §3.1). `cut`: the frame was cut by the snap length.
pub(super) fn parse_ipv4(bytes: &[u8], cut: bool) -> Result<IpHeader<'_>, Stop> {
    let first = *bytes.first().ok_or_else(|| Stop::short(cut, "IPv4 header"))?;
    if first >> 4 != 4 {
        return Err(Stop::Malformed("IP version is not 4"));
    }
    let header_len = usize::from(first & 0x0F) * 4;
    if header_len < 20 {
        return Err(Stop::Malformed("IPv4 header length below 20"));
    }
    let header = bytes.get(..header_len).ok_or_else(|| Stop::short(cut, "IPv4 header"))?;
    let total = usize::from(be16(header, 2).unwrap_or(0));
    // Total length 0 appears in captures of TCP segmentation offload on the sending host;
    // like Wireshark, take the captured length then.
    let end = if total == 0 { bytes.len() } else { total };
    if end < header_len {
        return Err(Stop::Malformed("IPv4 total length below header length"));
    }
    let payload_cut = end > bytes.len();
    // Matches tshark 4.0.17: "IPv4 total length exceeds packet length" is flagged and the
    // bytes present are still dissected (ndpi-fuzz-2006-06-26-2594.pcap frames 432, 454, 602
    // and 640 are SIP to it). The caller warns.
    let length_exceeds_frame = payload_cut && !cut;
    // Bytes past `end` are link padding (Ethernet minimum frame size) and are dropped.
    let payload = bytes.get(header_len..end.min(bytes.len())).unwrap_or_default();
    let flags_offset = be16(header, 6).unwrap_or(0);
    let fragment = Fragment {
        id: u32::from(be16(header, 4).unwrap_or(0)),
        offset: u32::from(flags_offset & 0x1FFF) * 8,
        more: flags_offset & 0x2000 != 0,
    };
    let addr = |at: usize| -> IpAddr {
        let mut octets = [0u8; 4];
        if let Some(b) = header.get(at..at + 4) {
            octets.copy_from_slice(b);
        }
        IpAddr::V4(Ipv4Addr::from(octets))
    };
    Ok(IpHeader {
        src: addr(12),
        dst: addr(16),
        dscp: header.get(1).copied().unwrap_or(0) >> 2,
        proto: header.get(9).copied().unwrap_or(0),
        payload,
        payload_cut,
        length_exceeds_frame,
        fragment: (!fragment.is_whole()).then_some(fragment),
    })
}

/// Parses an IPv6 header (RFC 8200 §3) and its extension headers up to the transport header
/// or the fragment header, whichever comes first.
pub(super) fn parse_ipv6(bytes: &[u8], cut: bool) -> Result<IpHeader<'_>, Stop> {
    let header = bytes.get(..40).ok_or_else(|| Stop::short(cut, "IPv6 header"))?;
    let first = header.first().copied().unwrap_or(0);
    if first >> 4 != 6 {
        return Err(Stop::Malformed("IP version is not 6"));
    }
    let traffic_class = ((first & 0x0F) << 4) | (header.get(1).copied().unwrap_or(0) >> 4);
    let payload_len = usize::from(be16(header, 4).unwrap_or(0));
    // Payload length 0: a jumbogram (RFC 2675) or segmentation offload; use what was captured.
    let end = if payload_len == 0 { bytes.len() } else { 40 + payload_len };
    let payload_cut = end > bytes.len();
    if payload_cut && !cut {
        return Err(Stop::Malformed("IPv6 payload length exceeds the packet"));
    }
    let payload = bytes.get(40..end.min(bytes.len())).unwrap_or_default();
    let addr = |at: usize| -> IpAddr {
        let mut octets = [0u8; 16];
        if let Some(b) = header.get(at..at + 16) {
            octets.copy_from_slice(b);
        }
        IpAddr::V6(Ipv6Addr::from(octets))
    };
    let next = header.get(6).copied().unwrap_or(0);
    let (proto, payload, fragment) = skip_extensions(next, payload, true, cut || payload_cut)?;
    Ok(IpHeader {
        src: addr(8),
        dst: addr(24),
        dscp: traffic_class >> 2,
        proto,
        payload,
        payload_cut,
        length_exceeds_frame: false,
        fragment: fragment.filter(|f| !f.is_whole()),
    })
}

/// Walks extension headers starting with protocol `proto` over `bytes`: IPv6 options,
/// routing, mobility and AH headers are skipped; a fragment header ends the walk (what follows
/// it can only be read after reassembly). For IPv4 (`ipv6 == false`) only AH is an extension.
/// Returns the protocol of the remaining bytes, the remaining bytes and the fragment header.
pub(super) fn skip_extensions(
    mut proto: u8,
    mut bytes: &[u8],
    ipv6: bool,
    cut: bool,
) -> Result<(u8, &[u8], Option<Fragment>), Stop> {
    for _ in 0..MAX_EXTENSION_HEADERS {
        let len = match proto {
            HOP_BY_HOP | ROUTING | DEST_OPTIONS | MOBILITY if ipv6 => {
                // Length in 8-octet units, not counting the first 8 (RFC 8200 §4.3).
                let units = bytes.get(1).ok_or_else(|| Stop::short(cut, "IPv6 extension header"))?;
                (usize::from(*units) + 1) * 8
            }
            // AH length is in 4-octet units minus 2 (RFC 4302 §2.2).
            AUTH_HEADER => {
                let units = bytes.get(1).ok_or_else(|| Stop::short(cut, "AH header"))?;
                (usize::from(*units) + 2) * 4
            }
            FRAGMENT if ipv6 => {
                let header = bytes.get(..8).ok_or_else(|| Stop::short(cut, "IPv6 fragment header"))?;
                let offset_flags = be16(header, 2).unwrap_or(0);
                let fragment = Fragment {
                    id: be32(header, 4).unwrap_or(0),
                    // 13-bit offset in 8-octet units in the high bits: masking keeps units*8.
                    offset: u32::from(offset_flags & 0xFFF8),
                    more: offset_flags & 1 != 0,
                };
                let next = header.first().copied().unwrap_or(0);
                return Ok((next, bytes.get(8..).unwrap_or_default(), Some(fragment)));
            }
            NO_NEXT_HEADER if ipv6 => return Err(Stop::Skip),
            _ => return Ok((proto, bytes, None)),
        };
        let next = *bytes.first().ok_or_else(|| Stop::short(cut, "extension header"))?;
        bytes = bytes.get(len..).ok_or_else(|| Stop::short(cut, "extension header"))?;
        proto = next;
    }
    Err(Stop::Malformed("more than 16 IPv6 extension headers"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_walks_options_up_to_the_fragment_header() {
        let mut packet = vec![0x60, 0x00, 0x00, 0x00, 0, 0, HOP_BY_HOP, 64];
        packet.extend_from_slice(&[0u8; 32]);
        // hop-by-hop (8 bytes) → destination options (16 bytes) → fragment → UDP
        packet.extend_from_slice(&[DEST_OPTIONS, 0, 1, 4, 0, 0, 0, 0]);
        packet.extend_from_slice(&[FRAGMENT, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        packet.extend_from_slice(&[17, 0, 0x01, 0x71, 0xDE, 0xAD, 0xBE, 0xEF]);
        packet.extend_from_slice(&[1, 2, 3, 4]);
        let len = u16::try_from(packet.len() - 40).unwrap();
        packet[4..6].copy_from_slice(&len.to_be_bytes());
        let ip = parse_ipv6(&packet, false).unwrap();
        assert_eq!(ip.proto, 17);
        assert_eq!(ip.payload, &[1, 2, 3, 4]);
        assert_eq!(ip.fragment, Some(Fragment { id: 0xDEAD_BEEF, offset: 0x170, more: true }));
        // Cutting the packet anywhere never panics; inside headers it is a short read.
        for n in 0..packet.len() {
            let _ = parse_ipv6(&packet[..n], true);
            assert!(parse_ipv6(&packet[..n], false).is_err());
        }
    }

    #[test]
    fn ipv4_drops_link_padding_and_tolerates_lying_lengths() {
        let mut packet = vec![0x45, 0xB8, 0, 24, 0, 1, 0, 0, 64, 17, 0, 0];
        packet.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 9, 9, 9, 9, 0, 0]);
        let ip = parse_ipv4(&packet, false).unwrap();
        assert_eq!(ip.dscp, 46);
        assert_eq!(ip.payload, &[9, 9, 9, 9]);
        assert_eq!(ip.fragment, None);
        packet[3] = 200;
        // Not cut by the snap length: the length lies; the bytes present are used (as tshark
        // does) and flagged for a warning.
        let lying = parse_ipv4(&packet, false).unwrap();
        assert!(lying.length_exceeds_frame && lying.payload_cut);
        assert_eq!(lying.payload.len(), 6);
        let cut = parse_ipv4(&packet, true).unwrap();
        assert!(cut.payload_cut && !cut.length_exceeds_frame);
        assert_eq!(cut.payload.len(), 6);
        packet[3] = 10; // below the header length: still malformed
        assert!(matches!(parse_ipv4(&packet, false), Err(Stop::Malformed(_))));
    }
}
