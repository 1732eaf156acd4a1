//! Stage 8 — diagnose: a verdict for every call (diagnosis.md).
//!
//! Input: the dialogs, the measured streams and their pairing with calls, registrations, the
//! frames the SIP stage warned about, ICMP errors quoting UDP, and the capture's end time
//! ([`DiagnosisInput`]). Output: per call a [`Verdict`] with [`Reason`]s citing the frames that
//! prove them, the B2BUA leg links (§5), reasons of streams tied to no call, and per address
//! pair findings ([`Diagnosis`]). State: none. Thresholds come from [`DiagnosisConfig`].
//!
//! The rules live by class: [`signaling`] (§4.1 and the final-response table §4.6), [`routing`]
//! (§4.2), [`media`] (§4.3), [`info`] (§4.4); [`legs`] pairs B2BUA legs (§5) and [`sdpstate`]
//! reads the offer/answer state the media rules need; [`flows`] judges where media goes and
//! whether it follows signalling changes, and infers each call's capture [`flows::Vantage`] (§6).

pub mod config;
pub mod evidence;
pub mod flows;
pub mod info;
pub mod legs;
pub mod media;
pub mod routing;
pub mod sdpstate;
pub mod signaling;
pub mod streams;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use crate::FastHashMap;

pub use config::{DiagnosisConfig, DEFAULT_TOML};
pub use legs::Link;

use crate::capture::FrameRef;
use crate::correlate::{StreamDirection, StreamPairing};
use crate::rtp::StreamStats;
use crate::sdp::PayloadMap;
use crate::sip::{Dialog, Method, Registration};
use crate::time::Timestamp;

/// Class of a reason (diagnosis.md §2). `Info` never makes a call fail. The declaration order
/// is the tie-break order of §3: routing, signaling, media.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonClass {
    /// Route chosen wrong or refused.
    Routing,
    /// Dialog could not be established or maintained.
    Signaling,
    /// Media flowed badly or not at all.
    Media,
    /// Records what happened; never a failure.
    Info,
}

/// Verdict class of a call: `ok` or the class of the deciding reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictClass {
    /// No fail/degrade reason.
    Ok,
    /// Deciding reason is signaling.
    Signaling,
    /// Deciding reason is media.
    Media,
    /// Deciding reason is routing.
    Routing,
}

/// Impact tier used by the precedence rule (§3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Broke the call.
    Fail,
    /// Degraded it.
    Degrade,
    /// Informational.
    Info,
}

/// One finding (contract `Reason`, with the additive fields of diagnosis.md §2).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reason {
    /// Reason code (diagnosis.md §4).
    pub code: &'static str,
    /// Class of the code.
    pub class: ReasonClass,
    /// Direction relative to the caller, when the reason has one.
    pub direction: Option<StreamDirection>,
    /// One sentence a helpdesk can paste into a ticket.
    pub detail: String,
    /// Frame numbers that prove it, ascending, unique, at most `diagnosis.max_frames`.
    pub frames: Vec<u64>,
    /// Impact tier.
    pub severity: Severity,
    /// Refinement named by the rule (`never_sent`, `nat_confirmed`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subcode: Option<&'static str>,
    /// The proof rests on what this capture point saw (diagnosis.md §6).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub capture_dependent: bool,
    /// Measured values and the thresholds used.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<&'static str, f64>,
    /// Stream id for stream-scoped reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<u32>,
    /// Input file (0-based index into the document's `inputs[]`, like `warnings[].file`) that
    /// `frames` number into, when several inputs were analysed together and all cited frames
    /// are in one file (frames are 1-based per file). Absent for a single input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<u16>,
    /// When the cited frames come from more than one input: the file of each frame,
    /// index-aligned with `frames` (and `file` is absent).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frame_files: Vec<u16>,
}

impl Reason {
    /// A reason with the mandatory fields; frames are normalised by [`Reason::finish`].
    pub fn new(
        code: &'static str,
        class: ReasonClass,
        severity: Severity,
        direction: Option<StreamDirection>,
        detail: String,
        frames: Vec<u64>,
    ) -> Self {
        Reason {
            code,
            class,
            direction,
            detail,
            frames,
            severity,
            subcode: None,
            capture_dependent: false,
            metrics: BTreeMap::new(),
            stream: None,
            file: None,
            frame_files: Vec::new(),
        }
    }

    /// Sets the subcode.
    pub fn with_subcode(mut self, subcode: &'static str) -> Self {
        self.subcode = Some(subcode);
        self
    }

