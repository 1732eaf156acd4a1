//! Loss pattern of one stream (quality-metrics.md §2): the loss indicator sequence, the Gilbert
//! (2-state Markov) estimate with BurstR, and the RFC 3611 burst/gap split with Gmin = 16.
//!
//! [`LossIndicators`] is *streaming* and constant-size: indicators are ordered by extended
//! sequence number, but packets arrive slightly out of order, so the most recent
//! [`REORDER_WINDOW`] positions are held in a 128-bit "kept" window; a position that falls out
//! of the window is *committed* to the Markov pair counts and the RFC 3611 chain builder (both
//! need only the previous indicator and the open chain). Memory: about 130 bytes per sequence,
//! whatever the stream's length; commits work on runs of equal bits, so a sequence jump of
//! thousands of packets costs O(1), not O(gap).
//!
//! **What the window cannot see.** A packet arriving more than [`REORDER_WINDOW`] positions
//! behind the highest position recorded was already committed as lost: it stays lost in the
//! pattern and is counted by [`LossIndicators::late_beyond_window`]. RFC 3550 A.1 (§1.3) treats
//! a packet more than `MAX_MISORDER` = 100 behind the highest number as a jump, never as late,
//! so with a window of 128 the RTP stage never feeds such a packet; only direct callers can.

use super::PacketObservation;

/// RFC 3611 §4.7.2 recommended burst threshold (quality-metrics.md §2).
pub const GMIN: u32 = 16;

/// Positions held open for reordering before they are committed (see the module docs).
pub const REORDER_WINDOW: u64 = 128;

/// The loss indicator sequence `s_k` of quality-metrics.md §2, computed online.
#[derive(Clone, Copy, Debug)]
pub struct LossIndicators {
    /// Bit i = position `window_start + i` arrived and was kept.
    kept_window: u128,
    /// First position not yet committed.
    window_start: u64,
    /// Positions in use: last position of the current segment + 1.
    len: u64,
    /// Positions used by earlier segments (sequence restarts, §1.3).
    segment_offset: u64,
    /// Extended sequence number of the current segment's position 0.
    segment_base: Option<u64>,
    /// Kept positions so far (a duplicate never counts twice).
    kept_count: u64,
    /// Packets whose sequence number lies before the segment base (late first packet).
    before_base: u64,
    /// Kept packets that arrived after their position was committed as lost.
    late_beyond_window: u64,
    /// Indicator of the last committed position.
    last_committed_lost: Option<bool>,
    markov: MarkovCounts,
    split: BurstGapSplit,
}

impl Default for LossIndicators {
    fn default() -> Self {
        Self::new()
    }
}

impl LossIndicators {
    /// An empty sequence with Gmin = [`GMIN`].
    pub fn new() -> Self {
        Self::with_gmin(GMIN)
    }

    /// An empty sequence with another burst threshold.
    pub fn with_gmin(gmin: u32) -> Self {
        LossIndicators {
            kept_window: 0,
            window_start: 0,
            len: 0,
            segment_offset: 0,
            segment_base: None,
            kept_count: 0,
            before_base: 0,
            late_beyond_window: 0,
            last_committed_lost: None,
            markov: MarkovCounts::default(),
            split: BurstGapSplit::new(gmin),
        }
    }

    /// Builds the sequence from flags in sequence order (`true` = lost or discarded).
    pub fn from_lost_flags(lost: &[bool]) -> Self {
        let mut seq = Self::new();
        for (k, &is_lost) in (0u64..).zip(lost) {
            seq.record(k, !is_lost);
        }
        seq
    }

