//! Decoder tests: hand-built packets for every layer, then real captures.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use etherparse::{PacketBuilder, VlanId};

use super::*;
use crate::time::Timestamp;

/// A datagram copied out of the sink.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    number: u64,
    src: SocketAddr,
    dst: SocketAddr,
    transport: Transport,
    vlan: Option<u16>,
    dscp: u8,
    icmp: Option<IcmpError>,
    payload: Vec<u8>,
}

fn frame_at(link: LinkType, data: &[u8], number: u64, secs: i64) -> Frame<'_> {
    Frame {
        at: FrameRef { file: 0, number, time: Timestamp::from_parts(secs, 0) },
        link,
        data,
        orig_len: u32::try_from(data.len()).unwrap(),
        interface: None,
    }
}

fn decode_one(decoder: &mut Decoder, warnings: &mut Warnings, frame: &Frame<'_>) -> Vec<Seen> {
    let mut seen = Vec::new();
    decoder.decode(frame, warnings, &mut |dg, _| {
        seen.push(Seen {
            number: dg.at.number,
            src: dg.src,
            dst: dg.dst,
            transport: dg.transport,
            vlan: dg.vlan,
            dscp: dg.dscp,
            icmp: dg.icmp_error,
            payload: dg.payload.to_vec(),
        })
    });
    seen
}

/// Decodes one frame with a fresh decoder.
fn decode(link: LinkType, data: &[u8]) -> (Vec<Seen>, Warnings, Decoder) {
    let mut decoder = Decoder::default();
    let mut warnings = Warnings::default();
    let seen = decode_one(&mut decoder, &mut warnings, &frame_at(link, data, 1, 0));
    (seen, warnings, decoder)
}

fn kinds(warnings: &Warnings) -> Vec<WarningKind> {
    warnings.kept().iter().map(|w| w.kind).collect()
}

const A4: [u8; 4] = [10, 0, 0, 1];
const B4: [u8; 4] = [10, 0, 0, 2];
const A6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const B6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn sa4(a: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port)
}
fn sa6(a: [u8; 16], port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), port)
}

/// UDP header + payload (checksum 0: not checked).
fn udp(src: u16, dst: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&src.to_be_bytes());
    v.extend_from_slice(&dst.to_be_bytes());
    v.extend_from_slice(&u16::try_from(payload.len() + 8).unwrap().to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(payload);
    v
}

/// IPv4 header (TOS `tos`, fragment field `frag` = flags|offset/8) + payload.
fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], id: u16, frag: u16, tos: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x45, tos];
    v.extend_from_slice(&u16::try_from(payload.len() + 20).unwrap().to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&frag.to_be_bytes());
    v.extend_from_slice(&[64, proto, 0, 0]);
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(payload);
    v
}

/// IPv6 header (traffic class `tc`) + payload.
fn ipv6(next: u8, src: [u8; 16], dst: [u8; 16], tc: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60 | (tc >> 4), tc << 4, 0, 0];
    v.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    v.extend_from_slice(&[next, 64]);
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(payload);
    v
}

fn ethernet(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    v.extend_from_slice(&ether_type.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn udp4_packet(payload: &[u8]) -> Vec<u8> {
    ipv4(17, A4, B4, 7, 0, 0xB8, &udp(5004, 6000, payload))
}

#[test]
fn ethernet_qinq_gives_outer_vlan_and_dscp() {
    let builder = PacketBuilder::ethernet2([1; 6], [2; 6])
        .double_vlan(VlanId::try_new(100).unwrap(), VlanId::try_new(200).unwrap())
        .ipv4(A4, B4, 64)
        .udp(5060, 5062);
    let mut packet = Vec::new();
    builder.write(&mut packet, b"INVITE").unwrap();
    let (seen, warnings, _) = decode(LinkType::ETHERNET, &packet);
    assert_eq!(warnings.total(), 0);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].vlan, Some(100));
    assert_eq!(seen[0].src, sa4(A4, 5060));
    assert_eq!(seen[0].dst, sa4(B4, 5062));
    assert_eq!(seen[0].payload, b"INVITE");
    assert_eq!(seen[0].transport, Transport::Udp);
}

fn vlan_stack(tags: usize, inner: &[u8]) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xA8];
    for i in 0..tags {
        let vid = u16::try_from(10 + i).unwrap();
        v.extend_from_slice(&vid.to_be_bytes());
        let next: u16 = if i + 1 == tags { 0x0800 } else { 0x8100 };
        v.extend_from_slice(&next.to_be_bytes());
    }
    v.extend_from_slice(inner);
    v
}

#[test]
fn five_vlan_tags_are_followed_nine_are_too_deep() {
    let ip = udp4_packet(b"x");
    let (seen, warnings, _) = decode(LinkType::ETHERNET, &vlan_stack(5, &ip));
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].vlan, Some(10));
    assert_eq!(seen[0].dscp, 46);
    assert_eq!(warnings.total(), 0);
    let (seen, warnings, decoder) = decode(LinkType::ETHERNET, &vlan_stack(9, &ip));
    assert!(seen.is_empty());
    assert_eq!(kinds(&warnings), vec![WarningKind::VlanTooDeep]);
    assert_eq!(decoder.counters.vlan_too_deep, 1);
}

