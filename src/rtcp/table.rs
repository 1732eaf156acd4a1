//! The RTCP aggregator: per-SSRC report summaries, sender-report history and round-trip samples
//! (quality-metrics.md §4). No SIP knowledge: fed with a frame, its UDP addresses and payload.
//!
//! Bounded: at most [`RtcpLimits::max_ssrcs`] SSRCs, [`RtcpLimits::marks_per_ssrc`] remembered
//! SR/RRT reference times per SSRC, [`RtcpLimits::rtt_samples`] round-trip samples; past a cap,
//! new data is counted in [`RtcpTable::ssrcs_dropped`] / [`RtcpTable::rtt_samples_dropped`].

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use super::wire::{Malformed, MalformedReason, PacketType, ReportBlock, RtcpCompound, RtcpView};
use super::xr::{rrt_middle, VoipMetrics, XrBlockType};
use crate::capture::FrameRef;
use crate::warn::{WarningKind, Warnings};

/// Caps on what the table keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtcpLimits {
    /// SSRCs tracked (as sender, reporter or reported-on source).
    pub max_ssrcs: usize,
    /// SR and XR receiver-reference-time marks remembered per SSRC (newest kept).
    pub marks_per_ssrc: usize,
    /// Report frames remembered per reported-on SSRC (first ones kept).
    pub report_frames_per_ssrc: usize,
    /// Distinct reporters remembered per reported-on SSRC.
    pub reporters_per_ssrc: usize,
    /// Round-trip samples kept (first ones kept).
    pub rtt_samples: usize,
    /// Malformed frames remembered with their reason (first ones kept).
    pub malformed_frames: usize,
}

impl Default for RtcpLimits {
    fn default() -> Self {
        RtcpLimits {
            max_ssrcs: 4096,
            marks_per_ssrc: 64,
            report_frames_per_ssrc: 32,
            reporters_per_ssrc: 8,
            rtt_samples: 8192,
            malformed_frames: 16,
        }
    }
}

/// Who sent a report: its SSRC and the UDP addresses of the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reporter {
    /// SSRC of the SR/RR/XR sender.
    pub ssrc: u32,
    /// Source address of the datagram.
    pub src: SocketAddr,
    /// Destination address of the datagram.
    pub dst: SocketAddr,
}

/// One report block as received, with where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportSeen {
    /// The block.
    pub block: ReportBlock,
    /// Who reported.
    pub reporter: Reporter,
    /// Frame of the report.
    pub at: FrameRef,
}

/// What receivers reported about one SSRC (the `SSRC of source` of report blocks).
#[derive(Clone, Debug, Default)]
pub struct ReportedSource {
    /// Report blocks about this SSRC.
    pub reports: u64,
    /// The latest block.
    pub last: Option<ReportSeen>,
    /// Largest fraction lost seen, 1/256.
    pub max_fraction_lost: u8,
    /// Largest interarrival jitter seen, timestamp units.
    pub max_jitter: u32,
    /// Distinct reporters (first [`RtcpLimits::reporters_per_ssrc`]).
    pub reporters: Vec<Reporter>,
    /// Frames of the reports (first [`RtcpLimits::report_frames_per_ssrc`]).
    pub report_frames: Vec<FrameRef>,
}

impl ReportedSource {
    /// Latest fraction lost, %.
    pub fn last_fraction_lost_pct(&self) -> Option<f64> {
        self.last.map(|r| r.block.fraction_lost_pct())
    }

    /// Largest fraction lost, %.
    pub fn max_fraction_lost_pct(&self) -> f64 {
        f64::from(self.max_fraction_lost) * 100.0 / 256.0
    }

    /// Latest cumulative lost (signed 24-bit).
    pub fn cumulative_lost(&self) -> Option<i32> {
        self.last.map(|r| r.block.cumulative_lost)
    }

    /// Latest extended highest sequence number.
    pub fn extended_highest_seq(&self) -> Option<u32> {
        self.last.map(|r| r.block.extended_highest_seq)
    }

    /// Latest interarrival jitter, timestamp units.
    pub fn jitter(&self) -> Option<u32> {
        self.last.map(|r| r.block.jitter)
    }

    /// Latest jitter in ms for the stream's clock (`None` if no report or clock 0).
    pub fn jitter_ms(&self, clock_hz: u32) -> Option<f64> {
        self.last.and_then(|r| r.block.jitter_ms(clock_hz))
    }