    /// The network-loss-only sequence of a stream (no buffer model): every non-duplicate
    /// packet, telephone-event packets included, counts as received (quality-metrics.md §2).
    pub fn from_observations<'a>(observations: impl IntoIterator<Item = &'a PacketObservation>) -> Self {
        let mut seq = Self::new();
        for obs in observations {
            if !obs.is_duplicate {
                seq.record(obs.ext_seq, true);
            }
        }
        seq
    }

    /// Records that the packet with extended sequence number `ext_seq` was seen; `kept` is
    /// false when a buffer model discarded it (it stays a 1 in `s_k` but extends the range).
    /// The first call of a segment fixes its base; packets before the base are only counted.
    /// O(1), no allocation.
    pub fn record(&mut self, ext_seq: u64, kept: bool) {
        let base = *self.segment_base.get_or_insert(ext_seq);
        let Some(offset_in_segment) = ext_seq.checked_sub(base) else {
            self.before_base = self.before_base.saturating_add(1);
            return;
        };
        let position = self.segment_offset.saturating_add(offset_in_segment);
        if position < self.window_start {
            // Already committed as lost (see the module docs).
            self.late_beyond_window = self.late_beyond_window.saturating_add(u64::from(kept));
            return;
        }
        self.len = self.len.max(position.saturating_add(1));
        if position >= self.window_start.saturating_add(REORDER_WINDOW) {
            let end = position - REORDER_WINDOW + 1;
            if end == self.window_start + 1 && self.kept_window & 1 == 1 && self.last_committed_lost == Some(false) {
                // The common case, inline: one received position after a received one leaves
                // the window (exactly what `commit_until` does for it).
                self.markov.n0 += 1;
                self.kept_window >>= 1;
                self.window_start = end;
            } else {
                self.commit_until(end);
            }
        }
        if kept {
            // position − window_start < REORDER_WINDOW = 128 here.
            let mask = 1u128.checked_shl(u32::try_from(position - self.window_start).unwrap_or(u32::MAX)).unwrap_or(0);
            if self.kept_window & mask == 0 {
                self.kept_window |= mask;
                self.kept_count += 1;
            }
        }
    }

    /// Commits every position below `end` (at most `len`): runs of equal bits of the window,
    /// then one run of losses for positions beyond the window.
    fn commit_until(&mut self, end: u64) {
        let end = end.min(self.len.max(self.window_start));
        while self.window_start < end {
            let remaining = end - self.window_start;
            let in_window = remaining.min(REORDER_WINDOW);
            let run = if self.kept_window & 1 == 1 {
                u64::from(self.kept_window.trailing_ones()).min(in_window)
            } else if self.kept_window == 0 {
                // Everything from here to `end` is lost (the window is empty).
                remaining
            } else {
                u64::from(self.kept_window.trailing_zeros()).min(in_window)
            };
            let lost = self.kept_window & 1 == 0;
            self.commit_run(lost, run);
            self.kept_window = if run >= 128 { 0 } else { self.kept_window >> run };
            self.window_start += run;
        }
    }

    /// Feeds `count` ≥ 1 equal indicators at positions `window_start..` to the statistics.
    fn commit_run(&mut self, lost: bool, count: u64) {
        if count == 0 {
            return;
        }
        if let Some(previous) = self.last_committed_lost {
            self.markov.pairs(previous, lost, 1);
        }
        self.markov.pairs(lost, lost, count - 1);
        if lost {
            self.split.loss_run(self.window_start, count);
        }
        self.last_committed_lost = Some(lost);
    }

    /// Starts a new segment after an RTP sequence restart (quality-metrics.md §1.3): the next
    /// recorded packet becomes position 0 of a segment appended after the current one.
    pub fn restart_segment(&mut self) {
        self.segment_offset = self.len;
        self.segment_base = None;
    }

    /// N, the number of expected packets covered.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Σ s_k: packets lost or discarded.
    pub fn lost_count(&self) -> u64 {
        self.len - self.kept_count
    }

    /// `s_k` (true = lost or discarded) for a position still inside the reorder window;
    /// `None` for committed positions (no longer stored) and positions beyond `len`.
    pub fn is_lost_in_window(&self, k: u64) -> Option<bool> {
        if k < self.window_start || k >= self.len {
            return None;
        }
        let mask = 1u128.checked_shl(u32::try_from(k - self.window_start).ok()?)?;
        Some(self.kept_window & mask == 0)
    }

    /// Packets seen with a sequence number before their segment's base (not in the sequence).
    pub fn before_base(&self) -> u64 {
        self.before_base
    }

    /// Kept packets that arrived more than [`REORDER_WINDOW`] positions late and stayed
    /// counted as lost (see the module docs).
    pub fn late_beyond_window(&self) -> u64 {
        self.late_beyond_window
    }

    /// Markov pair counts committed so far `(n0, n1, n01, n10)`: differences between two
    /// snapshots give the pattern of a time window (lagging by at most [`REORDER_WINDOW`]).
    pub fn committed_pairs(&self) -> (u64, u64, u64, u64) {
        let m = self.markov;
        (m.n0, m.n1, m.n01, m.n10)
    }

    /// The §2 statistics with the sequence's Gmin; `ptime_ms` converts packet counts to
    /// durations. Works on a copy: the sequence can go on afterwards.
    pub fn pattern(&self, ptime_ms: f64) -> LossPattern {
        self.finished_counts().pattern(ptime_ms)
    }

    /// The counts the §2 statistics are computed from, as if the sequence ended now (every
    /// position committed, the last chain closed): the compact stand-in a finished stream keeps
    /// instead of the whole indicator state. Works on a copy: the sequence can go on afterwards.
    pub fn finished_counts(&self) -> PatternCounts {
        let mut done = *self;
        done.commit_until(self.len);
        done.split.close_chain();
        let split = done.split;
        PatternCounts {
            packets: done.len,
            lost: done.lost_count(),
            markov: done.markov,
            bursts: split.bursts,
            packets_in_bursts: split.packets_in_bursts,
            lost_in_bursts: split.lost_in_bursts,
            gmin: split.gmin_u32(),
        }
    }
}

