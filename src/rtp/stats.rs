//! Per-stream state and the per-packet procedure of quality-metrics.md §1.8 (tshark-compatible
//! delta, jitter, Lost, sequence errors) next to RFC 3550 bookkeeping (§1.3) and the RFC 3550
//! A.8 jitter in timestamp units (§1.7). One `observe` call per packet, no allocation (the
//! outage list allocates only when an outage happens, and is bounded).

use super::payload::is_comfort_noise;
use super::seq::{Rfc3550Seq, SeqOutcome, TsharkSeq, MAX_DROPOUT, MAX_MISORDER};
use super::{
    DscpChange, MediaGap, RtpPacketInfo, StreamExtras, StreamKey, StreamStats, MAX_DSCP_CHANGES_KEPT,
    MAX_MEDIA_GAPS_KEPT,
};
use crate::quality::{LossRun, PacketObservation, StreamCounters, StreamQuality};

/// Offset added to RFC 3550 extended sequence numbers before they go to the quality stage: a
/// late packet of cycle 0 has an extended number down to −65535 (§1.3 step 2), the quality
/// stage wants `u64`. Positions are relative to the segment base, so the offset cancels.
const EXT_SEQ_OFFSET: i64 = 1 << 16;

/// §1.3 step 4: an outage needs at least this much silence between adjacent packets.
const OUTAGE_MIN_MS: f64 = 1000.0;
/// Heuristic: a timestamp step above this (either direction) between adjacent packets is not
/// what an RTP sender produces (2²⁴ ticks = 186 s at 90 kHz, 35 min at 8 kHz).
const MAX_PLAUSIBLE_TS_STEP: i64 = 1 << 24;

/// tshark's running state (`tap_rtp_stat_t` fields used by `rtp,streams`).
#[derive(Clone, Debug)]
struct TsharkTiming {
    ts_first: u32,
    /// Arrival (ms since origin) of the previous in-time packet of any PT (`statinfo->time`).
    prev_ms: f64,
    /// Nominal time of the previous in-time packet with a known clock.
    nominal_last: f64,
    jitter: f64,
    pt_prev: u8,
}

/// State of one RFC 3550 A.8 estimator in timestamp units.
#[derive(Clone, Copy, Debug)]
struct RfcJitter {
    prev_ms: f64,
    prev_ts: u32,
    prev_clock: u32,
}

/// One stream: its public statistics plus the running state behind them.
#[derive(Clone, Debug)]
pub(super) struct StreamState {
    pub(super) stats: StreamStats,
    rfc: Rfc3550Seq,
    tshark_seq: TsharkSeq,
    timing: TsharkTiming,
    rfc_jitter: Option<RfcJitter>,
    /// Previous packet in arrival order (any): time, seq, ts, frame.
    last_ms: f64,
    last_seq: u16,
    last_ts: u32,
    /// RTP timestamp of the previous packet unwrapped to 64 bits (arrival order).
    last_ext_ts: i64,
    last_dscp: u8,
    /// Buffer emulation, loss pattern and windows (quality-metrics.md §2, §3).
    quality: StreamQuality,
}

impl StreamState {
    /// §1.8 step 1: the first packet of a stream, `t_ms` since the table's origin.
    pub(super) fn new(key: StreamKey, pkt: &RtpPacketInfo, t_ms: f64, window_ms: f64) -> Self {
        let h = pkt.header;
        let mut dscp_counts = [0u32; 64];
        dscp_counts[usize::from(pkt.dscp & 63)] = 1;
        let stats = StreamStats {
            key,
            first: pkt.at,
            last: pkt.at,
            first_pt: h.pt,
            pts_seen: 1u128 << (h.pt & 0x7F),
            packets: 1,
            expected: 1,
            received: 1,
            lost: 0,
            tshark_lost: 0,
            tshark_expected: 1,
            seq_errors: 0,
            out_of_time_seq: false,
            duplicates: 0,
            out_of_order: 0,
            seq_restarts: 0,
            min_delta_ms: None,
            mean_delta_ms: 0.0,
            max_delta_ms: 0.0,
            min_jitter_ms: None,
            mean_jitter_ms: 0.0,
            max_jitter_ms: 0.0,
            jitter_rfc_ts: 0.0,
            dscp_counts,
            media_gaps: Vec::new(),
            media_gaps_total: 0,
            extras: StreamExtras {
                events: u64::from(pkt.is_event),
                cn_packets: u64::from(is_comfort_noise(h.pt)),
                vlan: pkt.vlan,
                interface: pkt.interface,
                ..StreamExtras::default()
            },
            consistent_pairs: 0,
            forward_pairs: 0,
        };
        let mut quality = StreamQuality::new(window_ms);
        quality.observe(
            observation(pkt, t_ms, i64::from(h.seq), false),
            0,
            pkt.clock_hz,
            StreamCounters { expected: 1, received: 1, jitter_ms: 0.0 },
        );
        if let Some(silent) = pkt.payload_silent {
            quality.observe_payload_level(silent);
        }
        StreamState {
            stats,
            rfc: Rfc3550Seq::new(h.seq),
            tshark_seq: TsharkSeq::new(h.seq),
            timing: TsharkTiming { ts_first: h.ts, prev_ms: t_ms, nominal_last: 0.0, jitter: 0.0, pt_prev: h.pt },
            rfc_jitter: (pkt.clock_hz != 0).then_some(RfcJitter {
                prev_ms: t_ms,
                prev_ts: h.ts,
                prev_clock: pkt.clock_hz,
            }),
            last_ms: t_ms,
            last_seq: h.seq,
            last_ts: h.ts,
            last_ext_ts: 0,
            last_dscp: pkt.dscp & 63,
            quality,
        }
    }