#[test]
fn sll2_null_loop_and_raw_links() {
    let ip = udp4_packet(b"abc");
    let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 3, 0x03, 0x04, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
    sll2.extend_from_slice(&ip);
    let mut null_le = vec![2, 0, 0, 0];
    null_le.extend_from_slice(&ip);
    let mut null_be = vec![0, 0, 0, 2];
    null_be.extend_from_slice(&ip);
    let ip6 = ipv6(17, A6, B6, 0, &udp(1, 2, b"abc"));
    let mut null6 = vec![0, 0, 0, 30];
    null6.extend_from_slice(&ip6);
    let mut loop6 = vec![0, 0, 0, 24];
    loop6.extend_from_slice(&ip6);
    let cases: [(LinkType, &[u8]); 9] = [
        (LinkType::LINUX_SLL2, &sll2),
        (LinkType::NULL, &null_le),
        (LinkType::NULL, &null_be),
        (LinkType::NULL, &null6),
        (LinkType::LOOP, &loop6),
        (LinkType::RAW, &ip),
        (LinkType(12), &ip6),
        (LinkType::IPV4, &ip),
        (LinkType::IPV6, &ip6),
    ];
    for (link, data) in cases {
        let (seen, warnings, _) = decode(link, data);
        assert_eq!(seen.len(), 1, "{link:?}");
        assert_eq!(seen[0].payload, b"abc", "{link:?}");
        assert_eq!(warnings.total(), 0, "{link:?}");
    }
}

#[test]
fn mpls_and_pppoe_carry_ip() {
    let ip = udp4_packet(b"mpls");
    let mut labels = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40];
    labels.extend_from_slice(&ip);
    let (seen, warnings, _) = decode(LinkType::ETHERNET, &ethernet(0x8847, &labels));
    assert_eq!(warnings.total(), 0);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].payload, b"mpls");
    let ip6 = ipv6(17, A6, B6, 0, &udp(1, 2, b"ppp"));
    let mut pppoe = vec![0x11, 0x00, 0x00, 0x07, 0, 0, 0x00, 0x57];
    let len = u16::try_from(ip6.len() + 2).unwrap().to_be_bytes();
    pppoe[4..6].copy_from_slice(&len);
    pppoe.extend_from_slice(&ip6);
    let (seen, _, _) = decode(LinkType::ETHERNET, &ethernet(0x8864, &pppoe));
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].payload, b"ppp");
}

#[test]
fn non_ip_is_skipped_silently_and_unknown_link_warned_once() {
    let arp = ethernet(0x0806, &[0u8; 28]);
    let (seen, warnings, decoder) = decode(LinkType::ETHERNET, &arp);
    assert!(seen.is_empty());
    assert_eq!(warnings.total(), 0);
    assert_eq!(decoder.counters.skipped, 1);

    let mut decoder = Decoder::default();
    let mut warnings = Warnings::default();
    for n in 1..=3 {
        decode_one(&mut decoder, &mut warnings, &frame_at(LinkType(147), &arp, n, 0));
    }
    assert_eq!(kinds(&warnings), vec![WarningKind::UnsupportedLink]);
    assert_eq!(decoder.counters.unsupported_link, 3);
}

/// Splits a UDP datagram into IPv4 fragments of `size` bytes (multiple of 8).
fn ipv4_fragments(id: u16, datagram: &[u8], size: usize) -> Vec<Vec<u8>> {
    let pieces: Vec<&[u8]> = datagram.chunks(size).collect();
    let last = pieces.len() - 1;
    pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            let offset = u16::try_from(i * size / 8).unwrap();
            let more = if i < last { 0x2000 } else { 0 };
            let tos = if i == 0 { 0xB8 } else { 0 };
            ipv4(17, A4, B4, id, more | offset, tos, piece)
        })
        .collect()
}

fn sip_payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| b"INVITE sip:x SIP/2.0\r\n"[i % 22]).collect()
}

#[test]
fn ipv4_fragments_in_and_out_of_order_reassemble_once() {
    let payload = sip_payload(3000);
    let datagram = udp(5060, 5060, &payload);
    let fragments = ipv4_fragments(0x1234, &datagram, 1480);
    assert_eq!(fragments.len(), 3);
    for order in [[0usize, 1, 2], [2, 0, 1], [1, 2, 0]] {
        let mut decoder = Decoder::default();
        let mut warnings = Warnings::default();
        let mut all = Vec::new();
        for (n, &i) in order.iter().enumerate() {
            let frame = frame_at(LinkType::RAW, &fragments[i], n as u64 + 1, 0);
            all.extend(decode_one(&mut decoder, &mut warnings, &frame));
        }
        assert_eq!(all.len(), 1, "{order:?}");
        assert_eq!(all[0].number, 3, "completing frame");
        assert_eq!(all[0].payload, payload);
        assert_eq!(all[0].dscp, 46, "DSCP of the first fragment");
        assert_eq!(all[0].src, sa4(A4, 5060));
        assert_eq!(warnings.total(), 0);
        assert_eq!(decoder.counters.reassembled, 1);
        assert_eq!(decoder.counters.skipped, 2);
        assert_eq!(decoder.pending_fragment_sets(), 0);
        assert_eq!(decoder.pending_fragment_bytes(), 0);
    }
}