    /// Largest jitter in ms for the stream's clock.
    pub fn max_jitter_ms(&self, clock_hz: u32) -> Option<f64> {
        self.last?;
        super::wire::jitter_units_to_ms(self.max_jitter, clock_hz)
    }
}

/// The sender-info section of one SR, with where it was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderInfo {
    /// Frame of the SR.
    pub at: FrameRef,
    /// Source address of the datagram.
    pub src: SocketAddr,
    /// Destination address of the datagram.
    pub dst: SocketAddr,
    /// NTP seconds.
    pub ntp_seconds: u32,
    /// NTP fraction.
    pub ntp_fraction: u32,
    /// RTP timestamp.
    pub rtp_timestamp: u32,
    /// Sender packet count (for "SR count vs packets seen", §4 cross-checks).
    pub packet_count: u32,
    /// Sender octet count.
    pub octet_count: u32,
}

/// Kind of a remembered NTP reference time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    /// From an SR (answered by report blocks' LSR/DLSR).
    SenderReport,
    /// From an XR receiver reference time block (answered by XR DLRR).
    ReceiverReferenceTime,
}

/// An NTP middle-32 value with its capture time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NtpMark {
    /// SR or RRT.
    pub kind: MarkKind,
    /// Middle 32 bits of the NTP timestamp.
    pub ntp_middle: u32,
    /// Frame that carried it.
    pub at: FrameRef,
    /// Source address of that datagram.
    pub src: SocketAddr,
    /// Destination address of that datagram.
    pub dst: SocketAddr,
}

/// What an SSRC sent as a sender (SRs, SDES, BYE, XR reference times).
#[derive(Clone, Debug, Default)]
pub struct SenderSide {
    /// SRs seen.
    pub sr_count: u64,
    /// First SR.
    pub first_sr: Option<SenderInfo>,
    /// Latest SR.
    pub last_sr: Option<SenderInfo>,
    /// Newest SR/RRT reference times (at most [`RtcpLimits::marks_per_ssrc`]).
    pub marks: VecDeque<NtpMark>,
    /// CNAME from SDES (first seen, at most 255 bytes, lossy UTF-8).
    pub cname: Option<String>,
    /// Frame of a BYE naming this SSRC.
    pub bye: Option<FrameRef>,
}

/// Latest XR VoIP metrics about an SSRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoipMetricsSeen {
    /// The decoded block.
    pub metrics: VoipMetrics,
    /// Who reported.
    pub reporter: Reporter,
    /// Frame of the XR.
    pub at: FrameRef,
}

/// Everything the table knows about one SSRC.
#[derive(Clone, Debug, Default)]
pub struct SsrcEntry {
    /// Reports received about it.
    pub reported: ReportedSource,
    /// What it sent.
    pub sender: SenderSide,
    /// Latest XR VoIP metrics block about it.
    pub voip_metrics: Option<VoipMetricsSeen>,
}

/// How a round trip was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RttMethod {
    /// SR answered by a report block's LSR/DLSR (RFC 3550 §6.4.1).
    SenderReport,
    /// XR receiver reference time answered by XR DLRR (RFC 3611 §4.4–§4.5).
    XrDlrr,
}

/// One passive round-trip measurement between the capture point and a reporting endpoint
/// (quality-metrics.md §4 "Round trip"): `(capture time of report − capture time of the
/// reference) − delay/65536 s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RttSample {
    /// SR/RR or XR.
    pub method: RttMethod,
    /// Frame of the report (RR/SR block or DLRR).
    pub report: FrameRef,
    /// Frame of the matched SR (or RRT).
    pub reference: FrameRef,
    /// Who answered (the report's sender; the far end of the measured leg).
    pub reporter: Reporter,
    /// SSRC whose SR (or RRT) was answered.
    pub referenced_ssrc: u32,
    /// Capture-time gap report − reference, ns.
    pub gap_ns: i64,
    /// DLSR (or DLRR), 1/65536 s.
    pub delay_units: u32,
}

impl RttSample {
    /// Round trip in ms, full precision (may be negative: see [`RttSample::is_accepted`]).
    pub fn rtt_ms(&self) -> f64 {
        self.gap_ns as f64 / 1e6 - f64::from(self.delay_units) * 1000.0 / 65536.0
    }

    /// Whether the value counts: a negative round trip means clock or timestamp trouble at the
    /// reporter and is discarded (quality-metrics.md §4).
    pub fn is_accepted(&self) -> bool {
        self.rtt_ms() >= 0.0
    }