    /// One later packet of the stream, in capture order (§1.8 steps 2–6, §1.3).
    pub(super) fn observe(&mut self, pkt: &RtpPacketInfo, t_ms: f64) {
        let h = pkt.header;
        let s = &mut self.stats;
        // n = packets processed before this one (§1.6).
        let n = s.packets as f64;
        s.packets += 1;
        let prev_at = s.last;
        s.last = pkt.at;
        s.pts_seen |= 1u128 << (h.pt & 0x7F);
        let dscp = pkt.dscp & 63;
        let slot = &mut s.dscp_counts[usize::from(dscp)];
        *slot = slot.saturating_add(1);
        // §7: a value different from the previous packet's is a change (re-marking hop,
        // policer, path change); the list is bounded, the count goes on.
        let extras = &mut s.extras;
        if dscp != self.last_dscp {
            extras.dscp_changes += 1;
            if extras.dscp_change_list.len() < MAX_DSCP_CHANGES_KEPT {
                extras.dscp_change_list.push(DscpChange { at: pkt.at, from: self.last_dscp, to: dscp });
            }
            self.last_dscp = dscp;
        }
        extras.events += u64::from(pkt.is_event);
        extras.cn_packets += u64::from(is_comfort_noise(h.pt));

        // §1.7 #1: in time sequence against the FIRST packet's timestamp.
        let ts_offset = h.ts.wrapping_sub(self.timing.ts_first);
        let in_time = ts_offset < 1 << 31;
        if !in_time {
            s.out_of_time_seq = true;
        }
        if self.tshark_seq.update(h.seq, in_time) {
            s.seq_errors += 1;
        }

        // §1.8 step 3.
        let cn = is_comfort_noise(h.pt);
        let follows_cn = is_comfort_noise(self.timing.pt_prev);
        self.timing.pt_prev = h.pt;

        // §1.8 step 4; matches tshark: the ms conversion divides by `rate div 1000`, and a
        // clock below 1000 Hz (div = 0) is treated as unknown rather than dividing by zero.
        let clock_khz = pkt.clock_hz / 1000;
        let mut delta = 0.0;
        if in_time {
            delta = t_ms - self.timing.prev_ms;
            if clock_khz != 0 {
                let nominal = f64::from(ts_offset) / f64::from(clock_khz);
                // Same operation order as tap-rtp-analysis.c (expected_time, then fabs).
                let expected_time = self.timing.prev_ms + (nominal - self.timing.nominal_last);
                let diff = (t_ms - expected_time).abs();
                self.timing.jitter = (15.0 * self.timing.jitter + diff) / 16.0;
                self.timing.nominal_last = nominal;
            }
        }

        // §1.8 step 5 / §1.6: only regular packets update min/max/mean.
        let regular = in_time && !h.marker && !cn && !follows_cn;
        if regular {
            s.min_delta_ms = Some(s.min_delta_ms.map_or(delta, |m| m.min(delta)));
            s.max_delta_ms = s.max_delta_ms.max(delta);
            s.mean_delta_ms = (s.mean_delta_ms * (n - 1.0) + delta) / n;
            if clock_khz != 0 {
                let j = self.timing.jitter;
                s.min_jitter_ms = Some(s.min_jitter_ms.map_or(j, |m| m.min(j)));
                s.max_jitter_ms = s.max_jitter_ms.max(j);
                s.mean_jitter_ms = (s.mean_jitter_ms * (n - 1.0) + j) / n;
            }
        }
        // §1.8 step 6.
        if in_time {
            self.timing.prev_ms = t_ms;
        }

        // §1.3: RFC 3550 A.1 bookkeeping.
        let mut duplicate = false;
        let outcome = self.rfc.update(h.seq);
        match outcome {
            SeqOutcome::Accepted { duplicate: dup, out_of_order } => {
                duplicate = dup;
                s.duplicates += u64::from(dup);
                s.out_of_order += u64::from(out_of_order);
            }
            SeqOutcome::Restarted => s.seq_restarts += 1,
            SeqOutcome::Held => {}
        }

        // §1.7 RFC 3550 A.8 in timestamp units: audio only (clock known, so telephone-event
        // and unknown PTs are out; comfort noise is out too, issue 4 item 8), duplicates out.
        // A clock change re-seeds the estimator because the two timestamp scales cannot be
        // subtracted.
        if pkt.clock_hz != 0 && !duplicate && !cn {
            if let Some(prev) = self.rfc_jitter.filter(|p| p.prev_clock == pkt.clock_hz) {
                let arrival_ticks = (t_ms - prev.prev_ms) * f64::from(pkt.clock_hz) / 1000.0;
                // Timestamp difference modulo 2³², as signed (RFC 3550 A.8).
                let ts_ticks = f64::from(h.ts.wrapping_sub(prev.prev_ts) as i32);
                let d = arrival_ticks - ts_ticks;
                s.jitter_rfc_ts += (d.abs() - s.jitter_rfc_ts) / 16.0;
            }
            self.rfc_jitter = Some(RfcJitter { prev_ms: t_ms, prev_ts: h.ts, prev_clock: pkt.clock_hz });
        }

        // §1.3 step 4 (outage) and the heuristic's consistency count, against the previous
        // packet in arrival order.
        let seq_step = h.seq.wrapping_sub(self.last_seq);
        if t_ms - self.last_ms >= OUTAGE_MIN_MS && (2..MAX_DROPOUT).contains(&seq_step) {
            s.media_gaps_total += 1;
            if s.media_gaps.len() < MAX_MEDIA_GAPS_KEPT {
                s.media_gaps.push(MediaGap { start: prev_at, end: pkt.at, missing: u32::from(seq_step - 1) });
            }
        }
        let ts_step = i64::from(h.ts.wrapping_sub(self.last_ts) as i32);
        let seq_plausible = !(MAX_DROPOUT..=u16::MAX - MAX_MISORDER).contains(&seq_step);
        if seq_plausible && ts_step.abs() < MAX_PLAUSIBLE_TS_STEP {
            s.consistent_pairs += 1;
        }
        if (1..MAX_DROPOUT).contains(&seq_step) {
            s.forward_pairs += 1;
        }
        // Quality stage (quality-metrics.md §2, §3): timestamps unwrapped against the previous
        // packet in arrival order (difference modulo 2³² as signed, RFC 3550 A.8).
        let ext_ts = self.last_ext_ts + i64::from(h.ts.wrapping_sub(self.last_ts) as i32);
        self.last_ext_ts = ext_ts;
        let counters = StreamCounters {
            expected: u64::try_from(self.rfc.expected()).unwrap_or(0),
            received: self.rfc.received(),
            jitter_ms: if pkt.clock_hz == 0 { 0.0 } else { s.jitter_rfc_ts * 1000.0 / f64::from(pkt.clock_hz) },
        };
        match outcome {
            SeqOutcome::Accepted { .. } => {
                let obs = observation(pkt, t_ms, self.rfc.last_ext(), duplicate);
                self.quality.observe(obs, ext_ts, pkt.clock_hz, counters);
            }
            SeqOutcome::Restarted => {
                // The held packet (seq − 1) opens the new segment; its timing is gone, so it
                // counts as received without being judged by the buffers.
                self.quality.restart_segment();
                let mut held = observation(pkt, t_ms, self.rfc.last_ext() - 1, false);
                held.bypasses_buffer = true;
                self.quality.observe_position_only(held);
                let obs = observation(pkt, t_ms, self.rfc.last_ext(), false);
                self.quality.observe(obs, ext_ts, pkt.clock_hz, counters);
            }
            // A possible restart, not in `received` (§1.3): only counted in the window.
            SeqOutcome::Held => self.quality.observe_unmeasured(t_ms, counters),
        }
        if let Some(silent) = pkt.payload_silent {
            self.quality.observe_payload_level(silent);
        }
        // Loss runs for `burst_loss` (diagnosis.md §4.3): a forward jump between packets
        // adjacent in arrival order; the audio it held from the timestamp step (arrival time
        // when the clock is unknown), one packet interval less.
        if (2..MAX_DROPOUT).contains(&seq_step) && !matches!(outcome, SeqOutcome::Restarted | SeqOutcome::Held) {
            let span_ms =
                if pkt.clock_hz == 0 { t_ms - self.last_ms } else { ts_step as f64 * 1000.0 / f64::from(pkt.clock_hz) };
            let missing = u32::from(seq_step - 1);
            self.quality.observe_loss_run(LossRun {
                before: prev_at,
                after: pkt.at,
                missing,
                audio_ms: span_ms.max(0.0) * f64::from(missing) / f64::from(missing + 1),
            });
        }

        self.last_ms = t_ms;
        self.last_seq = h.seq;
        self.last_ts = h.ts;
    }

