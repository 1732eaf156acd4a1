//! The stream table: one [`StreamState`] per (src, dst, SSRC), bounded.
//!
//! Memory: a stream costs about 2 KiB of state (its [`StreamStats`] with 256 bytes of DSCP
//! counters, a 16-byte seen-window, the tshark state, and ~1.3 KiB of quality tracking;
//! measured by `stream_state_is_small`) plus an 80-byte map entry; the default cap of
//! 100 000 streams bounds the table to ~220 MB even when
//! hostile traffic sprays random SSRCs (lower it with [`StreamTable::with_capacity_limit`]). When the
//! table is full, packets of new streams are refused and counted (streams already tracked keep
//! being measured — evicting them would corrupt their statistics).

use super::stats::StreamState;
use super::{RtpPacketInfo, StreamKey, StreamStats};
use crate::capture::FrameRef;
use crate::time::Timestamp;

/// Default bound on the number of streams.
pub const DEFAULT_MAX_STREAMS: usize = 100_000;

/// A [`StreamKey`] hashed as three or four machine words instead of field by field (the
/// derived `SocketAddr` hash feeds the hasher the enum tag, every address byte group and the
/// port separately: about 10 % of the per-packet cost before). Equality is the key's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PackedKey(StreamKey);

impl std::hash::Hash for PackedKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        use std::net::SocketAddr::V4;
        let StreamKey { src, dst, ssrc } = self.0;
        match (src, dst) {
            (V4(s), V4(d)) => {
                state.write_u64((u64::from(u32::from(*s.ip())) << 32) | u64::from(u32::from(*d.ip())));
                state.write_u64((u64::from(s.port()) << 48) | (u64::from(d.port()) << 32) | u64::from(ssrc));
            }
            // Equal keys hash alike whatever the packing, so the rare IPv6 keys keep the
            // derived hash.
            _ => std::hash::Hash::hash(&self.0, state),
        }
    }
}

/// One shard's streams, finished ([`StreamTable::finish_shard`]), waiting for
/// [`StreamTable::merge`].
#[derive(Debug)]
pub struct FinishedShard {
    ordinals: Vec<u64>,
    stats: Vec<StreamStats>,
    origin: Option<Timestamp>,
    window_ms: f64,
    refused_packets: u64,
    first_refused: Option<(u64, FrameRef)>,
}

/// The stream table.
#[derive(Debug)]
pub struct StreamTable {
    index: crate::FastHashMap<PackedKey, usize>,
    streams: Vec<StreamState>,
    /// Index-aligned with `streams`: the ordinal of each stream's first packet (see
    /// [`StreamTable::observe_ordinal`]); shards are merged back into first-packet order by it.
    first_ordinals: Vec<u64>,
    /// Ordinal given to the next packet by [`StreamTable::observe`].
    next_ordinal: u64,
    max_streams: usize,
    origin: Option<Timestamp>,
    refused_packets: u64,
    first_refused: Option<FrameRef>,
    /// Ordinal of `first_refused`.
    first_refused_ordinal: u64,
    /// Final statistics joined from the shards of a multi-threaded run ([`StreamTable::merge`]),
    /// in first-packet order; such a table measures no more packets.
    merged: Vec<StreamStats>,
    /// Length of the quality windows, ms (quality-metrics "quality over time").
    window_ms: f64,
}

impl Default for StreamTable {
    fn default() -> Self {
        Self::with_capacity_limit(DEFAULT_MAX_STREAMS)
    }
}

impl StreamTable {
    /// A table that tracks at most `max_streams` streams.
    pub fn with_capacity_limit(max_streams: usize) -> Self {
        StreamTable {
            index: crate::FastHashMap::default(),
            streams: Vec::new(),
            first_ordinals: Vec::new(),
            next_ordinal: 0,
            max_streams,
            origin: None,
            refused_packets: 0,
            first_refused: None,
            first_refused_ordinal: 0,
            merged: Vec::new(),
            window_ms: crate::quality::stream::DEFAULT_WINDOW_S * 1000.0,
        }
    }