/// A finished indicator sequence reduced to the counts its §2 statistics come from
/// ([`LossIndicators::finished_counts`]): [`PatternCounts::pattern`] gives exactly what
/// [`LossIndicators::pattern`] gave, for any packetisation time, without the reorder window
/// and chain state (a finished stream's report needs nothing else).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatternCounts {
    packets: u64,
    lost: u64,
    markov: MarkovCounts,
    bursts: u64,
    packets_in_bursts: u64,
    lost_in_bursts: u64,
    gmin: u32,
}

impl PatternCounts {
    /// The §2 statistics; `ptime_ms` converts packet counts to durations (it is known only at
    /// report time: SDP `a=ptime`, else measured, else the codec's default).
    pub fn pattern(&self, ptime_ms: f64) -> LossPattern {
        // The closed split: its chain fields are not read by `from_parts`.
        let split = BurstGapSplit {
            gmin: u64::from(self.gmin),
            chain_first: 0,
            chain_last: 0,
            chain_losses: 0,
            bursts: self.bursts,
            packets_in_bursts: self.packets_in_bursts,
            lost_in_bursts: self.lost_in_bursts,
        };
        LossPattern::from_parts(self.packets, self.lost, &self.markov, &split, ptime_ms, self.gmin)
    }
}

/// Pair counts of the 2-state Markov chain (0 = received, 1 = lost).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct MarkovCounts {
    n0: u64,
    n1: u64,
    n01: u64,
    n10: u64,
}

impl MarkovCounts {
    /// `count` adjacent pairs (first, second).
    fn pairs(&mut self, first_lost: bool, second_lost: bool, count: u64) {
        if first_lost {
            self.n1 += count;
            self.n10 += if second_lost { 0 } else { count };
        } else {
            self.n0 += count;
            self.n01 += if second_lost { count } else { 0 };
        }
    }
}

/// Pattern of the difference between two snapshots of [`LossIndicators::committed_pairs`]
/// (a time window): `(p, q, BurstR)` with the §2 conventions.
pub fn gilbert_from_pairs(n0: u64, n1: u64, n01: u64, n10: u64) -> (f64, f64, f64) {
    let p = if n0 == 0 { 0.0 } else { n01 as f64 / n0 as f64 };
    let q = if n1 == 0 { 1.0 } else { n10 as f64 / n1 as f64 };
    let burst_r = if n0 > 0 && n1 > 0 && p + q > 0.0 { 1.0 / (p + q) } else { 1.0 };
    (p, q, burst_r)
}

/// Streaming RFC 3611 chain builder: a loss joins the previous loss's chain when fewer than
/// Gmin kept packets lie between them; chains with ≥ 2 losses are bursts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BurstGapSplit {
    gmin: u64,
    chain_first: u64,
    chain_last: u64,
    chain_losses: u64,
    bursts: u64,
    packets_in_bursts: u64,
    lost_in_bursts: u64,
}

impl BurstGapSplit {
    fn new(gmin: u32) -> Self {
        BurstGapSplit {
            gmin: u64::from(gmin),
            chain_first: 0,
            chain_last: 0,
            chain_losses: 0,
            bursts: 0,
            packets_in_bursts: 0,
            lost_in_bursts: 0,
        }
    }

    fn gmin_u32(&self) -> u32 {
        u32::try_from(self.gmin).unwrap_or(u32::MAX)
    }

