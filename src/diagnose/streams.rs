//! Media codes computed from stream metrics, RTCP and capture facts (diagnosis.md §4.3, §4.4):
//! `burst_loss`, `high_rtt`, `silent_payload`, `rtcp_reported_loss`, `rtcp_reported_jitter`,
//! `capture_loss_suspected` (coinciding gaps, RTCP proof, pcapng interface drops,
//! `path_not_captured`) and `srtp_unanalyzable` (SDES, DTLS-SRTP, ZRTP, `sip_tls`).
//!
//! The media rules of [`super::media`] call in here: [`stream_rules`] for every judged stream
//! (of a call or of no call), [`call_rules`] once per call with its streams by direction,
//! [`orphan_rules`] for streams tied to no call, and [`apply_capture_loss`] to emit
//! `capture_loss_suspected` and demote what it explains (§3 rule 1). [`CaptureFacts`] is filled
//! on the packet path by the pipeline (DTLS/ZRTP key exchanges, SIP over TLS).
//!
//! Position wording follows §6: loss seen here is "lost before the capture point", RTCP loss
//! and jitter "between the capture point and `<receiver>`", RTT "measured at the capture point".

use std::net::{IpAddr, SocketAddr};

use super::config::DiagnosisConfig;
use super::{arrow, ms_ns, secs, DiagnosisInput, Reason, ReasonClass, Severity};
use crate::capture::FrameRef;
use crate::classify::PayloadKind;
use crate::correlate::StreamDirection;
use crate::decode::{Datagram, Transport};
use crate::quality::LossRun;
use crate::rtcp::{ReportSeen, RttStats};
use crate::rtp::StreamStats;
use crate::sdp::MediaKind;
use crate::sip::Dialog;
use crate::time::Timestamp;

use StreamDirection::{CalleeToCaller, CallerToCallee};

/// Key exchanges of encrypted media kept by [`CaptureFacts`] (first per address pair).
pub const MAX_KEYING_FLOWS: usize = 256;

/// Time after the capture's first frame a stream must start for its RTCP cumulative counters
/// to be compared with what the capture saw: an RTCP counter runs since the sender or
/// receiver started, so a stream already running when the capture began cannot be compared.
const STREAM_START_GUARD_MS: u64 = 1000;

/// How media keys were exchanged on a flow (diagnosis.md §4.4 `srtp_unanalyzable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyingKind {
    /// DTLS handshake on the media 5-tuple (DTLS-SRTP, RFC 5763/5764).
    Dtls,
    /// ZRTP packets on the media 5-tuple (RFC 6189).
    Zrtp,
}

impl KeyingKind {
    fn label(self) -> &'static str {
        match self {
            KeyingKind::Dtls => "DTLS-SRTP (RFC 5764) handshake",
            KeyingKind::Zrtp => "ZRTP (RFC 6189) key agreement",
        }
    }
}

/// First key-exchange packet seen on a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyingSeen {
    /// Frame of the first such packet.
    pub at: FrameRef,
    /// Its source.
    pub src: SocketAddr,
    /// Its destination.
    pub dst: SocketAddr,
    /// DTLS or ZRTP.
    pub kind: KeyingKind,
}

impl KeyingSeen {
    fn touches(&self, a: SocketAddr) -> bool {
        self.src == a || self.dst == a
    }
}

/// Facts about the capture gathered on the packet path for the media codes of §4.4.
/// Bounded: at most [`MAX_KEYING_FLOWS`] flows; O(flows) only for DTLS/ZRTP packets, which
/// are handshake traffic.
#[derive(Clone, Debug, Default)]
pub struct CaptureFacts {
    /// First DTLS/ZRTP packet per unordered address pair.
    pub keying: Vec<KeyingSeen>,
    /// Key-exchange flows not kept because of the cap.
    pub keying_dropped: u64,
    /// First TLS record on a SIP-over-TLS port (5061, RFC 3261 §26.2.1): (frame, src, dst).
    pub sip_tls: Option<(FrameRef, SocketAddr, SocketAddr)>,
}

/// Well-known port of SIP over TLS (RFC 3261 §19.1.2).
const SIPS_PORT: u16 = 5061;

impl CaptureFacts {
    /// Folds in one datagram with the class the pipeline gave it. No allocation except when a
    /// new key-exchange flow is recorded.
    pub fn observe(&mut self, kind: PayloadKind, dg: &Datagram<'_>) {
        let keying = match kind {
            PayloadKind::Dtls => KeyingKind::Dtls,
            PayloadKind::Zrtp => KeyingKind::Zrtp,
            _ => {
                if self.sip_tls.is_none()
                    && matches!(dg.transport, Transport::Tcp { .. })
                    && (dg.src.port() == SIPS_PORT || dg.dst.port() == SIPS_PORT)
                    && looks_like_tls_record(dg.payload)
                {
                    self.sip_tls = Some((dg.at, dg.src, dg.dst));
                }
                return;
            }
        };
        let known =
            self.keying.iter().any(|k| (k.src == dg.src && k.dst == dg.dst) || (k.src == dg.dst && k.dst == dg.src));
        if known {
            return;
        }
        if self.keying.len() >= MAX_KEYING_FLOWS {
            self.keying_dropped += 1;
            return;
        }
        self.keying.push(KeyingSeen { at: dg.at, src: dg.src, dst: dg.dst, kind: keying });
    }
}

/// A TLS record header (RFC 8446 §5.1): content type 20–23, legacy version 3.x.
fn looks_like_tls_record(payload: &[u8]) -> bool {
    matches!(payload, [20..=23, 3, 0..=4, ..])
}