#[test]
fn duplicate_fragment_is_ignored_overlap_drops_the_set() {
    let datagram = udp(5060, 5060, &sip_payload(2000));
    let fragments = ipv4_fragments(9, &datagram, 1000);
    let mut decoder = Decoder::default();
    let mut warnings = Warnings::default();
    let order = [0usize, 0, 1, 2];
    let mut all = Vec::new();
    for (n, &i) in order.iter().enumerate() {
        all.extend(decode_one(&mut decoder, &mut warnings, &frame_at(LinkType::RAW, &fragments[i], n as u64 + 1, 0)));
    }
    assert_eq!(all.len(), 1);
    assert_eq!(warnings.total(), 0);

    // An overlapping fragment with other bytes: RFC 5722 policy, whole set dropped.
    let mut decoder = Decoder::default();
    let mut warnings = Warnings::default();
    let mut forged = datagram[496..1000].to_vec();
    forged[0] ^= 0xFF;
    let overlap = ipv4(17, A4, B4, 9, 0x2000 | (496 / 8), 0, &forged);
    let mut all = Vec::new();
    for (n, data) in [&fragments[0], &overlap, &fragments[1], &fragments[2]].iter().enumerate() {
        all.extend(decode_one(&mut decoder, &mut warnings, &frame_at(LinkType::RAW, data, n as u64 + 1, 0)));
    }
    assert!(all.is_empty(), "the set was dropped; later fragments start a set that never completes");
    assert_eq!(kinds(&warnings), vec![WarningKind::FragmentDropped]);
    assert_eq!(warnings.kept()[0].frame, 2);
    assert_eq!(decoder.counters.fragments_dropped, 1);
    decoder.finish(&mut warnings);
    assert_eq!(decoder.counters.fragments_dropped, 2);
    assert_eq!(decoder.pending_fragment_sets(), 0);
}

#[test]
fn incomplete_set_times_out_with_a_warning() {
    let datagram = udp(5060, 5060, &sip_payload(2000));
    let fragments = ipv4_fragments(1, &datagram, 1000);
    let mut decoder = Decoder::default();
    let mut warnings = Warnings::default();
    decode_one(&mut decoder, &mut warnings, &frame_at(LinkType::RAW, &fragments[0], 1, 100));
    assert_eq!(decoder.pending_fragment_sets(), 1);
    // 29 s later: still waiting. 31 s later: dropped, warned at the frame that noticed.
    let other = udp4_packet(b"x");
    decode_one(&mut decoder, &mut warnings, &frame_at(LinkType::RAW, &other, 2, 129));
    assert_eq!(decoder.pending_fragment_sets(), 1);
    decode_one(&mut decoder, &mut warnings, &frame_at(LinkType::RAW, &other, 3, 131));
    assert_eq!(decoder.pending_fragment_sets(), 0);
    assert_eq!(kinds(&warnings), vec![WarningKind::FragmentDropped]);
    assert_eq!(warnings.kept()[0].frame, 3);
    assert!(warnings.kept()[0].detail.contains("frame 1"), "{}", warnings.kept()[0].detail);
    // The late rest does not complete anything.
    let late = decode_one(&mut decoder, &mut warnings, &frame_at(LinkType::RAW, &fragments[1], 4, 132));
    assert!(late.is_empty());
}

#[test]
fn full_table_evicts_the_oldest_set() {
    let limits =
        DecodeLimits { max_fragment_sets: 2, max_fragment_bytes: 1 << 20, fragment_timeout_ns: 30_000_000_000 };
    let mut decoder = Decoder::new(limits);
    let mut warnings = Warnings::default();
    let datagram = udp(5060, 5060, &sip_payload(2000));
    let sets: Vec<Vec<Vec<u8>>> = (1..=3).map(|id| ipv4_fragments(id, &datagram, 1000)).collect();
    for (n, set) in sets.iter().enumerate() {
        decode_one(&mut decoder, &mut warnings, &frame_at(LinkType::RAW, &set[0], n as u64 + 1, 0));
    }
    assert_eq!(decoder.pending_fragment_sets(), 2);
    assert_eq!(kinds(&warnings), vec![WarningKind::FragmentDropped]);
    assert_eq!(warnings.kept()[0].frame, 3);
    // Sets 2 and 3 still complete.
    let mut done = Vec::new();
    for (n, set) in sets.iter().enumerate().skip(1) {
        for (k, piece) in set.iter().enumerate().skip(1) {
            done.extend(decode_one(
                &mut decoder,
                &mut warnings,
                &frame_at(LinkType::RAW, piece, 10 + (n * 3 + k) as u64, 0),
            ));
        }
    }
    assert_eq!(done.len(), 2);

    // Byte limit: a 1500-byte budget holds one 1000-byte first fragment, not two.
    let limits = DecodeLimits { max_fragment_sets: 16, max_fragment_bytes: 1500, fragment_timeout_ns: 30_000_000_000 };
    let mut decoder = Decoder::new(limits);
    let mut warnings = Warnings::default();
    decode_one(&mut decoder, &mut warnings, &frame_at(LinkType::RAW, &sets[0][0], 1, 0));
    decode_one(&mut decoder, &mut warnings, &frame_at(LinkType::RAW, &sets[1][0], 2, 0));
    assert_eq!(decoder.pending_fragment_sets(), 1);
    assert_eq!(decoder.pending_fragment_bytes(), 1000);
    assert_eq!(decoder.counters.fragments_dropped, 1);
}

