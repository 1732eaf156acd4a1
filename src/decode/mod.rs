//! Stage 2 — decode: a [`Frame`] → zero or more transport [`Datagram`]s.
//!
//! Input: frames with their link type. Output: UDP and TCP payloads with the innermost IP
//! 5-tuple, VLAN id and DSCP, borrowing the frame (or the fragment table's buffer once an IP
//! datagram is reassembled). State: the IP fragment table (bounded, with timeout) and counters.
//! Link layers: Ethernet (802.1Q / QinQ, MPLS, PPPoE session), Linux SLL / SLL2, NULL / LOOP,
//! raw IPv4/IPv6.
//! Tunnels looked through: IP-in-IP, IPv6-in-IPv4, GRE (incl. ERSPAN II/III), GTP-U (UDP 2152),
//! VXLAN (UDP 4789). ICMP errors quoting a UDP datagram are passed on, marked, so that RTP
//! inside them is not counted but the error can be reported.
//!
//! `counters.skipped` counts frames that produced no datagram (non-IP, plain TCP ACKs, GTP
//! signalling, fragments waiting for the rest, undecodable). Frames cut by the snap length are
//! decoded as far as they go without a warning; lengths that lie in a frame that was not cut
//! give one `MalformedPacket` warning. Call [`Decoder::finish`] at the end of the capture so
//! incomplete fragment sets are reported.
//!
//! Parsing is by hand (every length checked, see `ip.rs`): etherparse 0.21 stops at 3 VLAN
//! tags, has no SLL2/NULL parsers, rejects SLL with ARPHRD 772 and allocates in its defrag
//! pool; its `PacketBuilder` builds the test packets. Per-frame state lives in a `Walk`; the
//! walk recurses once per IP layer and is bounded by [`MAX_NESTING`].

mod frag;
mod icmp;
mod ip;
mod link;
mod tunnel;

use std::net::{IpAddr, SocketAddr};

use crate::capture::{Frame, FrameRef, LinkType};
use crate::warn::{WarningKind, Warnings};

use frag::{FragmentKey, FragmentTable, Outcome, Piece};
use link::{Next, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use tunnel::{Gtp, GTP_U_PORT, VXLAN_PORT};

/// Most IP layers (tunnels) looked through in one frame; deeper nesting is a malformed packet
/// (protects against recursion attacks).
pub const MAX_NESTING: u8 = 8;
/// Most VLAN tags followed in one Ethernet header (802.1Q, 802.1ad QinQ, and the legacy
/// 0x9100 / 0x9200 tags); deeper stacks get a `VlanTooDeep` warning.
pub const MAX_VLAN_TAGS: usize = 8;

/// Transport protocol of a datagram, with the TCP fields SIP reassembly needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP segment.
    Tcp {
        /// Sequence number of the first payload byte.
        seq: u32,
        /// TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10).
        flags: u8,
    },
}

/// An ICMP / ICMPv6 error that quoted this datagram (destination or port unreachable, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpError {
    /// ICMP type (3 = destination unreachable for v4, 1 for v6).
    pub icmp_type: u8,
    /// ICMP code (3 = port unreachable for v4, 4 for v6).
    pub code: u8,
    /// Address of the host that sent the error.
    pub reporter: std::net::IpAddr,
}

/// A transport payload with its innermost addresses.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    /// The frame this came from (for fragments: the frame that completed the datagram).
    pub at: FrameRef,
    /// Source address and port (innermost IP header).
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// Outermost VLAN id, if any.
    pub vlan: Option<u16>,
    /// Capture interface of the frame ([`Frame::interface`]), matched by the site map.
    pub interface: Option<u16>,
    /// DSCP of the innermost IP header (TOS / traffic class >> 2).
    pub dscp: u8,
    /// Set when this datagram was quoted inside an ICMP error rather than seen itself.
    pub icmp_error: Option<IcmpError>,
    /// The transport payload (possibly cut short by the snap length).
    pub payload: &'a [u8],
}

