//! Per-stream quality tracker fed by the RTP stage, one call per packet (quality-metrics.md §2,
//! §3 and "quality over time"): the three standard jitter-buffer models, the measured
//! packetisation step, and fixed-length time windows.
//!
//! The RTP stage knows neither SIP nor SDP: it passes the packet's clock and its own counters;
//! the codec row and the round trip are applied at report time ([`score_stream`],
//! [`score_window`]). Per packet the work is O(1) with no allocation; the only allocation is one
//! [`WindowStats`] pushed when a window closes (at most [`MAX_WINDOWS`] per stream).
//!
//! **Windows.** Window `k` covers `[k·W, (k+1)·W)` ms of capture time since the capture's first
//! frame (the RTP stage's time origin), so windows of different streams line up. A window holds
//! the packets that *arrived* in it; `expected`/`lost` are the differences of the stream's
//! RFC 3550 counters (§1.3) between the last packet before the window and the last packet in
//! it, so the windows' `lost` add up to the stream's. Windows without a packet are not listed.
//! A window's BurstR comes from the Markov pairs the adaptive model *committed* during the
//! window, which lag the arrivals by at most `REORDER_WINDOW` packets (2.56 s at 20 ms).
//!
//! [`score_stream`]: super::score_stream

use super::emodel::{self, DelayBudget, DelayModel, RBreakdown};
use super::jitterbuffer::{FinishedBuffers, StandardBuffers};
use super::losspattern::gilbert_from_pairs;
use super::{CodecParams, PacketObservation};
use crate::capture::FrameRef;

/// Loss runs kept per stream (the first ones of at least [`MIN_LOSS_RUN_KEPT`] packets; the
/// count goes on in [`QualityStats::loss_runs_total`]).
pub const MIN_LOSS_RUN_KEPT: u32 = 2;

/// Most loss runs kept per stream.
pub const MAX_LOSS_RUNS_KEPT: usize = 16;

/// A run of consecutive sequence numbers never seen between two packets adjacent in arrival
/// order (diagnosis.md §4.3 `burst_loss`), with the frames that bound it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossRun {
    /// Last packet before the run.
    pub before: FrameRef,
    /// First packet after it.
    pub after: FrameRef,
    /// Sequence numbers skipped.
    pub missing: u32,
    /// Audio the run held, ms: the media time between the bounding packets minus one packet
    /// interval, i.e. `timestamp step · missing / (missing + 1)` converted with the clock.
    pub audio_ms: f64,
}

/// Default window length, s (issue 4: "windows of 10 s (configurable)").
pub const DEFAULT_WINDOW_S: f64 = 10.0;

/// Most windows kept per stream: one hour at 10 s. Later windows are counted in
/// `StreamQuality::windows_dropped`, not stored.
pub const MAX_WINDOWS: usize = 360;

/// The stream's RFC 3550 counters after a packet (quality-metrics.md §1.3), from the RTP stage.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StreamCounters {
    /// Σ over segments of the expected packets so far.
    pub expected: u64,
    /// Packets counted as received so far (duplicates included, as RFC 3550).
    pub received: u64,
    /// RFC 3550 A.8 interarrival jitter so far, ms (§1.7, audio packets only).
    pub jitter_ms: f64,
}

/// Snapshot of the cumulative numbers a window is the difference of.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Snapshot {
    counters: StreamCounters,
    packets: u64,
    discarded: u64,
    played: u64,
    wait_sum_ms: f64,
    pairs: (u64, u64, u64, u64),
    payload_judged: u64,
    payload_silent: u64,
}

