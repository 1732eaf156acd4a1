//! Jitter-buffer emulation (quality-metrics.md §3): a model receiver replayed over one audio
//! stream's packets in arrival order.
//!
//! Transit `t = arrival − media` (ms, with an unknown constant offset that cancels). A packet whose
//! transit exceeds the current playout offset `O` misses its playout instant and is discarded.
//! [`JitterBufferSim::fixed`] keeps `O = t + B` from the first packet, each marker-bit packet and
//! each resync; [`JitterBufferSim::adaptive`] re-derives `O` from the smoothed transit and its
//! deviation at adaptation points. Both follow `jb_fixed` / `jb_adaptive` of
//! `emodel_examples.py` (the reference implementation) step by step.
//!
//! `push` is O(1) and allocates nothing; the loss indicators are streaming (constant size, see
//! `losspattern`).

use super::losspattern::PatternCounts;
use super::losspattern::{LossIndicators, LossPattern};
use super::PacketObservation;

/// Transit jump that re-anchors either model (sender restart, timestamp jump), ms.
pub const RESYNC_MS: f64 = 1000.0;

/// Parameters of the adaptive model (quality-metrics.md §3).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct AdaptiveParams {
    /// Playout offset above transit at start and resync, ms (40).
    pub initial_ms: f64,
    /// Lower clamp of the adaptive margin `β·v`, ms (20).
    pub floor_ms: f64,
    /// Upper clamp of the adaptive margin, ms (500).
    pub ceiling_ms: f64,
    /// Deviation multiplier β (4).
    pub beta: f64,
    /// Media time between adaptation points when no marker bit comes, ms (1000).
    pub period_ms: f64,
}

impl Default for AdaptiveParams {
    fn default() -> Self {
        AdaptiveParams { initial_ms: 40.0, floor_ms: 20.0, ceiling_ms: 500.0, beta: 4.0, period_ms: 1000.0 }
    }
}

/// Which receiver is modelled.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum BufferModel {
    /// Fixed buffer of `buffer_ms` (50 and 200 in the report; any size for checks).
    Fixed {
        /// Buffer size B, ms.
        buffer_ms: f64,
    },
    /// Adaptive buffer (the model behind `mos` / `r_factor`).
    Adaptive(AdaptiveParams),
}

/// What the model did with one pushed packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketFate {
    /// Arrived before its playout instant.
    Played,
    /// Arrived after its playout instant.
    Discarded,
    /// Not judged: duplicate (dropped) or telephone-event (counts as received, §2), or a
    /// non-finite time (counts as received).
    NotJudged,
}

impl PacketFate {
    /// What the loss indicators record for a packet of this fate: kept or not, or nothing for
    /// a duplicate (a packet bypassing the buffer counts as received).
    fn indicator(self, obs: &PacketObservation) -> Option<bool> {
        match self {
            PacketFate::Played => Some(true),
            PacketFate::Discarded => Some(false),
            PacketFate::NotJudged => (!obs.is_duplicate).then_some(true),
        }
    }
}

/// Emulation state for one stream and one model.
#[derive(Clone, Debug)]
pub struct JitterBufferSim {
    model: BufferModel,
    indicators: LossIndicators,
    /// Current playout offset O (ms); meaningful once a packet was judged.
    playout_offset_ms: f64,
    /// Transit of the previously judged packet (`None` before the first).
    previous_transit_ms: Option<f64>,
    /// Adaptive: smoothed transit d and deviation v.
    smoothed_transit_ms: f64,
    deviation_ms: f64,
    /// Adaptive: media time of the last adaptation point (or start/resync).
    last_adaptation_media_ms: f64,
    played: u64,
    discarded: u64,
    /// Σ (O − t) over played packets.
    wait_sum_ms: f64,
}

impl JitterBufferSim {
    /// A fixed buffer of `buffer_ms`.
    pub fn fixed(buffer_ms: f64) -> Self {
        Self::new(BufferModel::Fixed { buffer_ms })
    }

    /// The adaptive buffer with the §3 parameters.
    pub fn adaptive() -> Self {
        Self::new(BufferModel::Adaptive(AdaptiveParams::default()))
    }