/// Limits of the decoder's state.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecodeLimits {
    /// Most incomplete IP datagrams held for reassembly at once.
    pub max_fragment_sets: usize,
    /// Most bytes held by the fragment table in total.
    pub max_fragment_bytes: usize,
    /// Incomplete fragment sets older than this (ns of capture time) are dropped with a warning.
    pub fragment_timeout_ns: i64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { max_fragment_sets: 4096, max_fragment_bytes: 16 << 20, fragment_timeout_ns: 30_000_000_000 }
    }
}

/// Counters the decoder keeps for the run summary.
#[derive(Clone, Debug, Default)]
pub struct DecodeCounters {
    /// Frames that yielded no datagram (not IP, not UDP/TCP, undecodable, or a fragment
    /// waiting for the rest of its datagram).
    pub skipped: u64,
    /// IP datagrams reassembled from fragments.
    pub reassembled: u64,
    /// Fragment sets dropped (timeout, overlap, table full).
    pub fragments_dropped: u64,
    /// Datagrams handed to the sink (including ICMP-quoted ones).
    pub datagrams: u64,
    /// Frames with a malformed header (each also gave a `MalformedPacket` warning).
    pub malformed: u64,
    /// Frames with more VLAN tags than [`MAX_VLAN_TAGS`].
    pub vlan_too_deep: u64,
    /// Frames of a link type the decoder does not know.
    pub unsupported_link: u64,
}

/// Link/IP/transport decoder with its fragment table.
#[derive(Debug, Default)]
pub struct Decoder {
    /// Limits in force.
    pub limits: DecodeLimits,
    /// Counters.
    pub counters: DecodeCounters,
    fragments: FragmentTable,
    /// (file, link type) pairs already warned about, so the warning comes once per input.
    unsupported_warned: Vec<(u16, LinkType)>,
}

/// Why the walk over one frame stopped without (further) datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Nothing to decode (not IP, not UDP/TCP, cut by the snap length…): counted, no warning.
    Skip,
    /// Link type not decoded.
    Unsupported,
    /// The frame (not cut by the snap length) ends inside the named header.
    Short(&'static str),
    /// A header whose fields cannot be right.
    Malformed(&'static str),
    /// More VLAN tags than followed.
    VlanTooDeep,
}

impl Stop {
    /// Data ran out inside `what`: expected when the capture cut the frame (`cut`), malformed
    /// otherwise.
    pub(crate) fn short(cut: bool, what: &'static str) -> Stop {
        if cut {
            Stop::Skip
        } else {
            Stop::Short(what)
        }
    }
}

/// Big-endian u16 at `at`, if present.
pub(crate) fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

/// Big-endian u32 at `at`, if present.
pub(crate) fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

/// Per-frame state of the walk through the layers.
struct Walk<'w> {
    at: FrameRef,
    /// The bytes being walked may be cut short by the snap length.
    cut: bool,
    vlan: Option<u16>,
    interface: Option<u16>,
    depth: u8,
    emitted: u32,
    warnings: &'w mut Warnings,
    sink: &'w mut dyn FnMut(&Datagram<'_>, &mut Warnings),
}

impl Walk<'_> {
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        counters: &mut DecodeCounters,
        src: SocketAddr,
        dst: SocketAddr,
        transport: Transport,
        dscp: u8,
        icmp_error: Option<IcmpError>,
        payload: &[u8],
    ) {
        let datagram = Datagram {
            at: self.at,
            src,
            dst,
            transport,
            vlan: self.vlan,
            interface: self.interface,
            dscp,
            icmp_error,
            payload,
        };
        (self.sink)(&datagram, self.warnings);
        self.emitted += 1;
        counters.datagrams += 1;
    }
}