    /// Final values of the derived fields.
    pub(super) fn finish(mut self) -> StreamStats {
        let s = &mut self.stats;
        s.expected = u64::try_from(self.rfc.expected()).unwrap_or(0);
        s.received = self.rfc.received();
        s.lost = self.rfc.expected().saturating_sub(i64::try_from(s.received).unwrap_or(i64::MAX));
        s.tshark_expected = self.tshark_seq.expected();
        s.tshark_lost = i64::from(self.tshark_seq.lost(s.packets));
        s.extras.quality = Some(Box::new(self.quality.finish()));
        self.stats
    }
}

/// The quality stage's view of one packet (`media_ms` is filled by the tracker).
fn observation(pkt: &RtpPacketInfo, t_ms: f64, ext: i64, duplicate: bool) -> PacketObservation {
    PacketObservation {
        arrival_ms: t_ms,
        ext_seq: u64::try_from(ext.saturating_add(EXT_SEQ_OFFSET)).unwrap_or(0),
        media_ms: 0.0,
        marker: pkt.header.marker,
        // Events and comfort noise count as received and are not played (§2, §3).
        bypasses_buffer: pkt.is_event || is_comfort_noise(pkt.header.pt),
        is_duplicate: duplicate,
    }
}

/// Heuristic limits for RTP seen without signalling (see [`StreamStats::looks_like_rtp`]).
const HEURISTIC_MIN_PACKETS: u64 = 2;
/// More distinct payload types than this is not one RTP sender (audio + CN + events + RED
/// is 4).
const HEURISTIC_MAX_PTS: u32 = 4;
/// Payload types 72–76 collide with RTCP (RFC 5761 §4): a version-2 packet with them is RTCP
/// or garbage.
const RTCP_COLLIDING_PTS: u128 = 0b11111 << 72;