    /// Marks the reason capture-dependent (§6).
    pub fn cd(mut self) -> Self {
        self.capture_dependent = true;
        self
    }

    /// Adds a metric.
    pub fn metric(mut self, key: &'static str, value: f64) -> Self {
        self.metrics.insert(key, (value * 1000.0).round() / 1000.0);
        self
    }

    /// Sets the stream id.
    pub fn on_stream(mut self, id: u32) -> Self {
        self.stream = Some(id);
        self
    }

    /// Sorts and de-duplicates frames and keeps at most `max` (§2): the first `max − 1` and the
    /// last, saying how many were left out at the end of `detail`.
    pub fn finish(mut self, max: usize) -> Self {
        self.frames.retain(|&f| f != 0);
        self.frames.sort_unstable();
        self.frames.dedup();
        let max = max.max(2);
        if self.frames.len() > max {
            let extra = self.frames.len() - max;
            let last = self.frames.last().copied();
            self.frames.truncate(max - 1);
            self.frames.extend(last);
            if self.detail.ends_with('.') {
                self.detail.pop();
            }
            self.detail.push_str(&format!(" (+{extra} more frames)."));
        }
        self
    }
}

/// A call's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// ok, or the class of `reasons[0]`.
    pub class: VerdictClass,
    /// Reasons sorted by severity, class order, first frame, code (§3).
    pub reasons: Vec<Reason>,
}

/// Applies the precedence rule of diagnosis.md §3.
pub fn verdict_from(mut reasons: Vec<Reason>) -> Verdict {
    // Kept with every call to the end of the run: no room left over from the rules' pushes.
    reasons.shrink_to_fit();
    reasons.sort_by(|a, b| {
        (a.severity, a.class, a.frames.first(), a.code).cmp(&(b.severity, b.class, b.frames.first(), b.code))
    });
    let class = match reasons.first() {
        Some(r) if r.severity != Severity::Info => match r.class {
            ReasonClass::Routing => VerdictClass::Routing,
            ReasonClass::Signaling => VerdictClass::Signaling,
            ReasonClass::Media => VerdictClass::Media,
            ReasonClass::Info => VerdictClass::Ok,
        },
        _ => VerdictClass::Ok,
    };
    Verdict { class, reasons }
}

/// An ICMP destination-unreachable error quoting a UDP datagram (for `media_icmp_unreachable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpSeen {
    /// Frame of the ICMP error.
    pub at: FrameRef,
    /// Source of the quoted datagram (the sender whose packet was refused).
    pub quoted_src: SocketAddr,
    /// Destination of the quoted datagram (the closed port).
    pub quoted_dst: SocketAddr,
}

/// Quality figures of a stream computed by the quality stage (quality-metrics.md §3, §5). The
/// `low_mos` and `late_packets` rules read only this; without figures they do not run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StreamQualityFigures {
    /// E-model MOS.
    pub mos: Option<f64>,
    /// Share of packets the jitter-buffer simulation discarded as late, percent.
    pub late_discard_pct: Option<f64>,
}

/// Everything the rules read.
#[derive(Clone, Copy)]
pub struct DiagnosisInput<'a> {
    /// Dialogs (calls are those with `first_invite`).
    pub dialogs: &'a [Dialog],
    /// Registrations.
    pub registrations: &'a [Registration],
    /// Streams; stream id = index + 1 (records number them so).
    pub streams: &'a [StreamStats],
    /// Pairing, index-aligned with `streams`.
    pub pairing: &'a [Option<StreamPairing>],
    /// Payload maps learned from SDP.
    pub payloads: &'a PayloadMap,
    /// Time of the last frame of the input.
    pub capture_end: Timestamp,
    /// Frame numbers the SIP stage warned about as malformed (sorted).
    pub malformed_sip_frames: &'a [u64],
    /// ICMP errors quoting UDP.
    pub icmp: &'a [IcmpSeen],
    /// Quality figures index-aligned with `streams` (empty until the quality stage is wired).
    pub quality: &'a [Option<StreamQualityFigures>],
    /// UDPTL (T.38) flows to negotiated image addresses (`t38_not_flowing`).
    pub udptl: &'a [flows::UdptlFlow],
    /// RTCP reports and round-trip samples (`high_rtt`, `rtcp_reported_*`,
    /// `capture_loss_suspected`); `None`: those rules do not run.
    pub rtcp: Option<&'a crate::rtcp::RtcpTable>,
    /// DTLS/ZRTP and SIP-over-TLS facts (`srtp_unanalyzable`); `None`: not gathered.
    pub facts: Option<&'a streams::CaptureFacts>,
    /// Per-input summaries: capture start, pcapng interface drops (`capture_loss_suspected`).
    pub inputs: &'a [crate::capture::InputSummary],
    /// The site map, when the run has one (`--sites`): the `dscp_*` rules expect the sending
    /// address's site's `expected_dscp` (diagnosis.md §4.3 "per site"); addresses in no site
    /// fall back to `qos.expect_media_dscp`. `None`: `qos.expect_media_dscp` for every flow.
    pub sites: Option<&'a crate::sites::SiteMap>,
    /// Threads the per-call rules may use (with 2 or more, the later half of the calls is
    /// judged on a second thread): the verdicts do not depend on it.
    pub threads: usize,
}