/// The bulk of VoIP traffic, decoded without the general walk's dispatch: a whole, untagged
/// Ethernet II frame carrying IPv4 without options or fragmentation and UDP not on a tunnel
/// port, with every length consistent. Gives exactly the datagram the walk would give for
/// such a frame; anything else (`None`) takes the walk, which also warns.
fn plain_udp_over_ethernet<'f>(frame: &Frame<'f>) -> Option<Datagram<'f>> {
    let data = frame.data;
    let ip = data.get(14..)?;
    if be16(data, 12)? != ETHERTYPE_IPV4 || *ip.first()? != 0x45 {
        return None;
    }
    let total = usize::from(be16(ip, 2)?);
    let flags_offset = be16(ip, 6)?;
    if *ip.get(9)? != PROTO_UDP || flags_offset & 0x3FFF != 0 || total > ip.len() {
        return None;
    }
    let udp = ip.get(20..total)?;
    let (src_port, dst_port, length) = (be16(udp, 0)?, be16(udp, 2)?, usize::from(be16(udp, 4)?));
    if length < 8 || length > udp.len() || [src_port, dst_port].iter().any(|p| *p == GTP_U_PORT || *p == VXLAN_PORT) {
        return None;
    }
    let addr = |at: usize| -> Option<IpAddr> {
        let octets: [u8; 4] = ip.get(at..at + 4)?.try_into().ok()?;
        Some(IpAddr::V4(octets.into()))
    };
    Some(Datagram {
        at: frame.at,
        src: SocketAddr::new(addr(12)?, src_port),
        dst: SocketAddr::new(addr(16)?, dst_port),
        transport: Transport::Udp,
        vlan: None,
        interface: frame.interface,
        dscp: *ip.get(1)? >> 2,
        icmp_error: None,
        payload: udp.get(8..length)?,
    })
}

/// Addresses and DSCP of the innermost IP header seen so far.
#[derive(Clone, Copy, Debug)]
struct IpMeta {
    src: IpAddr,
    dst: IpAddr,
    dscp: u8,
    ipv6: bool,
}

const PROTO_ICMP: u8 = 1;
const PROTO_IPIP: u8 = 4;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_IPV6: u8 = 41;
const PROTO_GRE: u8 = 47;
const PROTO_ICMPV6: u8 = 58;
/// TCP flags that change connection state (FIN, SYN, RST).
const TCP_FIN_SYN_RST: u8 = 0x07;

impl Decoder {
    /// A decoder with the given limits.
    pub fn new(limits: DecodeLimits) -> Self {
        Decoder { limits, ..Decoder::default() }
    }

    /// Incomplete fragment sets currently held (for tests and the run summary).
    pub fn pending_fragment_sets(&self) -> usize {
        self.fragments.len()
    }

    /// Bytes buffered by incomplete fragment sets.
    pub fn pending_fragment_bytes(&self) -> usize {
        self.fragments.bytes()
    }