fn media(code: &'static str, sev: Severity, dir: Option<StreamDirection>, detail: String, frames: Vec<u64>) -> Reason {
    Reason::new(code, ReasonClass::Media, sev, dir, detail, frames)
}

fn info(code: &'static str, dir: Option<StreamDirection>, detail: String, frames: Vec<u64>) -> Reason {
    Reason::new(code, ReasonClass::Info, Severity::Info, dir, detail, frames)
}

/// Stream id as the records number them (index + 1).
fn stream_id(idx: usize) -> u32 {
    u32::try_from(idx + 1).unwrap_or(u32::MAX)
}

fn flow(s: &StreamStats) -> String {
    format!("{}→{}", s.key.src, s.key.dst)
}

/// Unique loss (RFC 3550 A.3: expected − unique received; duplicates never offset loss).
fn lost_unique(s: &StreamStats) -> u64 {
    s.expected.saturating_sub(s.received.saturating_sub(s.duplicates))
}

/// `max(min_packets, pct % of expected)`, the RTCP comparison threshold.
fn rtcp_threshold(min_packets: u64, pct: f64, expected: u64) -> f64 {
    (min_packets as f64).max(pct / 100.0 * expected as f64)
}

/// Time of the capture's first frame (the origin of quality windows).
fn capture_start(input: &DiagnosisInput<'_>) -> Option<Timestamp> {
    input.inputs.iter().filter_map(|i| i.first_time).min()
}

/// True when the stream started inside the capture, so cumulative RTCP counters compare.
fn started_inside_capture(input: &DiagnosisInput<'_>, s: &StreamStats) -> bool {
    capture_start(input).is_some_and(|c| s.first.time.0 >= c.0.saturating_add(ms_ns(STREAM_START_GUARD_MS)))
}

/// The latest report block about stream `s` sent by its receiver (the report's datagram comes
/// from the stream's destination host).
fn receiver_report(input: &DiagnosisInput<'_>, s: &StreamStats) -> Option<(ReportSeen, Vec<u64>)> {
    let entry = input.rtcp?.ssrc(s.key.ssrc)?;
    let last = entry.reported.last.filter(|r| r.reporter.src.ip() == s.key.dst.ip())?;
    let mut frames: Vec<u64> = entry.reported.report_frames.iter().map(|f| f.number).collect();
    frames.push(last.at.number);
    Some((last, frames))
}

/// Packetisation time of a stream: SDP `a=ptime`, else measured, else 20 ms.
fn ptime_ms(input: &DiagnosisInput<'_>, s: &StreamStats) -> f64 {
    input
        .payloads
        .ptime_ms(s.key.dst)
        .map(f64::from)
        .or(s.extras.quality.as_ref().and_then(|q| q.measured_ptime_ms))
        .filter(|p| *p > 0.0)
        .unwrap_or(20.0)
}

/// Stream-scoped rules: `burst_loss`, `rtcp_reported_loss`, `rtcp_reported_jitter`. `dir` is
/// the flow's direction in its call (`None` for a stream of no call).
pub fn stream_rules(
    input: &DiagnosisInput<'_>,
    k: usize,
    dir: Option<StreamDirection>,
    cfg: &DiagnosisConfig,
    out: &mut Vec<Reason>,
) {
    let Some(s) = input.streams.get(k) else { return };
    out.extend(burst_loss(input, k, s, dir, cfg));
    out.extend(rtcp_reported_loss(input, k, s, dir, cfg));
    out.extend(rtcp_reported_jitter(input, k, s, dir, cfg));
}

/// `burst_loss`: ≥ `min_runs` runs of consecutive missing sequence numbers each holding ≥
/// `min_run_ms` of audio (runs of a media-gap length are `media_gap` instead), or an RFC 3611
/// burst density ≥ `burst_density` (Gmin 16) with at least `min_runs · min_run_ms` of audio
/// lost in bursts. Runs whose packets turned up later (reordering) are not loss: the runs must
/// not add up to more than the stream's unique loss.
fn burst_loss(
    input: &DiagnosisInput<'_>,
    k: usize,
    s: &StreamStats,
    dir: Option<StreamDirection>,
    cfg: &DiagnosisConfig,
) -> Option<Reason> {
    let c = &cfg.diagnosis.burst_loss;
    let q = s.extras.quality.as_deref()?;
    let gap_ms = cfg.diagnosis.media_gap.threshold_ms as f64;
    let in_media_gap = |r: &LossRun| s.media_gaps.iter().any(|g| g.start == r.before && g.end == r.after);
    let runs: Vec<&LossRun> = q
        .loss_runs
        .iter()
        .filter(|r| r.audio_ms >= c.min_run_ms as f64 && r.audio_ms < gap_ms && !in_media_gap(r))
        .collect();
    let lost = lost_unique(s);
    let run_missing: u64 = runs.iter().map(|r| u64::from(r.missing)).sum();
    let enough_runs = runs.len() >= c.min_runs as usize && run_missing <= lost;
    let ptime = ptime_ms(input, s);
    let pattern = (q.clock_hz > 0 && lost > 0).then(|| q.buffers.adaptive.finish(s.expected, s.lost, ptime).pattern);
    // Loss inside media gaps is `media_gap`'s (§4.3): only the audio lost outside them counts
    // towards the density rule, and it must amount to what the run rule asks for.
    let gap_missing: u64 = s.media_gaps.iter().map(|g| u64::from(g.missing)).sum();
    let outside_ms = lost.saturating_sub(gap_missing) as f64 * ptime;
    let dense = pattern.is_some_and(|p| {
        p.burst_density >= c.burst_density && outside_ms >= f64::from(c.min_runs) * c.min_run_ms as f64
    });
    if !enough_runs && !dense {
        return None;
    }
    let longest = runs.iter().map(|r| r.audio_ms).fold(0.0, f64::max);
    let mut frames: Vec<u64> = runs.iter().flat_map(|r| [r.before.number, r.after.number]).collect();
    if frames.is_empty() {
        frames.extend([s.first.number, s.last.number]);
    }
    let what = if enough_runs {
        let list: Vec<String> = runs
            .iter()
            .take(4)
            .map(|r| {
                format!("{:.0} ms at {} (frames {}–{})", r.audio_ms, r.before.time, r.before.number, r.after.number)
            })
            .collect();
        format!(
            "{} runs of consecutive lost packets of at least {} ms of audio each ({}{})",
            runs.len(),
            c.min_run_ms,
            list.join(", "),
            if runs.len() > 4 { ", …" } else { "" }
        )
    } else {
        format!(
            "RFC 3611 burst density {:.2} (Gmin 16) over {} burst(s), at least the {} threshold",
            pattern.map_or(0.0, |p| p.burst_density),
            pattern.map_or(0, |p| p.bursts),
            c.burst_density
        )
    };
    let mut r = media(
        "burst_loss",
        Severity::Degrade,
        dir,
        format!(
            "Bursty loss on {}: {what}; {lost} of {} packets lost in all, lost before the capture point.",
            flow(s),
            s.expected
        ),
        frames,
    )
    .metric("runs", runs.len() as f64)
    .metric("longest_run_ms", longest)
    .metric("lost_unique", lost as f64)
    .metric("min_run_ms", c.min_run_ms as f64)
    .metric("min_runs", f64::from(c.min_runs))
    .metric("threshold_burst_density", c.burst_density)
    .on_stream(stream_id(k))
    .cd();
    if let Some(p) = pattern {
        r = r.metric("burst_density", p.burst_density);
    }
    Some(r)
}