fn ipv6_fragment(id: u32, offset: u16, more: bool, next: u8, piece: &[u8]) -> Vec<u8> {
    let mut ext = vec![next, 0];
    ext.extend_from_slice(&(offset | u16::from(more)).to_be_bytes());
    ext.extend_from_slice(&id.to_be_bytes());
    ext.extend_from_slice(piece);
    ipv6(44, A6, B6, 0x28, &ext)
}

#[test]
fn ipv6_fragments_reassemble_through_sll() {
    let payload = sip_payload(1800);
    let datagram = udp(5060, 5061, &payload);
    let first = ipv6_fragment(77, 0, true, 17, &datagram[..1232]);
    let second = ipv6_fragment(77, 1232, false, 17, &datagram[1232..]);
    let sll = |ip: &[u8]| {
        let mut v = vec![0, 0, 0x03, 0x04, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x86, 0xDD];
        v.extend_from_slice(ip);
        v
    };
    let mut decoder = Decoder::default();
    let mut warnings = Warnings::default();
    let f2 = sll(&second);
    let f1 = sll(&first);
    assert!(decode_one(&mut decoder, &mut warnings, &frame_at(LinkType::LINUX_SLL, &f2, 1, 0)).is_empty());
    let seen = decode_one(&mut decoder, &mut warnings, &frame_at(LinkType::LINUX_SLL, &f1, 2, 0));
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].src, sa6(A6, 5060));
    assert_eq!(seen[0].dst, sa6(B6, 5061));
    assert_eq!(seen[0].dscp, 0x28 >> 2);
    assert_eq!(seen[0].payload, payload);
    assert_eq!(warnings.total(), 0);
}

#[test]
fn tunnels_are_looked_through_to_the_innermost_tuple() {
    let inner = ipv4(17, B4, A4, 1, 0, 0x88, &udp(8000, 9000, b"rtp"));
    let inner6 = ipv6(17, A6, B6, 0xB8, &udp(8000, 9000, b"rtp"));
    let inner_eth = ethernet(0x0800, &inner);
    let outer =
        |proto: u8, payload: &[u8]| ethernet(0x0800, &ipv4(proto, [192, 0, 2, 1], [192, 0, 2, 2], 5, 0, 0, payload));

    // GRE with checksum and key → IPv4.
    let mut gre = vec![0xA0, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 42];
    gre.extend_from_slice(&inner);
    // GRE transparent Ethernet bridging.
    let mut teb = vec![0x00, 0x00, 0x65, 0x58];
    teb.extend_from_slice(&inner_eth);
    // ERSPAN II: GRE with sequence number, 8-byte header version 1.
    let mut erspan2 = vec![0x10, 0x00, 0x88, 0xBE, 0, 0, 0, 1, 0x10, 0x0A, 0, 1, 0, 0, 0, 0];
    erspan2.extend_from_slice(&inner_eth);
    // ERSPAN III with the optional 8-byte subheader (O bit).
    let mut erspan3 = vec![0x10, 0x00, 0x22, 0xEB, 0, 0, 0, 1];
    erspan3.extend_from_slice(&[0x20, 0x0A, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
    erspan3.extend_from_slice(&[0; 8]);
    erspan3.extend_from_slice(&inner_eth);
    // VXLAN.
    let mut vxlan = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
    vxlan.extend_from_slice(&inner_eth);
    // GTP-U with a PDU session container extension header, carrying IPv6.
    let mut gtp = vec![0x34, 0xFF, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0x85, 1, 0x10, 0x09, 0];
    gtp.extend_from_slice(&inner6);
    let gtp_len = u16::try_from(gtp.len() - 8).unwrap().to_be_bytes();
    gtp[2..4].copy_from_slice(&gtp_len);

    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("ipip", outer(4, &inner), false),
        ("gre", outer(47, &gre), false),
        ("teb", outer(47, &teb), false),
        ("erspan2", outer(47, &erspan2), false),
        ("erspan3", outer(47, &erspan3), false),
        ("vxlan", outer(17, &udp(50000, 4789, &vxlan)), false),
        ("gtp", outer(17, &udp(2152, 2152, &gtp)), true),
        ("6in4", outer(41, &inner6), true),
        ("6in6", ethernet(0x86DD, &ipv6(41, B6, A6, 0, &inner6)), true),
    ];
    for (name, frame, v6) in cases {
        let (seen, warnings, _) = decode(LinkType::ETHERNET, &frame);
        assert_eq!(warnings.total(), 0, "{name}");
        assert_eq!(seen.len(), 1, "{name}");
        let (src, dst, dscp) = if v6 { (sa6(A6, 8000), sa6(B6, 9000), 46) } else { (sa4(B4, 8000), sa4(A4, 9000), 34) };
        assert_eq!((seen[0].src, seen[0].dst, seen[0].dscp), (src, dst, dscp), "{name}");
        assert_eq!(seen[0].payload, b"rtp", "{name}");
    }
}

#[test]
fn nesting_deeper_than_eight_is_malformed() {
    let mut packet = udp4_packet(b"x");
    for _ in 0..8 {
        packet = ipv4(4, A4, B4, 0, 0, 0, &packet);
    }
    let (seen, warnings, _) = decode(LinkType::RAW, &packet);
    assert!(seen.is_empty());
    assert_eq!(kinds(&warnings), vec![WarningKind::MalformedPacket]);
    let (seen, _, _) = decode(LinkType::RAW, &packet[20..]);
    assert_eq!(seen.len(), 1);
}

#[test]
fn icmp_port_unreachable_carries_the_quoted_tuple() {
    // The quoted packet: A → B RTP, cut after 12 payload bytes as routers do.
    let quoted_full = ipv4(17, A4, B4, 3, 0, 0xB8, &udp(4000, 5000, &[0x80; 172]));
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted_full[..20 + 8 + 12]);
    let packet = ipv4(1, B4, A4, 4, 0, 0xC0, &icmp);
    let (seen, warnings, _) = decode(LinkType::RAW, &packet);
    assert_eq!(warnings.total(), 0);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].src, sa4(A4, 4000));
    assert_eq!(seen[0].dst, sa4(B4, 5000));
    assert_eq!(seen[0].payload, vec![0x80; 12]);
    assert_eq!(seen[0].dscp, 46);
    assert_eq!(seen[0].icmp, Some(IcmpError { icmp_type: 3, code: 3, reporter: IpAddr::V4(Ipv4Addr::from(B4)) }));

    let quoted6 = ipv6(17, A6, B6, 0, &udp(4000, 5000, &[0x80; 172]));
    let mut icmp6 = vec![1, 4, 0, 0, 0, 0, 0, 0];
    icmp6.extend_from_slice(&quoted6[..40 + 8 + 4]);
    let (seen, _, _) = decode(LinkType::IPV6, &ipv6(58, B6, A6, 0, &icmp6));
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].src, sa6(A6, 4000));
    assert_eq!(seen[0].icmp.map(|e| (e.icmp_type, e.code)), Some((1, 4)));
    assert_eq!(seen[0].payload, vec![0x80; 4]);

    // An echo request gives nothing.
    let echo = ipv4(1, B4, A4, 4, 0, 0, &[8, 0, 0, 0, 0, 1, 0, 1]);
    let (seen, warnings, _) = decode(LinkType::RAW, &echo);
    assert!(seen.is_empty());
    assert_eq!(warnings.total(), 0);
}