    /// A simulator for any model.
    pub fn new(model: BufferModel) -> Self {
        JitterBufferSim {
            model,
            indicators: LossIndicators::new(),
            playout_offset_ms: 0.0,
            previous_transit_ms: None,
            smoothed_transit_ms: 0.0,
            deviation_ms: 0.0,
            last_adaptation_media_ms: 0.0,
            played: 0,
            discarded: 0,
            wait_sum_ms: 0.0,
        }
    }

    /// The model simulated.
    pub fn model(&self) -> BufferModel {
        self.model
    }

    /// Tells the simulator the RTP sequence restarted (quality-metrics.md §1.3), so the loss
    /// indicators start a new segment. The playout state is kept; a restart normally also
    /// moves the transit by more than [`RESYNC_MS`] or carries a marker bit, which re-anchors.
    pub fn restart_segment(&mut self) {
        self.indicators.restart_segment();
    }

    /// Judges one packet, in arrival order (quality-metrics.md §3), and records it in the
    /// model's loss indicators.
    pub fn push(&mut self, obs: &PacketObservation) -> PacketFate {
        let fate = self.judge(obs);
        if let Some(kept) = fate.indicator(obs) {
            self.indicators.record(obs.ext_seq, kept);
        }
        fate
    }

    /// [`JitterBufferSim::push`] without recording the packet in the loss indicators
    /// ([`PacketFate::indicator`] says what `push` records).
    fn judge(&mut self, obs: &PacketObservation) -> PacketFate {
        if obs.is_duplicate {
            // §3: duplicates are removed before the buffer; §2: they count once.
            return PacketFate::NotJudged;
        }
        let transit_ms = obs.arrival_ms - obs.media_ms;
        if obs.bypasses_buffer || !transit_ms.is_finite() {
            // §2: telephone-event packets count as received; they do not enter the buffer.
            return PacketFate::NotJudged;
        }
        let anchor = match self.previous_transit_ms {
            None => true,
            Some(previous) => (transit_ms - previous).abs() > RESYNC_MS,
        };
        match self.model {
            BufferModel::Fixed { buffer_ms } => {
                if anchor || obs.marker {
                    self.playout_offset_ms = transit_ms + buffer_ms;
                }
            }
            BufferModel::Adaptive(params) => self.adapt(params, anchor, transit_ms, obs),
        }
        let is_late = transit_ms > self.playout_offset_ms;
        if is_late {
            self.discarded += 1;
        } else {
            self.played += 1;
            self.wait_sum_ms += self.playout_offset_ms - transit_ms;
        }
        if let BufferModel::Adaptive(_) = self.model {
            // After judging, discarded packets included.
            self.smoothed_transit_ms += (transit_ms - self.smoothed_transit_ms) / 16.0;
            self.deviation_ms += ((transit_ms - self.smoothed_transit_ms).abs() - self.deviation_ms) / 16.0;
        }
        self.previous_transit_ms = Some(transit_ms);
        if is_late {
            PacketFate::Discarded
        } else {
            PacketFate::Played
        }
    }

    /// Adaptive model, before the packet is judged: start/resync, or an adaptation point
    /// (marker bit, or media time ≥ period past the previous point).
    fn adapt(&mut self, params: AdaptiveParams, anchor: bool, transit_ms: f64, obs: &PacketObservation) {
        if anchor {
            self.smoothed_transit_ms = transit_ms;
            self.deviation_ms = 0.0;
            self.playout_offset_ms = transit_ms + params.initial_ms;
            self.last_adaptation_media_ms = obs.media_ms;
        } else if obs.marker || obs.media_ms - self.last_adaptation_media_ms >= params.period_ms {
            let margin = (params.beta * self.deviation_ms).max(params.floor_ms).min(params.ceiling_ms);
            self.playout_offset_ms = self.smoothed_transit_ms + margin;
            self.last_adaptation_media_ms = obs.media_ms;
        }
    }

    /// Packets discarded so far.
    pub fn discarded(&self) -> u64 {
        self.discarded
    }

    /// Packets played so far.
    pub fn played(&self) -> u64 {
        self.played
    }

    /// Σ (O − t) over the packets played so far, ms (buffer delay = this ÷ played).
    pub fn wait_sum_ms(&self) -> f64 {
        self.wait_sum_ms
    }

