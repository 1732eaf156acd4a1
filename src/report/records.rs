//! The records of output-contract.md (schema 1), built once from an [`Analysis`]. Every number a
//! sink prints is a field here; sinks only format.

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use crate::correlate::StreamDirection;
use crate::diagnose::{self, DiagnosisInput, Link, Reason, StreamQualityFigures, Verdict};
use crate::pipeline::Analysis;
use crate::rtp::{payload, StreamStats};
use crate::sip::{Dialog, EndedBy, Outcome};
use crate::time::Timestamp;
use crate::warn::Warning;

/// Output schema version (output-contract.md).
pub const SCHEMA: u32 = 1;

/// The whole JSON document.
#[derive(Clone, Debug, Serialize)]
pub struct Document {
    /// Schema version.
    pub schema: u32,
    /// Tool name and version.
    pub tool: Tool,
    /// One entry per input file.
    pub inputs: Vec<Input>,
    /// One entry per INVITE dialog.
    pub calls: Vec<Call>,
    /// One entry per RTP stream.
    pub streams: Vec<Stream>,
    /// Registrations (REGISTER tracking).
    pub registrations: Vec<RegistrationRecord>,
    /// Site summaries (contract `SiteSummary`, filled by `sites::attach`).
    pub sites: Vec<serde_json::Value>,
    /// Capture-wide SIP ratios (additive; quality-metrics.md §6).
    pub summary: super::quality::SipSummary,
    /// Time buckets per site pair (additive; `sites::TimeBucket`, filled by `sites::attach`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub site_windows: Vec<serde_json::Value>,
}

/// `tool`.
#[derive(Clone, Debug, Serialize)]
pub struct Tool {
    /// "callscope".
    pub name: &'static str,
    /// Crate version.
    pub version: &'static str,
}

/// `inputs[]`.
#[derive(Clone, Debug, Serialize)]
pub struct Input {
    /// Path as given.
    pub path: String,
    /// Link type names.
    pub link_types: Vec<&'static str>,
    /// Frames read.
    pub packets: u64,
    /// Bytes read.
    pub bytes: u64,
    /// First frame time.
    pub first_time: Option<Timestamp>,
    /// Last frame time.
    pub last_time: Option<Timestamp>,
    /// Warnings about this input (the first ones of each kind; see `warning_counts`).
    pub warnings: Vec<Warning>,
    /// Total warnings per kind, including those not listed.
    pub warning_counts: std::collections::BTreeMap<String, u64>,
}