    /// Sets the time origin of the ms values (§1.6: tshark uses the first frame of the
    /// capture). Call before the first [`StreamTable::observe`]; without it the first RTP
    /// packet's time is the origin, which gives the same deltas up to the last bit of a double.
    pub fn set_origin(&mut self, t: Timestamp) {
        self.origin = Some(t);
    }

    /// Sets the length of the per-stream quality windows in seconds (default 10 s); call
    /// before the first packet. Non-positive values keep the default.
    pub fn set_window_s(&mut self, window_s: f64) {
        if window_s.is_finite() && window_s > 0.0 {
            self.window_ms = window_s * 1000.0;
        }
    }

    /// Packets of new streams refused because the table was full.
    pub fn refused_packets(&self) -> u64 {
        self.refused_packets
    }

    /// The first packet refused because the table was full (for a `state_evicted` warning).
    pub fn first_refused(&self) -> Option<FrameRef> {
        self.first_refused
    }

    /// Streams currently tracked.
    pub fn len(&self) -> usize {
        self.streams.len() + self.merged.len()
    }

    /// True when no stream is tracked.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty() && self.merged.is_empty()
    }

    /// Updates (or creates) the stream of `key` with one packet, in capture order.
    /// Returns false when the packet was refused (table full).
    pub fn observe(&mut self, key: StreamKey, pkt: &RtpPacketInfo) -> bool {
        let ordinal = self.next_ordinal;
        self.next_ordinal += 1;
        self.observe_ordinal(ordinal, key, pkt)
    }

    /// [`StreamTable::observe`] for a table that sees only part of the packets (one shard of a
    /// multi-threaded run): `ordinal` is the packet's position among all RTP packets of the
    /// run (strictly increasing), which [`StreamTable::merge`] uses to put the shards' streams
    /// back into first-packet order.
    pub fn observe_ordinal(&mut self, ordinal: u64, key: StreamKey, pkt: &RtpPacketInfo) -> bool {
        let origin = *self.origin.get_or_insert(pkt.at.time);
        // Matches tshark: nstime_to_msec(rel_ts), rel_ts = frame time − first frame time.
        let t_ms = pkt.at.time.ms_since(origin);
        if let Some(&i) = self.index.get(&PackedKey(key)) {
            if let Some(state) = self.streams.get_mut(i) {
                state.observe(pkt, t_ms);
                return true;
            }
        }
        if self.streams.len() >= self.max_streams {
            self.refused_packets += 1;
            if self.first_refused.is_none() {
                self.first_refused = Some(pkt.at);
                self.first_refused_ordinal = ordinal;
            }
            return false;
        }
        self.index.insert(PackedKey(key), self.streams.len());
        self.streams.push(StreamState::new(key, pkt, t_ms, self.window_ms));
        self.first_ordinals.push(ordinal);
        true
    }

    /// Ends one shard of a multi-threaded run (in its worker thread, so finishing is parallel
    /// too): its streams' final statistics with their first-packet ordinals, for
    /// [`StreamTable::merge`].
    pub fn finish_shard(self) -> FinishedShard {
        FinishedShard {
            ordinals: self.first_ordinals,
            stats: finish_states(self.streams),
            origin: self.origin,
            window_ms: self.window_ms,
            refused_packets: self.refused_packets,
            first_refused: self.first_refused.map(|at| (self.first_refused_ordinal, at)),
        }
    }

    /// Joins the finished shards of one run (each fed a disjoint set of flows through
    /// [`StreamTable::observe_ordinal`], with the same origin and window) into the table one
    /// shard-less run would have built: streams in order of their first packet, and the
    /// `max_streams` bound applied to the whole run. A single table accepts a stream iff fewer
    /// than `max_streams` streams started before it, so exactly the first `max_streams` streams
    /// by first-packet ordinal are kept; the packets of the later ones are counted as refused,
    /// as a single table would have refused them. (A shard reaching its own bound implies the
    /// whole run had reached it before, so shard-refused packets are refused here too.)
    ///
    /// Only final statistics move (not the running states), and a lone non-empty shard is
    /// taken as it is, so the merge adds no second copy of a huge table.
    pub fn merge(shards: Vec<FinishedShard>, max_streams: usize) -> StreamTable {
        let mut merged = StreamTable::with_capacity_limit(max_streams);
        let mut refused: Option<(u64, FrameRef)> = None;
        let mut note_refused = |candidate: (u64, FrameRef)| {
            if refused.is_none_or(|(o, _)| candidate.0 < o) {
                refused = Some(candidate);
            }
        };
        let mut lists: Vec<(Vec<u64>, Vec<StreamStats>)> = Vec::new();
        for shard in shards {
            merged.origin = merged.origin.or(shard.origin);
            merged.window_ms = shard.window_ms;
            merged.refused_packets += shard.refused_packets;
            if let Some(candidate) = shard.first_refused {
                note_refused(candidate);
            }
            if !shard.stats.is_empty() {
                lists.push((shard.ordinals, shard.stats));
            }
        }
        let (ordinals, mut stats) = if lists.len() == 1 {
            lists.pop().unwrap_or_default()
        } else {
            // Each shard's list is already in ordinal order: sort the (ordinal, shard, index)
            // triples and move the statistics in that order.
            let mut order: Vec<(u64, usize, usize)> = Vec::new();
            for (shard, (ords, _)) in lists.iter().enumerate() {
                order.extend(ords.iter().enumerate().map(|(i, &o)| (o, shard, i)));
            }
            order.sort_unstable();
            let mut slots: Vec<Vec<Option<StreamStats>>> =
                lists.into_iter().map(|(_, st)| st.into_iter().map(Some).collect()).collect();
            let mut ordinals = Vec::with_capacity(order.len());
            let mut stats = Vec::with_capacity(order.len());
            for (ordinal, shard, i) in order {
                if let Some(s) = slots.get_mut(shard).and_then(|v| v.get_mut(i)).and_then(Option::take) {
                    ordinals.push(ordinal);
                    stats.push(s);
                }
            }
            (ordinals, stats)
        };
        if stats.len() > max_streams {
            for (s, &ordinal) in stats.iter().zip(&ordinals).skip(max_streams) {
                merged.refused_packets += s.packets;
                note_refused((ordinal, s.first));
            }
            stats.truncate(max_streams);
        }
        if let Some((ordinal, at)) = refused {
            merged.first_refused = Some(at);
            merged.first_refused_ordinal = ordinal;
        }
        merged.merged = stats;
        merged
    }

    /// The statistics of every stream so far, in order of their first packet, as they stand (by
    /// reference, nothing ended: incremental runs pair these with the held calls). Addresses,
    /// SSRC, packet count and first/last packet are current; loss, expected and the quality
    /// figures are filled only when a stream finishes.
    pub fn running_stats(&self) -> Vec<&StreamStats> {
        self.merged.iter().chain(self.streams.iter().map(|s| &s.stats)).collect()
    }

    /// Removes the streams for which `take` is true and returns their final statistics, in order
    /// of their first packet (incremental runs: finished streams leave memory). A later packet
    /// of the same key starts a new stream.
    pub fn take_where(&mut self, take: &mut dyn FnMut(&StreamStats) -> bool) -> Vec<StreamStats> {
        let (mut taken, merged): (Vec<StreamStats>, Vec<StreamStats>) =
            std::mem::take(&mut self.merged).into_iter().partition(|s| take(s));
        self.merged = merged;
        // Compacted in place (order kept, no new allocation): freeing and allocating a table of
        // states every interval makes the allocator keep the high-water mark.
        let mut kept = 0;
        for i in 0..self.streams.len() {
            if self.streams.get(i).is_some_and(|s| !take(&s.stats)) {
                self.streams.swap(kept, i);
                self.first_ordinals.swap(kept, i);
                kept += 1;
            }
        }
        // The swaps permuted the taken ones: back into first-packet order.
        let mut gone: Vec<(u64, StreamState)> =
            self.first_ordinals.drain(kept..).zip(self.streams.drain(kept..)).collect();
        gone.sort_by_key(|(ordinal, _)| *ordinal);
        taken.extend(gone.into_iter().map(|(_, s)| s.finish()));
        if !taken.is_empty() {
            self.index.clear();
            for (i, s) in self.streams.iter().enumerate() {
                self.index.insert(PackedKey(s.stats.key), i);
            }
        }
        taken
    }

    /// All streams, in order of their first packet.
    pub fn finish(self) -> Vec<StreamStats> {
        if self.merged.is_empty() {
            return finish_states(self.streams);
        }
        let mut all = self.merged;
        all.extend(self.streams.into_iter().map(StreamState::finish));
        all.shrink_to_fit();
        all
    }
}