    /// `count` ≥ 1 consecutive losses starting at position `k`: the first follows the chain
    /// rule, the others are adjacent to it (0 kept packets between, which is < Gmin for any
    /// Gmin ≥ 1; with Gmin = 0 every loss is its own chain).
    fn loss_run(&mut self, k: u64, count: u64) {
        if self.gmin == 0 {
            self.close_chain();
            return;
        }
        self.loss(k);
        if count > 1 {
            self.chain_last = k + count - 1;
            self.chain_losses += count - 1;
        }
    }

    fn loss(&mut self, k: u64) {
        // Every position between two losses of a chain that is not a loss is a kept packet,
        // so the gap is k − last − 1 received packets.
        if self.chain_losses > 0 && k - self.chain_last - 1 < self.gmin {
            self.chain_last = k;
            self.chain_losses += 1;
        } else {
            self.close_chain();
            self.chain_first = k;
            self.chain_last = k;
            self.chain_losses = 1;
        }
    }

    fn close_chain(&mut self) {
        if self.chain_losses >= 2 {
            self.bursts += 1;
            self.packets_in_bursts += self.chain_last - self.chain_first + 1;
            self.lost_in_bursts += self.chain_losses;
        }
        self.chain_losses = 0;
    }
}

/// Every number of quality-metrics.md §2 for one indicator sequence.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct LossPattern {
    /// N: expected packets covered.
    pub packets: u64,
    /// Σ s_k: lost or discarded.
    pub lost: u64,
    /// Ppl = 100·Σs/N (0 when N = 0).
    pub ppl_pct: f64,
    /// P[received → lost] = n₀₁/n₀ (0 with no received pair).
    pub p: f64,
    /// P[lost → received] = n₁₀/n₁ (1 with no lost pair).
    pub q: f64,
    /// Raw BurstR = 1/(p + q); 1 with no loss or no received packet. May be below 1.
    pub burst_r: f64,
    /// Number of RFC 3611 bursts.
    pub bursts: u64,
    /// Lost in bursts ÷ packets in bursts.
    pub burst_density: f64,
    /// Lost in gaps ÷ packets in gaps.
    pub gap_density: f64,
    /// Packets in bursts · ptime ÷ bursts (0 with no burst).
    pub burst_duration_ms: f64,
    /// Packets in gaps · ptime ÷ bursts; the whole stream with no burst.
    pub gap_duration_ms: f64,
    /// Burst threshold used.
    pub gmin: u32,
}

impl LossPattern {
    fn from_parts(
        packets: u64,
        lost: u64,
        markov: &MarkovCounts,
        split: &BurstGapSplit,
        ptime_ms: f64,
        gmin: u32,
    ) -> Self {
        let ratio = |num: u64, den: u64, empty: f64| {
            if den == 0 {
                empty
            } else {
                num as f64 / den as f64
            }
        };
        let p = ratio(markov.n01, markov.n0, 0.0);
        let q = ratio(markov.n10, markov.n1, 1.0);
        // matches emodel_examples.py gilbert(): undefined → 1.
        let burst_r = if markov.n0 > 0 && markov.n1 > 0 && p + q > 0.0 { 1.0 / (p + q) } else { 1.0 };
        let gap_packets = packets - split.packets_in_bursts;
        let lost_in_gaps = lost - split.lost_in_bursts;
        let bursts_f = split.bursts as f64;
        LossPattern {
            packets,
            lost,
            ppl_pct: 100.0 * ratio(lost, packets, 0.0),
            p,
            q,
            burst_r,
            bursts: split.bursts,
            burst_density: ratio(split.lost_in_bursts, split.packets_in_bursts, 0.0),
            gap_density: ratio(lost_in_gaps, gap_packets, 0.0),
            burst_duration_ms: if split.bursts == 0 {
                0.0
            } else {
                split.packets_in_bursts as f64 * ptime_ms / bursts_f
            },
            gap_duration_ms: if split.bursts == 0 {
                gap_packets as f64 * ptime_ms
            } else {
                gap_packets as f64 * ptime_ms / bursts_f
            },
            gmin,
        }
    }

    /// BurstR as the E-model uses it: `max(1, BurstR)` (quality-metrics.md §2).
    pub fn burst_r_for_emodel(&self) -> f64 {
        self.burst_r.max(1.0)
    }

    /// RFC 3611 §4.7.2 burst density field: ⌊256·x⌋, at most 255.
    pub fn burst_density_xr(&self) -> u8 {
        xr_density_field(self.burst_density)
    }

    /// RFC 3611 §4.7.2 gap density field: ⌊256·x⌋, at most 255.
    pub fn gap_density_xr(&self) -> u8 {
        xr_density_field(self.gap_density)
    }
}

