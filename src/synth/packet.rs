//! Frame builders: link header (Ethernet with optional 802.1Q/QinQ tags, raw IP, Linux SLL),
//! IPv4/IPv6, UDP and TCP, with valid checksums; IPv4 and IPv6 fragmentation of UDP datagrams;
//! a TCP connection helper that splits messages across segments with exact sequence numbers.
//!
//! Written by hand rather than with `etherparse::PacketBuilder` because fragments, DSCP and
//! QinQ need control over every header field; the tests parse every frame back with etherparse
//! and check the checksums against etherparse's own computation.

use std::net::{IpAddr, SocketAddr};

use super::pcap::PcapLinkType;
use super::SynthError;

/// Link layer wrapped around every IP packet of a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// Ethernet II. MAC addresses are derived from the IP addresses (locally administered
    /// `02:…`), so a host keeps one MAC. `vlans` lists VLAN ids outermost first: one id gives an
    /// 802.1Q tag (TPID 0x8100), two give QinQ (outer TPID 0x88A8, IEEE 802.1ad; inner 0x8100).
    Ethernet {
        /// VLAN ids, outermost first (empty: untagged).
        vlans: Vec<u16>,
    },
    /// No link header (LINKTYPE_RAW).
    RawIp,
    /// Linux cooked capture v1 (LINKTYPE_LINUX_SLL).
    LinuxSll,
}

impl Link {
    /// The pcap link type matching these frames.
    pub fn pcap_link_type(&self) -> PcapLinkType {
        match self {
            Link::Ethernet { .. } => PcapLinkType::Ethernet,
            Link::RawIp => PcapLinkType::RawIp,
            Link::LinuxSll => PcapLinkType::LinuxSll,
        }
    }
}

/// IP protocol numbers used here (IANA).
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
/// IPv6 Fragment extension header (RFC 8200 §4.5).
const IPV6_FRAGMENT: u8 = 44;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const UDP_HEADER_LEN: usize = 8;
const TCP_HEADER_LEN: usize = 20;
const IPV4_HEADER_LEN: usize = 20;
/// Hop limit / TTL of generated packets.
const TTL: u8 = 64;

/// TCP flag bits (RFC 9293 §3.1).
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// Order in which the fragments of one datagram are emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragmentOrder {
    /// Offset order.
    InOrder,
    /// Last fragment first (what some Linux stacks send), exercising reassembly.
    Reversed,
}

/// The TCP header fields a caller chooses for one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful when the ACK flag is set).
    pub ack: u32,
    /// Flag bits ([`tcp_flags`]).
    pub flags: u8,
}

/// Builds complete frames (link header included) for one capture.
#[derive(Clone, Debug)]
pub struct FrameBuilder {
    link: Link,
    next_ip_id: u16,
}

/// Internet checksum (RFC 1071): ones' complement of the ones' complement sum.
fn ones_complement_sum(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    sum
}

fn fold_checksum(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// IPv4 header checksum over a 20-byte header whose checksum field is zero.
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    fold_checksum(ones_complement_sum(0, header))
}

/// Transport checksum with the IPv4 or IPv6 pseudo-header (RFC 768, RFC 9293, RFC 8200 §8.1).
fn transport_checksum(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> u16 {
    let mut sum = 0u32;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            sum = ones_complement_sum(sum, &s.octets());
            sum = ones_complement_sum(sum, &d.octets());
        }
        _ => {
            sum = ones_complement_sum(sum, &ip6_octets(src));
            sum = ones_complement_sum(sum, &ip6_octets(dst));
        }
    }
    sum = sum.wrapping_add(u32::from(proto));
    // Segments built here are < 64 KiB for IPv4; IPv6 uses a 32-bit length, same sum.
    sum = sum.wrapping_add(segment.len() as u32 & 0xffff);
    sum = sum.wrapping_add((segment.len() as u32) >> 16);
    let c = fold_checksum(ones_complement_sum(sum, segment));
    // RFC 768: a computed UDP checksum of zero is sent as all ones.
    if c == 0 && proto == PROTO_UDP {
        0xffff
    } else {
        c
    }
}

