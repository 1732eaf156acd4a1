//! Live capture (`callscope live`): the incremental [`crate::pipeline::Analyzer`] fed from an
//! interface, finished calls appended as JSON lines every interval, a refreshing summary.
//!
//! This module holds what does not need libpcap (so the default build tests it): the JSON-lines
//! sink with document-wide stream ids, the capture-loss marking from the kernel's drop
//! counters, the closing of open calls on exit, and the terminal summary. `capture` (feature
//! `live`) opens the interface with the `pcap` crate and drives them.
//!
//! Capture loss vs network loss (issue 11, diagnosis.md §4.4 `capture_loss_suspected`): when
//! libpcap reports drops in an interval, every stream with lost packets whose span meets that
//! interval gets `capture_loss_suspected` (subcode `capture_drops`) and its loss-type reasons
//! are lowered to info (diagnosis.md §3 rule 1): the sniffer, not the network, may have lost
//! them, and a call is never failed on that evidence alone.

#[cfg(feature = "live")]
pub mod capture;
pub mod replay;
pub mod rotate;

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::diagnose::{self, Reason, ReasonClass, Severity, VerdictClass};
use crate::report::Document;
use crate::sip::{EndedBy, Outcome};
use crate::time::Timestamp;

/// libpcap's counters for one interval (differences of `pcap_stats`, which are cumulative).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DropWindow {
    /// Interval start (capture time).
    pub from: Timestamp,
    /// Interval end.
    pub to: Timestamp,
    /// Packets the filter accepted (`ps_recv`).
    pub received: u64,
    /// Packets dropped for lack of buffer space (`ps_drop`).
    pub dropped: u64,
    /// Packets dropped by the interface or its driver (`ps_ifdrop`).
    pub if_dropped: u64,
}

impl DropWindow {
    /// The capture lost packets in this interval.
    pub fn lost_any(&self) -> bool {
        self.dropped > 0 || self.if_dropped > 0
    }
}

/// Drop windows remembered for marking streams (a stream older than that is long emitted).
pub const MAX_DROP_WINDOWS: usize = 4096;

/// Loss-type codes lowered to info under capture loss (diagnosis.md §3 rule 1; the list of
/// `diagnose::media`).
const DEMOTED_BY_CAPTURE_LOSS: [&str; 6] =
    ["media_gap", "high_loss", "burst_loss", "high_jitter", "low_mos", "late_packets"];

/// Marks, in a batch document, the streams with loss whose span meets a window in which the
/// capture dropped packets: adds `capture_loss_suspected` (subcode `capture_drops`) to the
/// stream and its call, lowers the stream's loss-type reasons to info and recomputes the
/// call's verdict. Returns how many streams were marked.
pub fn mark_capture_loss(doc: &mut Document, windows: &[DropWindow]) -> usize {
    let mut marked: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    for s in doc.streams.iter_mut() {
        if s.lost <= 0 && s.seq_errors == 0 {
            continue;
        }
        let (dropped, if_dropped) = windows
            .iter()
            .filter(|w| w.lost_any() && w.from <= s.last_time && s.first_time <= w.to)
            .fold((0u64, 0u64), |(d, i), w| (d.saturating_add(w.dropped), i.saturating_add(w.if_dropped)));
        if dropped == 0 && if_dropped == 0 {
            continue;
        }
        marked.insert(s.id, (dropped, if_dropped));
        for r in s.reasons.iter_mut() {
            if DEMOTED_BY_CAPTURE_LOSS.contains(&r.code) {
                r.severity = Severity::Info;
            }
        }
        s.reasons.push(capture_loss_reason(s.id, s.lost, dropped, if_dropped));
    }
    if marked.is_empty() {
        return 0;
    }
    for call in doc.calls.iter_mut() {
        let hit: Vec<(u32, (u64, u64))> =
            call.streams.iter().filter_map(|id| marked.get(id).map(|&d| (*id, d))).collect();
        if hit.is_empty() {
            continue;
        }
        let mut reasons = std::mem::take(&mut call.verdict.reasons);
        for r in reasons.iter_mut() {
            if r.stream.is_some_and(|id| marked.contains_key(&id)) && DEMOTED_BY_CAPTURE_LOSS.contains(&r.code) {
                r.severity = Severity::Info;
            }
        }
        for (id, (dropped, if_dropped)) in hit {
            let lost = doc.streams.iter().find(|s| s.id == id).map_or(0, |s| s.lost);
            reasons.push(capture_loss_reason(id, lost, dropped, if_dropped));
        }
        call.verdict = diagnose::verdict_from(reasons);
    }
    marked.len()
}