impl StreamStats {
    /// Whether this stream, seen without SIP/SDP, is plausibly RTP: at least 2 packets (the key
    /// already fixes the SSRC), no PT in 72–76, at most 4 distinct PTs, and ≥ 80 % of adjacent
    /// pairs with a small sequence step (forward < `MAX_DROPOUT`, backward < `MAX_MISORDER`) and
    /// a timestamp step below 2²⁴, and ≥ 50 % of pairs moving the sequence number forward
    /// (1..`MAX_DROPOUT`). Random bytes pass a pair test with probability ≈ 4·10⁻⁴; the forward
    /// test rejects repeated datagrams that merely look like a frozen header (DNS queries
    /// retried from one port: constant "seq" = flags, "ts" = counts, "SSRC" 0).
    /// Loss is not tested: event-only streams (`rtpproxy-catch_dtmf-dtmf.pcap`) share the
    /// sender's sequence space with audio sent elsewhere and show ~50 % "loss".
    /// Single-packet streams fail here; see [`accept_without_signalling`].
    pub fn looks_like_rtp(&self) -> bool {
        let pairs = self.packets.saturating_sub(1);
        self.packets >= HEURISTIC_MIN_PACKETS
            && self.pts_seen & RTCP_COLLIDING_PTS == 0
            && self.pts_seen.count_ones() <= HEURISTIC_MAX_PTS
            && self.consistent_pairs.saturating_mul(10) >= pairs.saturating_mul(8)
            && self.forward_pairs.saturating_mul(2) >= pairs
    }
}

/// Verdicts, index-aligned with `streams`, for streams not tied to SDP: a stream is accepted
/// when [`StreamStats::looks_like_rtp`] holds, or when it has a single packet whose SSRC and
/// source port equal those of an accepted stream (a corrupted or relayed copy of a known
/// sender — the two single packets of `ndpi-fuzz-2006-06-26-2594.pcap` that tshark lists).
/// Sorts a copy of the accepted (SSRC, port) pairs: O(n log n), allocation at report time only.
pub fn accept_without_signalling(streams: &[StreamStats]) -> Vec<bool> {
    let mut verdicts: Vec<bool> = streams.iter().map(StreamStats::looks_like_rtp).collect();
    let mut senders: Vec<(u32, u16)> =
        streams.iter().zip(&verdicts).filter(|(_, ok)| **ok).map(|(s, _)| (s.key.ssrc, s.key.src.port())).collect();
    senders.sort_unstable();
    for (s, ok) in streams.iter().zip(verdicts.iter_mut()) {
        if !*ok && s.packets == 1 && s.pts_seen & RTCP_COLLIDING_PTS == 0 {
            *ok = senders.binary_search(&(s.key.ssrc, s.key.src.port())).is_ok();
        }
    }
    verdicts
}
