//! One analysis run: wires capture → decode → classify → sip/rtp → correlate → records.

use crate::capture::{CaptureError, CaptureSet};
use crate::classify::{classify_on_ports, PayloadKind};
use crate::config::Config;
use crate::decode::{Datagram, Decoder, Transport};
use crate::rtp::{self, RtpPacketInfo, StreamKey, StreamTable};
use crate::sdp::PayloadMap;
use crate::sip::SipStage;
use crate::time::Timestamp;
use crate::warn::{WarningKind, Warnings};

/// Everything one run produced, before it becomes output records.
pub struct Analysis {
    /// Per-input summaries.
    pub inputs: Vec<crate::capture::InputSummary>,
    /// Dialogs in order of first message.
    pub dialogs: Vec<crate::sip::Dialog>,
    /// Registrations.
    pub registrations: Vec<crate::sip::Registration>,
    /// RTP streams in order of first packet.
    pub streams: Vec<rtp::StreamStats>,
    /// Stream → call pairing, index-aligned with `streams`.
    pub pairing: Vec<Option<crate::correlate::StreamPairing>>,
    /// RTCP reports, per SSRC, and round-trip samples.
    pub rtcp: crate::rtcp::RtcpTable,
    /// Payload-type maps learned from SDP (codec names for the records).
    pub payloads: PayloadMap,
    /// Time of the last frame of the input (rules that need "nothing for X s" check it).
    pub capture_end: Timestamp,
    /// SIP messages without a Call-ID: counted as SIP messages, part of no dialog (warned).
    pub sip_orphan_messages: u64,
    /// Warnings.
    pub warnings: Warnings,
    /// ICMP destination-unreachable errors quoting UDP (bounded by [`MAX_ICMP_ERRORS`]).
    pub icmp_errors: Vec<crate::diagnose::IcmpSeen>,
    /// Thresholds the diagnosis uses (from the run configuration).
    pub diagnosis: crate::diagnose::DiagnosisConfig,
}

/// ICMP errors kept for the diagnosis (`media_icmp_unreachable`, `invite_timeout`); later ones
/// are counted in no table, as the first ones already prove the point.
pub const MAX_ICMP_ERRORS: usize = 4096;

/// Runs the whole analysis over `paths`.
pub fn analyze(paths: &[String], config: &Config) -> Result<Analysis, CaptureError> {
    analyze_with_progress(paths, config, &mut |_| {})
}

/// How far a run has read (for a progress bar; reported every [`PROGRESS_EVERY_FRAMES`] frames).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Frames read so far.
    pub frames: u64,
    /// Approximate input bytes consumed: captured bytes plus a 16-byte record header per frame
    /// (exact for classic pcap, a slight undercount for pcapng).
    pub bytes: u64,
}

/// Frames between two progress reports (cheap enough to be invisible in the packet loop).
pub const PROGRESS_EVERY_FRAMES: u64 = 4096;

/// [`analyze`], calling `progress` every [`PROGRESS_EVERY_FRAMES`] frames and once at the end.
pub fn analyze_with_progress(
    paths: &[String],
    config: &Config,
    progress: &mut dyn FnMut(Progress),
) -> Result<Analysis, CaptureError> {
    Ok(analyze_capture_with_progress(CaptureSet::open(paths)?, config, progress))
}

/// Runs the whole analysis over an already opened capture set (in-memory readers: tests,
/// fuzzing).
pub fn analyze_capture(capture: CaptureSet, config: &Config) -> Analysis {
    analyze_capture_with_progress(capture, config, &mut |_| {})
}

/// [`analyze_capture`], reporting progress as [`analyze_with_progress`] does.
pub fn analyze_capture_with_progress(
    mut capture: CaptureSet,
    config: &Config,
    progress: &mut dyn FnMut(Progress),
) -> Analysis {
    let mut read = Progress::default();
    let limits = &config.limits;
    let mut warnings = Warnings::keeping(limits.warnings_per_kind);
    let mut decoder = Decoder::new(limits.decode.clone());
    let mut sip = SipStage::new(limits.sip.clone());
    let mut payloads = PayloadMap::with_capacity_limit(limits.max_sdp_addresses);
    let mut streams = StreamTable::with_capacity_limit(limits.max_rtp_streams);
    let mut rtcp = crate::rtcp::RtcpTable::new(limits.rtcp);
    streams.set_window_s(config.window_s);
    let mut end = Timestamp::default();
    let mut icmp_errors = Vec::new();

    let mut first_frame = true;
    while let Some(frame) = capture.next_frame(&mut warnings) {
        if first_frame {
            // tshark measures RTP times from the first frame of the capture (quality-metrics.md §1.6).
            streams.set_origin(frame.at.time);
            first_frame = false;
        }
        end = end.max(frame.at.time);
        read.frames += 1;
        read.bytes = read.bytes.saturating_add(frame.data.len() as u64 + 16);
        if read.frames % PROGRESS_EVERY_FRAMES == 0 {
            progress(read);
        }
        decoder.decode(&frame, &mut warnings, &mut |dg, warnings| {
            if dg.icmp_error.is_some() && icmp_errors.len() < MAX_ICMP_ERRORS {
                icmp_errors.push(crate::diagnose::IcmpSeen { at: dg.at, quoted_src: dg.src, quoted_dst: dg.dst });
            }
            on_datagram(
                dg,
                &mut Stages { sip: &mut sip, payloads: &mut payloads, streams: &mut streams, rtcp: &mut rtcp },
                warnings,
            );
        });
    }
    decoder.finish(&mut warnings);
    progress(read);
    sip.flush(&mut warnings, &mut |ev| learn_sdp(&mut payloads, ev));
    let sip_orphan_messages = sip.orphan_messages();
    let (dialogs, registrations) = sip.finish(end);
    if let Some(at) = streams.first_refused() {
        let refused = streams.refused_packets();
        warnings.push(at.file, at.number, WarningKind::StateEvicted, || {
            format!("RTP stream table full: {refused} packets of new streams were not measured")
        });
    }
    let (streams, pairing) = reported_streams(&dialogs, &payloads, streams.finish());
    Analysis {
        inputs: capture.summaries(),
        dialogs,
        registrations,
        streams,
        pairing,
        rtcp,
        payloads,
        capture_end: end,
        sip_orphan_messages,
        warnings,
        icmp_errors,
        diagnosis: config.diagnosis.clone(),
    }
}