/// `rtcp_reported_loss`: the receiver's RR cumulative loss about this SSRC (or its XR VoIP
/// metrics loss rate) exceeds the loss measured here by ≥ max(`min_packets`, `pct` % of
/// expected): lost between the capture point and the receiver. The latest report is compared
/// with the whole stream: a report covering fewer packets can only understate the difference.
fn rtcp_reported_loss(
    input: &DiagnosisInput<'_>,
    k: usize,
    s: &StreamStats,
    dir: Option<StreamDirection>,
    cfg: &DiagnosisConfig,
) -> Option<Reason> {
    let c = &cfg.diagnosis.rtcp_reported_loss;
    if !started_inside_capture(input, s) || s.expected == 0 {
        return None;
    }
    let measured = lost_unique(s) as f64;
    let threshold = rtcp_threshold(c.min_packets, c.pct, s.expected);
    let (reported, frames, source) = if let Some((rr, frames)) = receiver_report(input, s) {
        (f64::from(rr.block.cumulative_lost), frames, format!("RTCP RR (frame {})", rr.at.number))
    } else {
        let xr = input.rtcp?.ssrc(s.key.ssrc)?.voip_metrics.filter(|x| x.reporter.src.ip() == s.key.dst.ip())?;
        let rate = f64::from(xr.metrics.loss_rate) / 256.0;
        (rate * s.expected as f64, vec![xr.at.number], format!("RTCP XR VoIP metrics (frame {})", xr.at.number))
    };
    let excess = reported - measured;
    if excess < threshold {
        return None;
    }
    let mut frames = frames;
    frames.extend([s.first.number, s.last.number]);
    Some(
        media(
            "rtcp_reported_loss",
            Severity::Degrade,
            dir,
            format!(
                "Receiver {} reports {reported:.0} packets lost on {} (SSRC 0x{:08X}) in its {source}, {excess:.0} more \
                 than the {measured:.0} lost before the capture point (threshold {threshold:.0}): lost between the \
                 capture point and {}.",
                s.key.dst.ip(),
                flow(s),
                s.key.ssrc,
                s.key.dst.ip()
            ),
            frames,
        )
        .metric("reported_lost", reported)
        .metric("lost_unique", measured)
        .metric("excess", excess)
        .metric("threshold_packets", threshold)
        .on_stream(stream_id(k))
        .cd(),
    )
}

/// `rtcp_reported_jitter`: the receiver's RR interarrival jitter, converted with the payload
/// clock, exceeds `high_jitter.mean_ms` and `factor` × the largest jitter measured here.
fn rtcp_reported_jitter(
    input: &DiagnosisInput<'_>,
    k: usize,
    s: &StreamStats,
    dir: Option<StreamDirection>,
    cfg: &DiagnosisConfig,
) -> Option<Reason> {
    let (rr, frames) = receiver_report(input, s)?;
    let clock = s
        .extras
        .quality
        .as_ref()
        .map(|q| q.clock_hz)
        .filter(|&hz| hz > 0)
        .or_else(|| input.payloads.lookup(s.key.dst, s.first_pt).map(|(_, hz)| hz))
        .or_else(|| crate::rtp::payload::static_codec(s.first_pt).map(|(_, hz)| hz))
        .filter(|&hz| hz > 0)?;
    let reported_ms = rr.block.jitter_ms(clock)?;
    let here_ms = s.max_jitter_ms.max(s.jitter_rfc_ts * 1000.0 / f64::from(clock));
    let c = &cfg.diagnosis.rtcp_reported_jitter;
    let mean_limit = cfg.diagnosis.high_jitter.mean_ms;
    if reported_ms <= mean_limit || reported_ms <= c.factor * here_ms {
        return None;
    }
    Some(
        media(
            "rtcp_reported_jitter",
            Severity::Degrade,
            dir,
            format!(
                "Receiver {} reports jitter {} timestamp units ({reported_ms:.1} ms at {clock} Hz) on {} in its RTCP RR \
                 (frame {}), above {mean_limit} ms and {}× the {here_ms:.1} ms measured at the capture point: jitter \
                 arises between the capture point and {}, or the receiver's RTCP is wrong.",
                s.key.dst.ip(),
                rr.block.jitter,
                flow(s),
                rr.at.number,
                c.factor,
                s.key.dst.ip()
            ),
            frames,
        )
        .metric("reported_jitter_ms", reported_ms)
        .metric("jitter_here_ms", here_ms)
        .metric("threshold_ms", mean_limit)
        .metric("factor", c.factor)
        .on_stream(stream_id(k))
        .cd(),
    )
}