    /// The combined (network loss + discards) indicator sequence.
    pub fn indicators(&self) -> &LossIndicators {
        &self.indicators
    }

    /// The §3 outputs. `expected` and `lost` are the stream's RFC 3550 values
    /// (quality-metrics.md §1.3); `ptime_ms` converts burst/gap packet counts to durations.
    pub fn finish(&self, expected: u64, lost: i64, ptime_ms: f64) -> BufferResult {
        self.finished().finish(expected, lost, ptime_ms)
    }

    /// The model's final figures, without the playout and reorder state: what a finished
    /// stream keeps for report time (about a third of the size of the simulator).
    pub fn finished(&self) -> FinishedBuffer {
        FinishedBuffer {
            model: self.model,
            played: self.played,
            discarded: self.discarded,
            wait_sum_ms: self.wait_sum_ms,
            counts: self.indicators.finished_counts(),
        }
    }
}

/// A buffer model after its stream's last packet ([`JitterBufferSim::finished`]): the counters
/// and loss-pattern counts its [`BufferResult`] is computed from. [`FinishedBuffer::finish`]
/// gives exactly what [`JitterBufferSim::finish`] gives (the latter goes through it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FinishedBuffer {
    model: BufferModel,
    played: u64,
    discarded: u64,
    /// Σ (O − t) over played packets.
    wait_sum_ms: f64,
    counts: PatternCounts,
}

impl FinishedBuffer {
    /// The §3 outputs. `expected` and `lost` are the stream's RFC 3550 values
    /// (quality-metrics.md §1.3); `ptime_ms` converts burst/gap packet counts to durations.
    pub fn finish(&self, expected: u64, lost: i64, ptime_ms: f64) -> BufferResult {
        let percent_of_expected = |count: u64| {
            if expected == 0 {
                0.0
            } else {
                100.0 * count as f64 / expected as f64
            }
        };
        let network_lost = u64::try_from(lost.max(0)).unwrap_or(0);
        let pattern = self.counts.pattern(ptime_ms);
        BufferResult {
            model: self.model,
            discarded: self.discarded,
            played: self.played,
            discard_pct: percent_of_expected(self.discarded),
            // At most 100 %: only inconsistent inputs (lost + discarded > expected) exceed it.
            ppl_pct: percent_of_expected(network_lost.saturating_add(self.discarded)).min(100.0),
            burst_r: pattern.burst_r,
            buffer_delay_ms: if self.played == 0 { 0.0 } else { self.wait_sum_ms / self.played as f64 },
            pattern,
        }
    }

    /// The model simulated.
    pub fn model(&self) -> BufferModel {
        self.model
    }

    /// Packets played.
    pub fn played(&self) -> u64 {
        self.played
    }

    /// Packets discarded.
    pub fn discarded(&self) -> u64 {
        self.discarded
    }
}

/// Outputs of one buffer model for one stream (quality-metrics.md §3).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct BufferResult {
    /// The model.
    pub model: BufferModel,
    /// Packets that arrived after their playout instant.
    pub discarded: u64,
    /// Packets played.
    pub played: u64,
    /// `100 · discarded / expected` (0 when nothing was expected).
    pub discard_pct: f64,
    /// Effective loss `100 · (max(lost, 0) + discarded) / expected` — the E-model's Ppl.
    pub ppl_pct: f64,
    /// Raw BurstR of the combined indicator sequence (the E-model clamps it to ≥ 1).
    pub burst_r: f64,
    /// Mean over played packets of `O − t`, ms (0 when none was played): `d_jb` of the delay
    /// budget.
    pub buffer_delay_ms: f64,
    /// The full §2 statistics of the combined sequence (burst/gap densities and durations).
    pub pattern: LossPattern,
}

/// The three receivers callscope reports per stream: adaptive (`mos`), fixed 50 ms
/// (`mos_fixed50`, the pessimistic bound) and fixed 200 ms (`mos_fixed200`).
///
/// The three models see the same packets, so their loss indicators differ only once one of
/// them keeps a packet another discards; on a clean stream that never happens. A fixed model
/// therefore shares the adaptive model's indicators until its first different decision, when
/// it takes a copy of them as they stand and records on its own from then on: the same
/// figures as three separate recordings, for one recording per packet on most streams (each
/// `record` is about a third of a model's cost per packet).
#[derive(Clone, Debug)]
pub struct StandardBuffers {
    adaptive: JitterBufferSim,
    fixed_50: JitterBufferSim,
    fixed_200: JitterBufferSim,
    /// Whether `fixed_50` / `fixed_200` still share `adaptive`'s indicators (their own are
    /// unused until then).
    fixed_shares: [bool; 2],
}

