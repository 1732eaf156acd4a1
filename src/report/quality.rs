//! Issue 4 records: per-stream quality (buffer models, E-model, loss pattern), quality windows,
//! DSCP detail, and the per-capture SIP summary (quality-metrics.md §2, §3, §5, §6, §7). Built
//! from an [`Analysis`]; the fields are additive to output-contract.md schema 1.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::pipeline::Analysis;
use crate::quality::{
    self, score_stream, score_window, BufferResult, CodecParams, DelayModel, FinishedBuffer, LossPattern, QualityStats,
};
use crate::rtp::StreamStats;
use crate::sip::Dialog;
use crate::time::Timestamp;

/// DSCP values counted as correctly marked voice: EF 46 and VOICE-ADMIT 44 (RFC 5865),
/// quality-metrics.md §7.
pub const EXPECTED_VOICE_DSCP: [u8; 2] = [46, 44];

/// Packetisation time used when neither SDP, measurement nor the codec row gives one, ms.
const FALLBACK_PTIME_MS: f64 = 20.0;

fn round_to(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Discards per buffer model (quality-metrics.md §3).
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct PerModel<T> {
    /// Fixed 50 ms buffer.
    pub fixed50: T,
    /// Fixed 200 ms buffer.
    pub fixed200: T,
    /// Adaptive buffer (the one behind `mos` / `r_factor`).
    pub adaptive: T,
}

/// RFC 3611 / Gilbert loss pattern of the adaptive model's indicator sequence (§2).
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct LossPatternRecord {
    /// P[received → lost].
    pub p: f64,
    /// P[lost → received].
    pub q: f64,
    /// Raw BurstR = 1/(p + q) (the E-model uses max(1, BurstR)).
    pub burst_r: f64,
    /// Number of RFC 3611 bursts (Gmin 16).
    pub bursts: u64,
    /// Lost ÷ packets in bursts.
    pub burst_density: f64,
    /// Lost ÷ packets in gaps.
    pub gap_density: f64,
    /// Mean burst length, ms.
    pub burst_duration_ms: f64,
    /// Mean gap length, ms.
    pub gap_duration_ms: f64,
    /// Burst threshold.
    pub gmin: u32,
}

impl From<&LossPattern> for LossPatternRecord {
    fn from(p: &LossPattern) -> Self {
        LossPatternRecord {
            p: round_to(p.p, 6),
            q: round_to(p.q, 6),
            burst_r: round_to(p.burst_r, 4),
            bursts: p.bursts,
            burst_density: round_to(p.burst_density, 4),
            gap_density: round_to(p.gap_density, 4),
            burst_duration_ms: round_to(p.burst_duration_ms, 3),
            gap_duration_ms: round_to(p.gap_duration_ms, 3),
            gmin: p.gmin,
        }
    }
}

/// `streams[].quality`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct QualityRecord {
    /// Codec-table row used (quality-metrics.md §5).
    pub codec_model: &'static str,
    /// The row's numbers include an assumption.
    pub codec_assumption: bool,
    /// No table row: generic values (`mos_assumed_codec`).
    pub mos_assumed_codec: bool,
    /// MOS with the fixed 50 ms buffer.
    pub mos_fixed50: f64,
    /// MOS with the fixed 200 ms buffer.
    pub mos_fixed200: f64,
    /// MOS with the adaptive buffer (= contract `mos`).
    pub mos_adaptive: f64,
    /// R per model.
    pub r_factor: PerModel<f64>,
    /// BurstR of the adaptive model's indicators (raw).
    pub burst_r: f64,
    /// Effective loss (network + adaptive discards), %.
    pub ppl_pct: f64,
    /// Packets discarded as late, per model.
    pub discarded: PerModel<u64>,
    /// Mean buffer delay per model, ms.
    pub buffer_delay_ms: PerModel<f64>,
    /// One-way delay Ta of the adaptive model: network + buffer + packetisation + look-ahead, ms.
    pub one_way_delay_ms: f64,
    /// Network part of Ta: RTT/2 (`rtcp`) or the 20 ms default (`default`).
    pub network_delay_ms: f64,
    /// Where the network delay came from: `"rtcp"` or `"default"`.
    pub delay_source: &'static str,
    /// Packetisation time used, ms.
    pub ptime_ms: f64,
    /// Loss pattern of the adaptive model's indicator sequence.
    pub loss_pattern: LossPatternRecord,
}