#[test]
fn tcp_passes_payload_and_state_changing_flags() {
    let mut syn = Vec::new();
    PacketBuilder::ipv4(A4, B4, 64).tcp(40000, 5060, 1000, 65535).syn().write(&mut syn, &[]).unwrap();
    let mut ack = Vec::new();
    PacketBuilder::ipv4(A4, B4, 64).tcp(40000, 5060, 1001, 65535).ack(5).write(&mut ack, &[]).unwrap();
    let mut data = Vec::new();
    PacketBuilder::ipv4(A4, B4, 64).tcp(40000, 5060, 1001, 65535).ack(5).psh().write(&mut data, b"OPTIONS").unwrap();
    let (seen, _, _) = decode(LinkType::RAW, &syn);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].transport, Transport::Tcp { seq: 1000, flags: 0x02 });
    assert!(seen[0].payload.is_empty());
    let (seen, warnings, decoder) = decode(LinkType::RAW, &ack);
    assert!(seen.is_empty());
    assert_eq!(warnings.total(), 0);
    assert_eq!(decoder.counters.skipped, 1);
    let (seen, _, _) = decode(LinkType::RAW, &data);
    assert_eq!(seen[0].transport, Transport::Tcp { seq: 1001, flags: 0x18 });
    assert_eq!(seen[0].payload, b"OPTIONS");
}

