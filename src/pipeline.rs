//! One analysis run: wires capture → decode → classify → sip/rtp → correlate → records.

use crate::capture::{CaptureError, CaptureSet};
use crate::classify::{classify_on_ports, PayloadKind};
use crate::config::Config;
use crate::decode::{Datagram, Decoder, Transport};
use crate::quality::silence::{rtp_payload_is_silent, PayloadCodec};
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
    /// UDPTL (T.38 fax) flows to addresses negotiated for `m=image` (`t38_not_flowing`).
    pub udptl_flows: Vec<crate::diagnose::flows::UdptlFlow>,
    /// Thresholds the diagnosis uses (from the run configuration).
    pub diagnosis: crate::diagnose::DiagnosisConfig,
    /// DTLS/ZRTP key exchanges and SIP over TLS seen (`srtp_unanalyzable`).
    pub capture_facts: crate::diagnose::streams::CaptureFacts,
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
    let mut analyzer = Analyzer::new(config);
    while let Some(frame) = capture.next_frame(analyzer.warnings_mut()) {
        analyzer.push_frame(&frame);
        let read = analyzer.progress();
        if read.frames % PROGRESS_EVERY_FRAMES == 0 {
            progress(read);
        }
    }
    progress(analyzer.progress());
    let mut analysis = analyzer.finish();
    analysis.inputs = capture.summaries();
    analysis
}

