//! Minimal in-place packet surgery for bundles: find the IP header behind a link layer, spot
//! IPv4 fragments, and rewrite addresses and payloads with checksums fixed (for `--redact`).
//!
//! Only what can be rewritten safely is handled: one IPv4 or IPv6 header directly behind the
//! link layer (Ethernet with any number of 802.1Q/802.1ad tags, Linux SLL/SLL2, NULL/LOOP, raw
//! IP), UDP, TCP and ICMP/ICMPv6 errors quoting UDP/TCP. Everything else (fragments, IPv6
//! extension headers, tunnels such as GRE, IP-in-IP, VXLAN, GTP-U, MPLS, PPPoE) is refused with
//! a message naming the frame, because a half-rewritten packet would leak the original address.
//! Payload rewriting must keep lengths (see `redact.rs`), so IP/UDP/TCP lengths never change;
//! only checksums are recomputed (RFC 791 §3.1, RFC 768, RFC 793 §3.1, RFC 8200 §8.1).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::capture::LinkType;
use crate::decode::{be16, be32};

/// Offset of the IP header and its version (4 or 6), when the link layer is one we can walk.
pub fn ip_offset(link: LinkType, data: &[u8]) -> Option<(usize, u8)> {
    let (mut off, mut ethertype) = match link {
        LinkType::ETHERNET => (14usize, be16(data, 12)?),
        LinkType::LINUX_SLL => (16, be16(data, 14)?),
        LinkType::LINUX_SLL2 => (20, be16(data, 0)?),
        LinkType::NULL | LinkType::LOOP => {
            let family = be32(data, 0)?;
            // Either byte order: AF_INET = 2; AF_INET6 = 10, 24, 28 or 30 depending on the OS.
            let v = if family == 2 || family.swap_bytes() == 2 { 0x0800 } else { 0x86DD };
            (4, v)
        }
        LinkType::RAW | LinkType(12) | LinkType::IPV4 | LinkType::IPV6 => {
            let version = data.first()? >> 4;
            return Some((0, version));
        }
        _ => return None,
    };
    // VLAN tags (802.1Q 0x8100, 802.1ad 0x88A8, legacy QinQ 0x9100/0x9200), bounded.
    for _ in 0..crate::decode::MAX_VLAN_TAGS {
        if matches!(ethertype, 0x8100 | 0x88A8 | 0x9100 | 0x9200) && link == LinkType::ETHERNET {
            ethertype = be16(data, off.checked_add(2)?)?;
            off = off.checked_add(4)?;
        } else {
            break;
        }
    }
    match ethertype {
        0x0800 => Some((off, 4)),
        0x86DD => Some((off, 6)),
        _ => None,
    }
}

/// (src, dst, identification, protocol, is_last) when the frame is an IPv4 fragment.
pub fn ipv4_fragment_key(link: LinkType, data: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u16, u8, bool)> {
    let (off, version) = ip_offset(link, data)?;
    if version != 4 {
        return None;
    }
    let ip = data.get(off..)?;
    let flags_offset = be16(ip, 6)?;
    let more = flags_offset & 0x2000 != 0;
    let frag_offset = flags_offset & 0x1FFF;
    if !more && frag_offset == 0 {
        return None;
    }
    let src = Ipv4Addr::from(be32(ip, 12)?);
    let dst = Ipv4Addr::from(be32(ip, 16)?);
    Some((src, dst, be16(ip, 4)?, *ip.get(9)?, !more))
}