/// The diagnosis of a whole run.
#[derive(Clone, Debug, Default)]
pub struct Diagnosis {
    /// Verdict per dialog (index-aligned; `None` for dialogs that are not calls).
    pub verdicts: Vec<Option<Verdict>>,
    /// B2BUA links per dialog (index-aligned).
    pub linked: Vec<Vec<Link>>,
    /// Reasons of streams tied to no call (index-aligned with streams; empty for call streams).
    pub stream_reasons: Vec<Vec<Reason>>,
    /// Findings aggregated per address pair (diagnosis.md §4.5 without a site map).
    pub findings: Vec<PairFinding>,
    /// Capture vantage per dialog (index-aligned; `None` for dialogs that are not calls; §6).
    pub vantage: Vec<Option<flows::Vantage>>,
}

/// A finding over several calls between two addresses (the per-pair form of `inter_site_one_way`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairFinding {
    /// The reason (code, class, detail, frames).
    #[serde(flatten)]
    pub reason: Reason,
    /// Sender side of the affected direction.
    pub from_addr: String,
    /// Receiver side.
    pub to_addr: String,
    /// Call-IDs behind it.
    pub calls: Vec<String>,
}

/// Diagnoses every call of a run.
pub fn diagnose(input: &DiagnosisInput<'_>, cfg: &DiagnosisConfig) -> Diagnosis {
    let capture_loss = streams::capture_loss_evidence(input, cfg);
    // Links first: the cross-leg rules (§5 "What pairing enables") read them.
    let index = InputIndex::new(input);
    let linked = legs::link(input, &index, cfg);
    let verdicts = crate::par::map_indexed(input.dialogs.len(), input.threads, |i| {
        input.dialogs[i].first_invite?;
        let mut reasons = Vec::new();
        signaling::rules(input, i, cfg, &mut reasons);
        routing::rules(input, i, cfg, &mut reasons);
        media::rules(input, &index, i, cfg, &capture_loss, &mut reasons);
        info::rules(input, i, cfg, &mut reasons);
        routing::cross_leg_rules(input, i, linked.get(i).map_or(&[], Vec::as_slice), cfg, &mut reasons);
        let reasons = reasons.into_iter().map(|r| r.finish(cfg.diagnosis.max_frames)).collect();
        Some(verdict_from(reasons))
    });
    let stream_reasons = media::orphan_stream_rules(input, cfg, &capture_loss)
        .into_iter()
        .map(|v| {
            let mut v: Vec<Reason> = v.into_iter().map(|r| r.finish(cfg.diagnosis.max_frames)).collect();
            v.sort_by(|a, b| (a.severity, a.frames.first(), a.code).cmp(&(b.severity, b.frames.first(), b.code)));
            v
        })
        .collect();
    let findings = media::pair_findings(input, &verdicts, cfg);
    let vantage = (0..input.dialogs.len()).map(|i| flows::vantage(input, &index, i)).collect();
    Diagnosis { verdicts, linked, stream_reasons, findings, vantage }
}

/// The streams by address and by paired call, and the REFERs, so that a call's rules look only
/// at what can concern it (a pass over every stream or message per call is quadratic in the
/// capture's calls). Every list is in the order of a pass over all streams (or messages).
pub(crate) struct InputIndex {
    by_src: FastHashMap<SocketAddr, Vec<usize>>,
    by_src_ip: FastHashMap<IpAddr, Vec<usize>>,
    by_dst: FastHashMap<SocketAddr, Vec<usize>>,
    by_dst_ip: FastHashMap<IpAddr, Vec<usize>>,
    by_dialog: Vec<Vec<usize>>,
    /// REFERs (not retransmissions) as (dialog, message) indices, in dialog and message order.
    refers: Vec<(usize, usize)>,
}

