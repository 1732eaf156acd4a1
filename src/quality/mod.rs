//! Stage 7 — quality: loss pattern, jitter-buffer emulation and the E-model
//! (quality-metrics.md §2, §3, §5). Pure functions over per-stream inputs; no SIP knowledge.
//!
//! **Input.** The RTP stage feeds one [`PacketObservation`] per RTP packet of an audio stream, in
//! arrival order, into a [`jitterbuffer::StandardBuffers`] (or any [`JitterBufferSim`]); at the
//! end of the stream it calls [`JitterBufferSim::finish`] with the stream's RFC 3550 `expected`
//! and `lost`, picks the codec row with [`codec::params_for`] and scores with [`score_stream`].
//! Streams with an unknown clock, video, T.38 and event-only streams are not emulated or scored.
//!
//! **What the numbers mean for a user.** *Ppl* (effective loss, %) is the share of the audio a
//! listener never hears: packets lost in the network plus packets that arrived too late for the
//! modelled receiver's jitter buffer and were thrown away (*discarded*, *discard_pct*). *BurstR*
//! says how clustered that loss is: 1 means losses are scattered as if at random, 2 means runs of
//! lost packets are on average twice as long as random loss would give — bursts are heard as
//! drop-outs and hurt more than the same percentage spread thinly (*p* is the chance that a
//! packet is lost right after a good one, *q* the chance that a good packet follows a lost one;
//! BurstR = 1/(p + q)). *Burst/gap density and duration* (RFC 3611) split the call into bad
//! stretches (bursts: losses fewer than 16 good packets apart) and good stretches (gaps), with
//! the share lost in each and their mean length in ms. *Buffer delay* is how long the modelled
//! receiver holds packets to smooth out jitter; it adds to the *one-way delay Ta* (network +
//! buffer + packetisation + codec look-ahead), which above about 150 ms makes people talk over
//! each other. The *R factor* (0–100, ITU-T G.107)
//! combines codec, loss, burstiness and delay into one rating — 90+ very satisfied, 80–90
//! satisfied, 70–80 some users dissatisfied, 60–70 many, 50–60 nearly all, below 50 not
//! recommended — and *MOS* (1.0–4.5) is the same rating on the familiar 1–5 opinion scale
//! (4.4 ≈ best narrowband call, below 3.6 noticeably degraded). These are model estimates from
//! what the probe saw, not listening tests: the real receiver's buffer may behave differently,
//! and codecs marked as assumptions (`mos_assumed_codec`) use generic values.

pub mod codec;
pub mod emodel;
pub mod jitterbuffer;
pub mod losspattern;
pub mod silence;
pub mod stream;

pub use codec::{params_for, CodecId, CodecParams};
pub use emodel::{mos_from_r, r_factor, DelayBudget, DelayModel, RBreakdown};
pub use jitterbuffer::{BufferResult, FinishedBuffer, FinishedBuffers, JitterBufferSim, StandardBuffers};
pub use losspattern::{LossIndicators, LossPattern, PatternCounts};
pub use stream::{score_window, LossRun, QualityStats, StreamCounters, StreamQuality, WindowStats};

/// One RTP packet as the quality stage needs it (quality-metrics.md §3 inputs), built by the RTP
/// stage from its own bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PacketObservation {
    /// Capture time of the packet, ms (any origin, same for the whole stream).
    pub arrival_ms: f64,
    /// Extended sequence number (RFC 3550 A.1, `cycles + seq`, §1.3).
    pub ext_seq: u64,
    /// Media time `(ext_ts − ext_ts_first)·1000/rate`, ms; see [`media_ms`].
    pub media_ms: f64,
    /// RTP marker bit (start of a talkspurt: buffers re-anchor or adapt there).
    pub marker: bool,
    /// Counts as received but is not played through the buffer models: telephone-event
    /// (RFC 4733) and comfort-noise (RFC 3389) packets (quality-metrics.md §2, §3), and a
    /// packet whose timing is unknown (the held first packet of a sequence restart, §1.3).
    pub bypasses_buffer: bool,
    /// A copy of an already seen sequence number (§1.3 `duplicates`): ignored.
    pub is_duplicate: bool,
}