fn ip6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(v6) => v6.octets(),
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
    }
}

/// Locally administered MAC derived from an address, so every host keeps one MAC.
fn mac_for(ip: IpAddr) -> [u8; 6] {
    let o = ip6_octets(ip);
    [0x02, 0x00, o[12], o[13], o[14], o[15]]
}

fn check_families(src: SocketAddr, dst: SocketAddr) -> Result<(), SynthError> {
    if src.is_ipv4() == dst.is_ipv4() {
        Ok(())
    } else {
        Err(SynthError::Invalid(format!("address families differ: {src} -> {dst}")))
    }
}

impl FrameBuilder {
    /// A builder for frames of the given link type; IPv4 identification starts at `first_ip_id`.
    pub fn new(link: Link, first_ip_id: u16) -> Self {
        FrameBuilder { link, next_ip_id: first_ip_id }
    }

    /// The link this builder writes.
    pub fn link(&self) -> &Link {
        &self.link
    }

    fn take_ip_id(&mut self) -> u16 {
        let id = self.next_ip_id;
        self.next_ip_id = self.next_ip_id.wrapping_add(1);
        id
    }

    /// Link header for a packet from `src` to `dst`.
    fn push_link(&self, src: IpAddr, dst: IpAddr, out: &mut Vec<u8>) {
        let ethertype = if src.is_ipv4() { ETHERTYPE_IPV4 } else { ETHERTYPE_IPV6 };
        match &self.link {
            Link::Ethernet { vlans } => {
                out.extend_from_slice(&mac_for(dst));
                out.extend_from_slice(&mac_for(src));
                let n = vlans.len();
                for (i, vid) in vlans.iter().enumerate() {
                    // IEEE 802.1ad: the outer tag of a double-tagged frame uses TPID 0x88A8.
                    let tpid: u16 = if n > 1 && i == 0 { 0x88A8 } else { 0x8100 };
                    out.extend_from_slice(&tpid.to_be_bytes());
                    out.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
                }
                out.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::RawIp => {}
            Link::LinuxSll => {
                // packet type 0 = "sent to us", ARPHRD_ETHER, 6-byte address, padded to 8.
                out.extend_from_slice(&0u16.to_be_bytes());
                out.extend_from_slice(&1u16.to_be_bytes());
                out.extend_from_slice(&6u16.to_be_bytes());
                out.extend_from_slice(&mac_for(src));
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&ethertype.to_be_bytes());
            }
        }
    }