/// `streams[].windows[]`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WindowRecord {
    /// Window start (capture time).
    pub start: Timestamp,
    /// Window length, s.
    pub length_s: f64,
    /// Packets that arrived in the window.
    pub packets: u64,
    /// Expected packets.
    pub expected: u64,
    /// Lost packets (RFC 3550 differences).
    pub lost: i64,
    /// Discarded by the adaptive buffer.
    pub discarded: u64,
    /// RFC 3550 jitter at the window's end, ms.
    pub jitter_ms: f64,
    /// Effective loss, %.
    pub ppl_pct: f64,
    /// MOS of the window (adaptive model); null without a scored codec.
    pub mos: Option<f64>,
}

/// `streams[].dscp_change_frames[]`.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct DscpChangeRecord {
    /// Frame of the first packet with the new value.
    pub frame: u64,
    /// Previous value.
    pub from: u8,
    /// New value.
    pub to: u8,
}

/// Everything issue 4 adds to one stream record.
#[derive(Clone, Debug, Default)]
pub struct StreamQualityFields {
    /// Quality record (None: no scored codec or no emulated packet).
    pub quality: Option<QualityRecord>,
    /// Windows.
    pub windows: Vec<WindowRecord>,
}

/// The end-to-end round trip that feeds the delay budget for a stream, ms (quality-metrics.md
/// §4–§5): the XR VoIP-metrics round-trip delay reported about this stream when present, else
/// the sum of the two probe legs measured from SR/RR (the median leg towards this stream's
/// receiver, answering SRs of this SSRC, plus the median leg towards its sender, answering SRs
/// of the stream coming back on the reverse 5-tuple). With only one leg measured the RTT is not
/// known end to end and the documented default applies (`delay_source: "default"`).
pub fn stream_rtt_ms(analysis: &Analysis, stream_index: usize) -> Option<f64> {
    let s = analysis.streams.get(stream_index)?;
    if let Some(xr) = analysis.rtcp.ssrc(s.key.ssrc).and_then(|e| e.voip_metrics.as_ref()) {
        if xr.metrics.round_trip_delay_ms > 0 {
            return Some(f64::from(xr.metrics.round_trip_delay_ms));
        }
    }
    let leg = |ssrc: u32| {
        crate::rtcp::RttStats::from_samples(analysis.rtcp.rtt_samples().iter().filter(|r| r.referenced_ssrc == ssrc))
            .map(|r| r.median_ms)
    };
    let back = analysis.streams.iter().find(|b| b.key.src == s.key.dst && b.key.dst == s.key.src)?;
    Some(leg(s.key.ssrc)? + leg(back.key.ssrc)?)
}

/// Codec parameters of a stream's first payload type: name from SDP (else static table),
/// fmtp from SDP (quality-metrics.md §5).
fn codec_params(analysis: &Analysis, s: &StreamStats) -> Option<CodecParams> {
    let name = analysis.payloads.lookup(s.key.dst, s.first_pt).map(|(n, _)| n);
    let fmtp = analysis.payloads.fmtp(s.key.dst, s.first_pt);
    quality::params_for(name.unwrap_or(""), s.first_pt, fmtp)
}

/// Builds the quality and window records of one stream.
pub fn stream_quality(analysis: &Analysis, stream_index: usize, s: &StreamStats) -> StreamQualityFields {
    let Some(stats) = s.extras.quality.as_deref() else {
        return StreamQualityFields::default();
    };
    let codec = codec_params(analysis, s).filter(|_| stats.emulated());
    let rtt = stream_rtt_ms(analysis, stream_index);
    let ptime_ms = analysis
        .payloads
        .ptime_ms(s.key.dst)
        .map(f64::from)
        .or(stats.measured_ptime_ms)
        .or(codec.and_then(|c| c.ptime_default_ms))
        .unwrap_or(FALLBACK_PTIME_MS);
    let quality = codec.map(|c| quality_record(&c, stats, s, rtt, ptime_ms));
    let origin = analysis.inputs.iter().filter_map(|i| i.first_time).min().unwrap_or(s.first.time);
    let windows = stats
        .windows
        .iter()
        .map(|w| WindowRecord {
            start: Timestamp(origin.0.saturating_add((w.start_ms * 1e6).round() as i64)),
            length_s: round_to(w.length_ms / 1000.0, 3),
            packets: w.packets,
            expected: w.expected,
            lost: w.lost,
            discarded: w.discarded,
            jitter_ms: round_to(w.jitter_ms, 3),
            ppl_pct: round_to(w.ppl_pct, 3),
            mos: codec.map(|c| round_to(score_window(&c, w, rtt, ptime_ms, DelayModel::G107).mos, 2)),
        })
        .collect();
    StreamQualityFields { quality, windows }
}

