//! The capture loop of `callscope live` (feature `live`, libpcap through the `pcap` crate):
//! frames → [`Analyzer`], every interval the finished calls → [`LiveSink`], drop counters →
//! `intervals.jsonl`, optional rotating capture files; SIGINT/SIGTERM end it cleanly.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::rotate::{PcapRotator, RotationPolicy};
use super::{close_open_calls, DropWindow, IntervalRecord, LiveSink};
use crate::capture::{Frame, FrameRef, LinkType};
use crate::config::Config;
use crate::pipeline::{Analyzer, IncrementalLimits};
use crate::sites::{SiteMap, SiteOptions};
use crate::time::Timestamp;

/// Everything `callscope live` was asked for.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Interface to open.
    pub interface: String,
    /// BPF filter (libpcap syntax), if any.
    pub bpf: Option<String>,
    /// Bytes kept per packet.
    pub snaplen: i32,
    /// Kernel buffer, MiB.
    pub buffer_mb: i32,
    /// How often finished calls are written and counters read.
    pub interval: Duration,
    /// Output folder (calls.jsonl, streams.jsonl, sites.jsonl, intervals.jsonl).
    pub out: PathBuf,
    /// Folder for rotating capture files, if wanted.
    pub write_pcap: Option<PathBuf>,
    /// Rotate a capture file after this many bytes.
    pub rotate_bytes: u64,
    /// Rotate a capture file after this long.
    pub rotate_every: Duration,
    /// Most capture files kept in `write_pcap` (oldest deleted).
    pub keep_files: usize,
    /// Most bytes kept over all capture files (oldest deleted; 0: no byte bound).
    pub keep_bytes: u64,
    /// Stop by itself after this long (tests, timed captures).
    pub duration: Option<Duration>,
    /// Redraw the summary (on a terminal).
    pub view: bool,
    /// When calls and streams leave memory.
    pub limits: IncrementalLimits,
    /// Site map.
    pub sites: SiteMap,
    /// Site time buckets, minutes.
    pub bucket_minutes: u32,
}

/// CAP_NET_RAW's bit in /proc/self/status `CapEff` (linux/capability.h).
const CAP_NET_RAW_BIT: u32 = 13;

/// The process may open a packet socket: root, or CAP_NET_RAW in its effective set (Linux).
/// `None` when that cannot be told (no /proc): libpcap's own error decides then.
pub fn may_capture() -> Option<bool> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    let bits = u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()?;
    Some(bits & (1u64 << CAP_NET_RAW_BIT) != 0)
}

const NO_PRIVILEGE: &str = "callscope live needs root or the CAP_NET_RAW capability to open a capture \
(run it with sudo, or once: sudo setcap cap_net_raw,cap_net_admin+eip $(command -v callscope))";

/// Cumulative pcap counters (u32 in libpcap: differences wrap).
#[derive(Clone, Copy, Default)]
struct Counters {
    received: u32,
    dropped: u32,
    if_dropped: u32,
}

fn wall_now() -> Timestamp {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_parts(i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos())
}