    /// The value Wireshark 4.0 prints as `rtcp.roundtrip-delay` for the same pair, with its
    /// integer arithmetic (`packet-rtcp.c`, `calculate_roundtrip_delay`): gap = Δsecs·1000 +
    /// Δnsecs/10⁶ truncated toward zero (so a negative Δnsecs rounds the gap up),
    /// DLSR ms truncated, then subtracted. Used for parity tests only.
    pub fn wireshark_ms(&self) -> i64 {
        let secs = self.report.time.secs() - self.reference.time.secs();
        let nsecs = i64::from(self.report.time.subsec_nanos()) - i64::from(self.reference.time.subsec_nanos());
        let gap = secs * 1000 + nsecs / 1_000_000;
        let dlsr_ms = (f64::from(self.delay_units) / 65536.0 * 1000.0) as i64;
        gap - dlsr_ms
    }
}

/// Summary of accepted round-trip samples, ms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RttStats {
    /// Accepted samples.
    pub count: usize,
    /// Smallest.
    pub min_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Median (mean of the two middle values for an even count).
    pub median_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl RttStats {
    /// Stats over the accepted samples among `samples`; `None` when there are none.
    pub fn from_samples<'s>(samples: impl IntoIterator<Item = &'s RttSample>) -> Option<RttStats> {
        let mut values: Vec<f64> = samples.into_iter().filter(|s| s.is_accepted()).map(RttSample::rtt_ms).collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let count = values.len();
        let middle = values.get(count / 2).copied()?;
        let median_ms = if count % 2 == 1 { middle } else { (values.get(count / 2 - 1).copied()? + middle) / 2.0 };
        Some(RttStats {
            count,
            min_ms: values.first().copied()?,
            mean_ms: values.iter().sum::<f64>() / count as f64,
            median_ms,
            max_ms: values.last().copied()?,
        })
    }
}

/// Per-SSRC RTCP state of a run. See the module docs.
#[derive(Debug, Default)]
pub struct RtcpTable {
    limits: RtcpLimits,
    ssrcs: BTreeMap<u32, SsrcEntry>,
    rtt: Vec<RttSample>,
    /// Packets per type: index `pt − 200` for 200–207, index 8 for any other type.
    type_counts: [u64; 9],
    /// XR blocks per type: index `bt − 1` for 1–7, index 7 for any other type.
    xr_block_counts: [u64; 8],
    compounds: u64,
    reduced_size: u64,
    malformed: u64,
    malformed_first: Vec<(FrameRef, Malformed)>,
    ssrcs_dropped: u64,
    rtt_samples_dropped: u64,
    self_reports: u64,
}

impl RtcpTable {
    /// An empty table with the given caps.
    pub fn new(limits: RtcpLimits) -> Self {
        RtcpTable { limits, ..RtcpTable::default() }
    }