fn finish_model(sim: &FinishedBuffer, s: &StreamStats, ptime_ms: f64) -> BufferResult {
    sim.finish(s.expected, s.lost, ptime_ms)
}

fn quality_record(
    codec: &CodecParams,
    stats: &QualityStats,
    s: &StreamStats,
    rtt_ms: Option<f64>,
    ptime_ms: f64,
) -> QualityRecord {
    let b = &stats.buffers;
    let adaptive = finish_model(&b.adaptive, s, ptime_ms);
    let fixed50 = finish_model(&b.fixed_50, s, ptime_ms);
    let fixed200 = finish_model(&b.fixed_200, s, ptime_ms);
    let score = |r: &BufferResult| score_stream(codec, r, rtt_ms, ptime_ms, DelayModel::G107);
    let (budget, r_adaptive) = score(&adaptive);
    let (_, r_50) = score(&fixed50);
    let (_, r_200) = score(&fixed200);
    QualityRecord {
        codec_model: codec.row.label,
        codec_assumption: codec.is_assumption(),
        mos_assumed_codec: codec.mos_assumed_codec,
        mos_fixed50: round_to(r_50.mos, 2),
        mos_fixed200: round_to(r_200.mos, 2),
        mos_adaptive: round_to(r_adaptive.mos, 2),
        r_factor: PerModel {
            fixed50: round_to(r_50.r_factor, 2),
            fixed200: round_to(r_200.r_factor, 2),
            adaptive: round_to(r_adaptive.r_factor, 2),
        },
        burst_r: round_to(adaptive.burst_r, 4),
        ppl_pct: round_to(adaptive.ppl_pct, 3),
        discarded: PerModel { fixed50: fixed50.discarded, fixed200: fixed200.discarded, adaptive: adaptive.discarded },
        buffer_delay_ms: PerModel {
            fixed50: round_to(fixed50.buffer_delay_ms, 3),
            fixed200: round_to(fixed200.buffer_delay_ms, 3),
            adaptive: round_to(adaptive.buffer_delay_ms, 3),
        },
        one_way_delay_ms: round_to(budget.ta_ms(), 3),
        network_delay_ms: round_to(budget.network_ms, 3),
        delay_source: if rtt_ms.is_some_and(|r| r.is_finite() && r >= 0.0) { "rtcp" } else { "default" },
        ptime_ms: round_to(ptime_ms, 3),
        loss_pattern: LossPatternRecord::from(&adaptive.pattern),
    }
}

/// `dscp_values`: packets per DSCP value present.
pub fn dscp_values(counts: &[u32; 64]) -> BTreeMap<u8, u32> {
    (0u8..).zip(counts.iter()).filter(|(_, &n)| n > 0).map(|(v, &n)| (v, n)).collect()
}

/// `dscp_expected_pct`: share of packets marked EF 46 or VOICE-ADMIT 44, % (3 decimals).
pub fn dscp_expected_pct(counts: &[u32; 64]) -> f64 {
    let total: u64 = counts.iter().map(|&n| u64::from(n)).sum();
    if total == 0 {
        return 0.0;
    }
    let expected: u64 = EXPECTED_VOICE_DSCP.iter().map(|&v| u64::from(counts[usize::from(v & 63)])).sum();
    round_to(100.0 * expected as f64 / total as f64, 3)
}

/// `dscp_change_frames`: the first changes (bounded by `rtp::MAX_DSCP_CHANGES_KEPT`).
pub fn dscp_change_frames(s: &StreamStats) -> Vec<DscpChangeRecord> {
    s.extras.dscp_change_list.iter().map(|c| DscpChangeRecord { frame: c.at.number, from: c.from, to: c.to }).collect()
}

/// Top-level `summary` (quality-metrics.md §6: E.411 ASR/NER, RFC 6076 SER/SEER/ISA/SCR).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct SipSummary {
    /// Attempts counted (excludes `incomplete` and 487 before any 18x).
    pub attempts: u64,
    /// Attempts answered (2xx).
    pub answered: u64,
    /// Answered ÷ attempts × 100.
    pub asr_pct: Option<f64>,
    /// (answered + busy + no answer + terminal rejection + cancelled after 18x) ÷ attempts × 100.
    pub ner_pct: Option<f64>,
    /// 2xx ÷ (attempts − 3xx) × 100.
    pub ser_pct: Option<f64>,
    /// (2xx, 480, 486, 600, 603) ÷ (attempts − 3xx) × 100.
    pub seer_pct: Option<f64>,
    /// (408, 500, 503, 504, timeouts) ÷ attempts × 100.
    pub isa_pct: Option<f64>,
    /// Answered and ended by BYE ÷ attempts × 100.
    pub scr_pct: Option<f64>,
}