impl InputIndex {
    pub(crate) fn new(input: &DiagnosisInput<'_>) -> Self {
        let mut index = InputIndex {
            by_src: FastHashMap::default(),
            by_src_ip: FastHashMap::default(),
            by_dst: FastHashMap::default(),
            by_dst_ip: FastHashMap::default(),
            by_dialog: vec![Vec::new(); input.dialogs.len()],
            refers: Vec::new(),
        };
        for (j, d) in input.dialogs.iter().enumerate() {
            let refers =
                d.messages.iter().enumerate().filter(|(_, m)| m.method == Some(Method::Refer) && !m.retransmission);
            index.refers.extend(refers.map(|(m, _)| (j, m)));
        }
        for (k, s) in input.streams.iter().enumerate() {
            index.by_src.entry(s.key.src).or_default().push(k);
            index.by_src_ip.entry(s.key.src.ip()).or_default().push(k);
            index.by_dst.entry(s.key.dst).or_default().push(k);
            index.by_dst_ip.entry(s.key.dst.ip()).or_default().push(k);
            if let Some(list) = input.pairing.get(k).copied().flatten().and_then(|p| index.by_dialog.get_mut(p.dialog))
            {
                list.push(k);
            }
        }
        index
    }

    /// Streams sent from one of `srcs` or from one of the hosts `src_ips`, in index order.
    pub(crate) fn sent_by(&self, srcs: &[SocketAddr], src_ips: &[IpAddr]) -> Vec<usize> {
        let by_addr = srcs.iter().filter_map(|a| self.by_src.get(a));
        let by_ip = src_ips.iter().filter_map(|ip| self.by_src_ip.get(ip));
        sorted_union(by_addr.chain(by_ip))
    }

    /// Streams sent to one of `dsts` or paired with dialog `dialog`, in index order.
    pub(crate) fn sent_to_or_paired(&self, dsts: &[SocketAddr], dialog: usize) -> Vec<usize> {
        let by_addr = dsts.iter().filter_map(|a| self.by_dst.get(a));
        sorted_union(by_addr.chain(self.by_dialog.get(dialog)))
    }

    /// Streams sent from host `ip`, in index order.
    pub(crate) fn sent_by_host(&self, ip: IpAddr) -> &[usize] {
        self.by_src_ip.get(&ip).map_or(&[], Vec::as_slice)
    }

    /// Streams sent to host `ip`, in index order.
    pub(crate) fn sent_to_host(&self, ip: IpAddr) -> &[usize] {
        self.by_dst_ip.get(&ip).map_or(&[], Vec::as_slice)
    }

    /// Streams paired with dialog `dialog`, in index order.
    pub(crate) fn paired_with(&self, dialog: usize) -> &[usize] {
        self.by_dialog.get(dialog).map_or(&[], Vec::as_slice)
    }

    /// REFERs of the run, (dialog, message), in order (transfer rules).
    pub(crate) fn refers(&self) -> &[(usize, usize)] {
        &self.refers
    }

    /// Whether any stream is sent from `src`.
    pub(crate) fn has_src(&self, src: SocketAddr) -> bool {
        self.by_src.contains_key(&src)
    }
}

fn sorted_union<'a>(lists: impl Iterator<Item = &'a Vec<usize>>) -> Vec<usize> {
    let mut all: Vec<usize> = lists.flatten().copied().collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Direction of a SIP message within its dialog, relative to the caller.
pub(crate) fn message_direction(d: &Dialog, m: &crate::sip::MessageSummary) -> StreamDirection {
    if Some(m.src) == d.caller || Some(m.dst) == d.callee {
        StreamDirection::CallerToCallee
    } else if Some(m.src) == d.callee || Some(m.dst) == d.caller {
        StreamDirection::CalleeToCaller
    } else if m.status.is_some() {
        // A hop copy elsewhere on the path: responses travel back towards the caller.
        StreamDirection::CalleeToCaller
    } else {
        StreamDirection::CallerToCallee
    }
}

/// "caller→callee" / "callee→caller" for details.
pub(crate) fn arrow(dir: StreamDirection) -> &'static str {
    match dir {
        StreamDirection::CallerToCallee => "caller→callee",
        StreamDirection::CalleeToCaller => "callee→caller",
    }
}

/// Seconds between two times.
pub(crate) fn secs(from: Timestamp, to: Timestamp) -> f64 {
    to.ms_since(from) / 1000.0
}

/// Nanoseconds in a millisecond.
pub(crate) const MS_NS: i64 = 1_000_000;

/// `ms` as nanoseconds (saturating).
pub(crate) fn ms_ns(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX / MS_NS).saturating_mul(MS_NS)
}
