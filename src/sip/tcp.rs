//! SIP over TCP: per-direction byte-stream reassembly and message framing by Content-Length
//! (RFC 3261 §18.3).
//!
//! Every TCP segment of the capture comes here. A direction of a connection is recognised as SIP
//! by content when its first bytes are a SIP start line (any port); TLS (a handshake record
//! `16 03`, or non-SIP bytes on port 5061) is counted and warned about once per connection; any
//! other stream is marked not-SIP and later segments cost one table lookup. In-order bytes are
//! appended, retransmitted bytes dropped, out-of-order segments held until the gap fills; a hole
//! that stays open past [`TcpLimits::max_held_segments`] / [`TcpLimits::max_held_bytes`] is
//! skipped with a `TcpStreamGap` warning and the stream resynchronises on the next start line.
//! All state is bounded: connections, bytes per connection and in total, idle time.

use std::net::SocketAddr;

use super::dialog::Wire;
use super::scan::{looks_like_start_line, scan_message_limited, ScanError, ScanLimits, SipMessageRef};
use crate::decode::{Datagram, Transport};
use crate::time::Timestamp;
use crate::warn::{WarningKind, Warnings};

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const FIN: u8 = 0x01;

/// Limits of the TCP reassembly state.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TcpLimits {
    /// Most stream directions tracked at once.
    pub max_streams: usize,
    /// Most bytes buffered (in-order, not yet framed) per stream direction.
    pub max_stream_bytes: usize,
    /// Most bytes buffered over all streams (in-order and held).
    pub max_total_bytes: usize,
    /// Most out-of-order segments held per stream before the hole is skipped.
    pub max_held_segments: usize,
    /// Most out-of-order bytes held per stream before the hole is skipped.
    pub max_held_bytes: usize,
    /// A stream idle this long (ns of capture time) may be evicted when the table is full.
    pub idle_timeout_ns: i64,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_streams: 16_384,
            // A SIP message on a stream is at most MAX_HEADER_BYTES + MAX_BODY_BYTES.
            max_stream_bytes: super::scan::MAX_HEADER_BYTES + super::scan::MAX_BODY_BYTES,
            max_total_bytes: 256 << 20,
            max_held_segments: 64,
            max_held_bytes: 512 << 10,
            idle_timeout_ns: 600_000_000_000,
        }
    }
}

/// Counters for the run summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpCounters {
    /// Stream directions recognised as SIP.
    pub sip_streams: u64,
    /// TLS connections seen (not decodable).
    pub tls_connections: u64,
    /// Segments whose bytes had all been seen already.
    pub retransmitted_segments: u64,
    /// Holes skipped (bytes never captured).
    pub gaps: u64,
    /// Streams evicted because the table was full.
    pub evicted: u64,
    /// Messages rejected by a `[limits.sip.scan]` size cap (too many headers, header section
    /// or Content-Length too large).
    pub oversized_messages: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamKind {
    /// No payload byte seen yet.
    Unknown,
    /// SIP: framed.
    Sip,
    /// TLS: ignored after one warning.
    Tls,
    /// Anything else: ignored.
    NotSip,
}

#[derive(Debug)]
struct Stream {
    kind: StreamKind,
    /// Sequence number of the next expected byte.
    next_seq: Option<u32>,
    /// In-order bytes not yet framed into messages.
    buf: Vec<u8>,
    /// Out-of-order segments (seq, bytes).
    held: Vec<(u32, Vec<u8>)>,
    held_bytes: usize,
    /// After a gap or malformed message: discard bytes up to the next SIP start line.
    resync: bool,
    last_seen: Timestamp,
    /// The last segment (messages completed at the end of input are dated by it).
    last_wire: Wire,
}

impl Stream {
    fn new(at: Timestamp, wire: Wire) -> Self {
        Stream {
            kind: StreamKind::Unknown,
            next_seq: None,
            buf: Vec::new(),
            held: Vec::new(),
            held_bytes: 0,
            resync: false,
            last_seen: at,
            last_wire: wire,
        }
    }

    fn bytes(&self) -> usize {
        self.buf.len() + self.held_bytes
    }
}

