//! Link layers: where the network layer starts in a captured frame, by pcap link type.
//!
//! Ethernet II (its VLAN tags are followed by the decoder's EtherType walk), Linux cooked
//! capture v1 (SLL, 16-byte header) and v2 (SLL2, 20-byte header), BSD NULL / OpenBSD LOOP
//! (4-byte address family) and raw IP. Parsed by hand: etherparse 0.21 has no SLL2 or NULL
//! parser and rejects SLL with ARPHRD 772 (loopback), which real captures contain.

use super::{be16, Stop};
use crate::capture::LinkType;

/// Where a frame's payload goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next<'a> {
    /// An Ethernet II header starts here.
    Ethernet(&'a [u8]),
    /// The bytes after an EtherType field (IPv4, IPv6, a VLAN tag, or something skipped).
    EtherType(u16, &'a [u8]),
    /// An IP header starts here; the version nibble says which.
    Ip(&'a [u8]),
    /// An IPv4 header starts here.
    Ipv4(&'a [u8]),
    /// An IPv6 header starts here.
    Ipv6(&'a [u8]),
}

/// EtherType of IPv4.
pub(super) const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub(super) const ETHERTYPE_IPV6: u16 = 0x86DD;

/// ARPHRD_NETLINK: SLL frames carrying netlink messages, never IP.
const ARPHRD_NETLINK: u16 = 824;

/// BSD address family values for IPv4 and IPv6 (IPv6 differs per OS: 24 NetBSD/OpenBSD,
/// 28 FreeBSD, 30 macOS), as libpcap's LINKTYPE_NULL documentation lists them.
fn address_family(af: u32, rest: &[u8]) -> Result<Next<'_>, Stop> {
    match af {
        2 => Ok(Next::Ipv4(rest)),
        24 | 28 | 30 => Ok(Next::Ipv6(rest)),
        _ => Err(Stop::Skip),
    }
}

/// Finds the first layer after the link header. `Err(Stop::Unsupported)` for link types not
/// decoded at all.
pub(super) fn start(link: LinkType, data: &[u8], cut: bool) -> Result<Next<'_>, Stop> {
    match link.0 {
        1 => Ok(Next::Ethernet(data)),
        // LINKTYPE_LINUX_SLL: packet type(2) ARPHRD(2) address length(2) address(8) protocol(2).
        113 => {
            let rest = data.get(16..).ok_or_else(|| Stop::short(cut, "SLL header"))?;
            let arphrd = be16(data, 2).unwrap_or(0);
            if arphrd == ARPHRD_NETLINK {
                return Err(Stop::Skip);
            }
            let protocol = be16(data, 14).unwrap_or(0);
            Ok(Next::EtherType(protocol, rest))
        }
        // LINKTYPE_LINUX_SLL2: protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1)
        // address length(1) address(8).
        276 => {
            let rest = data.get(20..).ok_or_else(|| Stop::short(cut, "SLL2 header"))?;
            if be16(data, 8) == Some(ARPHRD_NETLINK) {
                return Err(Stop::Skip);
            }
            let protocol = be16(data, 0).unwrap_or(0);
            Ok(Next::EtherType(protocol, rest))
        }
        // LINKTYPE_NULL: the family is in the capturing host's byte order. Families are small
        // numbers, so a value with high bits set was written by a host of the other order
        // (the same test Wireshark's null dissector makes).
        0 => {
            let head: [u8; 4] =
                data.get(..4).and_then(|h| h.try_into().ok()).ok_or_else(|| Stop::short(cut, "NULL header"))?;
            let mut af = u32::from_le_bytes(head);
            if af & 0xFFFF_0000 != 0 {
                af = af.swap_bytes();
            }
            address_family(af, data.get(4..).unwrap_or_default())
        }
        // LINKTYPE_LOOP: like NULL but always network byte order.
        108 => {
            let head: [u8; 4] =
                data.get(..4).and_then(|h| h.try_into().ok()).ok_or_else(|| Stop::short(cut, "LOOP header"))?;
            address_family(u32::from_be_bytes(head), data.get(4..).unwrap_or_default())
        }
        // LINKTYPE_RAW (101), and DLT_RAW's values 12 / 14 on some BSDs.
        12 | 14 | 101 => Ok(Next::Ip(data)),
        228 => Ok(Next::Ipv4(data)),
        229 => Ok(Next::Ipv6(data)),
        _ => Err(Stop::Unsupported),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_reads_family_in_either_byte_order() {
        let le = [2u8, 0, 0, 0, 0x45];
        let be = [0u8, 0, 0, 2, 0x45];
        assert_eq!(start(LinkType::NULL, &le, false), Ok(Next::Ipv4(&[0x45][..])));
        assert_eq!(start(LinkType::NULL, &be, false), Ok(Next::Ipv4(&[0x45][..])));
        let v6_le = [30u8, 0, 0, 0];
        let v6_be = [0u8, 0, 0, 28];
        assert_eq!(start(LinkType::NULL, &v6_le, false), Ok(Next::Ipv6(&[][..])));
        assert_eq!(start(LinkType::NULL, &v6_be, false), Ok(Next::Ipv6(&[][..])));
        assert_eq!(start(LinkType::LOOP, &[0, 0, 0, 24], false), Ok(Next::Ipv6(&[][..])));
        assert_eq!(start(LinkType::NULL, &[7, 0, 0, 0], false), Err(Stop::Skip));
    }

    #[test]
    fn sll_and_sll2_take_the_protocol_field() {
        let mut sll = [0u8; 17];
        sll[2..4].copy_from_slice(&772u16.to_be_bytes());
        sll[14..16].copy_from_slice(&0x86DDu16.to_be_bytes());
        sll[16] = 0x60;
        assert_eq!(start(LinkType::LINUX_SLL, &sll, false), Ok(Next::EtherType(0x86DD, &[0x60][..])));
        let mut sll2 = [0u8; 21];
        sll2[0..2].copy_from_slice(&0x0800u16.to_be_bytes());
        sll2[20] = 0x45;
        assert_eq!(start(LinkType::LINUX_SLL2, &sll2, false), Ok(Next::EtherType(0x0800, &[0x45][..])));
        assert_eq!(start(LinkType::LINUX_SLL2, &sll2[..19], false), Err(Stop::Short("SLL2 header")));
        assert_eq!(start(LinkType(147), &sll2, false), Err(Stop::Unsupported));
    }
}