/// `calls[]`.
#[derive(Clone, Debug, Serialize)]
pub struct Call {
    /// SIP Call-ID.
    pub call_id: String,
    /// From URI of the initial INVITE.
    pub from_uri: Option<String>,
    /// To URI.
    pub to_uri: Option<String>,
    /// From user part.
    pub from_user: Option<String>,
    /// To user part.
    pub to_user: Option<String>,
    /// Source of the initial INVITE.
    pub caller: Option<SocketAddr>,
    /// Destination of the initial INVITE.
    pub callee: Option<SocketAddr>,
    /// Outermost VLAN id of the initial INVITE's frame (additive; omitted when untagged). The
    /// site map's `vlans` match it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// Capture interface name (pcapng `if_name`) of the initial INVITE's frame (additive;
    /// omitted when unknown). The site map's `interface` matches it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Site of the caller (`unknown` without a site map).
    pub caller_site: String,
    /// Site of the callee.
    pub callee_site: String,
    /// Time of the first INVITE.
    pub start: Option<Timestamp>,
    /// First INVITE → first 18x (post-dial delay).
    pub setup_ms: Option<f64>,
    /// First INVITE → 2xx.
    pub answer_ms: Option<f64>,
    /// Answer → BYE, or → last media packet without BYE.
    pub duration_s: Option<f64>,
    /// Final response to the initial INVITE.
    pub final_status: Option<u16>,
    /// Outcome (diagnosis.md §4.6).
    pub outcome: Outcome,
    /// Who hung up.
    pub ended_by: EndedBy,
    /// Verdict.
    pub verdict: Verdict,
    /// Ids of this call's streams.
    pub streams: Vec<u32>,
    /// Lowest stream MOS (null until MOS is computed / without media).
    pub mos_min: Option<f64>,
    /// SIP messages in the dialog (additive).
    pub sip_messages: usize,
    /// Retransmitted SIP copies (additive).
    pub retransmissions: u32,
    /// Session request delay: first INVITE → first response other than 100, challenges
    /// excluded (RFC 6076; additive).
    pub srd_ms: Option<f64>,
    /// Session disconnect delay: first BYE → its final response (RFC 6076; additive).
    pub sdd_ms: Option<f64>,
    /// Lowest MOS of the caller → callee streams (additive).
    pub mos_caller_to_callee: Option<f64>,
    /// Lowest MOS of the callee → caller streams (additive).
    pub mos_callee_to_caller: Option<f64>,
    /// Other legs of the same conversation through a B2BUA (diagnosis.md §5; additive).
    pub linked: Vec<Link>,
    /// Where the capture saw this call from (diagnosis.md §6; additive).
    pub vantage: Option<diagnose::flows::Vantage>,
    /// Frame number of the first INVITE (additive; site findings cite it, diagnosis.md §4.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_frame: Option<u64>,
    /// Connection address of the caller's first audio SDP (normally the offer), not on hold
    /// (`c=0.0.0.0`). Not serialised: the site stage resolves the caller's site from it when
    /// the caller's RTP was not seen (`sites::rows`).
    #[serde(skip)]
    pub caller_sdp_ip: Option<IpAddr>,
    /// Connection address of the callee's first audio SDP (normally the answer); as
    /// `caller_sdp_ip`.
    #[serde(skip)]
    pub callee_sdp_ip: Option<IpAddr>,
}

/// `streams[]`.
#[derive(Clone, Debug, Serialize)]
pub struct Stream {
    /// Id within the document.
    pub id: u32,
    /// Owning call.
    pub call_id: Option<String>,
    /// Direction within the call.
    pub direction: Option<StreamDirection>,
    /// Source `ip:port`.
    pub src: SocketAddr,
    /// Destination `ip:port`.
    pub dst: SocketAddr,
    /// `0x%08X`.
    pub ssrc: String,
    /// First payload type.
    pub payload_type: u8,
    /// Codec name of the first payload type (null when unknown).
    pub codec: Option<String>,
    /// RTP clock of the first payload type (0 unknown).
    pub clock_rate: u32,
    /// First packet.
    pub first_time: Timestamp,
    /// Last packet.
    pub last_time: Timestamp,
    /// First packet's frame number (additive).
    pub first_frame: u64,
    /// RTP packets.
    pub packets: u64,
    /// Extended highest seq − base seq + 1 (summed over restarts).
    pub expected: u64,
    /// expected − received.
    pub lost: i64,
    /// 100 · lost / expected.
    pub lost_pct: f64,
    /// tshark's sequence errors.
    pub seq_errors: u64,
    /// Duplicates.
    pub duplicates: u64,
    /// Out of order.
    pub out_of_order: u64,
    /// Sequence restarts.
    pub seq_restarts: u64,
    /// Inter-arrival delta, tshark-compatible (quality-metrics.md §1.6); −1 when no packet
    /// qualified, as tshark prints it.
    pub min_delta_ms: f64,
    /// Mean delta.
    pub mean_delta_ms: f64,
    /// Max delta.
    pub max_delta_ms: f64,
    /// tshark-compatible jitter (§1.7); −1 when never updated (unknown clock), as tshark prints.
    pub min_jitter_ms: f64,
    /// Mean jitter.
    pub mean_jitter_ms: f64,
    /// Max jitter.
    pub max_jitter_ms: f64,
    /// RFC 3550 jitter in timestamp units (additive).
    pub jitter_rfc_ts: f64,
    /// SDP-announced receive address for this stream.
    pub sdp_addr: Option<SocketAddr>,
    /// Most common DSCP (tie → lower value).
    pub dscp: u8,
    /// Outermost VLAN id of the stream's first packet (additive; omitted when untagged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// Capture interface name of the stream's first packet (additive; omitted when unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// What RTCP said about this stream (null when no report or SR concerned its SSRC).
    pub rtcp: Option<RtcpSummary>,
    /// E-model MOS with the adaptive buffer (quality-metrics.md §5); null without a scored
    /// codec (video, events only, unknown clock).
    pub mos: Option<f64>,
    /// E-model R (adaptive buffer).
    pub r_factor: Option<f64>,
    /// Reasons of a stream tied to no call (diagnosis.md §2; additive, empty for call streams).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    /// RFC 4733 telephone-event packets (additive).
    pub events: u64,
    /// Comfort-noise packets (additive).
    pub cn_packets: u64,
    /// Packets per DSCP value (additive, quality-metrics.md §7).
    pub dscp_values: std::collections::BTreeMap<u8, u32>,
    /// Packets whose DSCP differs from the previous packet's (additive).
    pub dscp_changes: u64,
    /// The first DSCP changes with their frames (bounded; additive).
    pub dscp_change_frames: Vec<super::quality::DscpChangeRecord>,
    /// Share of packets marked EF 46 or VOICE-ADMIT 44, % (additive).
    pub dscp_expected_pct: f64,
    /// Buffer models, E-model and loss pattern (additive; null without a scored codec).
    pub quality: Option<super::quality::QualityRecord>,
    /// Quality over time, one entry per window with packets (additive).
    pub windows: Vec<super::quality::WindowRecord>,
}