/// Call-level rules: `high_rtt`, `silent_payload`, `srtp_unanalyzable`, and
/// `capture_loss_suspected` `path_not_captured` (which replaces a `one_way_audio` already in
/// `out` for that direction, §4.3). `c2e`/`e2c` are the call's streams by direction, `silent`
/// the directions `one_way_audio` judged silent.
pub fn call_rules(
    input: &DiagnosisInput<'_>,
    i: usize,
    c2e: &[usize],
    e2c: &[usize],
    silent: &[StreamDirection],
    cfg: &DiagnosisConfig,
    out: &mut Vec<Reason>,
) {
    let Some(d) = input.dialogs.get(i) else { return };
    let srtp = srtp_unanalyzable(input, d, c2e, e2c);
    let encrypted = srtp.is_some();
    out.extend(srtp);
    out.extend(high_rtt(input, c2e, e2c, cfg));
    if !encrypted {
        for dir in [CallerToCallee, CalleeToCaller] {
            if silent.contains(&dir) {
                continue;
            }
            let (this, other) = if dir == CallerToCallee { (c2e, e2c) } else { (e2c, c2e) };
            out.extend(silent_payload(input, d, i, this, other, dir, cfg));
        }
    }
    for &dir in silent {
        path_not_captured(input, d, if dir == CallerToCallee { c2e } else { e2c }, dir, out);
    }
}

/// Streams of `idx` that belong to dialog `i` (the pairing says so).
fn paired<'a>(input: &'a DiagnosisInput<'_>, i: usize, idx: &'a [usize]) -> impl Iterator<Item = usize> + 'a {
    idx.iter().copied().filter(move |&k| input.pairing.get(k).copied().flatten().is_some_and(|p| p.dialog == i))
}

/// `high_rtt`: passive round trip from SR/RR pairs (quality-metrics.md §4): the median leg
/// from the capture point to each end (samples answering the SRs of that direction's streams),
/// added up when both are measured (end to end); one leg alone is a lower bound of the round
/// trip and is judged as such. Fires when the sum exceeds `ms`.
fn high_rtt(input: &DiagnosisInput<'_>, c2e: &[usize], e2c: &[usize], cfg: &DiagnosisConfig) -> Option<Reason> {
    let rtcp = input.rtcp?;
    let limit = cfg.diagnosis.high_rtt.ms;
    let mut legs: Vec<(StreamDirection, RttStats, IpAddr)> = Vec::new();
    let mut frames = Vec::new();
    for (dir, idx) in [(CallerToCallee, c2e), (CalleeToCaller, e2c)] {
        let ssrcs: Vec<u32> = idx.iter().filter_map(|&k| input.streams.get(k)).map(|s| s.key.ssrc).collect();
        let samples: Vec<&crate::rtcp::RttSample> =
            rtcp.rtt_samples().iter().filter(|r| ssrcs.contains(&r.referenced_ssrc) && r.is_accepted()).collect();
        let Some(stats) = RttStats::from_samples(samples.iter().copied()) else { continue };
        frames.extend(samples.iter().flat_map(|r| [r.reference.number, r.report.number]));
        let reporter = samples.first().map(|r| r.reporter.src.ip())?;
        legs.push((dir, stats, reporter));
    }
    let total: f64 = legs.iter().map(|(_, s, _)| s.median_ms).sum();
    if legs.is_empty() || total <= limit {
        return None;
    }
    let parts: Vec<String> = legs
        .iter()
        .map(|(_, s, ip)| format!("capture point↔{ip} {:.0} ms (median of {} SR/RR pairs)", s.median_ms, s.count))
        .collect();
    let scope = if legs.len() == 2 { "end to end" } else { "on one leg alone (a lower bound)" };
    Some(
        media(
            "high_rtt",
            Severity::Degrade,
            None,
            format!(
                "Round trip {total:.0} ms {scope}, measured at the capture point from RTCP: {}; above the {limit:.0} ms \
                 threshold (≈ {:.0} ms one way, ITU-T G.114).",
                parts.join(" + "),
                total / 2.0
            ),
            frames,
        )
        .metric("rtt_ms", total)
        .metric("legs", legs.len() as f64)
        .metric("threshold_ms", limit)
        .cd(),
    )
}

/// Judged and silent packets of the given streams in answered time: the quality windows that
/// overlap `[2xx + media.grace_ms, end]` (window granularity, 10 s by default).
fn payload_counts(input: &DiagnosisInput<'_>, idx: &[usize], from: Timestamp, to: Timestamp) -> (u64, u64) {
    let Some(origin) = capture_start(input) else { return (0, 0) };
    let mut judged = 0u64;
    let mut silent = 0u64;
    for s in idx.iter().filter_map(|&k| input.streams.get(k)) {
        let Some(q) = s.extras.quality.as_deref() else { continue };
        for w in &q.windows {
            let start = origin.0.saturating_add((w.start_ms * 1e6) as i64);
            let end = start.saturating_add((w.length_ms * 1e6) as i64);
            if end > from.0 && start <= to.0 {
                judged += w.payload_judged;
                silent += w.payload_silent;
            }
        }
    }
    (judged, silent)
}