    /// IPv4 header (20 bytes, no options) with a correct checksum.
    #[allow(clippy::too_many_arguments)]
    fn push_ipv4(
        out: &mut Vec<u8>,
        src: [u8; 4],
        dst: [u8; 4],
        dscp: u8,
        id: u16,
        frag_field: u16,
        proto: u8,
        payload_len: usize,
    ) -> Result<(), SynthError> {
        let total = u16::try_from(IPV4_HEADER_LEN + payload_len)
            .map_err(|_| SynthError::Invalid("IPv4 packet over 65535 bytes".into()))?;
        let start = out.len();
        out.push(0x45);
        out.push(dscp << 2);
        out.extend_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&frag_field.to_be_bytes());
        out.push(TTL);
        out.push(proto);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&src);
        out.extend_from_slice(&dst);
        let c = ipv4_header_checksum(&out[start..]);
        out[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
        Ok(())
    }

    fn push_ipv6(
        out: &mut Vec<u8>,
        src: [u8; 16],
        dst: [u8; 16],
        dscp: u8,
        next_header: u8,
        payload_len: usize,
    ) -> Result<(), SynthError> {
        let plen =
            u16::try_from(payload_len).map_err(|_| SynthError::Invalid("IPv6 payload over 65535 bytes".into()))?;
        let tc = u32::from(dscp) << 2;
        let first_word: u32 = (6 << 28) | (tc << 20);
        out.extend_from_slice(&first_word.to_be_bytes());
        out.extend_from_slice(&plen.to_be_bytes());
        out.push(next_header);
        out.push(TTL);
        out.extend_from_slice(&src);
        out.extend_from_slice(&dst);
        Ok(())
    }

    /// Network header (unfragmented) for a transport segment of `len` bytes.
    fn push_ip(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        dscp: u8,
        proto: u8,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), SynthError> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let id = self.take_ip_id();
                Self::push_ipv4(out, s.octets(), d.octets(), dscp, id, 0, proto, len)
            }
            _ => Self::push_ipv6(out, ip6_octets(src), ip6_octets(dst), dscp, proto, len),
        }
    }

    /// A UDP datagram in one frame, written to `out` (cleared first).
    pub fn udp(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        dscp: u8,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SynthError> {
        check_families(src, dst)?;
        out.clear();
        let udp_len = UDP_HEADER_LEN + payload.len();
        self.push_link(src.ip(), dst.ip(), out);
        self.push_ip(src.ip(), dst.ip(), dscp, PROTO_UDP, udp_len, out)?;
        let start = out.len();
        push_udp(src, dst, payload, out)?;
        let c = transport_checksum(src.ip(), dst.ip(), PROTO_UDP, &out[start..]);
        out[start + 6..start + 8].copy_from_slice(&c.to_be_bytes());
        Ok(())
    }

    /// A UDP datagram split into IP fragments carrying at most `max_fragment_payload` bytes of
    /// the datagram each (rounded down to a multiple of 8, RFC 791 / RFC 8200 §4.5). IPv4 uses
    /// the MF flag and fragment offset; IPv6 inserts a Fragment extension header. Returns the
    /// frames in the requested order; a datagram that fits returns one unfragmented frame.
    pub fn udp_fragments(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        dscp: u8,
        payload: &[u8],
        max_fragment_payload: usize,
        order: FragmentOrder,
    ) -> Result<Vec<Vec<u8>>, SynthError> {
        check_families(src, dst)?;
        let chunk = max_fragment_payload / 8 * 8;
        if chunk == 0 {
            return Err(SynthError::Invalid("fragment payload below 8 bytes".into()));
        }
        let mut datagram = Vec::with_capacity(UDP_HEADER_LEN + payload.len());
        push_udp(src, dst, payload, &mut datagram)?;
        let c = transport_checksum(src.ip(), dst.ip(), PROTO_UDP, &datagram);
        datagram[6..8].copy_from_slice(&c.to_be_bytes());
        if datagram.len() <= chunk {
            let mut out = Vec::new();
            self.udp(src, dst, dscp, payload, &mut out)?;
            return Ok(vec![out]);
        }
        let id = self.take_ip_id();
        // IPv6 fragment identification is 32 bits; derive it from the same counter.
        let id6 = 0x5c00_0000u32 | u32::from(id);
        let mut frames = Vec::new();
        for (i, piece) in datagram.chunks(chunk).enumerate() {
            let offset = i * chunk;
            let more = offset + piece.len() < datagram.len();
            let offset_units = u16::try_from(offset / 8)
                .ok()
                .filter(|&u| u < 0x2000)
                .ok_or_else(|| SynthError::Invalid("fragment offset too large".into()))?;
            let mut f = Vec::with_capacity(piece.len() + 64);
            self.push_link(src.ip(), dst.ip(), &mut f);
            match (src.ip(), dst.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    let frag_field = offset_units | if more { 0x2000 } else { 0 };
                    let (so, dso) = (s.octets(), d.octets());
                    Self::push_ipv4(&mut f, so, dso, dscp, id, frag_field, PROTO_UDP, piece.len())?;
                }
                _ => {
                    Self::push_ipv6(
                        &mut f,
                        ip6_octets(src.ip()),
                        ip6_octets(dst.ip()),
                        dscp,
                        IPV6_FRAGMENT,
                        8 + piece.len(),
                    )?;
                    f.push(PROTO_UDP);
                    f.push(0);
                    let off_field = (offset_units << 3) | u16::from(more);
                    f.extend_from_slice(&off_field.to_be_bytes());
                    f.extend_from_slice(&id6.to_be_bytes());
                }
            }
            f.extend_from_slice(piece);
            frames.push(f);
        }
        if order == FragmentOrder::Reversed {
            frames.reverse();
        }
        Ok(frames)
    }

    /// One TCP segment (20-byte header, window 65535, no options), written to `out`.
    pub fn tcp(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        dscp: u8,
        segment: TcpSegment,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), SynthError> {
        check_families(src, dst)?;
        out.clear();
        let len = TCP_HEADER_LEN + payload.len();
        self.push_link(src.ip(), dst.ip(), out);
        self.push_ip(src.ip(), dst.ip(), dscp, PROTO_TCP, len, out)?;
        let start = out.len();
        out.extend_from_slice(&src.port().to_be_bytes());
        out.extend_from_slice(&dst.port().to_be_bytes());
        out.extend_from_slice(&segment.seq.to_be_bytes());
        out.extend_from_slice(&segment.ack.to_be_bytes());
        out.push(((TCP_HEADER_LEN / 4) as u8) << 4);
        out.push(segment.flags);
        out.extend_from_slice(&u16::MAX.to_be_bytes()); // window
        out.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        out.extend_from_slice(payload);
        let c = transport_checksum(src.ip(), dst.ip(), PROTO_TCP, &out[start..]);
        out[start + 16..start + 18].copy_from_slice(&c.to_be_bytes());
        Ok(())
    }
}