#[test]
fn every_truncation_of_valid_packets_is_safe() {
    let mut gtp = vec![0x34, 0xFF, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0x85, 1, 0x10, 0x09, 0];
    gtp.extend_from_slice(&ipv6(17, A6, B6, 0, &udp(1, 2, b"inner")));
    let gtp_len = u16::try_from(gtp.len() - 8).unwrap().to_be_bytes();
    gtp[2..4].copy_from_slice(&gtp_len);
    let mut erspan3 = vec![0x10, 0x00, 0x22, 0xEB, 0, 0, 0, 1, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    erspan3.extend_from_slice(&[0; 8]);
    erspan3.extend_from_slice(&ethernet(0x0800, &udp4_packet(b"erspan")));
    let packets = [
        vlan_stack(3, &udp4_packet(b"hello world")),
        ethernet(0x0800, &ipv4(17, A4, B4, 0, 0, 0, &udp(2152, 2152, &gtp))),
        ethernet(0x0800, &ipv4(47, A4, B4, 0, 0, 0, &erspan3)),
        ethernet(0x86DD, &ipv6_fragment(1, 0, true, 17, &udp(1, 2, &[0; 64])[..64])),
    ];
    for packet in &packets {
        let (full, warnings, _) = decode(LinkType::ETHERNET, packet);
        assert_eq!(warnings.total(), 0);
        for n in 0..packet.len() {
            let data = &packet[..n];
            // Cut by the snap length: never a warning, payload may be short.
            let mut decoder = Decoder::default();
            let mut warnings = Warnings::default();
            let mut frame = frame_at(LinkType::ETHERNET, data, 1, 0);
            frame.orig_len = u32::try_from(packet.len()).unwrap();
            let seen = decode_one(&mut decoder, &mut warnings, &frame);
            assert_eq!(warnings.total(), 0, "cut at {n}");
            assert!(seen.len() <= 1);
            if let (Some(short), Some(whole)) = (seen.first(), full.first()) {
                assert!(whole.payload.starts_with(&short.payload));
            }
            // Not cut but short: the lengths lie → a warning, or (before the IP header) a skip;
            // a lying IPv4 or UDP length hands the bytes present on, with a warning (as
            // tshark dissects them).
            let (seen, warnings, decoder) = decode(LinkType::ETHERNET, data);
            match (seen.first(), full.first()) {
                (Some(short), Some(whole)) => {
                    assert_eq!(seen.len(), 1, "cut at {n}");
                    assert!(kinds(&warnings).contains(&WarningKind::MalformedPacket), "cut at {n}");
                    assert!(whole.payload.starts_with(&short.payload), "cut at {n}");
                }
                _ => assert_eq!(decoder.counters.skipped, 1, "cut at {n}"),
            }
        }
    }
}

#[test]
fn truncated_udp_hands_over_the_captured_part() {
    let packet = ethernet(0x0800, &udp4_packet(&[7u8; 200]));
    let mut decoder = Decoder::default();
    let mut warnings = Warnings::default();
    let mut frame = frame_at(LinkType::ETHERNET, &packet[..14 + 20 + 8 + 50], 1, 0);
    frame.orig_len = u32::try_from(packet.len()).unwrap();
    let seen = decode_one(&mut decoder, &mut warnings, &frame);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].payload, vec![7u8; 50]);
    // Same bytes without the snap-length excuse: the IP length lies. Like tshark, the bytes
    // present are handed on, with one warning.
    let (seen, warnings, decoder) = decode(LinkType::ETHERNET, &packet[..14 + 20 + 8 + 50]);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].payload, vec![7u8; 50]);
    assert_eq!(kinds(&warnings), vec![WarningKind::MalformedPacket]);
    assert_eq!(decoder.counters.malformed, 1);
}

#[test]
fn lying_udp_length_hands_over_the_bytes_present() {
    // Shaped like ndpi-fuzz-2006-06-26-2594.pcap frame 253: the IP length is right, the UDP
    // length field claims more than the IP payload. tshark flags "Bad length value > IP
    // payload length" and dissects what is there; so does the decoder, with a warning.
    let mut packet = ethernet(0x0800, &udp4_packet(b"ACK sip:a@b SIP/2.0\r\n\r\n"));
    let udp_length_at = 14 + 20 + 4;
    packet[udp_length_at..udp_length_at + 2].copy_from_slice(&355u16.to_be_bytes());
    let (seen, warnings, decoder) = decode(LinkType::ETHERNET, &packet);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].payload, b"ACK sip:a@b SIP/2.0\r\n\r\n".to_vec());
    assert_eq!(kinds(&warnings), vec![WarningKind::MalformedPacket]);
    assert_eq!(decoder.counters.malformed, 1);
    // A UDP length below the header length is still malformed and dropped.
    packet[udp_length_at..udp_length_at + 2].copy_from_slice(&7u16.to_be_bytes());
    let (seen, warnings, _) = decode(LinkType::ETHERNET, &packet);
    assert!(seen.is_empty());
    assert_eq!(kinds(&warnings), vec![WarningKind::MalformedPacket]);
}

// ---------------------------------------------------------------- real captures

/// The shared captures folder, if present (`CI=true` makes its absence a failure).
fn shared_captures() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for rel in ["../shared/captures", "../../shared/captures"] {
        let dir = root.join(rel);
        if dir.is_dir() {
            return Some(dir);
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("shared captures not found next to {}", root.display());
    }
    eprintln!("shared captures not found; skipping");
    None
}

struct OwnedFrame {
    link: LinkType,
    time: Timestamp,
    data: Vec<u8>,
    orig_len: u32,
}