/// `streams[].rtcp`: the far end's reports about this stream (report blocks whose source SSRC is
/// the stream's), its sender's SRs, and the round trip between the probe and the stream's
/// receiver (quality-metrics.md §4: SR from this SSRC answered by the receiver's report block).
#[derive(Clone, Debug, Serialize)]
pub struct RtcpSummary {
    /// Report blocks about this SSRC.
    pub reports: u64,
    /// Fraction lost of the latest report, %.
    pub far_end_lost_pct: Option<f64>,
    /// Largest fraction lost reported, %.
    pub far_end_max_lost_pct: Option<f64>,
    /// Cumulative lost of the latest report (negative with duplicates).
    pub far_end_cumulative_lost: Option<i32>,
    /// Interarrival jitter of the latest report, ms at the stream's clock.
    pub far_end_jitter_ms: Option<f64>,
    /// Largest reported jitter, ms.
    pub far_end_max_jitter_ms: Option<f64>,
    /// SRs sent by this SSRC.
    pub sender_reports: u64,
    /// Packet count of the latest SR (compare with `packets`: a deficit here means loss before the probe).
    pub sender_packet_count: Option<u32>,
    /// Probe ↔ receiver round trip, accepted samples: min/mean/max ms.
    pub rtt_ms_min: Option<f64>,
    /// Mean.
    pub rtt_ms_mean: Option<f64>,
    /// Max.
    pub rtt_ms_max: Option<f64>,
    /// Latest RTCP XR VoIP metrics block about this SSRC (RFC 3611 §4.7).
    pub xr: Option<XrVoipSummary>,
}

/// The XR VoIP metrics the receiver reported (fractions as %, 127 = unavailable → null).
#[derive(Clone, Debug, Serialize)]
pub struct XrVoipSummary {
    /// Loss rate, %.
    pub loss_rate_pct: f64,
    /// Discard rate, %.
    pub discard_rate_pct: f64,
    /// Burst density, %.
    pub burst_density_pct: f64,
    /// Gap density, %.
    pub gap_density_pct: f64,
    /// Mean burst duration, ms.
    pub burst_duration_ms: u16,
    /// Mean gap duration, ms.
    pub gap_duration_ms: u16,
    /// Round trip delay, ms.
    pub round_trip_delay_ms: u16,
    /// End system delay, ms.
    pub end_system_delay_ms: u16,
    /// R factor.
    pub r_factor: Option<u8>,
    /// MOS-LQ.
    pub mos_lq: Option<f64>,
    /// MOS-CQ.
    pub mos_cq: Option<f64>,
}