/// One closed window (raw numbers; [`score_window`] turns them into R and MOS).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct WindowStats {
    /// Window start, ms since the capture's first frame (`index · W`).
    pub start_ms: f64,
    /// Window length, ms.
    pub length_ms: f64,
    /// RTP packets that arrived in the window (duplicates included).
    pub packets: u64,
    /// Expected packets (difference of the stream's RFC 3550 `expected`).
    pub expected: u64,
    /// `expected − received` over the window (negative with duplicates or late packets of the
    /// previous window).
    pub lost: i64,
    /// Packets the adaptive buffer discarded in the window.
    pub discarded: u64,
    /// RFC 3550 jitter at the window's last packet, ms.
    pub jitter_ms: f64,
    /// Mean buffer delay of the adaptive model over the packets played in the window, ms.
    pub buffer_delay_ms: f64,
    /// Effective loss `100·(max(lost, 0) + discarded)/expected` (≤ 100).
    pub ppl_pct: f64,
    /// BurstR of the adaptive model's indicators committed in the window.
    pub burst_r: f64,
    /// Packets whose payload level was judged (G.711, L16), for `silent_payload`.
    pub payload_judged: u64,
    /// Of those, packets decoding to digital silence (below −60 dBov).
    pub payload_silent: u64,
}

/// Heavy-hitter slots for the modal timestamp step (Misra–Gries with 4 counters: the step that
/// occurs in more than a fifth of the pairs is always among them).
#[derive(Clone, Copy, Debug, Default)]
struct ModalStep {
    slots: [(u32, u32); 4],
}

impl ModalStep {
    fn add(&mut self, step: u32) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.1 > 0 && s.0 == step) {
            slot.1 = slot.1.saturating_add(1);
        } else if let Some(slot) = self.slots.iter_mut().find(|s| s.1 == 0) {
            *slot = (step, 1);
        } else {
            for slot in &mut self.slots {
                slot.1 -= 1;
            }
        }
    }

    fn mode(&self) -> Option<u32> {
        self.slots.iter().filter(|s| s.1 > 0).max_by_key(|s| (s.1, std::cmp::Reverse(s.0))).map(|s| s.0)
    }
}

/// Quality state of one stream.
#[derive(Clone, Debug)]
pub struct StreamQuality {
    buffers: StandardBuffers,
    window_ms: f64,
    /// Index of the open window (`None` before the first packet).
    window_index: Option<i64>,
    /// Cumulative values at the open window's start and after the last packet.
    window_open: Snapshot,
    last: Snapshot,
    windows: Vec<WindowStats>,
    windows_dropped: u64,
    /// Previous packet fed with a known clock: (ext_seq, ext_ts), for the timestamp step.
    previous_audio: Option<(u64, i64)>,
    step: ModalStep,
    clock_hz: u32,
    /// First media timestamp (unwrapped) of the stream, the origin of `media_ms`.
    ext_ts_first: Option<i64>,
    /// The longest loss runs (at most [`MAX_LOSS_RUNS_KEPT`]) and how many there were.
    loss_runs: Vec<LossRun>,
    loss_runs_total: u64,
}

impl StreamQuality {
    /// A tracker with windows of `window_ms` (non-positive or non-finite → 10 s).
    pub fn new(window_ms: f64) -> Self {
        let window_ms = if window_ms.is_finite() && window_ms > 0.0 { window_ms } else { DEFAULT_WINDOW_S * 1000.0 };
        StreamQuality {
            buffers: StandardBuffers::default(),
            window_ms,
            window_index: None,
            window_open: Snapshot::default(),
            last: Snapshot::default(),
            windows: Vec::new(),
            windows_dropped: 0,
            previous_audio: None,
            step: ModalStep::default(),
            clock_hz: 0,
            ext_ts_first: None,
            loss_runs: Vec::new(),
            loss_runs_total: 0,
        }
    }

    /// The payload of the packet just observed was judged for digital silence
    /// ([`super::silence::rtp_payload_is_silent`]): counted in the stream and its window.
    /// O(1), no allocation.
    pub fn observe_payload_level(&mut self, silent: bool) {
        self.last.payload_judged += 1;
        self.last.payload_silent += u64::from(silent);
    }

    /// A forward sequence jump of `missing + 1` between two packets adjacent in arrival order
    /// (diagnosis.md §4.3 `burst_loss`); `audio_ms` is the audio the skipped packets held.
    /// Keeps the first [`MAX_LOSS_RUNS_KEPT`] runs of at least [`MIN_LOSS_RUN_KEPT`] packets
    /// (single losses are only counted). First ones, not longest ones: what a capture cut short
    /// keeps is then a prefix of what the whole capture keeps, so a call that ended before the
    /// cut gets the same reasons (tests/it/hostile.rs `nothing_lost`). Bounded; the Vec grows
    /// at most to 16 entries per stream.
    pub fn observe_loss_run(&mut self, run: LossRun) {
        self.loss_runs_total += 1;
        if run.missing >= MIN_LOSS_RUN_KEPT && self.loss_runs.len() < MAX_LOSS_RUNS_KEPT {
            self.loss_runs.push(run);
        }
    }

