//! Loss pattern of one stream (quality-metrics.md §2): the loss indicator sequence, the Gilbert
//! (2-state Markov) estimate with BurstR, and the RFC 3611 burst/gap split with Gmin = 16.
//!
//! [`LossIndicators`] is a compact bitmap over the expected packets, ordered by extended
//! sequence number: bit k is set when packet k arrived and was kept (not discarded by a buffer
//! model). It grows by whole 64-bit words as the highest sequence number advances (amortised,
//! no allocation per packet otherwise) and stops at [`MAX_TRACKED_PACKETS`].
//! [`LossIndicators::pattern`] walks it once and returns every §2 number as a [`LossPattern`].

use super::PacketObservation;

/// RFC 3611 §4.7.2 recommended burst threshold (quality-metrics.md §2).
pub const GMIN: u32 = 16;

/// Ceiling on the indicator sequence: 2²³ packets (1 MiB of bitmap, about 46 h at 50 packets/s).
/// Packets beyond it are not tracked and [`LossIndicators::is_truncated`] turns true.
pub const MAX_TRACKED_PACKETS: u64 = 1 << 23;

/// The loss indicator sequence `s_k` of quality-metrics.md §2, stored as "kept" bits.
#[derive(Clone, Debug, Default)]
pub struct LossIndicators {
    /// Bit k (word k/64, bit k%64) = packet k arrived and was kept.
    kept_bits: Vec<u64>,
    /// Positions in use: last position of the current segment + 1.
    len: u64,
    /// Positions used by earlier segments (sequence restarts, §1.3).
    segment_offset: u64,
    /// Extended sequence number of the current segment's position 0.
    segment_base: Option<u64>,
    /// Kept bits set so far (a duplicate never sets a bit twice).
    kept_count: u64,
    /// Packets whose sequence number lies before the segment base (late first packet).
    before_base: u64,
    /// Some packet fell beyond [`MAX_TRACKED_PACKETS`].
    truncated: bool,
}

impl LossIndicators {
    /// An empty sequence.
    pub fn new() -> Self {
        Self::default()
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
    pub fn record(&mut self, ext_seq: u64, kept: bool) {
        let base = *self.segment_base.get_or_insert(ext_seq);
        let Some(offset_in_segment) = ext_seq.checked_sub(base) else {
            self.before_base = self.before_base.saturating_add(1);
            return;
        };
        let position = match self.segment_offset.checked_add(offset_in_segment) {
            Some(p) if p < MAX_TRACKED_PACKETS => p,
            _ => {
                self.truncated = true;
                return;
            }
        };
        if position >= self.len {
            self.len = position + 1;
            let words_needed = usize::try_from(self.len.div_ceil(64)).unwrap_or(usize::MAX);
            if self.kept_bits.len() < words_needed {
                self.kept_bits.resize(words_needed, 0);
            }
        }
        if kept {
            let word_index = usize::try_from(position / 64).unwrap_or(usize::MAX);
            if let Some(word) = self.kept_bits.get_mut(word_index) {
                let mask = 1u64 << (position % 64);
                if *word & mask == 0 {
                    *word |= mask;
                    self.kept_count += 1;
                }
            }
        }
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

    /// `s_k` (true = lost or discarded); false outside the sequence.
    pub fn is_lost(&self, k: u64) -> bool {
        if k >= self.len {
            return false;
        }
        let word = usize::try_from(k / 64).ok().and_then(|i| self.kept_bits.get(i)).copied().unwrap_or(0);
        word & (1u64 << (k % 64)) == 0
    }

    /// Packets seen with a sequence number before their segment's base (not in the sequence).
    pub fn before_base(&self) -> u64 {
        self.before_base
    }

    /// True when packets beyond [`MAX_TRACKED_PACKETS`] were ignored.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The §2 statistics with Gmin = 16; `ptime_ms` converts packet counts to durations.
    pub fn pattern(&self, ptime_ms: f64) -> LossPattern {
        self.pattern_with_gmin(ptime_ms, GMIN)
    }

    /// The §2 statistics with another burst threshold.
    pub fn pattern_with_gmin(&self, ptime_ms: f64, gmin: u32) -> LossPattern {
        let mut markov = MarkovCounts::default();
        let mut split = BurstGapSplit::new(gmin);
        let mut previous: Option<bool> = None;
        for k in 0..self.len {
            let lost = self.is_lost(k);
            if let Some(prev) = previous {
                markov.pair(prev, lost);
            }
            if lost {
                split.loss(k);
            }
            previous = Some(lost);
        }
        split.close_chain();
        LossPattern::from_parts(self.len, self.lost_count(), &markov, &split, ptime_ms, gmin)
    }
}

/// Pair counts of the 2-state Markov chain (0 = received, 1 = lost).
#[derive(Clone, Copy, Debug, Default)]
struct MarkovCounts {
    n0: u64,
    n1: u64,
    n01: u64,
    n10: u64,
}

impl MarkovCounts {
    fn pair(&mut self, first_lost: bool, second_lost: bool) {
        match (first_lost, second_lost) {
            (false, second) => {
                self.n0 += 1;
                self.n01 += u64::from(second);
            }
            (true, second) => {
                self.n1 += 1;
                self.n10 += u64::from(!second);
            }
        }
    }
}

/// Streaming RFC 3611 chain builder: a loss joins the previous loss's chain when fewer than
/// Gmin kept packets lie between them; chains with ≥ 2 losses are bursts.
#[derive(Clone, Copy, Debug)]
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
    fn duplicates_segments_and_bounds() {
        let mut seq = LossIndicators::new();
        for s in [100u64, 101, 101, 103, 99] {
            seq.record(s, true);
        }
        assert_eq!((seq.len(), seq.lost_count(), seq.before_base()), (4, 1, 1));
        assert!(seq.is_lost(2) && !seq.is_lost(1) && !seq.is_lost(10));
        // A discarded packet extends the range but stays lost.
        seq.record(104, false);
        assert_eq!((seq.len(), seq.lost_count()), (5, 2));
        // Sequence restart: new segment appended.
        seq.restart_segment();
        seq.record(7, true);
        seq.record(9, true);
        assert_eq!((seq.len(), seq.lost_count()), (8, 3));
        // A wild jump is ignored and flagged, without allocating for it.
        seq.record(u64::MAX, true);
        assert!(seq.is_truncated());
        assert_eq!(seq.len(), 8);
    }

    #[test]
    fn xr_field_bounds() {
        assert_eq!(xr_density_field(f64::NAN), 0);
        assert_eq!(xr_density_field(-1.0), 0);
        assert_eq!(xr_density_field(0.5), 128);
        assert_eq!(xr_density_field(2.0), 255);
    }
}