impl Default for StandardBuffers {
    fn default() -> Self {
        StandardBuffers {
            adaptive: JitterBufferSim::adaptive(),
            fixed_50: JitterBufferSim::fixed(50.0),
            fixed_200: JitterBufferSim::fixed(200.0),
            fixed_shares: [true; 2],
        }
    }
}

impl StandardBuffers {
    /// Pushes one packet into all three models.
    pub fn push(&mut self, obs: &PacketObservation) {
        let adaptive = self.adaptive.judge(obs).indicator(obs);
        for (fixed, shares) in [&mut self.fixed_50, &mut self.fixed_200].into_iter().zip(&mut self.fixed_shares) {
            let kept = fixed.judge(obs).indicator(obs);
            if *shares && kept != adaptive {
                // The first different decision: from here on this model records its own.
                fixed.indicators = self.adaptive.indicators;
                *shares = false;
            }
            if let (false, Some(kept)) = (*shares, kept) {
                fixed.indicators.record(obs.ext_seq, kept);
            }
        }
        if let Some(kept) = adaptive {
            self.adaptive.indicators.record(obs.ext_seq, kept);
        }
    }

    /// Forwards a sequence restart to all three models.
    pub fn restart_segment(&mut self) {
        self.adaptive.restart_segment();
        for (fixed, shares) in [&mut self.fixed_50, &mut self.fixed_200].into_iter().zip(self.fixed_shares) {
            if !shares {
                fixed.restart_segment();
            }
        }
    }

    /// The adaptive model (the one behind `mos`).
    pub fn adaptive(&self) -> &JitterBufferSim {
        &self.adaptive
    }

    /// The three models' final figures ([`JitterBufferSim::finished`]).
    pub fn finished(&self) -> FinishedBuffers {
        let adaptive = self.adaptive.finished();
        let fixed = |sim: &JitterBufferSim, shares: bool| {
            let mut finished = sim.finished();
            if shares {
                finished.counts = adaptive.counts;
            }
            finished
        };
        FinishedBuffers {
            adaptive,
            fixed_50: fixed(&self.fixed_50, self.fixed_shares[0]),
            fixed_200: fixed(&self.fixed_200, self.fixed_shares[1]),
        }
    }
}

/// [`StandardBuffers`] after the stream's last packet: what the report needs of each model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FinishedBuffers {
    /// Adaptive model.
    pub adaptive: FinishedBuffer,
    /// Fixed 50 ms.
    pub fixed_50: FinishedBuffer,
    /// Fixed 200 ms.
    pub fixed_200: FinishedBuffer,
}

#[cfg(test)]
mod tests {
    use super::super::codec::{params, CodecId};
    use super::super::emodel::{evaluate, DelayBudget, DelayModel};
    use super::*;

    /// quality-metrics.md §3 vector (emodel_examples.py jb_examples()): 150 × 20 ms packets,
    /// transit 30 + ((7i) mod 11)·6 ms, packet 120 held back 400 ms.
    fn section3_trace() -> Vec<PacketObservation> {
        (0u32..150)
            .map(|i| {
                let extra = if i == 120 { 400.0 } else { f64::from((7 * i) % 11) * 6.0 };
                PacketObservation {
                    arrival_ms: 20.0 * f64::from(i) + 30.0 + extra,
                    ext_seq: u64::from(i),
                    media_ms: 20.0 * f64::from(i),
                    marker: false,
                    bypasses_buffer: false,
                    is_duplicate: false,
                }
            })
            .collect()
    }

    fn run(mut sim: JitterBufferSim, trace: &[PacketObservation]) -> (Vec<u64>, BufferResult) {
        let mut late = Vec::new();
        for obs in trace {
            if sim.push(obs) == PacketFate::Discarded {
                late.push(obs.ext_seq);
            }
        }
        (late, sim.finish(150, 0, 20.0))
    }