fn capture_loss_reason(stream: u32, lost: i64, dropped: u64, if_dropped: u64) -> Reason {
    let mut r = Reason::new(
        "capture_loss_suspected",
        ReasonClass::Info,
        Severity::Info,
        None,
        format!(
            "Stream {stream} lost {lost} packet(s) while the capture itself dropped {dropped} packet(s) in the kernel \
             buffer and {if_dropped} at the interface: the loss may be the capture's, not the network's; loss and \
             gap reasons on it are info only."
        ),
        Vec::new(),
    );
    r.subcode = Some("capture_drops");
    r.capture_dependent = true;
    r.stream = Some(stream);
    r.metrics.insert("capture_dropped", dropped as f64);
    r.metrics.insert("capture_if_dropped", if_dropped as f64);
    r
}

/// Gives the batch's streams document-wide ids: every id (streams, calls' stream lists,
/// reasons) is shifted by `offset`. Returns the next free offset.
pub fn renumber_streams(doc: &mut Document, offset: u32) -> u32 {
    let shift = |id: &mut u32| *id = id.saturating_add(offset);
    for s in doc.streams.iter_mut() {
        shift(&mut s.id);
        s.reasons.iter_mut().filter_map(|r| r.stream.as_mut()).for_each(shift);
    }
    for c in doc.calls.iter_mut() {
        c.streams.iter_mut().for_each(shift);
        c.verdict.reasons.iter_mut().filter_map(|r| r.stream.as_mut()).for_each(shift);
    }
    offset.saturating_add(u32::try_from(doc.streams.len()).unwrap_or(u32::MAX))
}

/// On exit every call still open (answered without BYE, or without a final response) is
/// reported `incomplete`: the capture stopped, not the call (issue 11).
pub fn close_open_calls(doc: &mut Document) -> usize {
    let mut n = 0;
    for c in doc.calls.iter_mut() {
        let ended = c.ended_by != EndedBy::Unknown || c.final_status.is_some_and(|s| s >= 300);
        if !ended && c.outcome != Outcome::Incomplete {
            c.outcome = Outcome::Incomplete;
            n += 1;
        }
    }
    n
}

/// The document of one batch: records diagnosed with the run's site map, then site summaries.
/// Only the `last` batch keeps its registration records (an earlier batch carries the
/// registrations so far for the diagnosis; written every time, they would repeat).
pub fn batch_document(
    batch: &crate::pipeline::Analysis,
    sites: &crate::sites::SiteMap,
    site_options: &crate::sites::SiteOptions,
    cfg: &crate::diagnose::DiagnosisConfig,
    last: bool,
) -> Document {
    let mut doc = crate::report::build_with_sites(batch, (!sites.sites.is_empty()).then_some(sites));
    if !last {
        doc.registrations.clear();
    }
    crate::sites::attach_with(&mut doc, sites, site_options, cfg);
    doc
}

/// One line of `intervals.jsonl`.
#[derive(Clone, Debug, Serialize)]
pub struct IntervalRecord {
    /// Capture counters of the interval.
    #[serde(flatten)]
    pub drops: DropWindow,
    /// Calls written in this interval.
    pub calls: usize,
    /// Streams written.
    pub streams: usize,
    /// Streams marked `capture_loss_suspected`.
    pub streams_capture_loss: usize,
    /// Dialogs held after the interval.
    pub held_dialogs: usize,
    /// Streams held.
    pub held_streams: usize,
    /// Frames analysed so far.
    pub frames: u64,
}

/// The output folder: `calls.jsonl`, `streams.jsonl`, `sites.jsonl`, `intervals.jsonl`
/// (appended, one JSON object per line), document-wide stream ids.
pub struct LiveSink {
    dir: PathBuf,
    calls: BufWriter<File>,
    streams: BufWriter<File>,
    sites: BufWriter<File>,
    intervals: BufWriter<File>,
    next_stream_id: u32,
    drop_windows: VecDeque<DropWindow>,
    /// What the terminal view shows.
    pub view: ViewState,
}