fn rtcp_summary(analysis: &Analysis, ssrc: u32, clock_hz: u32) -> Option<RtcpSummary> {
    let entry = analysis.rtcp.ssrc(ssrc)?;
    let (reported, sender) = (&entry.reported, &entry.sender);
    let last = reported.last.as_ref();
    let rtt =
        crate::rtcp::RttStats::from_samples(analysis.rtcp.rtt_samples().iter().filter(|r| r.referenced_ssrc == ssrc));
    let pct = |x: u8| ms3(f64::from(x) * 100.0 / 256.0);
    Some(RtcpSummary {
        reports: reported.reports,
        far_end_lost_pct: last.map(|r| ms3(r.block.fraction_lost_pct())),
        far_end_max_lost_pct: last.map(|_| pct(reported.max_fraction_lost)),
        far_end_cumulative_lost: last.map(|r| r.block.cumulative_lost),
        far_end_jitter_ms: reported.jitter_ms(clock_hz).map(ms3),
        far_end_max_jitter_ms: reported.max_jitter_ms(clock_hz).map(ms3),
        sender_reports: sender.sr_count,
        sender_packet_count: sender.last_sr.as_ref().map(|s| s.packet_count),
        rtt_ms_min: rtt.as_ref().map(|r| ms3(r.min_ms)),
        rtt_ms_mean: rtt.as_ref().map(|r| ms3(r.mean_ms)),
        rtt_ms_max: rtt.as_ref().map(|r| ms3(r.max_ms)),
        xr: entry.voip_metrics.as_ref().map(|v| {
            let m = &v.metrics;
            XrVoipSummary {
                loss_rate_pct: pct(m.loss_rate),
                discard_rate_pct: pct(m.discard_rate),
                burst_density_pct: pct(m.burst_density),
                gap_density_pct: pct(m.gap_density),
                burst_duration_ms: m.burst_duration_ms,
                gap_duration_ms: m.gap_duration_ms,
                round_trip_delay_ms: m.round_trip_delay_ms,
                end_system_delay_ms: m.end_system_delay_ms,
                r_factor: m.r_factor,
                mos_lq: m.mos_lq_x10.map(|x| f64::from(x) / 10.0),
                mos_cq: m.mos_cq_x10.map(|x| f64::from(x) / 10.0),
            }
        }),
    })
}

/// `registrations[]` (contract `Registration`).
#[derive(Clone, Debug, Serialize)]
pub struct RegistrationRecord {
    /// Address of record (To URI of the REGISTER).
    pub aor: String,
    /// Contact URI of the last REGISTER.
    pub contact: Option<String>,
    /// Source `ip:port` of the last REGISTER.
    pub source: Option<SocketAddr>,
    /// User-Agent of the last REGISTER that had one.
    pub user_agent: Option<String>,
    /// First REGISTER seen.
    pub first_time: Timestamp,
    /// Last REGISTER or response seen.
    pub last_time: Timestamp,
    /// Expiry granted by the last 2xx.
    pub expires_s: Option<u32>,
    /// `registered`, `failed`, `expired`, `unregistered` or `challenged` at the capture's end.
    pub status: &'static str,
    /// Last final response code.
    pub last_code: Option<u16>,
    /// REGISTER attempts (a challenge retry is part of its attempt).
    pub attempts: u32,
    /// Attempts that failed.
    pub failures: u32,
    /// Additive: Call-IDs of calls that ended 404/480 towards this AOR's user while it was not
    /// registered (see [`crate::report::registrations::callee_unregistered`]).
    pub missed_calls: Vec<String>,
    /// Additive: registration-scoped reasons (`registration_failed`, diagnosis.md §4.5).
    pub reasons: Vec<Reason>,
    /// Additive: REGISTER activity per hour (the `registration_churn` inputs); null without history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<crate::report::registrations::RegisterActivity>,
}

/// Rounds to 3 decimals, the precision tshark prints, so JSON does not carry float noise.
fn ms3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn ms_between(a: Timestamp, b: Timestamp) -> f64 {
    ms3(b.ms_since(a))
}

/// Builds the document from an analysis.
pub fn build(analysis: &Analysis) -> Document {
    build_with_sites(analysis, None)
}

/// Builds the document from an analysis, diagnosing with the run's site map when there is one
/// (per-site expected DSCP, diagnosis.md §4.3); `None` is [`build`].
pub fn build_with_sites(analysis: &Analysis, sites: Option<&crate::sites::SiteMap>) -> Document {
    build_threaded(analysis, sites, 1)
}