/// `silent_payload`: G.711/L16 only; ≥ `pct` % of the flow's judged packets in answered time
/// decode to digital silence (below −60 dBov) while the other flow is not silent by the same
/// measure: packets flow, no audio. Both flows need `min_packets` judged packets.
fn silent_payload(
    input: &DiagnosisInput<'_>,
    d: &Dialog,
    i: usize,
    this: &[usize],
    other: &[usize],
    dir: StreamDirection,
    cfg: &DiagnosisConfig,
) -> Option<Reason> {
    let c = &cfg.diagnosis.silent_payload;
    let ans = d.answered?;
    let from = Timestamp(ans.time.0.saturating_add(ms_ns(cfg.media.grace_ms)));
    let to = d.bye.map_or(input.capture_end, |(b, _)| b.time);
    let this: Vec<usize> = paired(input, i, this).collect();
    let other: Vec<usize> = paired(input, i, other).collect();
    let (judged, silent) = payload_counts(input, &this, from, to);
    let (other_judged, other_silent) = payload_counts(input, &other, from, to);
    if judged < c.min_packets || other_judged < c.min_packets {
        return None;
    }
    let pct = 100.0 * silent as f64 / judged as f64;
    let other_pct = 100.0 * other_silent as f64 / other_judged as f64;
    if pct < c.pct || other_pct >= c.pct {
        return None;
    }
    let streams: Vec<&StreamStats> = this.iter().filter_map(|&k| input.streams.get(k)).collect();
    let first = streams.first()?;
    let frames: Vec<u64> = streams.iter().flat_map(|s| [s.first.number, s.last.number]).collect();
    Some(
        media(
            "silent_payload",
            Severity::Fail,
            Some(dir),
            format!(
                "{silent} of {judged} RTP packets {} on {} ({pct:.1} %) during {:.1} s of answered time decode to digital \
                 silence (below −60 dBov), at least the {} % threshold, while {} carries sound in {:.1} % of its \
                 packets: packets flow but carry no audio.",
                arrow(dir),
                flow(first),
                secs(from, to).max(0.0),
                c.pct,
                arrow(dir.reverse()),
                100.0 - other_pct
            ),
            frames,
        )
        .metric("silent_pct", pct)
        .metric("packets_judged", judged as f64)
        .metric("other_silent_pct", other_pct)
        .metric("threshold_pct", c.pct)
        .metric("min_packets", c.min_packets as f64)
        .on_stream(stream_id(this.first().copied().unwrap_or(0))),
    )
}

/// Media addresses announced by the call's SDP (audio, any side).
fn call_media_addrs(d: &Dialog) -> Vec<SocketAddr> {
    d.sdp.iter().flat_map(|e| e.session.media.iter()).filter_map(|m| m.rtp_addr()).collect()
}

/// `srtp_unanalyzable` for a call: SDP with a SAVP profile, `a=crypto` (SDES, RFC 4568) or a
/// DTLS fingerprint (RFC 5763), or a DTLS/ZRTP exchange on the call's media addresses or
/// streams. RTP headers stay clear, so loss, jitter and MOS are still computed; `silent_payload`
/// is skipped.
fn srtp_unanalyzable(input: &DiagnosisInput<'_>, d: &Dialog, c2e: &[usize], e2c: &[usize]) -> Option<Reason> {
    let sdp = d.sdp.iter().find_map(|e| {
        e.session.media.iter().find(|m| m.kind == MediaKind::Audio && m.is_srtp()).map(|m| (e.at.number, m))
    });
    let mut addrs = call_media_addrs(d);
    addrs.extend(c2e.iter().chain(e2c).filter_map(|&k| input.streams.get(k)).flat_map(|s| [s.key.src, s.key.dst]));
    let keying = input.facts.and_then(|f| f.keying.iter().find(|k| addrs.iter().any(|&a| k.touches(a))));
    let mut frames = Vec::new();
    let mut how = Vec::new();
    if let Some((frame, m)) = sdp {
        frames.push(frame);
        let mut what = Vec::new();
        if m.crypto {
            what.push("a=crypto (SDES, RFC 4568)");
        }
        if m.fingerprint {
            what.push("a=fingerprint (DTLS-SRTP, RFC 5763)");
        }
        if what.is_empty() {
            what.push("an SRTP profile");
        }
        how.push(format!("the SDP in frame {frame} offers {} with {}", m.proto, what.join(" and ")));
    }
    if let Some(k) = keying {
        frames.push(k.at.number);
        how.push(format!("a {} runs between {} and {} from frame {}", k.kind.label(), k.src, k.dst, k.at.number));
    }
    if how.is_empty() {
        return None;
    }
    Some(info(
        "srtp_unanalyzable",
        None,
        format!(
            "Media is encrypted: {}; loss, jitter and MOS come from the clear RTP headers, payload checks \
             (silent_payload) were skipped.",
            how.join("; ")
        ),
        frames,
    ))
}