impl LiveSink {
    /// Creates `dir` if needed and opens the files for appending.
    pub fn open(dir: &Path) -> io::Result<LiveSink> {
        std::fs::create_dir_all(dir)?;
        let open = |name: &str| -> io::Result<BufWriter<File>> {
            let path: PathBuf = dir.join(name);
            // Never through a symlink planted in the output folder (issue 7 §5).
            Ok(BufWriter::new(crate::report::append_output_file(&path)?))
        };
        Ok(LiveSink {
            dir: dir.to_path_buf(),
            calls: open("calls.jsonl")?,
            streams: open("streams.jsonl")?,
            sites: open("sites.jsonl")?,
            intervals: open("intervals.jsonl")?,
            next_stream_id: 0,
            drop_windows: VecDeque::new(),
            view: ViewState::default(),
        })
    }

    /// Remembers an interval's capture counters, for marking the streams written after it.
    pub fn note_drops(&mut self, drops: DropWindow) {
        if !drops.lost_any() {
            return; // only windows with drops can mark anything
        }
        if self.drop_windows.len() >= MAX_DROP_WINDOWS {
            self.drop_windows.pop_front();
        }
        self.drop_windows.push_back(drops);
    }

    /// Writes an interval's line (counters, what was written, what is held).
    pub fn note_interval(&mut self, record: &IntervalRecord) -> io::Result<()> {
        self.view.on_interval(record);
        serde_json::to_writer(&mut self.intervals, record)?;
        self.intervals.write_all(b"\n")?;
        self.intervals.flush()
    }

    /// Writes one batch (from `Analyzer::take_finished` or `finish`, built by `report::build`
    /// and `sites::attach`): renumbers its streams, marks capture loss, appends calls, streams
    /// and site summaries. Returns (calls, streams, streams marked as capture loss).
    pub fn write_batch(&mut self, doc: &mut Document, at: Timestamp) -> io::Result<(usize, usize, usize)> {
        self.next_stream_id = renumber_streams(doc, self.next_stream_id);
        let windows: Vec<DropWindow> = self.drop_windows.iter().copied().collect();
        let marked = mark_capture_loss(doc, &windows);
        for c in &doc.calls {
            serde_json::to_writer(&mut self.calls, c)?;
            self.calls.write_all(b"\n")?;
        }
        for s in &doc.streams {
            serde_json::to_writer(&mut self.streams, s)?;
            self.streams.write_all(b"\n")?;
        }
        if !doc.calls.is_empty() {
            for site in &doc.sites {
                let line = serde_json::json!({ "interval_end": at, "site": site });
                serde_json::to_writer(&mut self.sites, &line)?;
                self.sites.write_all(b"\n")?;
            }
        }
        self.calls.flush()?;
        self.streams.flush()?;
        self.sites.flush()?;
        self.view.on_batch(doc);
        Ok((doc.calls.len(), doc.streams.len(), marked))
    }
}