/// UDP header (checksum zero, filled by the caller) and payload.
fn push_udp(src: SocketAddr, dst: SocketAddr, payload: &[u8], out: &mut Vec<u8>) -> Result<(), SynthError> {
    let len = u16::try_from(UDP_HEADER_LEN + payload.len())
        .map_err(|_| SynthError::Invalid("UDP datagram over 65535 bytes".into()))?;
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    Ok(())
}

/// One TCP connection between a client and a server: tracks both sequence spaces so that
/// messages split across segments carry exact seq/ack numbers (RFC 9293 §3.4).
#[derive(Clone, Debug)]
pub struct TcpConnection {
    /// Connecting side.
    pub client: SocketAddr,
    /// Listening side.
    pub server: SocketAddr,
    /// DSCP of every segment.
    pub dscp: u8,
    client_next: u32,
    server_next: u32,
}

impl TcpConnection {
    /// A connection whose initial sequence numbers are `client_isn` and `server_isn`; without a
    /// handshake the first data byte of each side is ISN + 1, as if the SYNs were not captured.
    pub fn new(client: SocketAddr, server: SocketAddr, dscp: u8, client_isn: u32, server_isn: u32) -> Self {
        TcpConnection {
            client,
            server,
            dscp,
            client_next: client_isn.wrapping_add(1),
            server_next: server_isn.wrapping_add(1),
        }
    }

    /// The three frames SYN, SYN-ACK, ACK of the handshake (RFC 9293 §3.5).
    pub fn handshake(&self, fb: &mut FrameBuilder) -> Result<Vec<Vec<u8>>, SynthError> {
        let c_isn = self.client_next.wrapping_sub(1);
        let s_isn = self.server_next.wrapping_sub(1);
        let mut frames = vec![Vec::new(), Vec::new(), Vec::new()];
        let segs = [
            (true, c_isn, 0, tcp_flags::SYN),
            (false, s_isn, self.client_next, tcp_flags::SYN | tcp_flags::ACK),
            (true, self.client_next, self.server_next, tcp_flags::ACK),
        ];
        for (frame, (from_client, seq, ack, flags)) in frames.iter_mut().zip(segs) {
            let (s, d) = self.ends(from_client);
            fb.tcp(s, d, self.dscp, TcpSegment { seq, ack, flags }, &[], frame)?;
        }
        Ok(frames)
    }