/// Learns the payload types of an SDP body; an SDP in a response is an answer.
fn learn_sdp(payloads: &mut PayloadMap, ev: &crate::sip::SdpEvent) {
    let is_answer = ev.carried_by.bytes().all(|b| b.is_ascii_digit());
    payloads.learn(&ev.session, is_answer);
}

/// Which measured flows are reported as RTP streams: those tied to a call, those on an address
/// some SDP announced (tshark's SDP-learned streams), and those that pass the RTP heuristic
/// without any signalling (version 2, stable SSRC, sequence moving forward, consistent
/// timestamps). Everything else that merely looked like RTP for a packet or two is dropped.
fn reported_streams(
    dialogs: &[crate::sip::Dialog],
    payloads: &PayloadMap,
    streams: Vec<rtp::StreamStats>,
) -> (Vec<rtp::StreamStats>, Vec<Option<crate::correlate::StreamPairing>>) {
    let pairing = crate::correlate::pair(dialogs, &streams);
    let heuristic = rtp::accept_without_signalling(&streams);
    streams
        .into_iter()
        .zip(pairing)
        .zip(heuristic)
        .filter(|((s, p), accepted)| {
            p.is_some() || *accepted || payloads.is_announced(s.key.dst) || payloads.is_announced(s.key.src)
        })
        .map(|(kept, _)| kept)
        .unzip()
}

/// The stages a datagram can go to, borrowed for one call of [`on_datagram`].
struct Stages<'s> {
    sip: &'s mut SipStage,
    payloads: &'s mut PayloadMap,
    streams: &'s mut StreamTable,
    rtcp: &'s mut crate::rtcp::RtcpTable,
}

fn on_datagram(dg: &Datagram<'_>, stages: &mut Stages<'_>, warnings: &mut Warnings) {
    let Stages { sip, payloads, streams, rtcp } = stages;
    let is_tcp = matches!(dg.transport, Transport::Tcp { .. });
    let kind = if is_tcp { PayloadKind::Sip } else { classify_on_ports(dg.payload, dg.src.port(), dg.dst.port()) };
    match kind {
        // Every TCP segment goes to the SIP stage: it frames streams and recognises SIP by content.
        PayloadKind::Sip => {
            let evicted_before = payloads.evicted();
            sip.on_datagram(dg, warnings, &mut |ev| learn_sdp(payloads, ev));
            if evicted_before == 0 && payloads.evicted() > 0 {
                warnings.push(dg.at.file, dg.at.number, WarningKind::StateEvicted, || {
                    format!(
                        "SDP payload map full ({} addresses): the oldest announcements were dropped",
                        payloads.capacity()
                    )
                });
            }
        }
        PayloadKind::Rtp if dg.icmp_error.is_none() => {
            let to_announced = payloads.get(dg.dst);
            if to_announced.is_some_and(|a| a.is_t38()) {
                return; // UDPTL on a port negotiated for T.38 fax (diagnosis codes handle fax)
            }
            let announced = to_announced.is_some() || payloads.is_announced(dg.src);
            // On a port an SDP announced, any version-2 packet is RTP (as tshark decodes it);
            // elsewhere the whole header must be consistent.
            let header = rtp::parse_header(dg.payload)
                .or_else(|| announced.then(|| rtp::parse_fixed_header(dg.payload)).flatten());
            if let Some(header) = header {
                let mut is_event = false;
                let clock_hz = match to_announced.and_then(|a| a.rtpmap(header.pt)) {
                    Some((name, _)) if name.eq_ignore_ascii_case("telephone-event") => {
                        is_event = true;
                        0
                    }
                    Some((_, hz)) => hz,
                    None => rtp::payload::static_codec(header.pt).map_or(0, |(_, hz)| hz),
                };
                let key = StreamKey { src: dg.src, dst: dg.dst, ssrc: header.ssrc };
                streams.observe(key, &RtpPacketInfo { at: dg.at, header, clock_hz, dscp: dg.dscp, is_event });
            }
        }
        PayloadKind::Rtcp if dg.icmp_error.is_none() => {
            rtcp.observe_or_warn(dg.at, dg.src, dg.dst, dg.payload, warnings)
        }
        _ => {}
    }
}