/// [`analyze_capture_with_progress`] on `threads` threads in all: this one and `threads - 1`
/// RTP worker threads (`threads <= 1`: everything on this thread, no channel).
///
/// This thread reads, decodes and classifies every frame and runs SIP/SDP in frame order, so
/// every SDP-learned fact an RTP packet needs (clock rate, telephone-event, T.38, announced
/// address) is resolved before the packet leaves; the packet then goes, with its ordinal among
/// all RTP packets, to the worker owning its flow (a hash of source and destination address
/// and port: every packet of a stream reaches the same worker, in frame order). RTCP stays on
/// this thread. At the end the workers' tables are merged back in first-packet order with the
/// run's stream bound ([`StreamTable::merge`]) and paired with the calls as in a one-thread run,
/// so the analysis does not depend on `threads`.
pub fn analyze_capture_threaded(
    mut capture: CaptureSet,
    config: &Config,
    threads: usize,
    progress: &mut dyn FnMut(Progress),
) -> Analysis {
    if threads <= 1 {
        return analyze_capture_with_progress(capture, config, progress);
    }
    let max_streams = config.limits.max_rtp_streams;
    let window_s = config.window_s;
    // The reading thread is busy the whole run (it reads, decodes and runs SIP), so `threads`
    // threads in all means `threads - 1` RTP workers: one more would only share the cores.
    let rtp_workers = threads - 1;
    // Polling is free only while every thread has a core: with more threads than cores a
    // polling worker would take time from the reading thread.
    let poll = std::thread::available_parallelism().is_ok_and(|cores| threads <= cores.get());
    std::thread::scope(|scope| {
        // Emptied batches come back through here, so that after the first few batches the
        // packet path allocates nothing (at most this many are kept; extras are dropped).
        let (recycle_tx, recycle_rx) = std::sync::mpsc::sync_channel(rtp_workers * (SHARD_QUEUE_BATCHES + 2));
        let mut senders = Vec::with_capacity(rtp_workers);
        let mut workers = Vec::with_capacity(rtp_workers);
        for _ in 0..rtp_workers {
            let (tx, rx) = std::sync::mpsc::sync_channel::<ShardBatch>(SHARD_QUEUE_BATCHES);
            let recycle = recycle_tx.clone();
            workers.push(scope.spawn(move || rtp_worker(rx, recycle, max_streams, window_s, poll)));
            senders.push(tx);
        }
        drop(recycle_tx);
        let mut router = ShardRouter {
            batches: (0..rtp_workers).map(|_| ShardBatch::empty()).collect(),
            senders,
            recycled: recycle_rx,
            next_ordinal: 0,
            origin: None,
        };
        let mut analyzer = Analyzer::new(config);
        while let Some(frame) = capture.next_frame(analyzer.warnings_mut()) {
            analyzer.push_frame_to(&frame, Some(&mut router));
            let read = analyzer.progress();
            if read.frames % PROGRESS_EVERY_FRAMES == 0 {
                progress(read);
            }
        }
        progress(analyzer.progress());
        router.flush_all();
        drop(router); // closes the channels: the workers return their tables
        let mut shards = Vec::with_capacity(rtp_workers);
        for worker in workers {
            match worker.join() {
                Ok(shard) => shards.push(shard),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        analyzer.streams = StreamTable::merge(shards, max_streams);
        let mut analysis = analyzer.finish();
        analysis.inputs = capture.summaries();
        analysis
    })
}

/// [`analyze_with_progress`] on `threads` threads in all ([`analyze_capture_threaded`]).
pub fn analyze_threaded(
    paths: &[String],
    config: &Config,
    threads: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<Analysis, CaptureError> {
    Ok(analyze_capture_threaded(CaptureSet::open(paths)?, config, threads, progress))
}

/// RTP packets per batch sent to a worker (amortises the channel's synchronisation: about 30 KB).
const SHARD_BATCH: usize = 1024;
/// Batches queued per worker before the reading thread waits (bounds memory and keeps the
/// reader at most this far ahead).
const SHARD_QUEUE_BATCHES: usize = 4;

/// One RTP packet on its way to a worker: everything [`StreamTable::observe_ordinal`] needs,
/// with the range of its bytes in the batch's arena for the silence test.
struct ShardPacket {
    ordinal: u64,
    key: StreamKey,
    pkt: RtpPacketInfo,
    codec: PayloadCodec,
    bytes: std::ops::Range<usize>,
}

/// A batch of packets for one worker, with the run's time origin (the first frame's time) and
/// the bytes of the packets whose payload is judged for silence.
struct ShardBatch {
    origin: Timestamp,
    packets: Vec<ShardPacket>,
    bytes: Vec<u8>,
}

impl ShardBatch {
    fn empty() -> ShardBatch {
        ShardBatch {
            origin: Timestamp::default(),
            packets: Vec::with_capacity(SHARD_BATCH),
            bytes: Vec::with_capacity(SHARD_BATCH * 256),
        }
    }
}

/// The reading thread's side of the RTP workers: one open batch per worker.
struct ShardRouter {
    batches: Vec<ShardBatch>,
    senders: Vec<std::sync::mpsc::SyncSender<ShardBatch>>,
    recycled: std::sync::mpsc::Receiver<ShardBatch>,
    next_ordinal: u64,
    origin: Option<Timestamp>,
}

impl ShardRouter {
    /// Sends worker `shard`'s open batch (if any) and opens a recycled (or new) one.
    fn flush(&mut self, shard: usize) {
        let Some(open) = self.batches.get_mut(shard) else { return };
        if open.packets.is_empty() {
            return;
        }
        let fresh = self.recycled.try_recv().unwrap_or_else(|_| ShardBatch::empty());
        let mut batch = std::mem::replace(open, fresh);
        batch.origin = self.origin.unwrap_or_default();
        if let Some(sender) = self.senders.get(shard) {
            // A send fails only when the worker is gone (it panicked): its join re-raises that.
            let _ = sender.send(batch);
        }
    }

    fn flush_all(&mut self) {
        for shard in 0..self.batches.len() {
            self.flush(shard);
        }
    }
}

impl RtpSink for ShardRouter {
    fn observe(&mut self, key: StreamKey, pkt: RtpPacketInfo, rtp: &[u8], codec: PayloadCodec) {
        let shard = shard_of(&key, self.batches.len());
        let ordinal = self.next_ordinal;
        self.next_ordinal += 1;
        let Some(open) = self.batches.get_mut(shard) else { return };
        // The bytes to judge go along, copied into the batch's arena (reused with the batch).
        let start = open.bytes.len();
        open.bytes.extend_from_slice(rtp);
        open.packets.push(ShardPacket { ordinal, key, pkt, codec, bytes: start..open.bytes.len() });
        if open.packets.len() >= SHARD_BATCH {
            self.flush(shard);
        }
    }
}

/// The worker owning a flow: a hash of source and destination address and port (not the
/// SSRC, so that every stream of a 5-tuple lands on the same worker). Any function would do
/// for correctness (the merge restores first-packet order); this one spreads flows evenly.
fn shard_of(key: &StreamKey, shards: usize) -> usize {
    fn bits(addr: std::net::SocketAddr) -> u64 {
        let port = u64::from(addr.port());
        match addr.ip() {
            std::net::IpAddr::V4(ip) => (u64::from(u32::from(ip)) << 16) | port,
            std::net::IpAddr::V6(ip) => {
                let x = u128::from(ip);
                (x as u64) ^ ((x >> 64) as u64) ^ (port << 48)
            }
        }
    }
    let mixed = bits(key.src).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ bits(key.dst);
    let mixed = (mixed ^ (mixed >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    ((mixed >> 32) % shards.max(1) as u64) as usize
}

/// How long a worker that has a core of its own polls for its next batch before it sleeps.
/// The reading thread fills a batch in about 0.1 ms on the bench capture; waking a sleeping
/// worker costs the sender a futex call each time (10–20 ms over a 1.7 M-packet run, spent on
/// the reading thread, which is the slower of the two).
const POLL_BEFORE_SLEEP: std::time::Duration = std::time::Duration::from_micros(200);

/// The next batch for a worker (`None` once the channel is closed): polled for up to
/// [`POLL_BEFORE_SLEEP`] when `poll`, then waited for.
fn next_batch(batches: &std::sync::mpsc::Receiver<ShardBatch>, poll: bool) -> Option<ShardBatch> {
    if poll {
        let start = std::time::Instant::now();
        loop {
            match batches.try_recv() {
                Ok(batch) => return Some(batch),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return None,
                Err(std::sync::mpsc::TryRecvError::Empty) if start.elapsed() < POLL_BEFORE_SLEEP => {
                    std::hint::spin_loop()
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
            }
        }
    }
    batches.recv().ok()
}

/// One RTP worker: measures the packets of its flows until the reading thread closes the
/// channel, then hands its table back.
fn rtp_worker(
    batches: std::sync::mpsc::Receiver<ShardBatch>,
    recycle: std::sync::mpsc::SyncSender<ShardBatch>,
    max_streams: usize,
    window_s: f64,
    poll: bool,
) -> rtp::FinishedShard {
    let mut table = StreamTable::with_capacity_limit(max_streams);
    table.set_window_s(window_s);
    while let Some(mut batch) = next_batch(&batches, poll) {
        table.set_origin(batch.origin);
        for p in batch.packets.drain(..) {
            let rtp = batch.bytes.get(p.bytes).unwrap_or(&[]);
            table.observe_ordinal(p.ordinal, p.key, &judge_silence(p.pkt, rtp, p.codec));
        }
        batch.bytes.clear();
        let _ = recycle.try_send(batch);
    }
    table.finish_shard()
}

/// When an incremental run ([`Analyzer::take_finished`]) lets a call go. All times are capture
/// time, so a replayed file and a live interface behave alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncrementalLimits {
    /// A call whose signalling ended (BYE seen, or a final response ≥ 300: the end of
    /// `correlate`'s call span) is emitted once neither its SIP nor any of its streams has had a
    /// packet for this long: late media, BYE retransmissions and the 200 to the BYE still count.
    pub grace_ns: i64,
    /// A call whose last final response was a failure (≥ 300, no BYE) also waits this long
    /// without SIP: the same Call-ID may try again (an INVITE with credentials after 401/407,
    /// a new offer after 488, a retry after 491), and the retry belongs to the same call. An
    /// INVITE still without a final response holds its call at least this long after it was
    /// sent (at least Timer B, 32 s, so that a timeout is decided as at the end of a file).
    pub failure_retry_ns: i64,
    /// A call whose signalling did not end (no BYE, no final failure) is emitted after this
    /// long without SIP, provided its streams have also been idle for `stream_idle_ns`.
    pub call_idle_ns: i64,
    /// A stream paired with no held call is emitted after this long without packets; a stream
    /// of a held call that is idle this long no longer holds a call that is idle.
    pub stream_idle_ns: i64,
}

impl Default for IncrementalLimits {
    fn default() -> Self {
        IncrementalLimits {
            grace_ns: 5_000_000_000,
            // 64·T1 (RFC 3261 §17.1.1.2): an automatic retry comes well within it.
            failure_retry_ns: 32_000_000_000,
            call_idle_ns: 120_000_000_000,
            stream_idle_ns: 60_000_000_000,
        }
    }
}

/// What an incremental run has let go so far (the live view prints these).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IncrementalCounters {
    /// Dialogs emitted by [`Analyzer::take_finished`].
    pub dialogs_emitted: u64,
    /// Of those, dialogs emitted on the idle timeout (signalling never ended).
    pub dialogs_idle: u64,
    /// Streams emitted by [`Analyzer::take_finished`].
    pub streams_emitted: u64,
    /// Of those, streams of no held call emitted on the idle timeout.
    pub streams_idle: u64,
    /// Streams taken but not reported (flows that only briefly looked like RTP).
    pub streams_discarded: u64,
}

/// The whole pipeline as a state machine fed one frame at a time: [`analyze`] is
/// `new` → `push_frame` for every frame → `finish`. An endless source (live capture) also calls
/// [`Analyzer::take_finished`] now and then, which hands out the calls that are over, with
/// their streams, and drops them from memory, so that memory follows the calls in progress,
/// not the length of the capture.
pub struct Analyzer {
    decoder: Decoder,
    sip: SipStage,
    payloads: PayloadMap,
    streams: StreamTable,
    rtcp: crate::rtcp::RtcpTable,
    end: Timestamp,
    /// Time of the first frame (the origin of RTP times and of quality windows).
    origin: Option<Timestamp>,
    icmp_errors: Vec<crate::diagnose::IcmpSeen>,
    udptl: crate::diagnose::flows::UdptlTable,
    capture_facts: crate::diagnose::streams::CaptureFacts,
    warnings: Warnings,
    read: Progress,
    diagnosis: crate::diagnose::DiagnosisConfig,
    limits: IncrementalLimits,
    counters: IncrementalCounters,
}

impl Analyzer {
    /// An analyzer with the run configuration and default [`IncrementalLimits`].
    pub fn new(config: &Config) -> Analyzer {
        let limits = &config.limits;
        let mut streams = StreamTable::with_capacity_limit(limits.max_rtp_streams);
        streams.set_window_s(config.window_s);
        Analyzer {
            decoder: Decoder::new(limits.decode.clone()),
            sip: SipStage::new(limits.sip.clone()),
            payloads: PayloadMap::with_capacity_limit(limits.max_sdp_addresses),
            streams,
            rtcp: crate::rtcp::RtcpTable::new(limits.rtcp),
            end: Timestamp::default(),
            origin: None,
            icmp_errors: Vec::new(),
            udptl: crate::diagnose::flows::UdptlTable::new(),
            capture_facts: Default::default(),
            warnings: Warnings::keeping(limits.warnings_per_kind),
            read: Progress::default(),
            diagnosis: config.diagnosis.clone(),
            limits: IncrementalLimits::default(),
            counters: IncrementalCounters::default(),
        }
    }

    /// Sets when [`Analyzer::take_finished`] lets calls and streams go.
    pub fn set_incremental_limits(&mut self, limits: IncrementalLimits) {
        self.limits = limits;
    }

    /// The run's warnings (the capture reader adds its own here).
    pub fn warnings_mut(&mut self) -> &mut Warnings {
        &mut self.warnings
    }

    /// Frames and bytes pushed so far.
    pub fn progress(&self) -> Progress {
        self.read
    }

    /// Time of the latest frame pushed.
    pub fn capture_end(&self) -> Timestamp {
        self.end
    }

    /// Dialogs held (in progress or waiting for their grace period).
    pub fn held_dialogs(&self) -> usize {
        self.sip.dialogs.len()
    }

    /// Streams held.
    pub fn held_streams(&self) -> usize {
        self.streams.len()
    }

    /// What [`Analyzer::take_finished`] has let go so far.
    pub fn counters(&self) -> IncrementalCounters {
        self.counters
    }

    /// Feeds one frame, in capture order.
    pub fn push_frame(&mut self, frame: &crate::capture::Frame<'_>) {
        self.push_frame_to(frame, None);
    }

    /// [`Analyzer::push_frame`], with the RTP packets measured by `rtp_shards` (worker threads)
    /// instead of this analyzer's own table when given. Everything the RTP stage needs from
    /// SIP/SDP (clock rate, telephone-event, T.38, whether an address was announced) is resolved
    /// here, in frame order, before the packet leaves.
    fn push_frame_to(&mut self, frame: &crate::capture::Frame<'_>, mut rtp_shards: Option<&mut ShardRouter>) {
        if self.origin.is_none() {
            // tshark measures RTP times from the first frame of the capture (quality-metrics.md §1.6).
            self.streams.set_origin(frame.at.time);
            self.origin = Some(frame.at.time);
        }
        if let Some(router) = rtp_shards.as_deref_mut() {
            router.origin = router.origin.or(self.origin);
        }
        self.end = self.end.max(frame.at.time);
        self.read.frames += 1;
        self.read.bytes = self.read.bytes.saturating_add(frame.data.len() as u64 + 16);
        let Analyzer { decoder, sip, payloads, streams, rtcp, icmp_errors, udptl, capture_facts, warnings, .. } = self;
        let rtp: &mut dyn RtpSink = match rtp_shards {
            Some(router) => router,
            None => streams,
        };
        decoder.decode(frame, warnings, &mut |dg, warnings| {
            if dg.icmp_error.is_some() && icmp_errors.len() < MAX_ICMP_ERRORS {
                icmp_errors.push(crate::diagnose::IcmpSeen { at: dg.at, quoted_src: dg.src, quoted_dst: dg.dst });
            }
            on_datagram(dg, &mut Stages { sip, payloads, streams: &mut *rtp, rtcp, udptl, capture_facts }, warnings);
        });
    }

    /// Ends the input: everything still held becomes the analysis (`inputs` is left empty: the
    /// capture reader fills it).
    pub fn finish(mut self) -> Analysis {
        let mut warnings = std::mem::take(&mut self.warnings);
        self.decoder.finish(&mut warnings);
        let payloads = &mut self.payloads;
        self.sip.flush(&mut warnings, &mut |ev| learn_sdp(payloads, ev));
        let sip_orphan_messages = self.sip.orphan_messages();
        let end = self.end;
        let (dialogs, registrations) = self.sip.finish(end);
        if let Some(at) = self.streams.first_refused() {
            let refused = self.streams.refused_packets();
            warnings.push(at.file, at.number, WarningKind::StateEvicted, || {
                format!("RTP stream table full: {refused} packets of new streams were not measured")
            });
        }
        let (streams, pairing) = reported_streams(&dialogs, &self.payloads, self.streams.finish());
        Analysis {
            inputs: Vec::new(),
            dialogs,
            registrations,
            streams,
            pairing,
            rtcp: self.rtcp,
            payloads: self.payloads,
            capture_end: end,
            sip_orphan_messages,
            warnings,
            icmp_errors: self.icmp_errors,
            udptl_flows: self.udptl.flows().to_vec(),
            diagnosis: self.diagnosis,
            capture_facts: self.capture_facts,
        }
    }

    /// Takes the calls that are over at capture time `now` (see [`IncrementalLimits`]), with
    /// the streams paired with them and their RTCP state, plus the streams of no call that
    /// went idle, and drops all of it from memory. The result is an [`Analysis`] of just those
    /// (with the registrations so far, for the diagnosis; no warnings: [`Analyzer::finish`]
    /// reports those at the end; one input named `-` spanning the first frame to `now`, since
    /// quality windows are dated from the first frame; `capture_end` is `now`), ready for
    /// `report::build`. Stream ids in its records start at 1 in each batch.
    ///
    /// Pairing is decided against every held dialog (in order of first message, as the
    /// offline run orders them), so a stream goes with the call the offline run would give it,
    /// as long as that call was held then. Cost: a pass over the held dialogs and streams (by
    /// reference: no copy of what stays); call it once a second or less often.
    pub fn take_finished(&mut self, now: Timestamp) -> Analysis {
        let limits = self.limits;
        let idle = |t: Timestamp| now.0.saturating_sub(t.0);
        let mut held: Vec<&crate::sip::Dialog> = self.sip.dialogs.dialogs().collect();
        held.sort_by_key(|d| d.first_message);
        // The running statistics pair as the finished ones do (addresses, SSRC, first and last
        // packet are final as they stand).
        let snapshot = self.streams.running_stats();
        let pairing = crate::correlate::pair(&held, &snapshot);
        // Latest packet of each held dialog's streams.
        let mut media_last: Vec<Option<Timestamp>> = vec![None; held.len()];
        for (s, p) in snapshot.iter().zip(&pairing) {
            if let Some(slot) = p.and_then(|p| media_last.get_mut(p.dialog)) {
                *slot = Some(slot.map_or(s.last.time, |t| t.max(s.last.time)));
            }
        }
        let ready: Vec<bool> = held
            .iter()
            .zip(&media_last)
            .map(|(d, media)| {
                let media_idle = media.map_or(i64::MAX, idle);
                let sip_idle = idle(d.last_time);
                // An INVITE without a final response may still get one (a BYE or CANCEL does
                // not end its transaction): its outcome is decided no earlier than Timer B.
                let unanswered_for = d.first_invite.filter(|_| d.final_response.is_none()).map(|f| idle(f.time));
                if unanswered_for.is_some_and(|t| t < limits.failure_retry_ns) {
                    false
                } else if signalling_ended(d) || d.first_invite.is_none() {
                    let retry = if d.bye.is_none() && d.first_invite.is_some() { limits.failure_retry_ns } else { 0 };
                    sip_idle >= limits.grace_ns.max(retry) && media_idle >= limits.grace_ns
                } else {
                    sip_idle >= limits.call_idle_ns && media_idle >= limits.stream_idle_ns
                }
            })
            .collect();
        let mut ready_ids: Vec<(String, Option<crate::capture::FrameRef>)> = Vec::new();
        let mut idle_dialogs = 0u64;
        for (d, _) in held.iter().zip(&ready).filter(|(_, r)| **r) {
            ready_ids.push((d.call_id.clone(), d.first_message));
            if d.first_invite.is_some() && !signalling_ended(d) {
                idle_dialogs += 1;
            }
        }
        let mut take_keys: Vec<StreamKey> = Vec::new();
        let mut idle_streams = 0u64;
        for (s, p) in snapshot.iter().zip(&pairing) {
            let take = match p {
                Some(p) => ready.get(p.dialog).copied().unwrap_or(false),
                None => {
                    let gone = idle(s.last.time) >= limits.stream_idle_ns;
                    idle_streams += u64::from(gone);
                    gone
                }
            };
            if take {
                take_keys.push(s.key);
            }
        }
        drop(snapshot);
        drop(held);
        let dialogs = if ready_ids.is_empty() {
            Vec::new()
        } else {
            self.sip.dialogs.take_where(now, &mut |d| {
                ready_ids.iter().any(|(id, first)| *id == d.call_id && *first == d.first_message)
            })
        };
        let taken = if take_keys.is_empty() {
            Vec::new()
        } else {
            take_keys.sort_unstable_by_key(|k| (k.src, k.dst, k.ssrc));
            self.streams.take_where(&mut |s| {
                take_keys.binary_search_by_key(&(s.key.src, s.key.dst, s.key.ssrc), |k| (k.src, k.dst, k.ssrc)).is_ok()
            })
        };
        let mut ssrcs: Vec<u32> = taken.iter().map(|s| s.key.ssrc).collect();
        ssrcs.sort_unstable();
        ssrcs.dedup();
        let rtcp = self.rtcp.take_ssrcs(&ssrcs);
        let taken_count = taken.len() as u64;
        let (streams, pairing) = reported_streams(&dialogs, &self.payloads, taken);
        // ICMP errors older than any call still held can match nothing any more.
        let horizon = now.0.saturating_sub(limits.call_idle_ns.saturating_mul(2));
        let icmp = self.icmp_errors.clone();
        self.icmp_errors.retain(|e| e.at.time.0 >= horizon);
        let udptl_flows = self.udptl.flows().to_vec();
        self.udptl.retain_since(crate::time::Timestamp(horizon));
        self.counters.dialogs_emitted += dialogs.len() as u64;
        self.counters.dialogs_idle += idle_dialogs;
        self.counters.streams_emitted += streams.len() as u64;
        self.counters.streams_idle += idle_streams;
        self.counters.streams_discarded += taken_count.saturating_sub(streams.len() as u64);
        let span = crate::capture::InputSummary {
            path: "-".to_owned(),
            first_time: self.origin,
            last_time: Some(now),
            ..Default::default()
        };
        // The batch keeps the announcements its calls need (codec names); the analyzer keeps
        // only those of calls still held, so that the map follows the calls in progress.
        let payloads = self.payloads.clone();
        let mut announced: Vec<std::net::SocketAddr> = self
            .sip
            .dialogs
            .dialogs()
            .flat_map(|d| d.sdp.iter().flat_map(|ev| ev.session.media.iter().filter_map(|m| m.rtp_addr())))
            .collect();
        announced.sort_unstable();
        announced.dedup();
        self.payloads.retain_addrs(&mut |addr| announced.binary_search(&addr).is_ok());
        Analysis {
            inputs: vec![span],
            dialogs,
            // Diagnosis only (the registrations are written once, at the end): whether a caller
            // authenticated elsewhere, whether a callee was registered.
            registrations: self.sip.dialogs.registrations_at(now),
            streams,
            pairing,
            rtcp,
            payloads,
            capture_end: now,
            sip_orphan_messages: 0,
            warnings: Warnings::default(),
            icmp_errors: icmp,
            udptl_flows,
            diagnosis: self.diagnosis.clone(),
            capture_facts: self.capture_facts.clone(),
        }
    }
}

/// The call's signalling is over: a BYE, or a final failure response (the end of
/// `correlate`'s call span).
fn signalling_ended(d: &crate::sip::Dialog) -> bool {
    d.bye.is_some() || d.final_response.is_some_and(|(status, _)| status >= 300)
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
    streams: &'s mut dyn RtpSink,
    rtcp: &'s mut crate::rtcp::RtcpTable,
    udptl: &'s mut crate::diagnose::flows::UdptlTable,
    capture_facts: &'s mut crate::diagnose::streams::CaptureFacts,
}

/// Where [`on_datagram`] sends the RTP packets it resolved: this thread's [`StreamTable`], or
/// the [`ShardRouter`] of a multi-threaded run.
trait RtpSink {
    /// Measures `pkt`, after judging whether `rtp` (the whole RTP packet, empty when `codec`
    /// is not judged) is digital silence.
    fn observe(&mut self, key: StreamKey, pkt: RtpPacketInfo, rtp: &[u8], codec: PayloadCodec);
}

/// Fills [`RtpPacketInfo::payload_silent`] from the packet's bytes.
fn judge_silence(mut pkt: RtpPacketInfo, rtp: &[u8], codec: PayloadCodec) -> RtpPacketInfo {
    pkt.payload_silent = rtp_payload_is_silent(rtp, usize::from(pkt.header.payload_len), codec);
    pkt
}

impl RtpSink for StreamTable {
    fn observe(&mut self, key: StreamKey, pkt: RtpPacketInfo, rtp: &[u8], codec: PayloadCodec) {
        StreamTable::observe(self, key, &judge_silence(pkt, rtp, codec));
    }
}

fn on_datagram(dg: &Datagram<'_>, stages: &mut Stages<'_>, warnings: &mut Warnings) {
    let Stages { sip, payloads, streams, rtcp, udptl, capture_facts } = stages;
    let is_tcp = matches!(dg.transport, Transport::Tcp { .. });
    let kind = if is_tcp { PayloadKind::Sip } else { classify_on_ports(dg.payload, dg.src.port(), dg.dst.port()) };
    if !matches!(kind, PayloadKind::Rtp | PayloadKind::Rtcp) {
        // DTLS/ZRTP on media ports, TLS on 5061 (`srtp_unanalyzable`, diagnosis.md §4.4).
        capture_facts.observe(kind, dg);
    }
    match kind {
        // Every TCP segment goes to the SIP stage: it frames streams and recognises SIP by content.
        PayloadKind::Sip => {
            let evicted_before = payloads.evicted();
            sip.on_datagram(dg, warnings, &mut |ev| learn_sdp(payloads, ev));
            if evicted_before == 0 && payloads.evicted() > 0 {
                warnings.push(dg.at.file, dg.at.number, WarningKind::StateEvicted, || {
                    format!(
                        "SDP payload map full ({} addresses): the oldest announcements were dropped",
                        PayloadMap::CAPACITY
                    )
                });
            }
        }
        PayloadKind::Rtp if dg.icmp_error.is_none() => {
            let to_announced = payloads.get(dg.dst);
            if to_announced.is_some_and(|a| a.is_t38()) {
                // UDPTL on a port negotiated for T.38 fax: kept for `t38_not_flowing`, not RTP.
                udptl.observe(dg.at, dg.src, dg.dst);
                return;
            }
            let announced = to_announced.is_some() || payloads.is_announced(dg.src);
            // On a port an SDP announced, any version-2 packet is RTP (as tshark decodes it);
            // elsewhere the whole header must be consistent.
            let header = rtp::parse_header(dg.payload)
                .or_else(|| announced.then(|| rtp::parse_fixed_header(dg.payload)).flatten());
            if let Some(header) = header {
                // The announced rtpmap for this type, else the static table (tshark's rules).
                let ptype = to_announced
                    .and_then(|a| a.payload_type(header.pt))
                    .unwrap_or_else(|| rtp::payload::PayloadType::of_static(header.pt));
                let key = StreamKey { src: dg.src, dst: dg.dst, ssrc: header.ssrc };
                let info = RtpPacketInfo {
                    at: dg.at,
                    header,
                    clock_hz: ptype.clock_hz,
                    dscp: dg.dscp,
                    vlan: dg.vlan,
                    interface: dg.interface,
                    is_event: ptype.is_event,
                    payload_silent: None,
                };
                // `silent_payload` (diagnosis.md §4.3): G.711/L16 payload level, judged by the
                // sink (in a worker thread when sharded: it is the costliest per-packet test).
                let judged = if ptype.codec == PayloadCodec::Other { &[][..] } else { dg.payload };
                streams.observe(key, info, judged, ptype.codec);
            }
        }
        PayloadKind::Rtcp if dg.icmp_error.is_none() => {
            rtcp.observe_or_warn(dg.at, dg.src, dg.dst, dg.payload, warnings)
        }
        // UDPTL (T.38, its own framing: not RTP-like) to or from an address negotiated for T.38
        // (from: the offerer's own image address is not switched by the answer, see PayloadMap::learn).
        PayloadKind::Other | PayloadKind::Stun | PayloadKind::Zrtp | PayloadKind::Dtls | PayloadKind::TurnChannel
            if !is_tcp && dg.icmp_error.is_none() && (payloads.is_t38(dg.dst) || payloads.is_t38(dg.src)) =>
        {
            udptl.observe(dg.at, dg.src, dg.dst)
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{build, Document};
    use serde_json::Value;
    use std::collections::BTreeMap;

    /// The document-independent name of stream `id` of `doc`.
    fn stream_name(doc: &Document, id: u64) -> String {
        doc.streams
            .iter()
            .find(|s| u64::from(s.id) == id)
            .map_or_else(|| format!("missing {id}"), |s| format!("{} {} {} {}", s.src, s.dst, s.ssrc, s.first_frame))
    }

    /// Replaces batch-local stream ids in `reasons[].stream` by stream names.
    fn name_reason_streams(doc: &Document, reasons: Option<&mut Value>) {
        for r in reasons.and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(id) = r.get("stream").and_then(Value::as_u64) {
                r["stream"] = Value::String(stream_name(doc, id));
            }
        }
    }

    /// A call record without what depends on the batch (stream ids, legs linked across calls).
    fn call_key(doc: &Document) -> BTreeMap<String, Value> {
        doc.calls
            .iter()
            .map(|c| {
                let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
                if let Some(o) = v.as_object_mut() {
                    o.remove("linked");
                    let names: Vec<Value> =
                        c.streams.iter().map(|&id| Value::String(stream_name(doc, u64::from(id)))).collect();
                    o.insert("streams".into(), Value::Array(names));
                }
                name_reason_streams(doc, v.get_mut("verdict").and_then(|v| v.get_mut("reasons")));
                (c.call_id.clone(), v)
            })
            .collect()
    }

    /// Stream records without their batch-local id, keyed by (src, dst, SSRC, first frame).
    fn stream_key(doc: &Document) -> BTreeMap<String, Value> {
        doc.streams
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
                if let Some(o) = v.as_object_mut() {
                    o.remove("id");
                }
                name_reason_streams(doc, v.get_mut("reasons"));
                (format!("{} {} {} {}", s.src, s.dst, s.ssrc, s.first_frame), v)
            })
            .collect()
    }

    /// Runs `path` offline and incrementally (take_finished every `every` frames, at the frame's
    /// time); returns (offline doc, incremental batch docs, final doc).
    fn both_ways(path: &std::path::Path, every: u64) -> (Document, Vec<Document>, Document) {
        let paths = vec![path.to_string_lossy().into_owned()];
        let offline = build(&analyze(&paths, &Config::default()).expect("synthetic capture opens"));
        let mut capture = CaptureSet::open(&paths).expect("synthetic capture opens");
        let mut analyzer = Analyzer::new(&Config::default());
        let mut batches = Vec::new();
        // Bounded: the capture has a finite number of frames.
        while let Some(frame) = capture.next_frame(analyzer.warnings_mut()) {
            let at = frame.at;
            analyzer.push_frame(&frame);
            if at.number % every == 0 {
                let batch = analyzer.take_finished(at.time);
                if !batch.dialogs.is_empty() || !batch.streams.is_empty() {
                    batches.push(build(&batch));
                }
            }
        }
        let mut rest = analyzer.finish();
        rest.inputs = capture.summaries();
        let last = build(&rest);
        (offline, batches, last)
    }

    #[test]
    fn a_polling_worker_gets_every_batch_and_the_end_of_the_channel() {
        for poll in [false, true] {
            let (tx, rx) = std::sync::mpsc::sync_channel::<ShardBatch>(1);
            let sender = std::thread::spawn(move || {
                for pause_us in [0u64, 50, 1000] {
                    // Within the polling time, and long after it (the worker sleeps).
                    std::thread::sleep(std::time::Duration::from_micros(pause_us));
                    let mut batch = ShardBatch::empty();
                    batch.origin = Timestamp(i64::try_from(pause_us).unwrap_or(0));
                    tx.send(batch).expect("worker side open");
                }
            });
            let mut origins = Vec::new();
            while let Some(batch) = next_batch(&rx, poll) {
                origins.push(batch.origin.0);
            }
            sender.join().expect("sender thread");
            assert_eq!(origins, [0, 50, 1000], "poll {poll}");
        }
    }

    #[test]
    fn take_finished_gives_the_offline_records_of_each_call() {
        let dir = std::env::temp_dir().join(format!("callscope-incr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("mixed.pcap");
        crate::synth::mixed(60, 6, 240, 7).write_file(&path).expect("synthetic capture written");
        let (offline, batches, last) = both_ways(&path, 500);
        let _ = std::fs::remove_dir_all(&dir);

        let mut calls = BTreeMap::new();
        let mut streams = BTreeMap::new();
        for doc in batches.iter().chain(std::iter::once(&last)) {
            calls.extend(call_key(doc));
            streams.extend(stream_key(doc));
        }
        let early: usize = batches.iter().map(|b| b.calls.len()).sum();
        // Most calls leave memory before the end (the last ones are still in their grace period).
        assert!(early >= 50, "only {early} of 60 calls emitted before the end");
        assert_eq!(offline.calls.len(), 60);
        assert_eq!(calls.len(), offline.calls.len());
        assert_eq!(streams.len(), offline.streams.len());
        // Exactly equal: a reason that cites a stream as evidence ("the callee's RTP went to X
        // instead") never cites another call's, which may have left in another batch.
        let want_calls = call_key(&offline);
        for (id, want) in &want_calls {
            assert_eq!(calls.get(id), Some(want), "call {id}");
        }
        let want_streams = stream_key(&offline);
        for (key, want) in &want_streams {
            assert_eq!(streams.get(key), Some(want), "stream {key}");
        }
        // Each batch's calls list exactly the batch's streams of that call.
        for doc in &batches {
            for c in &doc.calls {
                let n = doc.streams.iter().filter(|s| s.call_id.as_deref() == Some(&c.call_id)).count();
                assert_eq!(c.streams.len(), n);
            }
        }
    }
}