    /// One packet, in arrival order. `ext_ts` is the RTP timestamp unwrapped to 64 bits by the
    /// caller; `clock_hz` the packet's clock (0 = unknown: the packet counts as received but
    /// is not judged by the buffers, as for events). `obs.media_ms` is filled here.
    pub fn observe(&mut self, mut obs: PacketObservation, ext_ts: i64, clock_hz: u32, counters: StreamCounters) {
        self.advance_window(obs.arrival_ms);
        if clock_hz == 0 {
            obs.bypasses_buffer = true;
        } else if !obs.bypasses_buffer {
            if self.clock_hz != clock_hz {
                // A clock change (codec switch) restarts the media time scale.
                self.clock_hz = clock_hz;
                self.ext_ts_first = Some(ext_ts);
                self.previous_audio = None;
            }
            let first = *self.ext_ts_first.get_or_insert(ext_ts);
            obs.media_ms = (ext_ts - first) as f64 * 1000.0 / f64::from(clock_hz);
            if !obs.is_duplicate {
                if let Some((seq, ts)) = self.previous_audio {
                    if obs.ext_seq == seq.wrapping_add(1) && !obs.marker {
                        if let Ok(step) = u32::try_from(ext_ts - ts) {
                            if step > 0 {
                                self.step.add(step);
                            }
                        }
                    }
                }
                self.previous_audio = Some((obs.ext_seq, ext_ts));
            }
        }
        self.buffers.push(&obs);
        self.last = self.snapshot(counters, self.last.packets + 1);
    }

    /// A packet that the RTP stage did not count as received (a jump held as a possible
    /// restart, §1.3): it only moves the window and counts in its `packets`.
    pub fn observe_unmeasured(&mut self, arrival_ms: f64, counters: StreamCounters) {
        self.advance_window(arrival_ms);
        self.last = self.snapshot(counters, self.last.packets + 1);
    }

    /// Records a position as received without judging it or counting a packet (the held
    /// first packet of a restarted segment, already counted by [`Self::observe_unmeasured`]).
    pub fn observe_position_only(&mut self, mut obs: PacketObservation) {
        obs.bypasses_buffer = true;
        self.buffers.push(&obs);
    }

    /// Closes the open window when `arrival_ms` falls into a later one. A packet arriving with
    /// an earlier capture time (merged captures) stays in the open window.
    fn advance_window(&mut self, arrival_ms: f64) {
        let index = (arrival_ms / self.window_ms).floor() as i64;
        match self.window_index {
            None => self.window_index = Some(index),
            Some(open) if index > open => {
                self.close_window();
                self.window_index = Some(index);
            }
            _ => {}
        }
    }

    /// A confirmed RTP sequence restart (quality-metrics.md §1.3): new indicator segment.
    pub fn restart_segment(&mut self) {
        self.buffers.restart_segment();
    }

    fn snapshot(&self, counters: StreamCounters, packets: u64) -> Snapshot {
        let adaptive = self.buffers.adaptive();
        Snapshot {
            counters,
            packets,
            discarded: adaptive.discarded(),
            played: adaptive.played(),
            wait_sum_ms: adaptive.wait_sum_ms(),
            pairs: adaptive.indicators().committed_pairs(),
            payload_judged: self.last.payload_judged,
            payload_silent: self.last.payload_silent,
        }
    }