/// Ones' complement sum of 16-bit words (RFC 1071), not yet folded or inverted.
fn sum16(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xFFFF {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    !(acc as u16)
}

/// What the rewrite needs from the redactor.
pub trait Rewriter {
    /// The pseudonym of an address (or the address itself when it is kept).
    fn map_ip(&mut self, ip: IpAddr) -> Result<IpAddr, String>;
    /// Rewrites an application payload in place without changing its length.
    fn payload(&mut self, bytes: &mut [u8]) -> Result<(), String>;
    /// The pseudonym of a MAC address (hardware addresses identify devices too).
    fn map_mac(&mut self, mac: [u8; 6]) -> [u8; 6];
}

fn rewrite_mac_at(data: &mut [u8], at: usize, r: &mut dyn Rewriter) {
    if let Some(slot) = data.get_mut(at..at + 6) {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(slot);
        slot.copy_from_slice(&r.map_mac(mac));
    }
}

/// Rewrites one frame in place: addresses, payloads, checksums. `Err` names why it is unsafe.
pub fn rewrite_frame(link: LinkType, data: &mut [u8], r: &mut dyn Rewriter) -> Result<(), String> {
    let (off, _) = ip_offset(link, data).ok_or("link layer or EtherType not rewritable (MPLS, PPPoE, unknown)")?;
    // Link-layer addresses: Ethernet destination and source; SLL/SLL2 sender address.
    match link {
        LinkType::ETHERNET => {
            rewrite_mac_at(data, 0, r);
            rewrite_mac_at(data, 6, r);
        }
        LinkType::LINUX_SLL => rewrite_mac_at(data, 6, r),
        LinkType::LINUX_SLL2 => rewrite_mac_at(data, 12, r),
        _ => {}
    }
    let ip = data.get_mut(off..).ok_or("frame ends before the IP header")?;
    rewrite_ip(ip, false, r)
}

fn put(bytes: &mut [u8], at: usize, src: &[u8]) -> Result<(), String> {
    let end = at.checked_add(src.len()).ok_or("length overflow")?;
    bytes.get_mut(at..end).ok_or_else(|| "header cut short".to_owned())?.copy_from_slice(src);
    Ok(())
}

fn rewrite_ip(ip: &mut [u8], quoted: bool, r: &mut dyn Rewriter) -> Result<(), String> {
    match ip.first().map(|b| b >> 4) {
        Some(4) => rewrite_ipv4(ip, quoted, r),
        Some(6) => rewrite_ipv6(ip, quoted, r),
        _ => Err("not an IP header".to_owned()),
    }
}

fn map_v4(r: &mut dyn Rewriter, raw: u32) -> Result<[u8; 4], String> {
    match r.map_ip(IpAddr::V4(Ipv4Addr::from(raw)))? {
        IpAddr::V4(a) => Ok(a.octets()),
        IpAddr::V6(_) => Err("IPv4 address mapped to IPv6".to_owned()),
    }
}

fn map_v6(r: &mut dyn Rewriter, raw: [u8; 16]) -> Result<[u8; 16], String> {
    match r.map_ip(IpAddr::V6(Ipv6Addr::from(raw)))? {
        IpAddr::V6(a) => Ok(a.octets()),
        IpAddr::V4(_) => Err("IPv6 address mapped to IPv4".to_owned()),
    }
}

fn rewrite_ipv4(ip: &mut [u8], quoted: bool, r: &mut dyn Rewriter) -> Result<(), String> {
    let ihl = usize::from(ip.first().ok_or("empty")? & 0x0F) * 4;
    if ihl < 20 || ip.len() < ihl {
        return Err("IPv4 header cut short".to_owned());
    }
    let total = usize::from(be16(ip, 2).ok_or("IPv4 header cut short")?);
    let flags = be16(ip, 6).ok_or("IPv4 header cut short")?;
    if flags & 0x3FFF != 0 && !(quoted && flags & 0x1FFF == 0) {
        return Err("IPv4 fragment: the parts cannot be rewritten consistently".to_owned());
    }
    let proto = *ip.get(9).ok_or("IPv4 header cut short")?;
    let src = map_v4(r, be32(ip, 12).ok_or("cut")?)?;
    let dst = map_v4(r, be32(ip, 16).ok_or("cut")?)?;
    put(ip, 12, &src)?;
    put(ip, 16, &dst)?;
    put(ip, 10, &[0, 0])?;
    let header_sum = fold(sum16(0, ip.get(..ihl).ok_or("cut")?));
    put(ip, 10, &header_sum.to_be_bytes())?;
    // Link padding after the datagram and snap-length cuts: work on what is there.
    let end = total.min(ip.len());
    let l4_len = total.checked_sub(ihl).ok_or("IPv4 total length below header length")?;
    let mut pseudo = sum16(0, &src);
    pseudo = sum16(pseudo, &dst);
    pseudo = pseudo.wrapping_add(u32::from(proto));
    pseudo = pseudo.wrapping_add(u32::try_from(l4_len).unwrap_or(0));
    let l4 = ip.get_mut(ihl..end).ok_or("cut")?;
    let whole = l4.len() == l4_len;
    rewrite_l4(l4, proto, pseudo, whole, quoted, true, r)
}

fn rewrite_ipv6(ip: &mut [u8], quoted: bool, r: &mut dyn Rewriter) -> Result<(), String> {
    if ip.len() < 40 {
        return Err("IPv6 header cut short".to_owned());
    }
    let payload_len = usize::from(be16(ip, 4).ok_or("cut")?);
    let next = *ip.get(6).ok_or("cut")?;
    let mut raw = [0u8; 16];
    raw.copy_from_slice(ip.get(8..24).ok_or("cut")?);
    let src = map_v6(r, raw)?;
    raw.copy_from_slice(ip.get(24..40).ok_or("cut")?);
    let dst = map_v6(r, raw)?;
    put(ip, 8, &src)?;
    put(ip, 24, &dst)?;
    if !matches!(next, 6 | 17 | 58) {
        return Err(format!("IPv6 next header {next} (extension header or tunnel) is not rewritten"));
    }
    let mut pseudo = sum16(0, &src);
    pseudo = sum16(pseudo, &dst);
    pseudo = pseudo.wrapping_add(u32::try_from(payload_len).unwrap_or(0));
    pseudo = pseudo.wrapping_add(u32::from(next));
    let end = 40usize.saturating_add(payload_len).min(ip.len());
    let l4 = ip.get_mut(40..end).ok_or("cut")?;
    let whole = l4.len() == payload_len;
    rewrite_l4(l4, next, pseudo, whole, quoted, false, r)
}

fn set_checksum(l4: &mut [u8], at: usize, pseudo: u32) -> Result<(), String> {
    put(l4, at, &[0, 0])?;
    let sum = fold(sum16(pseudo, l4));
    put(l4, at, &sum.to_be_bytes())
}

fn rewrite_l4(
    l4: &mut [u8],
    proto: u8,
    pseudo: u32,
    whole: bool,
    quoted: bool,
    v4: bool,
    r: &mut dyn Rewriter,
) -> Result<(), String> {
    match proto {
        17 => {
            let (sport, dport) = (be16(l4, 0).unwrap_or(0), be16(l4, 2).unwrap_or(0));
            if [sport, dport].iter().any(|p| matches!(p, 4789 | 2152 | 2123)) {
                return Err("UDP tunnel (VXLAN or GTP): inner addresses are not rewritten".to_owned());
            }
            if let Some(payload) = l4.get_mut(8..) {
                r.payload(payload)?;
            }
            if whole && !quoted {
                let udp_sum = {
                    put(l4, 6, &[0, 0])?;
                    fold(sum16(pseudo, l4))
                };
                // RFC 768: a computed 0 is sent as 0xFFFF (0 means "no checksum").
                let udp_sum = if udp_sum == 0 { 0xFFFF } else { udp_sum };
                put(l4, 6, &udp_sum.to_be_bytes())
            } else if v4 {
                // Cut by the snap length or quoted in an ICMP error: IPv4 allows "no checksum".
                put(l4, 6, &[0, 0]).or(Ok(()))
            } else {
                Ok(()) // IPv6 UDP checksum cannot be fixed without the whole datagram; left stale
            }
        }
        6 => {
            let data_off = usize::from(l4.get(12).ok_or("TCP header cut short")? >> 4) * 4;
            if let Some(payload) = l4.get_mut(data_off..) {
                r.payload(payload)?;
            }
            if whole && !quoted {
                set_checksum(l4, 16, pseudo)
            } else {
                Ok(()) // stale checksum on a cut segment; tshark does not verify by default
            }
        }
        1 | 58 => {
            let icmp_type = *l4.first().ok_or("ICMP header cut short")?;
            let error = if proto == 1 { matches!(icmp_type, 3 | 4 | 5 | 11 | 12) } else { icmp_type < 128 };
            if error {
                if let Some(inner) = l4.get_mut(8..) {
                    rewrite_ip(inner, true, r)?;
                }
            } else if let Some(rest) = l4.get_mut(8..) {
                r.payload(rest)?;
            }
            if whole && !quoted {
                // ICMPv4's checksum has no pseudo-header; ICMPv6's does (RFC 4443 §2.3).
                set_checksum(l4, 2, if proto == 1 { 0 } else { pseudo })
            } else {
                Ok(())
            }
        }
        other => Err(format!("IP protocol {other} (tunnel or unsupported) is not rewritten")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 §3 example words 0001 f203 f4f5 f6f7 sum to 0xddf2 (folded), checksum 0x220d.
        assert_eq!(fold(sum16(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])), 0x220d);
    }

    #[test]
    fn finds_ip_behind_vlan_tags() {
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x81, 0x00, 0, 100, 0x81, 0x00, 0, 200, 0x08, 0x00, 0x45]);
        assert_eq!(ip_offset(LinkType::ETHERNET, &frame), Some((22, 4)));
        assert_eq!(ip_offset(LinkType::RAW, &[0x60]), Some((0, 6)));
        assert_eq!(ip_offset(LinkType(147), &[0x45]), None);
    }
}