/// `capture_loss_suspected` `path_not_captured`: a direction `one_way_audio` judged silent,
/// while its receiver's RTCP reports on an SSRC that no captured stream carries: the receiver
/// got that media, it took a path this capture point does not see. Replaces the
/// `one_way_audio` reason of that direction (diagnosis.md §4.3).
fn path_not_captured(
    input: &DiagnosisInput<'_>,
    d: &Dialog,
    silent_streams: &[usize],
    dir: StreamDirection,
    out: &mut Vec<Reason>,
) {
    let Some(rtcp) = input.rtcp else { return };
    // The receiver of the silent flow: its SDP media address, else its signalling address.
    let receiver_is_caller = dir == CalleeToCaller;
    let receiver_ip = d
        .sdp
        .iter()
        .filter(|e| e.from_caller == receiver_is_caller)
        .flat_map(|e| e.session.media.iter())
        .find_map(|m| m.addr)
        .or_else(|| if receiver_is_caller { d.caller } else { d.callee }.map(|a| a.ip()));
    let Some(receiver_ip) = receiver_ip else { return };
    let start = d.answered.map_or(Timestamp(0), |a| a.time);
    let end = d.bye.map_or(Timestamp(i64::MAX), |(b, _)| b.time);
    let proof = rtcp.ssrcs().find_map(|(ssrc, e)| {
        let r = e.reported.last?;
        let heard_here = input.streams.iter().any(|s| s.key.ssrc == ssrc);
        let in_call = r.at.time >= start && r.at.time <= end;
        (r.reporter.src.ip() == receiver_ip && !heard_here && in_call).then_some((ssrc, r))
    });
    let Some((ssrc, rr)) = proof else { return };
    let Some(pos) = out.iter().position(|r| r.code == "one_way_audio" && r.direction == Some(dir)) else { return };
    let replaced = out.remove(pos);
    let mut frames = replaced.frames;
    frames.push(rr.at.number);
    frames.extend(silent_streams.iter().filter_map(|&k| input.streams.get(k)).map(|s| s.first.number));
    let mut r = info(
        "capture_loss_suspected",
        Some(dir),
        format!(
            "No RTP {} is seen at the capture point, yet the receiver {receiver_ip} reports in RTCP (frame {}) on SSRC \
             0x{ssrc:08X} (extended highest sequence {}, {} lost): the media was delivered on a path this capture \
             point does not see, so it is not one-way audio.",
            arrow(dir),
            rr.at.number,
            rr.block.extended_highest_seq,
            rr.block.cumulative_lost
        ),
        frames,
    )
    .with_subcode("path_not_captured")
    .cd();
    r.metrics = replaced.metrics;
    out.push(r);
}

/// Reasons for a stream tied to no call beyond the quality rules: `srtp_unanalyzable` when a
/// DTLS/ZRTP exchange runs on its 5-tuple, or (subcode `sip_tls`) when the capture carries SIP
/// over TLS, so the SDP that would tie it to a call is unreadable.
pub fn orphan_rules(input: &DiagnosisInput<'_>, k: usize, out: &mut Vec<Reason>) {
    let (Some(s), Some(facts)) = (input.streams.get(k), input.facts) else { return };
    let keying = facts
        .keying
        .iter()
        .find(|x| (x.src == s.key.src && x.dst == s.key.dst) || (x.src == s.key.dst && x.dst == s.key.src));
    if let Some(x) = keying {
        out.push(
            info(
                "srtp_unanalyzable",
                None,
                format!(
                    "A {} runs on this flow ({}↔{}, first in frame {}): the RTP on {} is SRTP; loss, jitter and MOS \
                     come from the clear headers, payload checks (silent_payload) were skipped.",
                    x.kind.label(),
                    x.src,
                    x.dst,
                    x.at.number,
                    flow(s)
                ),
                vec![x.at.number, s.first.number],
            )
            .on_stream(stream_id(k)),
        );
    } else if let Some((at, src, dst)) = facts.sip_tls {
        out.push(
            info(
                "srtp_unanalyzable",
                None,
                format!(
                    "SIP runs over TLS ({src}→{dst} from frame {}): its SDP is unreadable, so the media on {} cannot \
                     be tied to a call, and whether it is SRTP is unknown; payload checks were skipped.",
                    at.number,
                    flow(s)
                ),
                vec![at.number, s.first.number],
            )
            .with_subcode("sip_tls")
            .on_stream(stream_id(k)),
        );
    }
}

/// Why the capture is suspected of having lost a stream's packets (diagnosis.md §4.4).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaptureLoss {
    /// Evidence frames.
    pub frames: Vec<u64>,
    /// One clause per kind of evidence, for the detail.
    pub evidence: Vec<String>,
}

impl CaptureLoss {
    /// True when something points at the capture.
    pub fn is_suspected(&self) -> bool {
        !self.evidence.is_empty()
    }
}

/// An interval without packets on a flow: a media gap or a loss run.
#[derive(Clone, Copy)]
struct Hole {
    stream: usize,
    before: FrameRef,
    after: FrameRef,
}