    /// Parses one UDP payload as compound RTCP and folds it in. A malformed compound is counted
    /// (first frames kept) and returned as `Err` (the caller flags `rtcp_malformed`). Its
    /// packets are not used, with one exception: 1–3 junk bytes after complete, well-formed
    /// packets ([`MalformedReason::TrailingBytes`]) — a framing slip seen in real endpoints
    /// (`sipnab-SIP_CALL_RTP_G711.pcap` frame 529: two zero bytes after an SDES) — still lets
    /// the complete packets count, since every one of them passed all checks.
    pub fn observe<'p>(
        &mut self,
        at: FrameRef,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &'p [u8],
    ) -> Result<RtcpCompound<'p>, Malformed> {
        match RtcpCompound::parse(payload) {
            Ok(compound) => {
                self.fold_compound(at, src, dst, compound);
                Ok(compound)
            }
            Err(e) => {
                self.malformed += 1;
                if self.malformed_first.len() < self.limits.malformed_frames {
                    self.malformed_first.push((at, e));
                }
                if e.reason == MalformedReason::TrailingBytes && e.offset > 0 {
                    if let Some(Ok(prefix)) = payload.get(..e.offset).map(RtcpCompound::parse) {
                        self.fold_compound(at, src, dst, prefix);
                    }
                }
                Err(e)
            }
        }
    }

    fn fold_compound(&mut self, at: FrameRef, src: SocketAddr, dst: SocketAddr, compound: RtcpCompound<'_>) {
        self.compounds += 1;
        if compound.is_reduced_size() {
            self.reduced_size += 1;
        }
        for view in compound.views() {
            self.fold_view(at, src, dst, view);
        }
    }

    /// [`RtcpTable::observe`], turning a malformed compound into a `MalformedPacket` warning and
    /// the first SSRC-cap hit into a `StateEvicted` warning.
    pub fn observe_or_warn(
        &mut self,
        at: FrameRef,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
        warnings: &mut Warnings,
    ) {
        let dropped_before = self.ssrcs_dropped;
        if let Err(e) = self.observe(at, src, dst, payload) {
            warnings.push(at.file, at.number, WarningKind::MalformedPacket, || format!("{e} ({src} → {dst})"));
        }
        if dropped_before == 0 && self.ssrcs_dropped > 0 {
            let cap = self.limits.max_ssrcs;
            warnings.push(at.file, at.number, WarningKind::StateEvicted, || {
                format!("RTCP table full ({cap} SSRCs): further SSRCs are not tracked")
            });
        }
    }

    fn fold_view(&mut self, at: FrameRef, src: SocketAddr, dst: SocketAddr, view: RtcpView<'_>) {
        match view {
            RtcpView::SenderReport(sr) => {
                self.count_type(PacketType::SenderReport);
                let info = SenderInfo {
                    at,
                    src,
                    dst,
                    ntp_seconds: sr.ntp_seconds(),
                    ntp_fraction: sr.ntp_fraction(),
                    rtp_timestamp: sr.rtp_timestamp(),
                    packet_count: sr.packet_count(),
                    octet_count: sr.octet_count(),
                };
                let mark_cap = self.limits.marks_per_ssrc;
                if let Some(entry) = self.entry(sr.sender_ssrc()) {
                    let side = &mut entry.sender;
                    side.sr_count += 1;
                    side.first_sr.get_or_insert(info);
                    side.last_sr = Some(info);
                    let mark = NtpMark { kind: MarkKind::SenderReport, ntp_middle: sr.ntp_middle(), at, src, dst };
                    push_mark(&mut side.marks, mark, mark_cap);
                }
                let reporter = Reporter { ssrc: sr.sender_ssrc(), src, dst };
                for block in sr.report_blocks() {
                    self.fold_report_block(at, reporter, block);
                }
            }
            RtcpView::ReceiverReport(rr) => {
                self.count_type(PacketType::ReceiverReport);
                let reporter = Reporter { ssrc: rr.sender_ssrc(), src, dst };
                for block in rr.report_blocks() {
                    self.fold_report_block(at, reporter, block);
                }
            }
            RtcpView::SourceDescription(sdes) => {
                self.count_type(PacketType::SourceDescription);
                for chunk in sdes.chunks() {
                    let Some(cname) = chunk.cname() else { continue };
                    if let Some(entry) = self.entry(chunk.ssrc) {
                        // Allocates once per SSRC, not per packet.
                        if entry.sender.cname.is_none() {
                            let cut = cname.get(..255).unwrap_or(cname);
                            entry.sender.cname = Some(String::from_utf8_lossy(cut).into_owned());
                        }
                    }
                }
            }
            RtcpView::Goodbye(bye) => {
                self.count_type(PacketType::Goodbye);
                for ssrc in bye.ssrcs() {
                    if let Some(entry) = self.entry(ssrc) {
                        entry.sender.bye.get_or_insert(at);
                    }
                }
            }
            RtcpView::App(_) => self.count_type(PacketType::App),
            RtcpView::Feedback(fb) => self.count_type(fb.packet_type()),
            RtcpView::ExtendedReport(xr) => {
                self.count_type(PacketType::ExtendedReport);
                let reporter = Reporter { ssrc: xr.sender_ssrc(), src, dst };
                for block in xr.blocks() {
                    let index = match block.block_type {
                        XrBlockType::Other(_) => 7,
                        t => usize::from(xr_block_number(t)) - 1,
                    };
                    if let Some(n) = self.xr_block_counts.get_mut(index) {
                        *n += 1;
                    }
                    if let Some((secs, frac)) = block.receiver_reference_time() {
                        let mark_cap = self.limits.marks_per_ssrc;
                        if let Some(entry) = self.entry(reporter.ssrc) {
                            let mark = NtpMark {
                                kind: MarkKind::ReceiverReferenceTime,
                                ntp_middle: rrt_middle(secs, frac),
                                at,
                                src,
                                dst,
                            };
                            push_mark(&mut entry.sender.marks, mark, mark_cap);
                        }
                    }
                    for item in block.dlrr_items() {
                        self.match_reference(
                            RttMethod::XrDlrr,
                            at,
                            reporter,
                            item.receiver_ssrc,
                            item.last_rr,
                            item.delay_since_last_rr,
                        );
                    }
                    if let Some(metrics) = block.voip_metrics() {
                        if let Some(entry) = self.entry(metrics.source_ssrc) {
                            entry.voip_metrics = Some(VoipMetricsSeen { metrics, reporter, at });
                        }
                    }
                }
            }
            RtcpView::Other(p) => self.count_type(p.packet_type()),
        }
    }

    fn fold_report_block(&mut self, at: FrameRef, reporter: Reporter, block: ReportBlock) {
        // A participant reports on the sources it receives, never on itself (RFC 3550 §6.4).
        // An endpoint in sipnab-SIP_CALL_RTP_G711.pcap does, echoing its own SR as LSR: such a
        // block says nothing about reception and would pair with a relay's copy of that SR.
        if block.source_ssrc == reporter.ssrc {
            self.self_reports += 1;
            return;
        }
        let limits = self.limits;
        if let Some(entry) = self.entry(block.source_ssrc) {
            let r = &mut entry.reported;
            r.reports += 1;
            r.last = Some(ReportSeen { block, reporter, at });
            r.max_fraction_lost = r.max_fraction_lost.max(block.fraction_lost);
            r.max_jitter = r.max_jitter.max(block.jitter);
            if r.reporters.len() < limits.reporters_per_ssrc && !r.reporters.contains(&reporter) {
                r.reporters.push(reporter);
            }
            if r.report_frames.len() < limits.report_frames_per_ssrc {
                r.report_frames.push(at);
            }
        }
        self.match_reference(RttMethod::SenderReport, at, reporter, block.source_ssrc, block.lsr, block.dlsr);
    }

    /// Round trip (quality-metrics.md §4): find the SR (or RRT) of `referenced_ssrc` whose NTP
    /// middle bits equal `echoed`, captured no later than the report. Several captured copies
    /// can carry the same SR (a relay forwards it): prefer the copy on the reverse of the
    /// report's flow, which is the one the reporter received (Wireshark's per-conversation
    /// match picks the same one); otherwise the newest copy. Echo 0 or delay 0 means "no SR
    /// received yet" (RFC 3550 §6.4.1): no sample.
    fn match_reference(
        &mut self,
        method: RttMethod,
        at: FrameRef,
        reporter: Reporter,
        referenced_ssrc: u32,
        echoed: u32,
        delay_units: u32,
    ) {
        if echoed == 0 || delay_units == 0 {
            return;
        }
        let kind = match method {
            RttMethod::SenderReport => MarkKind::SenderReport,
            RttMethod::XrDlrr => MarkKind::ReceiverReferenceTime,
        };
        let Some(entry) = self.ssrcs.get(&referenced_ssrc) else { return };
        let mut candidates = entry
            .sender
            .marks
            .iter()
            .rev()
            // Never the same frame: an SR cannot be answered inside its own datagram (an endpoint
            // in sipnab-SIP_CALL_RTP_G711.pcap reports on its own SSRC with LSR = its own SR).
            .filter(|m| m.kind == kind && m.ntp_middle == echoed && m.at.time <= at.time && m.at != at);
        let newest = candidates.clone().next();
        let reverse = candidates.find(|m| m.src == reporter.dst && m.dst == reporter.src);
        let Some(mark) = reverse.or(newest) else { return };
        let sample = RttSample {
            method,
            report: at,
            reference: mark.at,
            reporter,
            referenced_ssrc,
            gap_ns: at.time.0.saturating_sub(mark.at.time.0),
            delay_units,
        };
        if self.rtt.len() < self.limits.rtt_samples {
            self.rtt.push(sample);
        } else {
            self.rtt_samples_dropped += 1;
        }
    }

    /// The entry for `ssrc`, created if the cap allows; `None` (and counted) when full.
    fn entry(&mut self, ssrc: u32) -> Option<&mut SsrcEntry> {
        if !self.ssrcs.contains_key(&ssrc) && self.ssrcs.len() >= self.limits.max_ssrcs {
            self.ssrcs_dropped += 1;
            return None;
        }
        Some(self.ssrcs.entry(ssrc).or_default())
    }

    fn count_type(&mut self, pt: PacketType) {
        let index = match pt.number() {
            n @ 200..=207 => usize::from(n - 200),
            _ => 8,
        };
        if let Some(n) = self.type_counts.get_mut(index) {
            *n += 1;
        }
    }

    /// Moves what the table knows about `ssrcs` (their entries and the round-trip samples that
    /// reference them) into a new table with the same limits; counters stay here. Incremental
    /// runs call it when a call's streams are emitted, so that RTCP state leaves memory with
    /// them and the caps keep room for new calls.
    pub fn take_ssrcs(&mut self, ssrcs: &[u32]) -> RtcpTable {
        let mut out = RtcpTable::new(self.limits);
        for ssrc in ssrcs {
            if let Some(entry) = self.ssrcs.remove(ssrc) {
                out.ssrcs.insert(*ssrc, entry);
            }
        }
        let (taken, kept): (Vec<RttSample>, Vec<RttSample>) =
            std::mem::take(&mut self.rtt).into_iter().partition(|r| ssrcs.contains(&r.referenced_ssrc));
        self.rtt = kept;
        out.rtt = taken;
        out
    }

    /// SSRCs currently tracked.
    pub fn ssrc_count(&self) -> usize {
        self.ssrcs.len()
    }

    /// What is known about one SSRC.
    pub fn ssrc(&self, ssrc: u32) -> Option<&SsrcEntry> {
        self.ssrcs.get(&ssrc)
    }

    /// Every tracked SSRC, in ascending order.
    pub fn ssrcs(&self) -> impl Iterator<Item = (u32, &SsrcEntry)> {
        self.ssrcs.iter().map(|(k, v)| (*k, v))
    }

    /// Every round-trip sample (accepted or not), in capture order.
    pub fn rtt_samples(&self) -> &[RttSample] {
        &self.rtt
    }

    /// Stats over all accepted samples.
    pub fn rtt_stats(&self) -> Option<RttStats> {
        RttStats::from_samples(&self.rtt)
    }

    /// Packets of one type seen in well-formed compounds (`Other` counts every non-200–207 type).
    pub fn packets_of_type(&self, pt: PacketType) -> u64 {
        let index = match pt.number() {
            n @ 200..=207 => usize::from(n - 200),
            _ => 8,
        };
        self.type_counts.get(index).copied().unwrap_or(0)
    }

    /// XR blocks of one type seen.
    pub fn xr_blocks_of_type(&self, bt: XrBlockType) -> u64 {
        let index = match bt {
            XrBlockType::Other(_) => 7,
            t => usize::from(xr_block_number(t)) - 1,
        };
        self.xr_block_counts.get(index).copied().unwrap_or(0)
    }

    /// Compounds folded in (well-formed ones, plus the complete prefix of trailing-bytes ones).
    pub fn compounds(&self) -> u64 {
        self.compounds
    }

    /// Compounds that started with neither SR nor RR (RFC 5506 reduced-size).
    pub fn reduced_size(&self) -> u64 {
        self.reduced_size
    }

    /// Malformed compounds.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// The first malformed compounds with their reasons.
    pub fn malformed_first(&self) -> &[(FrameRef, Malformed)] {
        &self.malformed_first
    }

    /// Times a new SSRC was ignored because the table was full.
    pub fn ssrcs_dropped(&self) -> u64 {
        self.ssrcs_dropped
    }

    /// Report blocks ignored because they report on the reporter's own SSRC.
    pub fn self_reports(&self) -> u64 {
        self.self_reports
    }

    /// Round-trip samples not kept because the list was full.
    pub fn rtt_samples_dropped(&self) -> u64 {
        self.rtt_samples_dropped
    }
}

fn xr_block_number(t: XrBlockType) -> u8 {
    match t {
        XrBlockType::LossRle => 1,
        XrBlockType::DuplicateRle => 2,
        XrBlockType::PacketReceiptTimes => 3,
        XrBlockType::ReceiverReferenceTime => 4,
        XrBlockType::Dlrr => 5,
        XrBlockType::StatisticsSummary => 6,
        XrBlockType::VoipMetrics => 7,
        XrBlockType::Other(n) => n,
    }
}

fn push_mark(marks: &mut VecDeque<NtpMark>, mark: NtpMark, cap: usize) {
    if cap == 0 {
        return;
    }
    while marks.len() >= cap {
        marks.pop_front();
    }
    marks.push_back(mark);
}