    fn close_window(&mut self) {
        let Some(index) = self.window_index else {
            return;
        };
        let (open, last) = (self.window_open, self.last);
        self.window_open = last;
        if self.windows.len() >= MAX_WINDOWS {
            self.windows_dropped += 1;
            return;
        }
        let expected = last.counters.expected.saturating_sub(open.counters.expected);
        let received = last.counters.received.saturating_sub(open.counters.received);
        let lost = i64::try_from(expected).unwrap_or(i64::MAX) - i64::try_from(received).unwrap_or(i64::MAX);
        let discarded = last.discarded - open.discarded;
        let played = last.played - open.played;
        let (n0, n1, n01, n10) = (
            last.pairs.0 - open.pairs.0,
            last.pairs.1 - open.pairs.1,
            last.pairs.2 - open.pairs.2,
            last.pairs.3 - open.pairs.3,
        );
        let impaired = u64::try_from(lost.max(0)).unwrap_or(0).saturating_add(discarded);
        self.windows.push(WindowStats {
            start_ms: index as f64 * self.window_ms,
            length_ms: self.window_ms,
            packets: last.packets - open.packets,
            expected,
            lost,
            discarded,
            jitter_ms: last.counters.jitter_ms,
            buffer_delay_ms: if played == 0 { 0.0 } else { (last.wait_sum_ms - open.wait_sum_ms) / played as f64 },
            ppl_pct: if expected == 0 { 0.0 } else { (100.0 * impaired as f64 / expected as f64).min(100.0) },
            burst_r: gilbert_from_pairs(n0, n1, n01, n10).2,
            payload_judged: last.payload_judged - open.payload_judged,
            payload_silent: last.payload_silent - open.payload_silent,
        });
    }

    /// Closes the open window and returns the results.
    pub fn finish(mut self) -> QualityStats {
        self.close_window();
        // A finished stream is kept until the report: no growth slack (Vec doubling).
        self.windows.shrink_to_fit();
        let mut loss_runs = std::mem::take(&mut self.loss_runs);
        loss_runs.shrink_to_fit();
        QualityStats {
            payload_judged: self.last.payload_judged,
            payload_silent: self.last.payload_silent,
            loss_runs,
            loss_runs_total: self.loss_runs_total,
            buffers: self.buffers.finished(),
            windows: self.windows,
            windows_dropped: self.windows_dropped,
            measured_ptime_ms: match (self.step.mode(), self.clock_hz) {
                (Some(step), hz) if hz > 0 => Some(f64::from(step) * 1000.0 / f64::from(hz)),
                _ => None,
            },
            clock_hz: self.clock_hz,
        }
    }
}

/// What the tracker hands to the report at the end of a stream.
#[derive(Clone, Debug)]
pub struct QualityStats {
    /// The three buffer models' final figures (call [`super::FinishedBuffer::finish`] with the
    /// stream's counters); the simulators themselves are dropped when the stream finishes.
    pub buffers: FinishedBuffers,
    /// Closed windows in time order (at most [`MAX_WINDOWS`]).
    pub windows: Vec<WindowStats>,
    /// Windows not stored because of [`MAX_WINDOWS`].
    pub windows_dropped: u64,
    /// Modal timestamp step between consecutive audio packets ÷ clock, ms (`d_pkt` when SDP
    /// gives no `a=ptime`); `None` without two consecutive audio packets.
    pub measured_ptime_ms: Option<f64>,
    /// Clock of the audio packets (0 when none had a known clock: no emulation, no MOS).
    pub clock_hz: u32,
    /// Packets whose payload level was judged (G.711, L16; diagnosis.md §4.3 `silent_payload`).
    pub payload_judged: u64,
    /// Of those, packets decoding to digital silence (below −60 dBov).
    pub payload_silent: u64,
    /// The first loss runs of ≥ [`MIN_LOSS_RUN_KEPT`] packets ([`MAX_LOSS_RUNS_KEPT`] at most),
    /// in arrival order.
    pub loss_runs: Vec<LossRun>,
    /// All loss runs, kept or not.
    pub loss_runs_total: u64,
}

impl QualityStats {
    /// True when at least one packet went through the buffer models.
    pub fn emulated(&self) -> bool {
        self.buffers.adaptive.played() + self.buffers.adaptive.discarded() > 0
    }
}