    /// Ta with the 20 ms default network delay, ptime 20, G.711 + PLC (look-ahead 0), then R/MOS.
    fn score(result: &BufferResult) -> (f64, f64, f64) {
        let codec = params(CodecId::G711Plc);
        let ta = DelayBudget::new(None, result.buffer_delay_ms, 20.0, &codec).ta_ms();
        let r = evaluate(&codec, result.ppl_pct, result.burst_r, ta, DelayModel::G107);
        (ta, r.r_factor, r.mos)
    }

    fn two(x: f64) -> String {
        format!("{x:.2}")
    }

    /// A pseudo-random trace (xorshift, fixed seed): jitter of up to `jitter_ms` with rarer
    /// spikes, losses, reordering, duplicates, telephone events, marker bits and one
    /// sequence restart (returned as the index before which `restart_segment` is called).
    fn mixed_trace(seed: u64, jitter_ms: u64) -> (Vec<PacketObservation>, usize) {
        let mut x = seed | 1;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut trace = Vec::new();
        let restart_at = 300;
        for i in 0u64..600 {
            let seq = if i < restart_at as u64 { i } else { 40_000 + i };
            let roll = next(100);
            if roll < 3 {
                continue; // lost
            }
            let spike = if jitter_ms >= 100 && next(50) == 0 { 150 + next(300) } else { 0 };
            let obs = PacketObservation {
                arrival_ms: 20.0 * i as f64 + 30.0 + (next(jitter_ms + 1) + spike) as f64,
                ext_seq: seq,
                media_ms: 20.0 * i as f64,
                marker: next(40) == 0,
                bypasses_buffer: roll == 3,
                is_duplicate: false,
            };
            if roll == 4 {
                if let Some(previous) = trace.pop() {
                    trace.push(obs); // reordered
                    trace.push(previous);
                    continue;
                }
            }
            trace.push(obs);
            if roll == 5 {
                trace.push(PacketObservation { is_duplicate: true, arrival_ms: obs.arrival_ms + 1.0, ..obs });
            }
        }
        let restart = trace.iter().position(|o| o.ext_seq >= 40_000).unwrap_or(trace.len());
        (trace, restart)
    }

    #[test]
    fn shared_indicators_give_what_three_separate_models_give() {
        for (seed, jitter_ms) in [(1, 0), (2, 5), (3, 40), (4, 120), (5, 400), (6, 30), (7, 60)] {
            let (trace, restart) = mixed_trace(seed, jitter_ms);
            let mut shared = StandardBuffers::default();
            let mut separate =
                [JitterBufferSim::adaptive(), JitterBufferSim::fixed(50.0), JitterBufferSim::fixed(200.0)];
            for (i, obs) in trace.iter().enumerate() {
                if i == restart {
                    shared.restart_segment();
                    separate.iter_mut().for_each(JitterBufferSim::restart_segment);
                }
                shared.push(obs);
                for sim in &mut separate {
                    sim.push(obs);
                }
            }
            let [adaptive, fixed_50, fixed_200] = separate.map(|sim| sim.finished());
            assert_eq!(shared.finished(), FinishedBuffers { adaptive, fixed_50, fixed_200 }, "seed {seed}");
        }
        // The traces exercise every case: no model diverging, only the 50 ms one, both.
        let shares: Vec<[bool; 2]> = [(1, 0), (7, 60), (5, 400)]
            .into_iter()
            .map(|(seed, jitter_ms)| {
                let mut buffers = StandardBuffers::default();
                mixed_trace(seed, jitter_ms).0.iter().for_each(|obs| buffers.push(obs));
                buffers.fixed_shares
            })
            .collect();
        assert_eq!(shares, [[true, true], [false, true], [false, false]]);
    }

    #[test]
    fn section3_fixed_50() {
        let (late, res) = run(JitterBufferSim::fixed(50.0), &section3_trace());
        assert_eq!(late.len(), 29);
        assert_eq!(res.discarded, 29);
        assert_eq!(late[..8], [3, 6, 14, 17, 25, 28, 36, 39]);
        assert_eq!(two(res.discard_pct), "19.33");
        assert_eq!(two(res.buffer_delay_ms), "26.10");
        assert_eq!(two(res.ppl_pct), "19.33");
        assert_eq!(two(res.pattern.ppl_pct), "19.33");
        assert_eq!(two(res.burst_r.max(1.0)), "1.00");
        let (ta, r, mos) = score(&res);
        assert_eq!((two(ta), two(r), two(mos)), ("66.10".into(), "50.05".into(), "2.58".into()));
    }