/// Final statistics of `states`, in order, in a list without slack: the collect may reuse the
/// (larger) running states' allocation, whose excess would otherwise stay allocated until the
/// report is written.
fn finish_states(states: Vec<StreamState>) -> Vec<StreamStats> {
    let mut stats: Vec<StreamStats> = states.into_iter().map(StreamState::finish).collect();
    stats.shrink_to_fit();
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpHeader;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    fn key(ssrc: u32) -> StreamKey {
        StreamKey {
            src: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 4000),
            dst: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 5000),
            ssrc,
        }
    }

    /// A packet as the pipeline hands it over (EF-marked, no VLAN, not an event).
    fn info(at: FrameRef, header: RtpHeader, clock_hz: u32) -> RtpPacketInfo {
        RtpPacketInfo {
            at,
            header,
            clock_hz,
            dscp: 46,
            vlan: None,
            interface: None,
            is_event: false,
            payload_silent: None,
        }
    }

    /// (seq, ts, arrival µs since the origin, marker)
    type Pkt = (u16, u32, i64, bool);

    fn run(pt: u8, clock_hz: u32, pkts: &[Pkt]) -> StreamStats {
        let origin = Timestamp::from_parts(1_480_171_979, 666_393_000);
        let mut table = StreamTable::default();
        table.set_origin(origin);
        for (i, &(seq, ts, us, marker)) in pkts.iter().enumerate() {
            let at = FrameRef { file: 0, number: i as u64 + 1, time: Timestamp(origin.0 + us * 1000) };
            let header = RtpHeader { marker, pt, seq, ts, ssrc: 7, payload_len: 160 };
            table.observe(key(7), &info(at, header, clock_hz));
        }
        let mut out = table.finish();
        assert_eq!(out.len(), 1);
        out.remove(0)
    }

    #[test]
    fn take_where_keeps_first_packet_order_on_both_sides() {
        let origin = Timestamp::from_parts(1_480_171_979, 0);
        let mut table = StreamTable::default();
        table.set_origin(origin);
        let mut frame = 0u64;
        let mut send = |table: &mut StreamTable, ssrc: u32, seq: u16| {
            frame += 1;
            let at = FrameRef { file: 0, number: frame, time: Timestamp(origin.0 + frame as i64 * 1_000_000) };
            let header = RtpHeader { marker: false, pt: 0, seq, ts: 160 * u32::from(seq), ssrc, payload_len: 160 };
            table.observe(key(ssrc), &info(at, header, 8000));
        };
        // Streams 1..=6 in first-packet order; take 1, 2, 4, 6 (the swaps of the in-place
        // compaction move 1 and 2 behind the kept ones).
        for ssrc in 1..=6 {
            send(&mut table, ssrc, 0);
        }
        let taken: Vec<u32> =
            table.take_where(&mut |s| [1, 2, 4, 6].contains(&s.key.ssrc)).iter().map(|s| s.key.ssrc).collect();
        assert_eq!(taken, [1, 2, 4, 6]);
        // The kept streams still receive their packets; a taken key starts a new stream.
        send(&mut table, 5, 1);
        send(&mut table, 3, 1);
        send(&mut table, 1, 1);
        let rest: Vec<(u32, u64)> = table.finish().iter().map(|s| (s.key.ssrc, s.packets)).collect();
        assert_eq!(rest, [(3, 2), (5, 2), (1, 1)]);
    }

    fn printed(v: f64) -> String {
        format!("{v:.3}")
    }

    /// tshark's row: (min, mean, max) delta and jitter as printed, "-1.000" for None.
    fn row(s: &StreamStats) -> [String; 6] {
        let opt = |o: Option<f64>| o.map_or("-1.000".to_string(), printed);
        [
            opt(s.min_delta_ms),
            printed(s.mean_delta_ms),
            printed(s.max_delta_ms),
            opt(s.min_jitter_ms),
            printed(s.mean_jitter_ms),
            printed(s.max_jitter_ms),
        ]
    }

    fn problems(s: &StreamStats) -> bool {
        s.seq_errors > 0 || s.out_of_time_seq
    }

    #[test]
    fn vector_s1_reordered_last_packet() {
        let mut pkts: Vec<Pkt> =
            (1..=10u16).map(|q| (q, 160 * u32::from(q), 20_000 * i64::from(q - 1), false)).collect();
        pkts.push((12, 1920, 200_000, false));
        pkts.push((11, 1760, 221_000, false));
        let s = run(0, 8000, &pkts);
        assert_eq!((s.packets, s.tshark_lost), (12, -1));
        assert_eq!(row(&s), ["20.000", "20.091", "21.000", "0.000", "0.453", "3.734"]);
        assert!(problems(&s));
        assert_eq!((s.expected, s.lost, s.out_of_order), (12, 0, 1));
        assert_eq!(s.duplicates, 0);
    }

    #[test]
    fn vector_s2_wrap() {
        let seqs = [65533u16, 65534, 0, 1, 2, 3];
        let pkts: Vec<Pkt> =
            seqs.iter().enumerate().map(|(i, &q)| (q, 160 * i as u32, 20_000 * i as i64, false)).collect();
        let s = run(0, 8000, &pkts);
        assert_eq!((s.packets, s.tshark_lost, s.tshark_expected), (6, 1, 7));
        assert_eq!(row(&s), ["20.000", "20.000", "20.000", "0.000", "0.000", "0.000"]);
        assert!(problems(&s));
        assert_eq!((s.expected, s.lost), (7, 1));
    }

    #[test]
    fn vector_s3_marker_running_mean() {
        let arrivals = [0i64, 20, 50, 70, 90];
        let pkts: Vec<Pkt> =
            arrivals.iter().enumerate().map(|(i, &ms)| (100 + i as u16, 160 * i as u32, ms * 1000, i == 1)).collect();
        let s = run(0, 8000, &pkts);
        assert_eq!((s.packets, s.tshark_lost), (5, 0));
        assert_eq!(row(&s), ["20.000", "17.500", "30.000", "0.549", "0.440", "0.625"]);
        assert!(!problems(&s));
        assert_eq!((s.expected, s.lost), (5, 0));
    }

    #[test]
    fn vector_s4_l16_44100_rounds_the_clock() {
        let pkts: Vec<Pkt> = (0..6u16).map(|i| (i, 882 * u32::from(i), 20_000 * i64::from(i), false)).collect();
        let s = run(11, 44100, &pkts);
        assert_eq!((s.packets, s.tshark_lost), (6, 0));
        assert_eq!(row(&s), ["20.000", "20.000", "20.000", "0.003", "0.008", "0.013"]);
        assert!(!problems(&s));
        assert_eq!((s.expected, s.lost), (6, 0));
        // The RFC estimator uses the true clock: a perfect stream has no jitter.
        assert!(s.jitter_rfc_ts.abs() < 1e-9);
    }

    #[test]
    fn vector_s5_duplicate() {
        let pkts: Vec<Pkt> = [1u16, 2, 2, 3, 4]
            .iter()
            .enumerate()
            .map(|(i, &q)| (q, 160 * u32::from(q), 20_000 * i as i64, false))
            .collect();
        let s = run(0, 8000, &pkts);
        assert_eq!((s.packets, s.tshark_lost), (5, -1));
        assert_eq!(row(&s), ["20.000", "20.000", "20.000", "0.000", "0.880", "1.250"]);
        assert!(problems(&s));
        assert_eq!((s.expected, s.lost, s.duplicates), (4, -1, 1));
    }

    #[test]
    fn unknown_clock_has_no_jitter() {
        let pkts: Vec<Pkt> = (0..5u16).map(|i| (i, 160 * u32::from(i), 20_000 * i64::from(i), false)).collect();
        let s = run(101, 0, &pkts);
        assert_eq!(row(&s)[3], "-1.000");
        assert_eq!(row(&s)[0], "20.000");
        assert_eq!(s.jitter_rfc_ts, 0.0);
    }

    #[test]
    fn rfc_jitter_in_timestamp_units() {
        // Alternate arrivals 18/22 ms on a 20 ms clock: |D| = 16 ticks after the first pair.
        let arrivals = [0i64, 18, 40, 58, 80, 98];
        let pkts: Vec<Pkt> =
            arrivals.iter().enumerate().map(|(i, &ms)| (i as u16, 160 * i as u32, ms * 1000, false)).collect();
        let s = run(0, 8000, &pkts);
        let mut j = 0.0f64;
        for _ in 0..5 {
            j += (16.0 - j) / 16.0;
        }
        assert!((s.jitter_rfc_ts - j).abs() < 1e-9, "{}", s.jitter_rfc_ts);
    }

    #[test]
    fn outage_is_recorded() {
        let mut pkts: Vec<Pkt> = (0..5u16).map(|i| (i, 160 * u32::from(i), 20_000 * i64::from(i), false)).collect();
        // 1.5 s silence, 75 packets missing.
        pkts.push((80, 160 * 80, 1_580_000, false));
        // DTX-like pause with contiguous seq: not an outage.
        pkts.push((81, 160 * 200, 3_000_000, false));
        let s = run(0, 8000, &pkts);
        assert_eq!(s.media_gaps_total, 1);
        assert_eq!(s.media_gaps[0].missing, 75);
        assert_eq!(s.media_gaps[0].start.number, 5);
        assert_eq!(s.media_gaps[0].end.number, 6);
        assert_eq!(s.lost, 75);
    }

    #[test]
    fn table_is_bounded() {
        let mut table = StreamTable::with_capacity_limit(3);
        let header = RtpHeader { marker: false, pt: 0, seq: 1, ts: 1, ssrc: 0, payload_len: 0 };
        for ssrc in 0..10u32 {
            let pkt = RtpPacketInfo {
                at: FrameRef { file: 0, number: u64::from(ssrc) + 1, time: Timestamp(0) },
                header,
                clock_hz: 8000,
                dscp: 0,
                vlan: None,
                interface: None,
                is_event: false,
                payload_silent: None,
            };
            table.observe(key(ssrc), &pkt);
            table.observe(key(ssrc), &pkt);
        }
        assert_eq!(table.len(), 3);
        assert_eq!(table.refused_packets(), 14);
        assert_eq!(table.first_refused().map(|f| f.number), Some(4));
        let streams = table.finish();
        assert_eq!(streams[0].packets, 2);
        assert_eq!(streams[0].duplicates, 1);
        assert_eq!(streams[0].dscp_counts[0], 2);
    }

    #[test]
    fn heuristic_rejects_garbage_accepts_rtp() {
        let good: Vec<Pkt> = (0..4u16).map(|i| (i, 160 * u32::from(i), 20_000 * i64::from(i), false)).collect();
        assert!(run(0, 8000, &good).looks_like_rtp());
        assert!(!run(0, 8000, &good[..1]).looks_like_rtp());
        let garbage: Vec<Pkt> =
            vec![(0, 0, 0, false), (31000, 0x9000_0000, 1000, false), (4, 0x1000_0000, 2000, false)];
        assert!(!run(0, 8000, &garbage).looks_like_rtp());
        assert!(!run(72, 0, &good).looks_like_rtp());
    }

    proptest::proptest! {
        /// Jitter and deltas stay finite and non-negative whatever the arrival pattern.
        #[test]
        fn jitter_is_non_negative(
            steps in proptest::collection::vec((0u16..5, 0u32..4000, 0i64..100_000, proptest::bool::ANY, 0u8..3), 1..100),
        ) {
            let mut pkts: Vec<Pkt> = Vec::new();
            let (mut seq, mut ts, mut us) = (100u16, 1000u32, 0i64);
            for (ds, dts, dus, marker, _) in &steps {
                seq = seq.wrapping_add(*ds);
                ts = ts.wrapping_add(*dts);
                us += dus;
                pkts.push((seq, ts, us, *marker));
            }
            let s = run(0, 8000, &pkts);
            proptest::prop_assert!(s.jitter_rfc_ts >= 0.0 && s.jitter_rfc_ts.is_finite());
            proptest::prop_assert!(s.max_jitter_ms >= 0.0 && s.mean_jitter_ms >= 0.0);
            proptest::prop_assert!(s.min_jitter_ms.is_none_or(|m| m >= 0.0));
            proptest::prop_assert!(s.min_delta_ms.is_none_or(|m| m >= 0.0));
            proptest::prop_assert_eq!(s.lost, s.expected as i64 - s.received as i64);
        }
    }
}