    fn ends(&self, from_client: bool) -> (SocketAddr, SocketAddr) {
        if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        }
    }

    /// Sends `payload` from one side, split into segments of the given sizes (a size of 0 is
    /// skipped; bytes left after the listed sizes go in one last segment). Every segment has
    /// ACK set; the last has PSH.
    pub fn send(
        &mut self,
        fb: &mut FrameBuilder,
        from_client: bool,
        payload: &[u8],
        segment_sizes: &[usize],
    ) -> Result<Vec<Vec<u8>>, SynthError> {
        let mut pieces: Vec<&[u8]> = Vec::new();
        let mut rest = payload;
        for &size in segment_sizes {
            if rest.is_empty() {
                break;
            }
            if size == 0 {
                continue;
            }
            let (a, b) = rest.split_at(size.min(rest.len()));
            pieces.push(a);
            rest = b;
        }
        if !rest.is_empty() {
            pieces.push(rest);
        }
        let (s, d) = self.ends(from_client);
        let mut frames = Vec::with_capacity(pieces.len());
        let n = pieces.len();
        for (i, piece) in pieces.into_iter().enumerate() {
            let (seq, ack) =
                if from_client { (self.client_next, self.server_next) } else { (self.server_next, self.client_next) };
            let mut flags = tcp_flags::ACK;
            if i + 1 == n {
                flags |= tcp_flags::PSH;
            }
            let mut f = Vec::new();
            fb.tcp(s, d, self.dscp, TcpSegment { seq, ack, flags }, piece, &mut f)?;
            frames.push(f);
            // Segments are < 64 KiB, so the length fits u32.
            let advance = piece.len() as u32;
            if from_client {
                self.client_next = self.client_next.wrapping_add(advance);
            } else {
                self.server_next = self.server_next.wrapping_add(advance);
            }
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn udp_over_qinq_parses_with_valid_checksums() {
        let mut fb = FrameBuilder::new(Link::Ethernet { vlans: vec![100, 200] }, 1);
        let mut f = Vec::new();
        let (src, dst) = (sa("10.0.0.1:4000"), sa("10.0.0.2:5000"));
        fb.udp(src, dst, 46, b"hello world", &mut f).unwrap();
        let p = SlicedPacket::from_ethernet(&f).unwrap();
        let Some(NetSlice::Ipv4(ip)) = p.net else { panic!("no ipv4") };
        let h = ip.header();
        assert_eq!(h.dcp().value(), 46);
        assert_eq!(h.to_header().calc_header_checksum(), h.header_checksum());
        let Some(TransportSlice::Udp(u)) = p.transport else { panic!("no udp") };
        assert_eq!(u.payload(), b"hello world");
        let expect = u.to_header().calc_checksum_ipv4(&h.to_header(), u.payload()).unwrap();
        assert_eq!(u.checksum(), expect);
        // outer tag 0x88A8 then inner 0x8100
        assert_eq!(&f[12..14], &[0x88, 0xA8]);
        assert_eq!(&f[16..18], &[0x81, 0x00]);
    }

    #[test]
    fn ipv6_udp_and_tcp_checksums_match_etherparse() {
        let mut fb = FrameBuilder::new(Link::Ethernet { vlans: vec![] }, 1);
        let (src, dst) = (sa("[2001:db8::1]:5060"), sa("[2001:db8::2]:5060"));
        let mut f = Vec::new();
        fb.udp(src, dst, 24, b"abc", &mut f).unwrap();
        let p = SlicedPacket::from_ethernet(&f).unwrap();
        let Some(NetSlice::Ipv6(ip)) = &p.net else { panic!("no ipv6") };
        let Some(TransportSlice::Udp(u)) = &p.transport else { panic!("no udp") };
        let expect = u.to_header().calc_checksum_ipv6(&ip.header().to_header(), u.payload()).unwrap();
        assert_eq!(u.checksum(), expect);

        let seg = TcpSegment { seq: 7, ack: 9, flags: tcp_flags::ACK };
        let mut f = Vec::new();
        fb.tcp(src, dst, 24, seg, b"xyz!", &mut f).unwrap();
        let p = SlicedPacket::from_ethernet(&f).unwrap();
        let Some(NetSlice::Ipv6(ip)) = &p.net else { panic!("no ipv6") };
        let Some(TransportSlice::Tcp(t)) = &p.transport else { panic!("no tcp") };
        let expect = t.calc_checksum_ipv6(ip.header().source(), ip.header().destination()).unwrap();
        assert_eq!(t.checksum(), expect);
        assert_eq!(t.sequence_number(), 7);
        assert_eq!(t.payload(), b"xyz!");
    }

    #[test]
    fn ipv4_fragments_reassemble_to_the_datagram() {
        let mut fb = FrameBuilder::new(Link::RawIp, 77);
        let payload: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let frames = fb
            .udp_fragments(sa("10.0.0.1:5060"), sa("10.0.0.2:5060"), 0, &payload, 1480, FragmentOrder::Reversed)
            .unwrap();
        assert_eq!(frames.len(), 3);
        let mut parts = Vec::new();
        for f in &frames {
            let ip = etherparse::Ipv4HeaderSlice::from_slice(f).unwrap();
            assert_eq!(ip.identification(), 77);
            assert_eq!(ip.to_header().calc_header_checksum(), ip.header_checksum());
            let off = usize::from(ip.fragments_offset().value()) * 8;
            parts.push((off, ip.more_fragments(), f[20..].to_vec()));
        }
        parts.sort_by_key(|p| p.0);
        assert_eq!(parts.iter().map(|p| p.0).collect::<Vec<_>>(), [0, 1480, 2960]);
        assert_eq!(parts.iter().map(|p| p.1).collect::<Vec<_>>(), [true, true, false]);
        let datagram: Vec<u8> = parts.into_iter().flat_map(|p| p.2).collect();
        assert_eq!(datagram.len(), 3008);
        assert_eq!(&datagram[8..], &payload[..]);
    }

    #[test]
    fn ipv6_fragments_carry_fragment_header() {
        let mut fb = FrameBuilder::new(Link::RawIp, 5);
        let payload = vec![0x41u8; 2000];
        let frames = fb
            .udp_fragments(
                sa("[2001:db8::1]:5060"),
                sa("[2001:db8::2]:5060"),
                0,
                &payload,
                1232,
                FragmentOrder::InOrder,
            )
            .unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0][6], IPV6_FRAGMENT);
        let p = SlicedPacket::from_ip(&frames[1]).unwrap();
        let Some(NetSlice::Ipv6(ip)) = &p.net else { panic!("no ipv6") };
        let frag = ip.extensions().first_header();
        assert_eq!(frag, Some(etherparse::IpNumber(IPV6_FRAGMENT)));
        // second fragment starts at 1232 bytes (offset field 154 units of 8)
        assert_eq!(u16::from_be_bytes([frames[1][42], frames[1][43]]) >> 3, 154);
    }

    #[test]
    fn tcp_split_keeps_sequence_numbers() {
        let mut fb = FrameBuilder::new(Link::LinuxSll, 1);
        let mut conn = TcpConnection::new(sa("10.0.0.1:40000"), sa("10.0.0.2:5060"), 24, 1000, 5000);
        let hs = conn.handshake(&mut fb).unwrap();
        assert_eq!(hs.len(), 3);
        let frames = conn.send(&mut fb, true, &[7u8; 250], &[100, 100]).unwrap();
        assert_eq!(frames.len(), 3);
        let seqs: Vec<u32> = frames
            .iter()
            .map(|f| {
                let p = SlicedPacket::from_linux_sll(f).unwrap();
                match p.transport {
                    Some(TransportSlice::Tcp(t)) => t.sequence_number(),
                    _ => panic!("no tcp"),
                }
            })
            .collect();
        assert_eq!(seqs, [1001, 1101, 1201]);
        let reply = conn.send(&mut fb, false, b"ok", &[]).unwrap();
        let p = SlicedPacket::from_linux_sll(&reply[0]).unwrap();
        let Some(TransportSlice::Tcp(t)) = p.transport else { panic!() };
        assert_eq!((t.sequence_number(), t.acknowledgment_number()), (5001, 1251));
    }
}
