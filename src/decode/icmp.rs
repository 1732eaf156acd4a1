//! ICMP errors that quote a UDP datagram: ICMPv4 destination unreachable (type 3, RFC 792) and
//! ICMPv6 destination unreachable (type 1, RFC 4443 §3.1). The quoted datagram is handed on with
//! its own (quoted) addresses, marked with the error, so that later stages can report e.g. RTP
//! sent to a closed port without counting it as received media.

use std::net::SocketAddr;

use super::ip::{parse_ipv4, parse_ipv6, skip_extensions};
use super::{be16, IcmpError};
use std::net::IpAddr;

/// ICMPv4 destination unreachable.
const ICMPV4_UNREACHABLE: u8 = 3;
/// ICMPv6 destination unreachable.
const ICMPV6_UNREACHABLE: u8 = 1;
/// UDP protocol number.
const UDP: u8 = 17;

/// A UDP datagram quoted inside an ICMP error.
#[derive(Clone, Copy, Debug)]
pub(super) struct Quoted<'a> {
    /// Source of the quoted datagram.
    pub src: SocketAddr,
    /// Destination of the quoted datagram.
    pub dst: SocketAddr,
    /// DSCP of the quoted IP header.
    pub dscp: u8,
    /// The error.
    pub error: IcmpError,
    /// The quoted UDP payload (usually cut short by the ICMP quoting limit).
    pub payload: &'a [u8],
}

/// Reads an ICMP (`ipv6 == false`) or ICMPv6 message sent by `reporter`; `Some` only for a
/// destination-unreachable error quoting a UDP header.
pub(super) fn quoted_udp(message: &[u8], ipv6: bool, reporter: IpAddr) -> Option<Quoted<'_>> {
    let icmp_type = *message.first()?;
    let code = *message.get(1)?;
    let wanted = if ipv6 { ICMPV6_UNREACHABLE } else { ICMPV4_UNREACHABLE };
    if icmp_type != wanted {
        return None;
    }
    // 8 bytes of ICMP header, then the offending packet, cut by the sender (RFC 792: header
    // plus 64 bits; RFC 4443: as much as fits in the minimum MTU) — so always parse as cut.
    let quoted = message.get(8..)?;
    let ip = if ipv6 { parse_ipv6(quoted, true).ok()? } else { parse_ipv4(quoted, true).ok()? };
    if ip.fragment.is_some_and(|f| f.offset != 0) {
        return None;
    }
    let (proto, transport, _) = skip_extensions(ip.proto, ip.payload, ipv6, true).ok()?;
    if proto != UDP {
        return None;
    }
    let src_port = be16(transport, 0)?;
    let dst_port = be16(transport, 2)?;
    let udp_len = usize::from(be16(transport, 4)?);
    let end = udp_len.max(8).min(transport.len());
    Some(Quoted {
        src: SocketAddr::new(ip.src, src_port),
        dst: SocketAddr::new(ip.dst, dst_port),
        dscp: ip.dscp,
        error: IcmpError { icmp_type, code, reporter },
        payload: transport.get(8..end).unwrap_or_default(),
    })
}