/// [`build_with_sites`] on up to `threads` threads: the stream records and the per-call rules
/// are split in two when `threads >= 2` (the same document).
pub fn build_threaded(analysis: &Analysis, sites: Option<&crate::sites::SiteMap>, threads: usize) -> Document {
    let malformed: Vec<u64> = {
        let mut v: Vec<u64> = analysis
            .warnings
            .kept()
            .iter()
            .filter(|w| w.kind == crate::warn::WarningKind::MalformedSip)
            .map(|w| w.frame)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut streams = build_streams(analysis, threads);
    let quality: Vec<Option<StreamQualityFigures>> = streams
        .iter()
        .map(|s| {
            Some(StreamQualityFigures {
                mos: s.mos,
                late_discard_pct: s.quality.as_ref().map(|q| {
                    if s.expected == 0 {
                        0.0
                    } else {
                        let discarded = match analysis.diagnosis.diagnosis.late_packets.buffer.as_str() {
                            "fixed50" => q.discarded.fixed50,
                            "fixed200" => q.discarded.fixed200,
                            _ => q.discarded.adaptive,
                        };
                        discarded as f64 * 100.0 / s.expected as f64
                    }
                }),
            })
        })
        .collect();
    let input = DiagnosisInput {
        dialogs: &analysis.dialogs,
        registrations: &analysis.registrations,
        streams: &analysis.streams,
        pairing: &analysis.pairing,
        payloads: &analysis.payloads,
        capture_end: analysis.capture_end,
        malformed_sip_frames: &malformed,
        icmp: &analysis.icmp_errors,
        quality: &quality,
        udptl: &analysis.udptl_flows,
        rtcp: Some(&analysis.rtcp),
        facts: Some(&analysis.capture_facts),
        inputs: &analysis.inputs,
        sites,
        threads,
    };
    let mut diagnosis = diagnose::diagnose(&input, &analysis.diagnosis);
    if analysis.inputs.len() > 1 {
        diagnose::evidence::attach_files(&input, &mut diagnosis);
    }
    for (stream, reasons) in streams.iter_mut().zip(diagnosis.stream_reasons.drain(..)) {
        stream.reasons = reasons;
    }
    let calls = build_calls(analysis, &streams, &mut diagnosis);
    let sites = diagnosis.findings.iter().filter_map(|f| serde_json::to_value(f).ok()).collect();
    Document {
        schema: SCHEMA,
        tool: Tool { name: "callscope", version: env!("CARGO_PKG_VERSION") },
        inputs: build_inputs(analysis),
        calls,
        streams,
        registrations: crate::report::registrations::build(analysis),
        sites,
        summary: super::quality::sip_summary(&analysis.dialogs),
        site_windows: Vec::new(),
    }
}

fn build_inputs(analysis: &Analysis) -> Vec<Input> {
    analysis
        .inputs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let file = u16::try_from(i).unwrap_or(u16::MAX);
            Input {
                path: s.path.clone(),
                link_types: s.link_types.iter().map(|l| l.name()).collect(),
                packets: s.packets,
                bytes: s.bytes,
                first_time: s.first_time,
                last_time: s.last_time,
                warnings: analysis.warnings.kept().iter().filter(|w| w.file == file).cloned().collect(),
                warning_counts: analysis
                    .warnings
                    .counts()
                    .iter()
                    .filter(|((f, _), _)| *f == file)
                    .map(|((_, k), n)| (kind_name(*k), *n))
                    .collect(),
            }
        })
        .collect()
}