/// A test-only pcap / pcapng reader (the capture stage is written elsewhere).
fn read_capture(path: &std::path::Path) -> Vec<OwnedFrame> {
    use pcap_parser::{Block, PcapBlockOwned, PcapError};
    let file = std::fs::File::open(path).unwrap();
    let mut reader = pcap_parser::create_reader(1 << 20, file).unwrap();
    let mut frames = Vec::new();
    let mut legacy_link = LinkType::ETHERNET;
    let mut if_links: Vec<(LinkType, u64)> = Vec::new();
    for _ in 0..1_000_000 {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => legacy_link = LinkType(h.network.0 as u32),
                    PcapBlockOwned::Legacy(b) => frames.push(OwnedFrame {
                        link: legacy_link,
                        time: Timestamp::from_parts(i64::from(b.ts_sec), b.ts_usec * 1000),
                        data: b.data.to_vec(),
                        orig_len: b.origlen,
                    }),
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => if_links.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let resolution = idb.ts_resolution().unwrap_or(1_000_000);
                        if_links.push((LinkType(idb.linktype.0 as u32), resolution));
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let (link, resolution) = if_links[epb.if_id as usize];
                        let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let ns = i128::from(ticks) * 1_000_000_000 / i128::from(resolution);
                        frames.push(OwnedFrame {
                            link,
                            time: Timestamp(i64::try_from(ns).unwrap()),
                            data: epb.data[..epb.caplen as usize].to_vec(),
                            orig_len: epb.origlen,
                        });
                    }
                    _ => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader.refill().unwrap(),
            Err(e) => panic!("{}: {e:?}", path.display()),
        }
    }
    frames
}

/// Decodes a whole capture, returning every datagram and the decoder.
fn decode_capture(name: &str) -> Option<(Vec<Seen>, Warnings, Decoder)> {
    let path = shared_captures()?.join(name);
    let frames = read_capture(&path);
    let mut decoder = Decoder::default();
    let mut warnings = Warnings::default();
    let mut seen = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let frame = Frame {
            at: FrameRef { file: 0, number: i as u64 + 1, time: f.time },
            link: f.link,
            data: &f.data,
            orig_len: f.orig_len,
            interface: None,
        };
        seen.extend(decode_one(&mut decoder, &mut warnings, &frame));
    }
    Some((seen, warnings, decoder))
}

fn port_5060(d: &Seen) -> bool {
    d.src.port() == 5060 || d.dst.port() == 5060
}

fn looks_like_sip(payload: &[u8]) -> bool {
    const STARTS: [&[u8]; 9] =
        [b"SIP/2.0 ", b"INVITE ", b"ACK ", b"BYE ", b"CANCEL ", b"PRACK ", b"UPDATE ", b"OPTIONS ", b"REGISTER "];
    STARTS.iter().any(|s| payload.starts_with(s))
}

#[test]
fn sngrep_ipv6frag_gives_32_sip_messages() {
    let Some((seen, warnings, decoder)) = decode_capture("sngrep-ipv6frag.pcap") else {
        return;
    };
    // SIP runs on ports 5062 / 15060 / 25060 in this capture (not 5060): count by content.
    let sip: Vec<&Seen> = seen.iter().filter(|d| d.transport == Transport::Udp && looks_like_sip(&d.payload)).collect();
    assert_eq!(sip.len(), 32, "tshark counts 32 SIP messages");
    assert_eq!(seen.len(), 32);
    assert!(sip.iter().all(|d| d.src.is_ipv6()));
    assert_eq!(decoder.counters.reassembled, 2, "4 fragments → 2 messages");
    assert_eq!(decoder.counters.skipped, 2, "the first fragment of each pair waits");
    assert_eq!(warnings.total(), 0, "{:?}", warnings.kept());
    assert_eq!(decoder.pending_fragment_sets(), 0);
    // The reassembled messages are longer than one fragment and end with their SDP body.
    let reassembled: Vec<&&Seen> = sip.iter().filter(|d| d.payload.len() > 1500).collect();
    assert_eq!(reassembled.len(), 2);
    assert!(reassembled.iter().all(|d| d.payload.ends_with(b"\r\n")));
}

#[test]
fn arkime_gtp_inner_addresses_are_ipv6() {
    let Some((seen, warnings, _)) = decode_capture("arkime-gtp-iphone.pcap") else {
        return;
    };
    // Everything is inside GTP-U: no datagram keeps the tunnel's port.
    assert!(seen.iter().all(|d| d.src.port() != 2152 && d.dst.port() != 2152));
    // SIP (TCP port 5060) and RTP run over the inner IPv6; only a few DNS lookups are IPv4.
    let sip: Vec<&Seen> = seen.iter().filter(|d| port_5060(d)).collect();
    assert!(!sip.is_empty());
    assert!(sip.iter().all(|d| d.src.is_ipv6() && d.dst.is_ipv6()));
    assert!(sip.iter().any(|d| matches!(d.transport, Transport::Tcp { .. }) && looks_like_sip(&d.payload)));
    let v6 = seen.iter().filter(|d| d.src.is_ipv6()).count();
    let v4: Vec<u16> = seen.iter().filter(|d| d.src.is_ipv4()).map(|d| d.src.port().min(d.dst.port())).collect();
    assert!(v4.iter().all(|&p| p == 53), "{v4:?}");
    eprintln!("arkime: {v6} IPv6 datagrams, {} IPv4 (DNS)", v4.len());
    assert_eq!(warnings.total(), 0, "{:?}", warnings.kept());
}