/// Media time of an RTP timestamp in ms relative to the stream's first timestamp, both
/// unwrapped to 64 bits (quality-metrics.md §3). `None` for an unknown clock (`clock_hz = 0`),
/// where no buffer is emulated. A timestamp before the first gives a negative value.
pub fn media_ms(ext_ts: u64, ext_ts_first: u64, clock_hz: u32) -> Option<f64> {
    if clock_hz == 0 {
        return None;
    }
    // Two's-complement difference: correct for any |difference| < 2^63.
    let ticks = ext_ts.wrapping_sub(ext_ts_first) as i64;
    Some(ticks as f64 * 1000.0 / f64::from(clock_hz))
}

/// Delay budget and E-model result for one stream and one buffer model (quality-metrics.md §5).
///
/// `rtt_ms` is the call's round trip (XR preferred, else RTCP; `None` → 20 ms one-way default),
/// `ptime_ms` the stream's packetisation time (SDP `a=ptime`, else measured, else the codec
/// row's default — the caller resolves it).
pub fn score_stream(
    codec: &CodecParams,
    buffer: &BufferResult,
    rtt_ms: Option<f64>,
    ptime_ms: f64,
    model: DelayModel,
) -> (DelayBudget, RBreakdown) {
    let budget = DelayBudget::new(rtt_ms, buffer.buffer_delay_ms, ptime_ms, codec);
    let result = emodel::evaluate(codec, buffer.ppl_pct, buffer.burst_r, budget.ta_ms(), model);
    (budget, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_time_from_timestamps() {
        assert_eq!(media_ms(160, 0, 8000), Some(20.0));
        assert_eq!(media_ms(0, 160, 8000), Some(-20.0));
        assert_eq!(media_ms(960, 0, 48000), Some(20.0));
        assert_eq!(media_ms(5, 0, 0), None);
        // Across a 32-bit wrap once unwrapped.
        assert_eq!(media_ms((1 << 32) + 80, (1 << 32) - 80, 8000), Some(20.0));
    }

    /// Random and bursty loss at the same 5 % rate through the whole chain: the bursty stream
    /// has a higher BurstR and a lower MOS.
    #[test]
    fn bursty_loss_scores_below_random_loss() {
        let codec = codec::params(CodecId::G711Plc);
        let run = |lost: &dyn Fn(u64) -> bool| {
            let mut sim = JitterBufferSim::adaptive();
            let mut lost_count = 0i64;
            for k in 0..1000u64 {
                if lost(k) {
                    lost_count += 1;
                    continue;
                }
                sim.push(&PacketObservation {
                    arrival_ms: 20.0 * k as f64 + 30.0,
                    ext_seq: k,
                    media_ms: 20.0 * k as f64,
                    marker: false,
                    bypasses_buffer: false,
                    is_duplicate: false,
                });
            }
            let res = sim.finish(1000, lost_count, 20.0);
            let (_, r) = score_stream(&codec, &res, None, 20.0, DelayModel::G107);
            (res, r)
        };
        let (random, random_r) = run(&|k| k % 20 == 10);
        let (bursty, bursty_r) = run(&|k| k % 200 >= 100 && k % 200 < 110);
        assert_eq!((random.ppl_pct, bursty.ppl_pct), (5.0, 5.0));
        assert_eq!((random.discarded, bursty.discarded), (0, 0));
        assert_eq!(format!("{:.4}", random.burst_r), "0.9499");
        assert_eq!(format!("{:.4}", bursty.burst_r), "9.4995");
        assert!(bursty_r.mos < random_r.mos);
        // Ie,eff: 95·5/(5 + 25.1) = 15.78 vs 95·5/(5/9.4995 + 25.1) = 18.54.
        assert_eq!(format!("{:.2}", random_r.ie_eff), "15.78");
        assert_eq!(format!("{:.2}", bursty_r.ie_eff), "18.54");
        // Cross-checked with emodel_examples.py (jb_adaptive on the same traces, then r_factor):
        // buffer delay 21.01 / 21.05 ms, R 75.72 / 72.96, MOS 3.85 / 3.73.
        assert_eq!(format!("{:.2}", random.buffer_delay_ms), "21.01");
        assert_eq!(format!("{:.2}", bursty.buffer_delay_ms), "21.05");
        assert_eq!(format!("{:.2}", random_r.r_factor), "75.72");
        assert_eq!(format!("{:.2}", bursty_r.r_factor), "72.96");
        assert_eq!(format!("{:.2}", random_r.mos), "3.85");
        assert_eq!(format!("{:.2}", bursty_r.mos), "3.73");
    }
}