    #[test]
    fn section3_fixed_200() {
        let (late, res) = run(JitterBufferSim::fixed(200.0), &section3_trace());
        assert_eq!(late, [120]);
        assert_eq!(two(res.buffer_delay_ms), "169.88");
        assert_eq!(two(res.ppl_pct), "0.67");
        let (ta, r, mos) = score(&res);
        assert_eq!((two(ta), two(r), two(mos)), ("209.88".into(), "82.14".into(), "4.10".into()));
    }

    #[test]
    fn section3_adaptive() {
        let (late, res) = run(JitterBufferSim::adaptive(), &section3_trace());
        assert_eq!(late.len(), 19);
        assert_eq!(late[..8], [1, 3, 6, 9, 12, 14, 17, 20]);
        // All before 1 s of media (packet 50), plus the held-back packet 120.
        assert!(late[..18].iter().all(|&k| k < 50));
        assert_eq!(late[18], 120);
        assert_eq!(two(res.buffer_delay_ms), "52.14");
        assert_eq!(two(res.ppl_pct), "12.67");
        let (ta, r, mos) = score(&res);
        assert_eq!((two(ta), two(r), two(mos)), ("92.14".into(), "58.96".into(), "3.05".into()));
    }

    #[test]
    fn marker_reanchors_fixed_buffer_and_network_loss_combines() {
        // Steady 30 ms transit, then transit 100 ms from packet 5 on: with a marker on 5 the
        // fixed 50 ms buffer re-anchors and plays everything; without it, 5.. are late.
        let mk = |i: u64, marker: bool| PacketObservation {
            arrival_ms: 20.0 * i as f64 + if i >= 5 { 100.0 } else { 30.0 },
            ext_seq: i,
            media_ms: 20.0 * i as f64,
            marker,
            bypasses_buffer: false,
            is_duplicate: false,
        };
        let mut with_marker = JitterBufferSim::fixed(50.0);
        let mut without = JitterBufferSim::fixed(50.0);
        for i in 0..10 {
            with_marker.push(&mk(i, i == 5));
            without.push(&mk(i, false));
        }
        assert_eq!(with_marker.discarded(), 0);
        assert_eq!(without.discarded(), 5);
        // Network loss: seq 10 missing, 11 arrives; expected 12, lost 1.
        without.push(&mk(11, false));
        let res = without.finish(12, 1, 20.0);
        assert_eq!(res.discarded, 6);
        assert_eq!(res.pattern.lost, 7);
        assert_eq!(two(res.ppl_pct), "58.33");
    }

    #[test]
    fn events_and_duplicates_are_not_judged() {
        let mut sim = JitterBufferSim::adaptive();
        let base = PacketObservation {
            arrival_ms: 30.0,
            ext_seq: 0,
            media_ms: 0.0,
            marker: false,
            bypasses_buffer: false,
            is_duplicate: false,
        };
        assert_eq!(sim.push(&base), PacketFate::Played);
        let dup = PacketObservation { is_duplicate: true, arrival_ms: 5000.0, ..base };
        assert_eq!(sim.push(&dup), PacketFate::NotJudged);
        let event = PacketObservation { bypasses_buffer: true, ext_seq: 1, arrival_ms: 9000.0, ..base };
        assert_eq!(sim.push(&event), PacketFate::NotJudged);
        let res = sim.finish(2, 0, 20.0);
        assert_eq!((res.discarded, res.played, res.pattern.lost), (0, 1, 0));
        assert_eq!(res.buffer_delay_ms, 40.0);
        // Nothing pushed: zeros, no NaN.
        let empty = JitterBufferSim::fixed(60.0).finish(0, 0, 20.0);
        assert_eq!((empty.ppl_pct, empty.discard_pct, empty.buffer_delay_ms), (0.0, 0.0, 0.0));
    }
}