#[test]
fn ndpi_fuzz_big_endian_fragments_and_nesting() {
    let Some((seen, warnings, decoder)) = decode_capture("ndpi-fuzz-2006-06-26-2594.pcap") else {
        return;
    };
    eprintln!("fuzz: {} datagrams, {:?}, warnings {:?}", seen.len(), decoder.counters, warnings.counts());
    // A fuzzed copy of sngrep-aaa.pcap: its "fragments" are flipped bits that never complete
    // (tshark reassembles none of them either); decoding goes on without panicking.
    assert_eq!(decoder.counters.reassembled, 0);
    assert!(decoder.counters.fragments_dropped > 0);
    // Its one "IPv6" frame is an IPv6 header behind EtherType 0x0800 (tshark: "Bogus IPv4
    // version"), reported as malformed here.
    assert!(decoder.counters.malformed > 0);
    assert!(seen.len() > 400);
}

#[test]
fn mediastreamer2_icmp_unreachable_quotes_rtp() {
    let Some((seen, _, _)) = decode_capture("mediastreamer2-pcmu_8k_no_jitter.pcap") else {
        return;
    };
    let icmp: Vec<&Seen> = seen.iter().filter(|d| d.icmp.is_some()).collect();
    assert_eq!(icmp.len(), 4, "tshark: nested IP 4");
    for d in &icmp {
        // The quoted payload starts like RTP version 2.
        assert_eq!(d.payload.first().map(|b| b >> 6), Some(2));
    }
}

#[test]
fn other_links_decode_without_warnings() {
    for (name, expect_vlan, expect_tcp) in [
        ("ndpi-rtp.pcapng", true, true),
        ("sipnab-h263-over-rtp.pcap", false, false),
        ("suricata-sip-body-large.pcap", false, true),
        ("sipnab-sip-over-tcp.pcap", false, true),
    ] {
        let Some((seen, warnings, decoder)) = decode_capture(name) else {
            return;
        };
        eprintln!("{name}: {} datagrams, {:?}", seen.len(), decoder.counters);
        assert!(!seen.is_empty(), "{name}");
        assert_eq!(warnings.total(), 0, "{name}: {:?}", warnings.kept());
        assert_eq!(seen.iter().any(|d| d.vlan.is_some()), expect_vlan, "{name}");
        assert_eq!(
            seen.iter().any(|d| matches!(d.transport, Transport::Tcp { .. }) && !d.payload.is_empty()),
            expect_tcp,
            "{name}"
        );
    }
}

#[test]
fn random_bit_flips_never_panic() {
    let mut gtp = vec![0x34, 0xFF, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0x85, 1, 0x10, 0x09, 0];
    gtp.extend_from_slice(&ipv6(17, A6, B6, 0, &udp(1, 2, b"inner")));
    let gtp_len = u16::try_from(gtp.len() - 8).unwrap().to_be_bytes();
    gtp[2..4].copy_from_slice(&gtp_len);
    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&udp4_packet(&[0x80; 20]));
    let datagram = udp(5060, 5060, &sip_payload(100));
    let seeds = [
        vlan_stack(2, &udp4_packet(b"hello")),
        ethernet(0x0800, &ipv4(17, A4, B4, 0, 0, 0, &udp(2152, 2152, &gtp))),
        ethernet(0x0800, &ipv4(1, A4, B4, 0, 0, 0, &icmp)),
        ethernet(0x86DD, &ipv6_fragment(5, 0, true, 17, &datagram[..64])),
        ethernet(0x86DD, &ipv6_fragment(5, 64, false, 17, &datagram[64..])),
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift64: deterministic, so a failure is reproducible.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut decoder = Decoder::default();
    let mut warnings = Warnings::default();
    for round in 0..5000u64 {
        let seed = &seeds[(next() % seeds.len() as u64) as usize];
        let mut packet = seed.clone();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() % packet.len() as u64) as usize;
            packet[at] ^= 1 << (next() % 8);
        }
        let cut = (next() % (packet.len() as u64 + 1)) as usize;
        let frame = frame_at(LinkType::ETHERNET, &packet[..cut], round + 1, 0);
        decode_one(&mut decoder, &mut warnings, &frame);
    }
    assert!(decoder.pending_fragment_sets() <= DecodeLimits::default().max_fragment_sets);
}

/// Rough per-frame cost (run with `cargo test --release -- --ignored decode_cost`).
#[test]
#[ignore]
fn decode_cost() {
    let Some(dir) = shared_captures() else { return };
    let frames = read_capture(&dir.join("sipnab-SIP_CALL_RTP_G711.pcap"));
    let mut decoder = Decoder::default();
    let mut warnings = Warnings::default();
    let mut bytes = 0usize;
    let rounds = 200;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        for (i, f) in frames.iter().enumerate() {
            let frame = Frame {
                at: FrameRef { file: 0, number: i as u64 + 1, time: f.time },
                link: f.link,
                data: &f.data,
                orig_len: f.orig_len,
                interface: None,
            };
            decoder.decode(&frame, &mut warnings, &mut |dg, _| bytes += dg.payload.len());
        }
    }
    let per = start.elapsed().as_nanos() / (rounds * frames.len()) as u128;
    eprintln!("decode: {per} ns per frame ({} frames x {rounds}, {bytes} payload bytes)", frames.len());
}