/// R and MOS of one window with the adaptive model's numbers of that window, the stream's
/// codec, round trip and packetisation time.
pub fn score_window(
    codec: &CodecParams,
    window: &WindowStats,
    rtt_ms: Option<f64>,
    ptime_ms: f64,
    model: DelayModel,
) -> RBreakdown {
    let budget = DelayBudget::new(rtt_ms, window.buffer_delay_ms, ptime_ms, codec);
    emodel::evaluate(codec, window.ppl_pct, window.burst_r, budget.ta_ms(), model)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(k: u64, arrival_ms: f64) -> PacketObservation {
        PacketObservation {
            arrival_ms,
            ext_seq: k,
            media_ms: 0.0,
            marker: false,
            bypasses_buffer: false,
            is_duplicate: false,
        }
    }

    #[test]
    fn windows_split_loss_by_arrival_time() {
        // 50 packets/s for 40 s; from 30 s on, every 10th packet lost. Windows of 10 s.
        let mut q = StreamQuality::new(10_000.0);
        let mut received = 0u64;
        for k in 0..2000u64 {
            let expected = k + 1;
            if k >= 1500 && k % 10 == 5 {
                continue;
            }
            received += 1;
            let c = StreamCounters { expected, received, jitter_ms: 0.0 };
            q.observe(obs(k, 20.0 * k as f64 + 5.0), 160 * k as i64, 8000, c);
        }
        let stats = q.finish();
        assert_eq!(stats.windows.len(), 4);
        let lost: Vec<i64> = stats.windows.iter().map(|w| w.lost).collect();
        assert_eq!(lost, [0, 0, 0, 50]);
        let packets: Vec<u64> = stats.windows.iter().map(|w| w.packets).collect();
        assert_eq!(packets, [500, 500, 500, 450]);
        assert_eq!(stats.windows[3].start_ms, 30_000.0);
        assert_eq!(stats.windows[3].ppl_pct, 10.0);
        assert_eq!(stats.measured_ptime_ms, Some(20.0));
        assert!(stats.emulated());
    }

    #[test]
    fn modal_step_and_unknown_clock() {
        let mut m = ModalStep::default();
        for s in [160, 160, 320, 160, 480, 160, 800, 960, 160] {
            m.add(s);
        }
        assert_eq!(m.mode(), Some(160));
        let mut q = StreamQuality::new(0.0);
        q.observe(obs(0, 0.0), 0, 0, StreamCounters { expected: 1, received: 1, jitter_ms: 0.0 });
        let stats = q.finish();
        assert!(!stats.emulated());
        assert_eq!(stats.measured_ptime_ms, None);
        assert_eq!(stats.windows.len(), 1);
    }
    #[test]
    fn loss_runs_keep_the_longest_and_payload_levels_split_by_window() {
        let at = |n: u64| FrameRef { file: 0, number: n, time: crate::time::Timestamp(n as i64) };
        let mut q = StreamQuality::new(1000.0);
        for k in 0..40u64 {
            let c = StreamCounters { expected: k + 1, received: k + 1, jitter_ms: 0.0 };
            q.observe(obs(k, 50.0 * k as f64), 160 * k as i64, 8000, c);
            // 20 packets per 1 s window; the first window silent, the second half silent.
            q.observe_payload_level(k < 20 || k % 2 == 0);
        }
        q.observe_loss_run(LossRun { before: at(1), after: at(2), missing: 1, audio_ms: 20.0 });
        for n in 0..(MAX_LOSS_RUNS_KEPT as u64 + 3) {
            q.observe_loss_run(LossRun { before: at(10 + n), after: at(11 + n), missing: 2, audio_ms: n as f64 });
        }
        let stats = q.finish();
        assert_eq!((stats.payload_judged, stats.payload_silent), (40, 30));
        let w: Vec<(u64, u64)> = stats.windows.iter().map(|w| (w.payload_judged, w.payload_silent)).collect();
        assert_eq!(w, [(20, 20), (20, 10)]);
        assert_eq!(stats.loss_runs_total, MAX_LOSS_RUNS_KEPT as u64 + 4);
        assert_eq!(stats.loss_runs.len(), MAX_LOSS_RUNS_KEPT);
        // The single loss is only counted; the first 16 runs of two are kept, in order.
        assert_eq!(stats.loss_runs.first().map(|r| r.before.number), Some(10));
        assert_eq!(stats.loss_runs.last().map(|r| r.before.number), Some(25));
    }
}