impl LiveSink {
    /// Writes the registrations known at the end (`registrations.jsonl`, one line each).
    pub fn write_registrations(&mut self, doc: &Document) -> io::Result<()> {
        let dir = self.dir.clone();
        let mut out = BufWriter::new(crate::report::append_output_file(&dir.join("registrations.jsonl"))?);
        for r in &doc.registrations {
            serde_json::to_writer(&mut out, r)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}

/// Per-site figures the view ranks.
#[derive(Clone, Debug, Default)]
struct SiteFigures {
    calls: u64,
    failed: u64,
    mos_sum: f64,
    mos_n: u64,
}

/// What the refreshing summary shows, accumulated from batches and intervals.
#[derive(Clone, Debug, Default)]
pub struct ViewState {
    /// Calls written so far.
    pub calls: u64,
    /// Calls per verdict class.
    pub by_class: BTreeMap<&'static str, u64>,
    /// Calls per outcome.
    pub by_outcome: BTreeMap<String, u64>,
    /// Lowest and mean MOS of the calls written.
    pub mos_min: Option<f64>,
    mos_sum: f64,
    mos_n: u64,
    sites: BTreeMap<String, SiteFigures>,
    /// (capture time, calls) of recent batches, for calls/min (bounded: last 10 minutes).
    recent: VecDeque<(Timestamp, u64)>,
    /// Capture counters, cumulative.
    pub received: u64,
    /// Kernel drops, cumulative.
    pub dropped: u64,
    /// Interface drops, cumulative.
    pub if_dropped: u64,
    /// Dialogs held at the last interval.
    pub held_dialogs: usize,
    /// Streams held at the last interval.
    pub held_streams: usize,
    /// Capture time of the last interval.
    pub now: Timestamp,
}

impl ViewState {
    fn on_interval(&mut self, r: &IntervalRecord) {
        self.received = self.received.saturating_add(r.drops.received);
        self.dropped = self.dropped.saturating_add(r.drops.dropped);
        self.if_dropped = self.if_dropped.saturating_add(r.drops.if_dropped);
        self.held_dialogs = r.held_dialogs;
        self.held_streams = r.held_streams;
        self.now = r.drops.to;
    }

    fn on_batch(&mut self, doc: &Document) {
        let n = doc.calls.len() as u64;
        self.calls += n;
        let now = doc.calls.iter().filter_map(|c| c.start).max().unwrap_or(self.now);
        self.recent.push_back((now, n));
        while self.recent.front().is_some_and(|(t, _)| now.0.saturating_sub(t.0) > 600_000_000_000) {
            self.recent.pop_front();
        }
        for c in &doc.calls {
            let class = match c.verdict.class {
                VerdictClass::Ok => "ok",
                VerdictClass::Media => "media",
                VerdictClass::Signaling => "signaling",
                VerdictClass::Routing => "routing",
            };
            *self.by_class.entry(class).or_default() += 1;
            let outcome = serde_json::to_value(c.outcome).ok().and_then(|v| v.as_str().map(str::to_owned));
            *self.by_outcome.entry(outcome.unwrap_or_default()).or_default() += 1;
            if let Some(m) = c.mos_min {
                self.mos_min = Some(self.mos_min.map_or(m, |x: f64| x.min(m)));
                self.mos_sum += m;
                self.mos_n += 1;
            }
            let failed = !matches!(c.verdict.class, VerdictClass::Ok);
            for site in [&c.caller_site, &c.callee_site] {
                // Bounded: a site map has few names; without one every call is `unknown`.
                if self.sites.len() >= 1024 && !self.sites.contains_key(site) {
                    continue;
                }
                let f = self.sites.entry(site.clone()).or_default();
                f.calls += 1;
                f.failed += u64::from(failed);
                if let Some(m) = c.mos_min {
                    f.mos_sum += m;
                    f.mos_n += 1;
                }
            }
        }
    }

    /// Calls per minute over the last 10 minutes of capture time (batches written).
    pub fn calls_per_min(&self) -> f64 {
        let (Some(first), Some(last)) = (self.recent.front(), self.recent.back()) else { return 0.0 };
        let span_min = (last.0 .0.saturating_sub(first.0 .0) as f64 / 60e9).max(1.0);
        self.recent.iter().map(|(_, n)| *n as f64).sum::<f64>() / span_min
    }

    /// The summary, one line per fact (the terminal view redraws it; without a terminal it is
    /// printed once per interval).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mos_mean = (self.mos_n > 0).then(|| self.mos_sum / self.mos_n as f64);
        let fmt_mos = |m: Option<f64>| m.map_or("-".to_owned(), |m| format!("{m:.2}"));
        out.push_str(&format!("callscope live  {}\n", self.now));
        out.push_str(&format!(
            "active: {} calls, {} streams   finished: {} calls ({:.1}/min)\n",
            self.held_dialogs,
            self.held_streams,
            self.calls,
            self.calls_per_min()
        ));
        let classes: Vec<String> = self.by_class.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.push_str(&format!("verdicts: {}\n", if classes.is_empty() { "-".into() } else { classes.join(", ") }));
        let outcomes: Vec<String> = self.by_outcome.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.push_str(&format!("outcomes: {}\n", if outcomes.is_empty() { "-".into() } else { outcomes.join(", ") }));
        out.push_str(&format!("MOS: mean {} min {}\n", fmt_mos(mos_mean), fmt_mos(self.mos_min)));
        out.push_str(&format!(
            "capture: {} received, {} dropped (kernel), {} dropped (interface)\n",
            self.received, self.dropped, self.if_dropped
        ));
        let mut worst: Vec<(&String, &SiteFigures)> = self.sites.iter().collect();
        worst.sort_by(|a, b| {
            let rate = |f: &SiteFigures| f.failed as f64 / f.calls.max(1) as f64;
            rate(b.1).total_cmp(&rate(a.1)).then_with(|| a.0.cmp(b.0))
        });
        out.push_str("worst sites:\n");
        for (name, f) in worst.iter().take(5) {
            let mos = (f.mos_n > 0).then(|| f.mos_sum / f.mos_n as f64);
            out.push_str(&format!(
                "  {name:<20} {:>6} calls {:>5.1} % not ok  MOS {}\n",
                f.calls,
                f.failed as f64 * 100.0 / f.calls.max(1) as f64,
                fmt_mos(mos)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests;