fn kind_name(kind: crate::warn::WarningKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The stream records, in the analysis's order (ids 1, 2, ...), on up to `threads` threads.
fn build_streams(analysis: &Analysis, threads: usize) -> Vec<Stream> {
    crate::par::map_indexed(analysis.streams.len(), threads, |i| stream_record(analysis, i))
}

/// The record of `analysis.streams[i]`, whose id is `i + 1`.
fn stream_record(analysis: &Analysis, i: usize) -> Stream {
    let s = &analysis.streams[i];
    let pairing = analysis.pairing.get(i).copied().flatten();
    let call_id = pairing.and_then(|p| analysis.dialogs.get(p.dialog)).map(|d| d.call_id.clone());
    let (codec, clock_rate) = codec_of(analysis, s);
    let id = u32::try_from(i + 1).unwrap_or(u32::MAX);
    let q = super::quality::stream_quality(analysis, i, s);
    Stream {
        id,
        call_id,
        direction: pairing.and_then(|p| p.direction),
        src: s.key.src,
        dst: s.key.dst,
        ssrc: format!("0x{:08X}", s.key.ssrc),
        payload_type: s.first_pt,
        codec,
        clock_rate,
        first_time: s.first.time,
        last_time: s.last.time,
        first_frame: s.first.number,
        packets: s.packets,
        expected: s.expected,
        lost: s.lost,
        lost_pct: if s.expected == 0 { 0.0 } else { ms3(100.0 * s.lost as f64 / s.expected as f64) },
        seq_errors: s.seq_errors,
        duplicates: s.duplicates,
        out_of_order: s.out_of_order,
        seq_restarts: s.seq_restarts,
        min_delta_ms: s.min_delta_ms.map_or(-1.0, ms3),
        mean_delta_ms: ms3(s.mean_delta_ms),
        max_delta_ms: ms3(s.max_delta_ms),
        min_jitter_ms: s.min_jitter_ms.map_or(-1.0, ms3),
        mean_jitter_ms: ms3(s.mean_jitter_ms),
        max_jitter_ms: ms3(s.max_jitter_ms),
        jitter_rfc_ts: ms3(s.jitter_rfc_ts),
        sdp_addr: pairing.and_then(|p| p.sdp_addr),
        dscp: modal_dscp(&s.dscp_counts),
        vlan: s.extras.vlan,
        interface: interface_name(analysis, s.first.file, s.extras.interface),
        rtcp: rtcp_summary(analysis, s.key.ssrc, clock_rate),
        mos: q.quality.as_ref().map(|r| r.mos_adaptive),
        r_factor: q.quality.as_ref().map(|r| r.r_factor.adaptive),
        events: s.extras.events,
        cn_packets: s.extras.cn_packets,
        dscp_values: super::quality::dscp_values(&s.dscp_counts),
        dscp_changes: s.extras.dscp_changes,
        dscp_change_frames: super::quality::dscp_change_frames(s),
        dscp_expected_pct: super::quality::dscp_expected_pct(&s.dscp_counts),
        quality: q.quality,
        windows: q.windows,
        reasons: Vec::new(),
    }
}

/// Codec name and clock of the stream's first payload type: the SDP that announced its
/// destination, else the RFC 3551 static table.
fn codec_of(analysis: &Analysis, s: &StreamStats) -> (Option<String>, u32) {
    if let Some((name, hz)) = analysis.payloads.lookup(s.key.dst, s.first_pt) {
        return (Some(name.to_owned()), hz);
    }
    match payload::static_codec(s.first_pt) {
        Some((name, hz)) => (Some(name.to_owned()), hz),
        None => (None, 0),
    }
}

/// Most frequent DSCP, ties to the lower value (quality-metrics.md §7).
fn modal_dscp(counts: &[u32; 64]) -> u8 {
    let mut best = 0usize;
    for (i, &n) in counts.iter().enumerate() {
        if n > counts[best] {
            best = i;
        }
    }
    u8::try_from(best).unwrap_or(0)
}

fn build_calls(analysis: &Analysis, streams: &[Stream], diagnosis: &mut diagnose::Diagnosis) -> Vec<Call> {
    // Stream records by Call-ID, in stream order (once, rather than a pass per call).
    let mut by_call: crate::FastHashMap<&str, Vec<&Stream>> = crate::FastHashMap::default();
    for s in streams {
        if let Some(call_id) = s.call_id.as_deref() {
            by_call.entry(call_id).or_default().push(s);
        }
    }
    analysis
        .dialogs
        .iter()
        .enumerate()
        .filter(|(_, d)| d.first_invite.is_some())
        .map(|(i, d)| {
            let verdict = diagnosis
                .verdicts
                .get_mut(i)
                .and_then(Option::take)
                .unwrap_or_else(|| diagnose::verdict_from(Vec::new()));
            let linked = diagnosis.linked.get_mut(i).map(std::mem::take).unwrap_or_default();
            let vantage = diagnosis.vantage.get_mut(i).and_then(Option::take);
            let call_streams = by_call.get(d.call_id.as_str()).map_or(&[][..], Vec::as_slice);
            let mut call = Call { vantage, ..build_call(d, call_streams, verdict, linked) };
            call.interface = d.first_invite.and_then(|f| interface_name(analysis, f.file, d.invite_interface));
            call
        })
        .collect()
}

/// The name of capture interface `index` of input `file` (pcapng `if_name`), if known.
fn interface_name(analysis: &Analysis, file: u16, index: Option<u16>) -> Option<String> {
    let names = &analysis.inputs.get(usize::from(file))?.interfaces;
    names.get(usize::from(index?))?.clone()
}

/// The record of call `d`; `call_streams` are the stream records with its Call-ID.
fn build_call(d: &Dialog, call_streams: &[&Stream], verdict: Verdict, linked: Vec<Link>) -> Call {
    let start = d.first_invite.map(|f| f.time);
    let since_start = |t: Timestamp| start.map(|s| ms_between(s, t));
    let duration_s = d.answered.map(|ans| {
        let end = match d.bye {
            Some((bye, _)) => bye.time,
            None => call_streams.iter().map(|s| s.last_time).max().unwrap_or(ans.time),
        };
        end.ms_since(ans.time).max(0.0).round() / 1000.0
    });
    let outcome = diagnose::signaling::reported_outcome(d, &verdict).unwrap_or(Outcome::Incomplete);
    Call {
        call_id: d.call_id.clone(),
        from_uri: d.from_uri.clone(),
        to_uri: d.to_uri.clone(),
        from_user: d.from_user.clone(),
        to_user: d.to_user.clone(),
        caller: d.caller,
        callee: d.callee,
        vlan: d.invite_vlan,
        interface: None,
        caller_site: "unknown".to_owned(),
        callee_site: "unknown".to_owned(),
        start,
        setup_ms: d.first_provisional.and_then(|f| since_start(f.time)),
        answer_ms: d.answered.and_then(|f| since_start(f.time)),
        duration_s,
        final_status: d.final_response.map(|(code, _)| code),
        outcome,
        ended_by: d.ended_by,
        verdict,
        streams: call_streams.iter().map(|s| s.id).collect(),
        mos_min: call_streams.iter().filter_map(|s| s.mos).reduce(f64::min),
        sip_messages: d.messages.len(),
        retransmissions: d.retransmissions,
        srd_ms: d.first_response.and_then(|(_, f)| since_start(f.time)),
        sdd_ms: match (d.bye, d.bye_response) {
            (Some((bye, _)), Some((_, resp))) => Some(ms_between(bye.time, resp.time)),
            _ => None,
        },
        mos_caller_to_callee: direction_mos(call_streams, StreamDirection::CallerToCallee),
        mos_callee_to_caller: direction_mos(call_streams, StreamDirection::CalleeToCaller),
        linked,
        vantage: None,
        first_frame: d.first_invite.map(|f| f.number),
        caller_sdp_ip: first_sdp_ip(d, true),
        callee_sdp_ip: first_sdp_ip(d, false),
    }
}

/// The connection address of a side's first audio SDP that is not the RFC 2543 hold address.
fn first_sdp_ip(d: &Dialog, from_caller: bool) -> Option<IpAddr> {
    d.sdp
        .iter()
        .filter(|e| e.from_caller == from_caller)
        .filter_map(diagnose::sdpstate::audio_of)
        .filter_map(|m| m.addr)
        .find(|ip| !ip.is_unspecified())
}

/// Lowest MOS of a call's streams in one direction.
fn direction_mos(streams: &[&Stream], direction: StreamDirection) -> Option<f64> {
    streams.iter().filter(|s| s.direction == Some(direction)).filter_map(|s| s.mos).reduce(f64::min)
}