/// RFC 3611 8-bit fraction: ⌊256·x⌋ clamped to 0–255.
pub fn xr_density_field(fraction: f64) -> u8 {
    let scaled = (256.0 * fraction).floor();
    if scaled.is_nan() || scaled <= 0.0 {
        0
    } else if scaled >= 255.0 {
        255
    } else {
        // 0 < scaled < 255 and integral here, so the cast is exact.
        scaled as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(len: usize, lost_at: &[usize]) -> Vec<bool> {
        let mut v = vec![false; len];
        for &i in lost_at {
            v[i] = true;
        }
        v
    }

    #[test]
    fn section2_vector() {
        // quality-metrics.md §2 / emodel_examples.py loss_examples().
        let seq = LossIndicators::from_lost_flags(&flags(100, &[10, 40, 41, 43, 45, 80]));
        let pat = seq.pattern(20.0);
        assert_eq!((pat.packets, pat.lost), (100, 6));
        assert_eq!(format!("{:.2}", pat.ppl_pct), "6.00");
        assert_eq!(format!("{:.6}", pat.p), "0.053763");
        assert_eq!(format!("{:.6}", pat.q), "0.833333");
        assert_eq!(format!("{:.4}", pat.burst_r), "1.1273");
        assert_eq!(pat.bursts, 1);
        assert_eq!(format!("{:.4}", pat.burst_density), "0.6667");
        assert_eq!(pat.burst_density_xr(), 170);
        assert_eq!(format!("{:.4}", pat.gap_density), "0.0213");
        assert_eq!(pat.gap_density_xr(), 5);
        assert_eq!(pat.burst_duration_ms, 120.0);
        assert_eq!(pat.gap_duration_ms, 1880.0);
        // Cross-check: mean loss run 1.2 × (1 − 0.06) = 1.128 ≈ BurstR.
        assert!((1.2 * 0.94 - pat.burst_r).abs() < 1e-3);
    }

    #[test]
    fn no_loss_and_all_lost() {
        let none = LossIndicators::from_lost_flags(&[false; 50]).pattern(20.0);
        assert_eq!((none.ppl_pct, none.burst_r, none.bursts), (0.0, 1.0, 0));
        assert_eq!(none.gap_duration_ms, 1000.0);
        let all = LossIndicators::from_lost_flags(&[true; 10]).pattern(20.0);
        assert_eq!((all.ppl_pct, all.burst_r, all.bursts), (100.0, 1.0, 1));
        assert_eq!(all.burst_density, 1.0);
        assert_eq!(all.burst_density_xr(), 255);
        let empty = LossIndicators::new().pattern(20.0);
        assert_eq!((empty.packets, empty.ppl_pct, empty.burst_r), (0, 0.0, 1.0));
    }

    #[test]
    fn random_versus_bursty_at_same_rate() {
        // 1000 packets, 50 lost: every 20th packet vs five runs of 10.
        let random: Vec<usize> = (0..50).map(|i| 10 + 20 * i).collect();
        let bursty: Vec<usize> = (0..5).flat_map(|b| (0..10).map(move |j| 100 + 200 * b + j)).collect();
        let r = LossIndicators::from_lost_flags(&flags(1000, &random)).pattern(20.0);
        let b = LossIndicators::from_lost_flags(&flags(1000, &bursty)).pattern(20.0);
        assert_eq!(r.ppl_pct, 5.0);
        assert_eq!(b.ppl_pct, 5.0);
        // Random: p = 50/949, q = 1 → BurstR 0.9499 (spread out more than random).
        assert_eq!(format!("{:.4}", r.burst_r), "0.9499");
        assert_eq!(r.burst_r_for_emodel(), 1.0);
        // Bursty: p = 5/949, q = 5/50 → BurstR 9.4995.
        assert_eq!(format!("{:.4}", b.burst_r), "9.4995");
        assert_eq!((r.bursts, b.bursts), (0, 5));
        assert_eq!(b.burst_density, 1.0);
        assert_eq!(r.gap_density, 0.05);
    }

    #[test]
    fn duplicates_segments_and_late_packets() {
        let mut seq = LossIndicators::new();
        for s in [100u64, 101, 101, 103, 99] {
            seq.record(s, true);
        }
        assert_eq!((seq.len(), seq.lost_count(), seq.before_base()), (4, 1, 1));
        assert_eq!(seq.is_lost_in_window(2), Some(true));
        assert_eq!(seq.is_lost_in_window(1), Some(false));
        assert_eq!(seq.is_lost_in_window(10), None);
        // A discarded packet extends the range but stays lost.
        seq.record(104, false);
        assert_eq!((seq.len(), seq.lost_count()), (5, 2));
        // Sequence restart: new segment appended.
        seq.restart_segment();
        seq.record(7, true);
        seq.record(9, true);
        assert_eq!((seq.len(), seq.lost_count()), (8, 3));
        // A jump of 10 000 positions: committed as one run, O(1); the window moved past 0.
        seq.record(10_009, true);
        assert_eq!((seq.len(), seq.lost_count()), (10_008, 10_002));
        assert_eq!(seq.is_lost_in_window(0), None);
        // Packet 8 of the second segment arrives now: its position was committed as lost.
        seq.record(8, true);
        assert_eq!(seq.late_beyond_window(), 1);
        assert_eq!(seq.lost_count(), 10_002);
        let pat = seq.pattern(20.0);
        assert_eq!((pat.packets, pat.lost), (10_008, 10_002));
        // Size does not grow with the stream.
        assert!(std::mem::size_of::<LossIndicators>() <= 192, "{}", std::mem::size_of::<LossIndicators>());
    }

    /// The §2 numbers computed directly from a flag vector (the definition, not streaming).
    fn reference(lost: &[bool], gmin: u64) -> (u64, u64, u64, u64, u64, u64, u64) {
        let mut m = MarkovCounts::default();
        for w in lost.windows(2) {
            m.pairs(w[0], w[1], 1);
        }
        let mut bursts = 0;
        let mut in_bursts = 0;
        let mut lost_in_bursts = 0;
        let losses: Vec<u64> = (0u64..).zip(lost).filter(|(_, &l)| l).map(|(k, _)| k).collect();
        let mut i = 0;
        while i < losses.len() {
            let mut j = i;
            while j + 1 < losses.len() && losses[j + 1] - losses[j] - 1 < gmin {
                j += 1;
            }
            if j > i {
                bursts += 1;
                in_bursts += losses[j] - losses[i] + 1;
                lost_in_bursts += (j - i + 1) as u64;
            }
            i = j + 1;
        }
        (m.n0, m.n1, m.n01, m.n10, bursts, in_bursts, lost_in_bursts)
    }

    proptest::proptest! {
        /// Streaming with arrivals reordered inside the window equals the direct definition.
        #[test]
        fn streaming_equals_definition(
            lost in proptest::collection::vec(proptest::bool::weighted(0.2), 1..700),
            delays in proptest::collection::vec(0u64..100, 700),
        ) {
            // Each packet arrives up to 100 positions late (the RTP stage's MAX_MISORDER).
            let mut arrivals: Vec<u64> = (0u64..).zip(&lost).filter(|(_, &l)| !l).map(|(k, _)| k).collect();
            arrivals.sort_by_key(|&k| k + delays[usize::try_from(k).unwrap_or(0)]);
            let mut seq = LossIndicators::new();
            // Position 0 and the last position define the range, as the RTP stage's first and
            // highest packets do.
            seq.record(0, !lost[0]);
            for &k in &arrivals {
                seq.record(k, true);
            }
            seq.record(lost.len() as u64 - 1, !lost[lost.len() - 1]);
            proptest::prop_assert_eq!(seq.late_beyond_window(), 0);
            let (n0, n1, n01, n10, bursts, in_bursts, lost_in_bursts) = reference(&lost, 16);
            let mut done = seq;
            done.commit_until(done.len);
            done.split.close_chain();
            proptest::prop_assert_eq!(done.markov, MarkovCounts { n0, n1, n01, n10 });
            proptest::prop_assert_eq!(
                (done.split.bursts, done.split.packets_in_bursts, done.split.lost_in_bursts),
                (bursts, in_bursts, lost_in_bursts)
            );
            let pat = seq.pattern(20.0);
            proptest::prop_assert_eq!(pat.lost, lost.iter().filter(|&&l| l).count() as u64);
        }
    }

    #[test]
    fn xr_field_bounds() {
        assert_eq!(xr_density_field(f64::NAN), 0);
        assert_eq!(xr_density_field(-1.0), 0);
        assert_eq!(xr_density_field(0.5), 128);
        assert_eq!(xr_density_field(2.0), 255);
    }
}