/// Runs the live capture until SIGINT/SIGTERM (or `duration`); writes everything into
/// `opts.out`. Returns after the last calls were flushed.
pub fn run(opts: &LiveOptions, config: &Config) -> anyhow::Result<()> {
    if may_capture() == Some(false) {
        anyhow::bail!(NO_PRIVILEGE);
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        // The `termination` feature makes this SIGINT, SIGTERM and SIGHUP.
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst)).context("installing the signal handler")?;
    }
    let mut cap = pcap::Capture::from_device(opts.interface.as_str())
        .and_then(|c| {
            c.promisc(true)
                .snaplen(opts.snaplen)
                .buffer_size(opts.buffer_mb.saturating_mul(1 << 20))
                .timeout(100)
                .open()
        })
        // Non-blocking: with TPACKET_V3 a blocking read may wait for the first packet forever,
        // and SIGINT on an idle link must still end the run. An empty buffer sleeps 2 ms.
        .and_then(|c| c.setnonblock())
        .map_err(|e| {
            let text = e.to_string();
            if text.contains("ermission") || text.contains("not permitted") {
                anyhow::anyhow!("{NO_PRIVILEGE}: {text}")
            } else {
                anyhow::anyhow!("opening {}: {text}", opts.interface)
            }
        })?;
    if let Some(bpf) = &opts.bpf {
        cap.filter(bpf, true).with_context(|| format!("BPF filter {bpf:?}"))?;
    }
    let link = LinkType(u32::try_from(cap.get_datalink().0).unwrap_or(u32::MAX));
    let mut sink = LiveSink::open(&opts.out).with_context(|| format!("opening {}", opts.out.display()))?;
    let mut rotator = match &opts.write_pcap {
        Some(dir) => {
            let policy = RotationPolicy {
                rotate_bytes: opts.rotate_bytes,
                rotate_ns: i64::try_from(opts.rotate_every.as_nanos()).unwrap_or(i64::MAX),
                keep_files: opts.keep_files,
                keep_bytes: opts.keep_bytes,
            };
            let snaplen = u32::try_from(opts.snaplen).unwrap_or(65_535);
            Some(PcapRotator::new(dir, link.0, snaplen, policy).with_context(|| format!("opening {}", dir.display()))?)
        }
        None => None,
    };
    let mut analyzer = Analyzer::new(config);
    analyzer.set_incremental_limits(opts.limits);
    let site_opts = SiteOptions { bucket_minutes: opts.bucket_minutes };
    let tty = opts.view && std::io::stdout().is_terminal();
    let started = Instant::now();
    let mut next_tick = started + opts.interval;
    let mut last = Counters::default();
    let mut interval_from = wall_now();
    let mut number = 0u64;
    eprintln!(
        "callscope live: capturing on {} (link type {}), writing into {}",
        opts.interface,
        link.name(),
        opts.out.display()
    );

    let tick = |analyzer: &mut Analyzer,
                cap: &mut pcap::Capture<pcap::Active>,
                sink: &mut LiveSink,
                last: &mut Counters,
                interval_from: &mut Timestamp,
                final_flush: bool|
     -> anyhow::Result<()> {
        let now = wall_now().max(analyzer.capture_end());
        let stat = cap.stats().map(|s| Counters { received: s.received, dropped: s.dropped, if_dropped: s.if_dropped });
        let cur = stat.unwrap_or(*last);
        let drops = DropWindow {
            from: *interval_from,
            to: now,
            received: u64::from(cur.received.wrapping_sub(last.received)),
            dropped: u64::from(cur.dropped.wrapping_sub(last.dropped)),
            if_dropped: u64::from(cur.if_dropped.wrapping_sub(last.if_dropped)),
        };
        *last = cur;
        *interval_from = now;
        let mut record = IntervalRecord {
            drops,
            calls: 0,
            streams: 0,
            streams_capture_loss: 0,
            held_dialogs: 0,
            held_streams: 0,
            frames: analyzer.progress().frames,
        };
        // The interval's drops are noted before its calls are written, so they can be marked.
        sink.note_drops(drops);
        let analysis = if final_flush {
            std::mem::replace(analyzer, Analyzer::new(config)).finish()
        } else {
            analyzer.take_finished(now)
        };
        let mut doc = super::batch_document(&analysis, &opts.sites, &site_opts, &config.diagnosis, final_flush);
        if final_flush {
            close_open_calls(&mut doc);
        }
        let (calls, streams, marked) = sink.write_batch(&mut doc, now)?;
        if final_flush {
            sink.write_registrations(&doc)?;
        }
        record.calls = calls;
        record.streams = streams;
        record.streams_capture_loss = marked;
        record.held_dialogs = analyzer.held_dialogs();
        record.held_streams = analyzer.held_streams();
        sink.note_interval(&record)?;
        if tty {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\x1b[H\x1b[2J{}", sink.view.render());
            let _ = out.flush();
        } else if opts.view {
            eprintln!(
                "live: {} calls, {} streams written; {} held; received {} dropped {} if-dropped {}",
                calls, streams, record.held_dialogs, drops.received, drops.dropped, drops.if_dropped
            );
        }
        Ok(())
    };

    while !stop.load(Ordering::SeqCst) {
        if opts.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        match cap.next_packet() {
            Ok(packet) => {
                number += 1;
                let ts = packet.header.ts;
                let micros = u32::try_from(ts.tv_usec).unwrap_or(0).min(999_999);
                // time_t is i32 on some 32-bit targets, i64 here.
                #[allow(clippy::useless_conversion)]
                let at = FrameRef { file: 0, number, time: Timestamp::from_parts(i64::from(ts.tv_sec), micros * 1000) };
                let frame = Frame { at, link, data: packet.data, orig_len: packet.header.len, interface: None };
                analyzer.push_frame(&frame);
                if let Some(r) = rotator.as_mut() {
                    r.write(at.time, packet.data, packet.header.len).context("writing a capture file")?;
                }
            }
            Err(pcap::Error::TimeoutExpired) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", opts.interface)),
        }
        if Instant::now() >= next_tick {
            tick(&mut analyzer, &mut cap, &mut sink, &mut last, &mut interval_from, false)?;
            next_tick = Instant::now() + opts.interval;
        }
    }
    tick(&mut analyzer, &mut cap, &mut sink, &mut last, &mut interval_from, true)?;
    if let Some(r) = rotator.as_mut() {
        r.finish()?;
    }
    eprintln!("callscope live: stopped; {} frames, results in {}", number, opts.out.display());
    Ok(())
}