#[cfg(test)]
mod size_tests {
    /// Memory per stream stays under the 4 KiB per active stream the performance issue asks
    /// for (state plus map entry): about 0.8 KiB of RTP statistics plus about 1.3 KiB of quality
    /// tracking (three buffer models with constant-size loss indicators, window snapshots).
    /// Closed quality windows (at most `quality::stream::MAX_WINDOWS` per stream, one per
    /// window length of media) and the bounded outage/DSCP-change lists are on the heap.
    #[test]
    fn stream_state_is_small() {
        let state = std::mem::size_of::<super::StreamState>();
        let entry = std::mem::size_of::<(super::StreamKey, usize)>();
        let quality = std::mem::size_of::<crate::quality::StreamQuality>();
        eprintln!("StreamState {state} bytes (quality {quality}), map entry {entry} bytes");
        assert!(state + entry < 2304, "{state} + {entry}");
        assert!(quality < 1400, "{quality}");
        // What a finished stream keeps of the three buffer models for report time.
        let finished = std::mem::size_of::<crate::quality::FinishedBuffers>();
        let running = std::mem::size_of::<crate::quality::StandardBuffers>();
        eprintln!("buffer models: running {running} bytes, finished {finished} bytes");
        assert!(finished * 2 < running + running / 4, "{finished} vs {running}");
        // A finished stream, as kept until the report: statistics plus the boxed quality
        // figures (closed windows, 96 bytes each, and loss runs come on top, on the heap).
        let stats = std::mem::size_of::<crate::rtp::StreamStats>();
        let figures = std::mem::size_of::<crate::quality::QualityStats>();
        eprintln!("finished stream: StreamStats {stats} bytes + QualityStats {figures} bytes");
        assert!(stats + figures < 1400, "{stats} + {figures}");
    }
}