    /// Decodes one frame and calls `sink` for each UDP/TCP datagram found (usually one; none for
    /// non-IP frames or fragments still waiting for the rest). The warnings collector is handed
    /// on to the sink so that later stages can report too.
    pub fn decode(
        &mut self,
        frame: &Frame<'_>,
        warnings: &mut Warnings,
        sink: &mut dyn FnMut(&Datagram<'_>, &mut Warnings),
    ) {
        self.fragments.expire(frame.at, &self.limits, &mut self.counters, warnings);
        let cut = usize::try_from(frame.orig_len).map_or(true, |orig| orig > frame.data.len());
        if !cut && frame.link == LinkType::ETHERNET {
            if let Some(datagram) = plain_udp_over_ethernet(frame) {
                sink(&datagram, warnings);
                self.counters.datagrams += 1;
                return;
            }
        }
        let mut walk =
            Walk { at: frame.at, cut, vlan: None, interface: frame.interface, depth: 0, emitted: 0, warnings, sink };
        let result = match link::start(frame.link, frame.data, cut) {
            Ok(next) => self.next_layer(&mut walk, next),
            Err(stop) => Err(stop),
        };
        let at = frame.at;
        match result {
            Ok(()) | Err(Stop::Skip) => {}
            Err(Stop::Unsupported) => {
                self.counters.unsupported_link += 1;
                let key = (at.file, frame.link);
                if !self.unsupported_warned.contains(&key) && self.unsupported_warned.len() < 64 {
                    self.unsupported_warned.push(key);
                    walk.warnings.push(at.file, at.number, WarningKind::UnsupportedLink, || {
                        format!("link type {} is not decoded; its frames are skipped", frame.link.0)
                    });
                }
            }
            Err(Stop::Short(what)) => {
                self.counters.malformed += 1;
                walk.warnings
                    .push(at.file, at.number, WarningKind::MalformedPacket, || format!("frame ends inside the {what}"));
            }
            Err(Stop::Malformed(why)) => {
                self.counters.malformed += 1;
                walk.warnings.push(at.file, at.number, WarningKind::MalformedPacket, || why.to_string());
            }
            Err(Stop::VlanTooDeep) => {
                self.counters.vlan_too_deep += 1;
                walk.warnings.push(at.file, at.number, WarningKind::VlanTooDeep, || {
                    format!("more than {MAX_VLAN_TAGS} VLAN tags; frame skipped")
                });
            }
        }
        if walk.emitted == 0 {
            self.counters.skipped += 1;
        }
    }

    /// Drops every incomplete fragment set with a `FragmentDropped` warning each; call once at
    /// the end of the capture.
    pub fn finish(&mut self, warnings: &mut Warnings) {
        self.fragments.drain(&mut self.counters, warnings);
    }

    fn next_layer(&mut self, walk: &mut Walk<'_>, next: Next<'_>) -> Result<(), Stop> {
        match next {
            Next::Ethernet(bytes) => {
                // Ethernet II: destination (6), source (6), EtherType (2). EtherType values
                // below 0x0600 are 802.3 lengths (LLC frames: STP, CDP…), never IP here.
                let ether_type = be16(bytes, 12).ok_or_else(|| Stop::short(walk.cut, "Ethernet header"))?;
                self.ether_type(walk, ether_type, bytes.get(14..).unwrap_or_default())
            }
            Next::EtherType(ether_type, bytes) => self.ether_type(walk, ether_type, bytes),
            Next::Ip(bytes) => match bytes.first().map(|b| b >> 4) {
                Some(4) => self.ip(walk, bytes, false),
                Some(6) => self.ip(walk, bytes, true),
                Some(_) => Err(Stop::Malformed("raw IP with a version other than 4 or 6")),
                None => Err(Stop::short(walk.cut, "IP header")),
            },
            Next::Ipv4(bytes) => self.ip(walk, bytes, false),
            Next::Ipv6(bytes) => self.ip(walk, bytes, true),
        }
    }

    /// Follows VLAN tags (802.1Q 0x8100, 802.1ad 0x88A8, pre-standard QinQ 0x9100/0x9200) to
    /// IPv4 or IPv6.
    fn ether_type(&mut self, walk: &mut Walk<'_>, mut ether_type: u16, mut bytes: &[u8]) -> Result<(), Stop> {
        let mut tags = 0usize;
        loop {
            match ether_type {
                0x8100 | 0x88A8 | 0x9100 | 0x9200 => {
                    tags += 1;
                    if tags > MAX_VLAN_TAGS {
                        return Err(Stop::VlanTooDeep);
                    }
                    let tci = be16(bytes, 0).ok_or_else(|| Stop::short(walk.cut, "VLAN tag"))?;
                    ether_type = be16(bytes, 2).ok_or_else(|| Stop::short(walk.cut, "VLAN tag"))?;
                    if walk.vlan.is_none() {
                        walk.vlan = Some(tci & 0x0FFF);
                    }
                    bytes = bytes.get(4..).unwrap_or_default();
                }
                ETHERTYPE_IPV4 => return self.ip(walk, bytes, false),
                ETHERTYPE_IPV6 => return self.ip(walk, bytes, true),
                // MPLS unicast/multicast (RFC 3032 §2.1): 4-byte labels until the
                // bottom-of-stack bit; the payload's version nibble says IPv4 or IPv6 (as
                // Wireshark guesses too; pseudowires with a control word are skipped).
                0x8847 | 0x8848 => {
                    for _ in 0..MAX_VLAN_TAGS {
                        let label = be32(bytes, 0).ok_or_else(|| Stop::short(walk.cut, "MPLS label"))?;
                        bytes = bytes.get(4..).unwrap_or_default();
                        if label & 0x100 != 0 {
                            return match bytes.first().map(|b| b >> 4) {
                                Some(4) => self.ip(walk, bytes, false),
                                Some(6) => self.ip(walk, bytes, true),
                                _ => Err(Stop::Skip),
                            };
                        }
                    }
                    return Err(Stop::Malformed("MPLS label stack deeper than 8"));
                }
                // PPPoE session (RFC 2516 §4): 6-byte header, then the PPP protocol field
                // (0x0021 IPv4, 0x0057 IPv6, RFC 1661 / RFC 5072).
                0x8864 => {
                    let protocol = be16(bytes, 6).ok_or_else(|| Stop::short(walk.cut, "PPPoE header"))?;
                    let packet = bytes.get(8..).unwrap_or_default();
                    return match protocol {
                        0x0021 => self.ip(walk, packet, false),
                        0x0057 => self.ip(walk, packet, true),
                        _ => Err(Stop::Skip),
                    };
                }
                _ => return Err(Stop::Skip),
            }
        }
    }

    /// One IP layer: header, fragment reassembly, then the transport or the next tunnel.
    fn ip(&mut self, walk: &mut Walk<'_>, bytes: &[u8], ipv6: bool) -> Result<(), Stop> {
        walk.depth += 1;
        if walk.depth > MAX_NESTING {
            return Err(Stop::Malformed("IP tunnels nested deeper than 8"));
        }
        let header = if ipv6 { ip::parse_ipv6(bytes, walk.cut)? } else { ip::parse_ipv4(bytes, walk.cut)? };
        let meta = IpMeta { src: header.src, dst: header.dst, dscp: header.dscp, ipv6 };
        if header.length_exceeds_frame {
            // See ip::IpHeader::length_exceeds_frame: warn, then go on as with a cut frame.
            self.counters.malformed += 1;
            let present = header.payload.len();
            walk.warnings.push(walk.at.file, walk.at.number, WarningKind::MalformedPacket, || {
                format!("IPv4 total length exceeds the packet: the {present} payload bytes present are used")
            });
            walk.cut = true;
        }
        let Some(fragment) = header.fragment else {
            return self.after_reassembly(walk, meta, header.proto, header.payload);
        };
        if header.payload_cut {
            // Part of the fragment was not captured: the datagram cannot be rebuilt. Its set
            // will time out with a FragmentDropped warning if other fragments arrived.
            return Err(Stop::Skip);
        }
        let piece = Piece {
            key: FragmentKey { src: header.src, dst: header.dst, id: fragment.id, proto: header.proto },
            offset: fragment.offset,
            more: fragment.more,
            dscp: header.dscp,
            data: header.payload,
        };
        let outcome = self.fragments.insert(&piece, walk.at, &self.limits, &mut self.counters, walk.warnings)?;
        match outcome {
            Outcome::Held | Outcome::Discarded => Ok(()),
            Outcome::Complete(done) => {
                let saved_cut = walk.cut;
                walk.cut = false;
                let meta = IpMeta { dscp: done.dscp, ..meta };
                let result = self.after_reassembly(walk, meta, header.proto, &done.data);
                walk.cut = saved_cut;
                self.fragments.recycle(done);
                result
            }
        }
    }

    /// A whole IP payload starting with protocol `proto`: extension headers that follow the
    /// fragment header (IPv6) or AH, then the transport.
    fn after_reassembly(&mut self, walk: &mut Walk<'_>, meta: IpMeta, proto: u8, payload: &[u8]) -> Result<(), Stop> {
        let (proto, payload, fragment) = ip::skip_extensions(proto, payload, meta.ipv6, walk.cut)?;
        if fragment.is_some_and(|f| !f.is_whole()) {
            return Err(Stop::Malformed("second IPv6 fragment header in a reassembled datagram"));
        }
        self.transport(walk, meta, proto, payload)
    }

    fn transport(&mut self, walk: &mut Walk<'_>, meta: IpMeta, proto: u8, payload: &[u8]) -> Result<(), Stop> {
        match proto {
            PROTO_UDP => self.udp(walk, meta, payload),
            PROTO_TCP => self.tcp(walk, meta, payload),
            PROTO_IPIP => self.ip(walk, payload, false),
            PROTO_IPV6 => self.ip(walk, payload, true),
            PROTO_GRE => {
                let next = tunnel::gre(payload, walk.cut)?;
                self.next_layer(walk, next)
            }
            PROTO_ICMP if !meta.ipv6 => self.icmp(walk, meta, payload),
            PROTO_ICMPV6 if meta.ipv6 => self.icmp(walk, meta, payload),
            _ => Err(Stop::Skip),
        }
    }

    fn icmp(&mut self, walk: &mut Walk<'_>, meta: IpMeta, message: &[u8]) -> Result<(), Stop> {
        let quoted = icmp::quoted_udp(message, meta.ipv6, meta.src).ok_or(Stop::Skip)?;
        walk.emit(
            &mut self.counters,
            quoted.src,
            quoted.dst,
            Transport::Udp,
            quoted.dscp,
            Some(quoted.error),
            quoted.payload,
        );
        Ok(())
    }

    /// UDP (RFC 768): 8-byte header; the length field bounds the payload. GTP-U and VXLAN on
    /// their ports are looked through.
    fn udp(&mut self, walk: &mut Walk<'_>, meta: IpMeta, segment: &[u8]) -> Result<(), Stop> {
        let (Some(src_port), Some(dst_port), Some(length)) = (be16(segment, 0), be16(segment, 2), be16(segment, 4))
        else {
            return Err(Stop::short(walk.cut, "UDP header"));
        };
        let length = usize::from(length);
        if segment.len() < 8 {
            return Err(Stop::short(walk.cut, "UDP header"));
        }
        if length < 8 {
            return Err(Stop::Malformed("UDP length below 8"));
        }
        if length > segment.len() && !walk.cut {
            // The length field lies (damaged or fuzzed capture). Matches tshark 4.0.17: it
            // flags "Bad length value > IP payload length" and still dissects the bytes that
            // are there (ndpi-fuzz-2006-06-26-2594.pcap frames 253 and 603 are SIP to it). The
            // datagram is handed on with a warning and treated as cut from here on.
            self.counters.malformed += 1;
            let available = segment.len() - 8;
            walk.warnings.push(walk.at.file, walk.at.number, WarningKind::MalformedPacket, || {
                format!("UDP length {length} exceeds the IP payload: the {available} bytes present are used")
            });
            walk.cut = true;
        }
        // With a cut frame, hand over what was captured (the payload may be short).
        let payload = segment.get(8..length.min(segment.len())).unwrap_or_default();
        if src_port == GTP_U_PORT || dst_port == GTP_U_PORT {
            match tunnel::gtp_u(payload, walk.cut)? {
                Gtp::Packet(inner) => return self.next_layer(walk, Next::Ip(inner)),
                Gtp::Signalling => return Err(Stop::Skip),
                Gtp::Unrecognised => {}
            }
        }
        if src_port == VXLAN_PORT || dst_port == VXLAN_PORT {
            if let Some(frame) = tunnel::vxlan(payload) {
                return self.next_layer(walk, Next::Ethernet(frame));
            }
        }
        walk.emit(
            &mut self.counters,
            SocketAddr::new(meta.src, src_port),
            SocketAddr::new(meta.dst, dst_port),
            Transport::Udp,
            meta.dscp,
            None,
            payload,
        );
        Ok(())
    }

    /// TCP (RFC 9293 §3.1): data offset bounds the header. Segments without payload are passed
    /// on only when SYN, FIN or RST is set (the SIP stage resets its stream state on them).
    fn tcp(&mut self, walk: &mut Walk<'_>, meta: IpMeta, segment: &[u8]) -> Result<(), Stop> {
        let (Some(src_port), Some(dst_port), Some(seq), Some(&offset_byte), Some(&flags)) =
            (be16(segment, 0), be16(segment, 2), be32(segment, 4), segment.get(12), segment.get(13))
        else {
            return Err(Stop::short(walk.cut, "TCP header"));
        };
        let header_len = usize::from(offset_byte >> 4) * 4;
        if header_len < 20 {
            return Err(Stop::Malformed("TCP data offset below 5"));
        }
        let payload = segment.get(header_len..).ok_or_else(|| Stop::short(walk.cut, "TCP header"))?;
        if payload.is_empty() && flags & TCP_FIN_SYN_RST == 0 {
            return Err(Stop::Skip);
        }
        walk.emit(
            &mut self.counters,
            SocketAddr::new(meta.src, src_port),
            SocketAddr::new(meta.dst, dst_port),
            Transport::Tcp { seq, flags },
            meta.dscp,
            None,
            payload,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests;