/// Evidence of capture loss per stream (index-aligned with `input.streams`):
/// * sequence gaps on ≥ 2 unrelated flows (different SSRC and host pair) starting and ending
///   within `coincidence_ms` of each other;
/// * the receiver's RR reports less loss than measured here, by ≥ max(`min_packets`, `pct` %);
/// * the sender's SR packet count exceeds the packets captured by as much, unless the
///   receiver's RR confirms that loss (then it is real loss before the capture point);
/// * the capture file's pcapng interface statistics report drops (streams with loss).
pub fn capture_loss_evidence(input: &DiagnosisInput<'_>, cfg: &DiagnosisConfig) -> Vec<CaptureLoss> {
    let c = &cfg.diagnosis.capture_loss_suspected;
    let mut out = vec![CaptureLoss::default(); input.streams.len()];
    // Coinciding holes. Bounded: ≤ 16 gaps + 16 runs per stream over at most 2000 streams,
    // compared after sorting by start so only neighbours within the window are visited.
    let mut holes: Vec<Hole> = Vec::new();
    for (k, s) in input.streams.iter().enumerate().take(2000) {
        holes.extend(s.media_gaps.iter().map(|g| Hole { stream: k, before: g.start, after: g.end }));
        if let Some(q) = s.extras.quality.as_deref() {
            holes.extend(q.loss_runs.iter().map(|r| Hole { stream: k, before: r.before, after: r.after }));
        }
    }
    holes.sort_by_key(|h| h.before.time);
    let window = ms_ns(c.coincidence_ms);
    let unrelated = |a: &StreamStats, b: &StreamStats| {
        let pair = |s: &StreamStats| {
            let (x, y) = (s.key.src.ip(), s.key.dst.ip());
            if x <= y {
                (x, y)
            } else {
                (y, x)
            }
        };
        a.key.ssrc != b.key.ssrc && pair(a) != pair(b)
    };
    // A sniffer that drops packets drops them on every flow passing at that instant, while
    // random network loss makes two of many flows coincide by chance: a hole counts when holes
    // of unrelated flows coincide with it on at least half of the unrelated flows running then.
    for h1 in &holes {
        let Some(a) = input.streams.get(h1.stream) else { continue };
        let lo = holes.partition_point(|h| h.before.time.0 < h1.before.time.0.saturating_sub(window));
        let mut with: Vec<usize> = holes
            .iter()
            .skip(lo)
            .take_while(|h2| h2.before.time.0 <= h1.before.time.0.saturating_add(window))
            .filter(|h2| (h2.after.time.0 - h1.after.time.0).abs() <= window)
            .filter(|h2| input.streams.get(h2.stream).is_some_and(|b| unrelated(a, b)))
            .map(|h2| h2.stream)
            .collect();
        with.sort_unstable();
        with.dedup();
        if with.is_empty() {
            continue;
        }
        let running = input
            .streams
            .iter()
            .take(2000)
            .filter(|b| unrelated(a, b) && b.first.time <= h1.before.time && b.last.time >= h1.after.time)
            .count();
        if with.len() * 2 < running {
            continue;
        }
        let Some(e) = out.get_mut(h1.stream) else { continue };
        e.frames.extend([h1.before.number, h1.after.number]);
        if e.evidence.iter().all(|t| !t.starts_with("a gap at")) {
            let ids: Vec<String> = with.iter().map(|&k| stream_id(k).to_string()).collect();
            e.evidence.push(format!(
                "a gap at {} (frames {}–{}) coincides within {} ms with gaps on {} of the {running} unrelated \
                 stream(s) running then ({})",
                h1.before.time,
                h1.before.number,
                h1.after.number,
                c.coincidence_ms,
                with.len(),
                ids.join(", ")
            ));
        }
    }
    // RTCP proof that the packets existed.
    for (k, s) in input.streams.iter().enumerate() {
        if !started_inside_capture(input, s) {
            continue;
        }
        let Some(e) = out.get_mut(k) else { continue };
        let measured = lost_unique(s) as f64;
        let threshold = rtcp_threshold(c.min_packets, c.pct, s.expected);
        let rr = receiver_report(input, s);
        if let Some((rr, frames)) = &rr {
            let reported = f64::from(rr.block.cumulative_lost);
            if measured - reported >= threshold {
                e.frames.extend(frames.iter().copied());
                e.evidence.push(format!(
                    "the receiver {} reports {reported:.0} lost in its RTCP RR (frame {}) where {measured:.0} of {} are \
                     missing here",
                    s.key.dst.ip(),
                    rr.at.number,
                    s.expected
                ));
            }
        }
        let rr_confirms = rr.as_ref().is_some_and(|(r, _)| measured - f64::from(r.block.cumulative_lost) < threshold);
        let sr = input
            .rtcp
            .and_then(|t| t.ssrc(s.key.ssrc))
            .and_then(|e| e.sender.last_sr.map(|l| (e.sender.first_sr, l)))
            .filter(|(_, l)| l.src.ip() == s.key.src.ip());
        if let Some((first_sr, last_sr)) = sr {
            let captured = s.received.saturating_sub(s.duplicates);
            let sent = f64::from(last_sr.packet_count);
            if !rr_confirms
                && sent - captured as f64 >= rtcp_threshold(c.min_packets, c.pct, u64::from(last_sr.packet_count))
            {
                e.frames.extend(first_sr.map(|f| f.at.number));
                e.frames.push(last_sr.at.number);
                e.evidence.push(format!(
                    "the sender's RTCP SR (frame {}) counts {} packets sent while {captured} were captured",
                    last_sr.at.number, last_sr.packet_count
                ));
            }
        }
    }
    // pcapng interface statistics: the capturing host itself says it dropped packets.
    for (k, s) in input.streams.iter().enumerate() {
        let Some(file) = input.inputs.get(usize::from(s.first.file)) else { continue };
        let Some(drops) = file.interface_drops.filter(|&d| d > 0) else { continue };
        if lost_unique(s) == 0 {
            continue;
        }
        if let Some(e) = out.get_mut(k) {
            e.evidence.push(format!(
                "the capture's pcapng interface statistics (after frame {}) report {drops} packets dropped by the \
                 capturing host",
                file.interface_drops_after_frame
            ));
            e.frames.push(file.interface_drops_after_frame);
        }
    }
    out
}

/// Codes lowered to info on a stream under `capture_loss_suspected` (diagnosis.md §3 rule 1).
const DEMOTED_BY_CAPTURE_LOSS: [&str; 6] =
    ["media_gap", "high_loss", "burst_loss", "high_jitter", "low_mos", "late_packets"];