/// The §6 summary over the INVITE dialogs of a capture.
pub fn sip_summary(dialogs: &[Dialog]) -> SipSummary {
    let mut attempts = 0u64;
    let (mut answered, mut ner, mut seer, mut isa, mut scr, mut redirected) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for d in dialogs.iter().filter(|d| d.first_invite.is_some()) {
        let status = d.final_response.map(|(code, _)| code);
        let rang = d.first_provisional.is_some();
        let timed_out = status.is_none() && d.outcome == Some(crate::sip::Outcome::Failed);
        match status {
            // No final response and not a timeout: incomplete, excluded.
            None if !timed_out => continue,
            // 487 before any 18x: abandoned before progress, excluded.
            Some(487) if !rang => continue,
            _ => {}
        }
        attempts += 1;
        match status {
            Some(200..=299) => {
                answered += 1;
                ner += 1;
                seer += 1;
                scr += u64::from(d.bye.is_some());
            }
            Some(486 | 600 | 480 | 603) => {
                ner += 1;
                seer += 1;
            }
            Some(487) => ner += 1,
            Some(300..=399) => redirected += 1,
            Some(408 | 500 | 503 | 504) | None => isa += 1,
            _ => {}
        }
    }
    let pct = |num: u64, den: u64| (den > 0).then(|| round_to(100.0 * num as f64 / den as f64, 2));
    let effective = attempts - redirected;
    SipSummary {
        attempts,
        answered,
        asr_pct: pct(answered, attempts),
        ner_pct: pct(ner, attempts),
        ser_pct: pct(answered, effective),
        seer_pct: pct(seer, effective),
        isa_pct: pct(isa, attempts),
        scr_pct: pct(scr, attempts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::FrameRef;
    use crate::sip::Outcome;

    fn at(ms: i64) -> FrameRef {
        FrameRef { file: 0, number: 1, time: Timestamp(ms * 1_000_000) }
    }

    fn dialog(status: Option<u16>, rang: bool, bye: bool, outcome: Outcome) -> Dialog {
        Dialog {
            first_invite: Some(at(0)),
            first_provisional: rang.then(|| at(100)),
            final_response: status.map(|s| (s, at(200))),
            bye: bye.then(|| (at(5000), crate::sip::EndedBy::Caller)),
            outcome: Some(outcome),
            ..Dialog::default()
        }
    }

    #[test]
    fn summary_follows_section6_table() {
        let dialogs = vec![
            dialog(Some(200), true, true, Outcome::Answered),
            dialog(Some(200), true, false, Outcome::Answered),
            dialog(Some(486), true, false, Outcome::Busy),
            dialog(Some(487), true, false, Outcome::Cancelled),
            dialog(Some(487), false, false, Outcome::Cancelled), // excluded
            dialog(Some(404), false, false, Outcome::NotFound),
            dialog(Some(503), false, false, Outcome::Failed),
            dialog(None, false, false, Outcome::Failed),     // timeout
            dialog(None, false, false, Outcome::Incomplete), // excluded
            dialog(Some(302), false, false, Outcome::Failed),
        ];
        let s = sip_summary(&dialogs);
        assert_eq!((s.attempts, s.answered), (8, 2));
        assert_eq!(s.asr_pct, Some(25.0));
        // answered 2 + busy + cancelled after 18x = 4 of 8.
        assert_eq!(s.ner_pct, Some(50.0));
        // 2 of (8 − one 3xx).
        assert_eq!(s.ser_pct, Some(28.57));
        assert_eq!(s.seer_pct, Some(42.86));
        // 503 + timeout.
        assert_eq!(s.isa_pct, Some(25.0));
        assert_eq!(s.scr_pct, Some(12.5));
        assert_eq!(sip_summary(&[]).asr_pct, None);
    }

    #[test]
    fn dscp_helpers() {
        let mut counts = [0u32; 64];
        counts[46] = 90;
        counts[0] = 10;
        assert_eq!(dscp_expected_pct(&counts), 90.0);
        assert_eq!(dscp_values(&counts).into_iter().collect::<Vec<_>>(), [(0, 10), (46, 90)]);
        counts[44] = 100;
        assert_eq!(dscp_expected_pct(&counts), 95.0);
        assert_eq!(dscp_expected_pct(&[0; 64]), 0.0);
    }
}