/// Per-direction TCP reassembly with SIP framing.
#[derive(Debug, Default)]
pub struct TcpReassembler {
    streams: crate::FastHashMap<(SocketAddr, SocketAddr), Stream>,
    total_bytes: usize,
    /// Limits in force.
    pub limits: TcpLimits,
    /// Size caps of one message (set by the SIP stage from `[limits.sip.scan]`).
    pub scan_limits: ScanLimits,
    /// Counters.
    pub counters: TcpCounters,
}

/// Signed distance from `b` to `a` in sequence space (RFC 793 modular comparison).
fn seq_diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

impl TcpReassembler {
    /// A reassembler with the given limits.
    pub fn new(limits: TcpLimits) -> Self {
        TcpReassembler { limits, ..TcpReassembler::default() }
    }

    /// A reassembler with the given limits and message size caps.
    pub fn with_scan_limits(limits: TcpLimits, scan_limits: ScanLimits) -> Self {
        TcpReassembler { limits, scan_limits, ..TcpReassembler::default() }
    }

    /// Feeds one TCP segment; calls `on_message` for every complete SIP message it completes.
    pub fn on_segment(
        &mut self,
        dg: &Datagram<'_>,
        warnings: &mut Warnings,
        on_message: &mut dyn FnMut(&SipMessageRef<'_>, Wire, &mut Warnings),
    ) {
        let Transport::Tcp { seq, flags } = dg.transport else {
            return;
        };
        let key = (dg.src, dg.dst);
        let wire = wire_of(dg);
        if !self.streams.contains_key(&key) {
            // Pure ACKs and FIN/RST of unknown connections create no state.
            if dg.payload.is_empty() && flags & SYN == 0 {
                return;
            }
            self.make_room(dg, warnings);
            self.streams.insert(key, Stream::new(dg.at.time, wire));
        }
        let Some(stream) = self.streams.get_mut(&key) else {
            return;
        };
        stream.last_seen = dg.at.time;
        stream.last_wire = wire;
        if matches!(stream.kind, StreamKind::Tls | StreamKind::NotSip) {
            if flags & (RST | FIN) != 0 {
                self.remove(key);
            }
            return;
        }
        let mut data_seq = seq;
        if flags & SYN != 0 {
            // The SYN occupies one sequence number (RFC 793 §3.3).
            data_seq = seq.wrapping_add(1);
            stream.next_seq = Some(data_seq);
        }
        if !dg.payload.is_empty() {
            self.on_data(key, data_seq, dg, warnings, on_message);
        }
        if flags & RST != 0 {
            self.remove(key);
        }
    }

    /// Ends the input: skips the holes of streams still holding out-of-order data (with a
    /// `TcpStreamGap` warning each) so that the messages after them are not lost.
    pub fn finish(
        &mut self,
        warnings: &mut Warnings,
        on_message: &mut dyn FnMut(&SipMessageRef<'_>, Wire, &mut Warnings),
    ) {
        let mut keys: Vec<_> = self
            .streams
            .iter()
            .filter(|(_, s)| !s.held.is_empty() && s.kind == StreamKind::Sip)
            .map(|(k, s)| (s.last_seen, *k))
            .collect();
        keys.sort();
        for (_, key) in keys {
            let Some(stream) = self.streams.get_mut(&key) else {
                continue;
            };
            let wire = stream.last_wire;
            let (file, frame) = (wire.at.file, wire.at.number);
            // Each skip consumes at least one held segment's gap; bounded by the held count.
            for _ in 0..=stream.held.len() {
                if stream.held.is_empty() {
                    break;
                }
                Self::skip_gap(stream, &mut self.counters, warnings, file, frame);
                Self::drain_held(stream);
                Self::frame(stream, &self.scan_limits, &mut self.counters, warnings, wire, on_message);
            }
        }
        self.streams.clear();
        self.total_bytes = 0;
    }

    fn remove(&mut self, key: (SocketAddr, SocketAddr)) {
        if let Some(s) = self.streams.remove(&key) {
            self.total_bytes = self.total_bytes.saturating_sub(s.bytes());
        }
    }

    /// Keeps the table under its cap: first drops idle streams, then the least recently seen.
    fn make_room(&mut self, dg: &Datagram<'_>, warnings: &mut Warnings) {
        if self.streams.len() < self.limits.max_streams {
            return;
        }
        let now = dg.at.time.0;
        let idle = self.limits.idle_timeout_ns;
        let before = self.streams.len();
        let mut freed = 0usize;
        let mut sip_evicted = 0u64;
        self.streams.retain(|_, s| {
            let keep = now.saturating_sub(s.last_seen.0) < idle;
            if !keep {
                freed += s.bytes();
                sip_evicted += u64::from(s.kind == StreamKind::Sip);
            }
            keep
        });
        if self.streams.len() >= self.limits.max_streams {
            if let Some(oldest) = self.streams.iter().min_by_key(|(k, s)| (s.last_seen, **k)).map(|(k, _)| *k) {
                if let Some(s) = self.streams.remove(&oldest) {
                    freed += s.bytes();
                    sip_evicted += u64::from(s.kind == StreamKind::Sip);
                }
            }
        }
        self.total_bytes = self.total_bytes.saturating_sub(freed);
        let evicted = (before - self.streams.len()) as u64;
        self.counters.evicted += evicted;
        if sip_evicted > 0 {
            warnings.push(dg.at.file, dg.at.number, WarningKind::StateEvicted, || {
                format!("TCP stream table full: {sip_evicted} SIP stream(s) evicted")
            });
        }
    }

    fn on_data(
        &mut self,
        key: (SocketAddr, SocketAddr),
        seq: u32,
        dg: &Datagram<'_>,
        warnings: &mut Warnings,
        on_message: &mut dyn FnMut(&SipMessageRef<'_>, Wire, &mut Warnings),
    ) {
        let (file, frame) = (dg.at.file, dg.at.number);
        let Some(stream) = self.streams.get_mut(&key) else {
            return;
        };
        let bytes_before = stream.bytes();
        let next = *stream.next_seq.get_or_insert(seq);
        let rel = seq_diff(seq, next);
        let payload = dg.payload;
        if rel < 0 {
            let already = usize::try_from(-rel).unwrap_or(usize::MAX);
            match payload.get(already..) {
                Some(fresh) if !fresh.is_empty() => {
                    Self::append(stream, fresh);
                }
                _ => {
                    self.counters.retransmitted_segments += 1;
                    return;
                }
            }
        } else if rel == 0 {
            Self::append(stream, payload);
        } else {
            // Out of order: hold it unless we already hold this sequence number.
            if !stream.held.iter().any(|(s, _)| *s == seq) {
                stream.held_bytes += payload.len();
                stream.held.push((seq, payload.to_vec()));
            } else {
                self.counters.retransmitted_segments += 1;
            }
            if stream.held.len() > self.limits.max_held_segments || stream.held_bytes > self.limits.max_held_bytes {
                Self::skip_gap(stream, &mut self.counters, warnings, file, frame);
            } else {
                self.total_bytes = (self.total_bytes + stream.bytes()).saturating_sub(bytes_before);
                return;
            }
        }
        Self::drain_held(stream);

        if stream.kind == StreamKind::Unknown {
            stream.kind = Self::recognise(&stream.buf, dg);
            match stream.kind {
                StreamKind::Unknown => {}
                StreamKind::Sip => self.counters.sip_streams += 1,
                StreamKind::Tls => {
                    let reverse_is_tls = self.streams.get(&(key.1, key.0)).is_some_and(|s| s.kind == StreamKind::Tls);
                    if !reverse_is_tls {
                        self.counters.tls_connections += 1;
                        warnings.push(file, frame, WarningKind::TlsNotDecoded, || {
                            format!("TLS connection {} → {}: SIP inside is not analysed", key.0, key.1)
                        });
                    }
                }
                StreamKind::NotSip => {}
            }
            let Some(stream) = self.streams.get_mut(&key) else {
                return;
            };
            if matches!(stream.kind, StreamKind::Tls | StreamKind::NotSip) {
                stream.buf = Vec::new();
                stream.held = Vec::new();
                stream.held_bytes = 0;
                self.total_bytes = self.total_bytes.saturating_sub(bytes_before);
                return;
            }
            if stream.kind == StreamKind::Sip && !looks_like_message_start(&stream.buf) {
                // Capture started inside a SIP connection: resynchronise on a start line.
                stream.resync = true;
            }
        }
        let Some(stream) = self.streams.get_mut(&key) else {
            return;
        };
        if stream.kind == StreamKind::Sip {
            Self::frame(stream, &self.scan_limits, &mut self.counters, warnings, wire_of(dg), on_message);
        }
        if stream.buf.len() > self.limits.max_stream_bytes
            || self.total_bytes + stream.bytes() > self.limits.max_total_bytes + bytes_before
        {
            let dropped = stream.buf.len();
            stream.buf.clear();
            stream.resync = true;
            self.counters.gaps += 1;
            warnings.push(file, frame, WarningKind::TcpStreamGap, || {
                format!("TCP stream {} → {}: {dropped} unframed bytes over the buffer limit skipped", key.0, key.1)
            });
        }
        self.total_bytes = (self.total_bytes + stream.bytes()).saturating_sub(bytes_before);
    }

    fn append(stream: &mut Stream, data: &[u8]) {
        stream.buf.extend_from_slice(data);
        if let Some(n) = stream.next_seq.as_mut() {
            *n = n.wrapping_add(data.len() as u32);
        }
    }

    /// Appends held segments that the in-order data now reaches (dropping their seen part).
    fn drain_held(stream: &mut Stream) {
        // Each pass removes one segment, so the loop is bounded by the held count.
        for _ in 0..=stream.held.len() {
            let Some(next) = stream.next_seq else { return };
            let Some(i) = stream.held.iter().position(|(s, _)| seq_diff(*s, next) <= 0) else {
                return;
            };
            let (s, bytes) = stream.held.swap_remove(i);
            stream.held_bytes = stream.held_bytes.saturating_sub(bytes.len());
            let already = usize::try_from(-seq_diff(s, next)).unwrap_or(usize::MAX);
            if let Some(fresh) = bytes.get(already..) {
                if !fresh.is_empty() {
                    Self::append(stream, fresh);
                }
            }
        }
    }

    /// Skips the hole before the lowest held segment: the partial message before it is lost.
    fn skip_gap(stream: &mut Stream, counters: &mut TcpCounters, warnings: &mut Warnings, file: u16, frame: u64) {
        let Some(next) = stream.next_seq else { return };
        let Some(lowest) = stream.held.iter().map(|(s, _)| *s).min_by_key(|s| seq_diff(*s, next)) else {
            return;
        };
        let missing = seq_diff(lowest, next);
        counters.gaps += 1;
        warnings.push(file, frame, WarningKind::TcpStreamGap, || {
            format!("TCP stream hole of {missing} bytes never filled: skipped")
        });
        stream.buf.clear();
        stream.next_seq = Some(lowest);
        stream.resync = true;
    }

    fn recognise(buf: &[u8], dg: &Datagram<'_>) -> StreamKind {
        let tls_port = dg.src.port() == 5061 || dg.dst.port() == 5061;
        let sip_port = dg.src.port() == 5060 || dg.dst.port() == 5060;
        // Keep-alive CRLFs (RFC 5626 §4.4.1) may precede the first message.
        let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
        let head = &buf[start..];
        if head.is_empty() {
            return StreamKind::Unknown;
        }
        if head.len() >= 2 && head[0] == 0x16 && head[1] == 0x03 {
            return StreamKind::Tls;
        }
        if looks_like_start_line(head) {
            return StreamKind::Sip;
        }
        // A first line not complete yet: wait (bounded by the stream byte cap).
        if memchr::memchr(b'\n', head).is_none()
            && head.len() < 256
            && head.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
        {
            return StreamKind::Unknown;
        }
        if tls_port {
            return StreamKind::Tls;
        }
        if sip_port {
            // Capture started inside a SIP connection: resynchronise on the next start line.
            return StreamKind::Sip;
        }
        StreamKind::NotSip
    }

    /// Frames complete messages out of the in-order buffer.
    fn frame(
        stream: &mut Stream,
        scan_limits: &ScanLimits,
        counters: &mut TcpCounters,
        warnings: &mut Warnings,
        wire: Wire,
        on_message: &mut dyn FnMut(&SipMessageRef<'_>, Wire, &mut Warnings),
    ) {
        let buf = &stream.buf;
        let mut off = 0usize;
        // Each pass consumes at least one byte or stops.
        while off < buf.len() {
            if stream.resync {
                match find_start_line(&buf[off..]) {
                    Resync::At(i) => {
                        off += i;
                        stream.resync = false;
                    }
                    Resync::Wait(i) => {
                        off += i;
                        stream.resync = true;
                        break;
                    }
                }
            }
            // Keep-alive CRLFs between messages.
            while buf.get(off).is_some_and(|&b| b == b'\r' || b == b'\n') {
                off += 1;
            }
            let Some(rest) = buf.get(off..) else { break };
            if rest.is_empty() {
                break;
            }
            match scan_message_limited(rest, scan_limits) {
                Ok((msg, used)) => {
                    on_message(&msg, wire, warnings);
                    off += used.max(1);
                }
                Err(ScanError::Incomplete) => break,
                Err(ScanError::Malformed(kind)) => {
                    if kind.limit_key().is_some() {
                        counters.oversized_messages += 1;
                    }
                    warnings.push(wire.at.file, wire.at.number, WarningKind::MalformedSip, || {
                        format!("SIP over TCP: {}; resynchronising", kind.describe_with(scan_limits))
                    });
                    off += 1;
                    stream.resync = true;
                }
            }
        }
        stream.buf.drain(..off.min(stream.buf.len()));
    }
}

fn wire_of(dg: &Datagram<'_>) -> Wire {
    Wire { at: dg.at, src: dg.src, dst: dg.dst, vlan: dg.vlan, interface: dg.interface }
}

/// True when the buffer starts with a start line or keep-alive CRLFs.
fn looks_like_message_start(buf: &[u8]) -> bool {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let head = &buf[start..];
    head.is_empty() || looks_like_start_line(head) || memchr::memchr(b'\n', head).is_none()
}

enum Resync {
    /// A start line begins at this offset.
    At(usize),
    /// None found: bytes before this offset can be dropped, the rest is an unfinished line.
    Wait(usize),
}

/// Finds the first line start that looks like a SIP start line.
fn find_start_line(buf: &[u8]) -> Resync {
    let mut line_start = 0usize;
    // Each pass moves to the next line.
    while line_start < buf.len() {
        let rest = &buf[line_start..];
        let lf = memchr::memchr(b'\n', rest);
        if looks_like_start_line(rest) {
            return Resync::At(line_start);
        }
        match lf {
            Some(i) => line_start += i + 1,
            None => return Resync::Wait(line_start),
        }
    }
    Resync::Wait(buf.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::FrameRef;

    /// Synthetic message with a 4-byte body.
    const MSG_A: &[u8] = b"INVITE sip:b@h SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\nContent-Length: 4\r\n\r\nv=0\n";
    /// Synthetic message without body.
    const MSG_B: &[u8] = b"SIP/2.0 100 Trying\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

    struct Feeder {
        tcp: TcpReassembler,
        warnings: Warnings,
        got: Vec<(String, u64)>,
        frame: u64,
    }

    impl Feeder {
        fn new() -> Self {
            Feeder { tcp: TcpReassembler::default(), warnings: Warnings::default(), got: Vec::new(), frame: 0 }
        }

        fn seg(&mut self, seq: u32, flags: u8, payload: &[u8]) {
            self.seg_ports(seq, flags, payload, 40000, 5060);
        }

        fn seg_ports(&mut self, seq: u32, flags: u8, payload: &[u8], sport: u16, dport: u16) {
            self.frame += 1;
            let dg = Datagram {
                at: FrameRef { file: 0, number: self.frame, time: Timestamp(self.frame as i64 * 1_000_000) },
                src: SocketAddr::from(([10, 0, 0, 1], sport)),
                dst: SocketAddr::from(([10, 0, 0, 2], dport)),
                transport: Transport::Tcp { seq, flags },
                vlan: None,
                interface: None,
                dscp: 0,
                icmp_error: None,
                payload,
            };
            let got = &mut self.got;
            self.tcp.on_segment(&dg, &mut self.warnings, &mut |m, wire, _| {
                let what = match m.start {
                    super::super::scan::StartLine::Request { method, .. } => method.as_str().to_string(),
                    super::super::scan::StartLine::Response { status, .. } => status.to_string(),
                };
                got.push((what, wire.at.number));
            });
        }

        fn count(&self, kind: WarningKind) -> u64 {
            self.warnings.counts().get(&(0, kind)).copied().unwrap_or(0)
        }
    }

    #[test]
    fn one_message_across_three_segments() {
        let mut f = Feeder::new();
        f.seg(999, SYN, b"");
        f.seg(1000, 0x18, &MSG_A[..10]);
        f.seg(1010, 0x18, &MSG_A[10..50]);
        assert!(f.got.is_empty());
        f.seg(1050, 0x18, &MSG_A[50..]);
        assert_eq!(f.got, vec![("INVITE".to_string(), 4)]);
        assert_eq!(f.tcp.counters.sip_streams, 1);
    }

    #[test]
    fn two_messages_in_one_segment_with_keepalive() {
        let mut f = Feeder::new();
        let mut both = MSG_A.to_vec();
        both.extend_from_slice(b"\r\n\r\n");
        both.extend_from_slice(MSG_B);
        f.seg(1, 0x18, &both);
        assert_eq!(f.got, vec![("INVITE".to_string(), 1), ("100".to_string(), 1)]);
    }

    #[test]
    fn retransmitted_segment_is_dropped() {
        let mut f = Feeder::new();
        f.seg(1, 0x18, MSG_A);
        f.seg(1, 0x18, MSG_A);
        assert_eq!(f.got.len(), 1);
        assert_eq!(f.tcp.counters.retransmitted_segments, 1);
    }

    #[test]
    fn out_of_order_segments_are_held_until_the_gap_fills() {
        let mut f = Feeder::new();
        let n = MSG_A.len() as u32;
        f.seg(1, 0x18, &MSG_A[..20]);
        f.seg(1 + n, 0x18, MSG_B); // second message first
        f.seg(21, 0x18, &MSG_A[20..]);
        assert_eq!(f.got, vec![("INVITE".to_string(), 3), ("100".to_string(), 3)]);
        assert_eq!(f.count(WarningKind::TcpStreamGap), 0);
    }

    #[test]
    fn a_hole_that_never_fills_is_skipped() {
        let mut f = Feeder::new();
        f.tcp.limits.max_held_segments = 2;
        let n = MSG_A.len() as u32;
        f.seg(1, 0x18, &MSG_A[..20]);
        // The rest of MSG_A is never captured; three whole messages follow.
        let mut seq = 1 + n;
        for _ in 0..3 {
            f.seg(seq, 0x18, MSG_B);
            seq += MSG_B.len() as u32;
        }
        assert_eq!(f.count(WarningKind::TcpStreamGap), 1);
        assert_eq!(f.got.iter().filter(|(w, _)| w == "100").count(), 3);
        assert!(f.got.iter().all(|(w, _)| w != "INVITE"));
    }

    #[test]
    fn tls_is_warned_once_per_connection_and_other_tcp_ignored() {
        let mut f = Feeder::new();
        f.seg_ports(1, 0x18, b"\x16\x03\x01\x00\x05hello", 40000, 5061);
        f.seg_ports(6, 0x18, b"\x17\x03\x03more", 40000, 5061);
        assert_eq!(f.count(WarningKind::TlsNotDecoded), 1);
        assert_eq!(f.tcp.counters.tls_connections, 1);
        f.seg_ports(1, 0x18, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 40001, 80);
        f.seg_ports(27, 0x18, MSG_A, 40001, 80);
        assert!(f.got.is_empty());
        // SIP on an unusual port is recognised by content.
        f.seg_ports(1, 0x18, MSG_B, 40002, 15060);
        assert_eq!(f.got, vec![("100".to_string(), 5)]);
    }

    #[test]
    fn capture_starting_mid_message_resynchronises() {
        let mut f = Feeder::new();
        let mut data = MSG_A[30..].to_vec();
        data.extend_from_slice(MSG_B);
        f.seg(500, 0x18, &data);
        assert_eq!(f.got, vec![("100".to_string(), 1)]);
    }
}