/// Emits one `capture_loss_suspected` for the given streams that have evidence, and demotes
/// their loss-type reasons in `out[from..]` to info.
pub fn apply_capture_loss(streams: &[usize], evidence: &[CaptureLoss], from: usize, out: &mut Vec<Reason>) {
    let hit: Vec<usize> =
        streams.iter().copied().filter(|&k| evidence.get(k).is_some_and(CaptureLoss::is_suspected)).collect();
    if hit.is_empty() {
        return;
    }
    let ids: Vec<u32> = hit.iter().map(|&k| stream_id(k)).collect();
    for r in out.iter_mut().skip(from) {
        if r.stream.is_some_and(|id| ids.contains(&id)) && DEMOTED_BY_CAPTURE_LOSS.contains(&r.code) {
            r.severity = Severity::Info;
        }
    }
    let frames: Vec<u64> = hit.iter().filter_map(|&k| evidence.get(k)).flat_map(|e| e.frames.iter().copied()).collect();
    let clauses: Vec<String> = hit
        .iter()
        .filter_map(|&k| evidence.get(k).map(|e| format!("stream {}: {}", stream_id(k), e.evidence.join("; "))))
        .collect();
    let mut r = info(
        "capture_loss_suspected",
        None,
        format!(
            "The capture point, not the network, probably lost packets of {} stream(s) ({}); loss, gap, jitter and MOS \
             reasons on them are info only.",
            hit.len(),
            clauses.join("; ")
        ),
        frames,
    )
    .cd();
    if let [only] = hit.as_slice() {
        r = r.on_stream(stream_id(*only));
    }
    out.push(r);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Transport;

    fn dg<'a>(src: &str, dst: &str, tcp: bool, payload: &'a [u8], n: u64) -> Datagram<'a> {
        Datagram {
            at: FrameRef { file: 0, number: n, time: Timestamp(0) },
            src: src.parse().unwrap_or_else(|_| unreachable!()),
            dst: dst.parse().unwrap_or_else(|_| unreachable!()),
            transport: if tcp { Transport::Tcp { seq: 0, flags: 0 } } else { Transport::Udp },
            vlan: None,
            interface: None,
            dscp: 0,
            icmp_error: None,
            payload,
        }
    }

    #[test]
    fn facts_keep_the_first_keying_packet_per_flow_and_sip_over_tls() {
        let mut f = CaptureFacts::default();
        let hello = [22u8, 0xFE, 0xFD, 0, 0];
        f.observe(PayloadKind::Dtls, &dg("192.0.2.1:4000", "192.0.2.2:5000", false, &hello, 3));
        f.observe(PayloadKind::Dtls, &dg("192.0.2.2:5000", "192.0.2.1:4000", false, &hello, 4));
        f.observe(PayloadKind::Zrtp, &dg("192.0.2.1:4002", "192.0.2.2:5002", false, b"x", 5));
        assert_eq!(f.keying.len(), 2);
        assert_eq!((f.keying[0].at.number, f.keying[0].kind), (3, KeyingKind::Dtls));
        assert_eq!(f.keying[1].kind, KeyingKind::Zrtp);
        // A TLS handshake record on 5061 over TCP; plain SIP on 5060 is not.
        f.observe(PayloadKind::Sip, &dg("192.0.2.1:40000", "192.0.2.2:5060", true, b"INVITE sip:x", 6));
        assert_eq!(f.sip_tls, None);
        f.observe(PayloadKind::Sip, &dg("192.0.2.1:40000", "192.0.2.2:5061", true, &[22, 3, 1, 0, 5], 7));
        assert_eq!(f.sip_tls.map(|t| t.0.number), Some(7));
    }

    #[test]
    fn keying_table_is_bounded() {
        let mut f = CaptureFacts::default();
        for port in 0..(MAX_KEYING_FLOWS as u16 + 10) {
            let src = format!("192.0.2.1:{}", 10000 + port);
            f.observe(PayloadKind::Dtls, &dg(&src, "192.0.2.2:5000", false, &[22], u64::from(port)));
        }
        assert_eq!(f.keying.len(), MAX_KEYING_FLOWS);
        assert_eq!(f.keying_dropped, 10);
    }

    #[test]
    fn thresholds_and_tls_records() {
        assert_eq!(rtcp_threshold(5, 1.0, 100), 5.0);
        assert_eq!(rtcp_threshold(5, 1.0, 2000), 20.0);
        assert!(looks_like_tls_record(&[23, 3, 3, 0, 10]));
        assert!(!looks_like_tls_record(b"SIP/2.0 200 OK"));
        assert!(!looks_like_tls_record(&[22]));
    }

    #[test]
    fn capture_loss_reason_demotes_loss_on_its_streams_only() {
        let ev = vec![CaptureLoss { frames: vec![7, 9], evidence: vec!["x".into()] }, CaptureLoss::default()];
        let mk = |code: &'static str, stream: u32| {
            Reason::new(code, ReasonClass::Media, Severity::Degrade, None, String::new(), vec![1]).on_stream(stream)
        };
        let mut out = vec![mk("high_loss", 1), mk("burst_loss", 2), mk("codec_mismatch", 1)];
        apply_capture_loss(&[0, 1], &ev, 0, &mut out);
        let sev: Vec<Severity> = out.iter().map(|r| r.severity).collect();
        assert_eq!(sev, [Severity::Info, Severity::Degrade, Severity::Degrade, Severity::Info]);
        let r = out.last().expect("pushed");
        assert_eq!((r.code, r.stream, r.frames.clone()), ("capture_loss_suspected", Some(1), vec![7, 9]));
    }
}
