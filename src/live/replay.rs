//! Capture files analysed the live way (`callscope analyze --jsonl DIR`): the incremental
//! [`Analyzer`] reads the files in time order and, every [`ReplayOptions::interval_ns`] of
//! capture time, writes the calls that are over into the [`LiveSink`] layout and drops them
//! from memory. Memory then follows the calls in progress, not the length of the capture (a
//! night of cutover traffic reads in the memory of its busiest minute), at two costs, both
//! those of `callscope live`: the run is single-threaded (the stream states must stay in the
//! analyzer that lets them go), and rules across calls (legs of one call through a B2BUA, a
//! misdirected stream judged against the other calls' addresses) see only the calls held
//! together. Every time is capture time, so a replay gives the same lines on every run.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::{DropWindow, IntervalRecord, LiveSink};
use crate::capture::{CaptureError, CaptureSet};
use crate::config::Config;
use crate::pipeline::{Analysis, Analyzer, IncrementalLimits};
use crate::report::records::Input;
use crate::report::Document;
use crate::sites::{SiteMap, SiteOptions};
use crate::time::Timestamp;

/// How a replay runs.
#[derive(Clone, Debug)]
pub struct ReplayOptions<'a> {
    /// Output folder (created; its `.jsonl` files are replaced, not appended to).
    pub out: &'a Path,
    /// Capture time between two flushes of finished calls, ns.
    pub interval_ns: i64,
    /// When a call or stream is over ([`IncrementalLimits`]).
    pub limits: IncrementalLimits,
    /// Site map (empty: every address is site `unknown`).
    pub sites: &'a SiteMap,
    /// Site summary options.
    pub site_options: SiteOptions,
}

/// When a replay lets a call go: those of `live`, except that a call whose last answer was a
/// failure waits as long as an idle call for a retry on its Call-ID (a person typing a password
/// after a 401 takes longer than a phone; the live view prefers to show failures early).
pub fn file_limits() -> IncrementalLimits {
    let live = IncrementalLimits::default();
    IncrementalLimits { failure_retry_ns: live.call_idle_ns, ..live }
}

/// What a replay wrote, and the most it held at once (the figures memory follows).
#[derive(Clone, Debug, Default)]
pub struct ReplaySummary {
    /// Frames read.
    pub frames: u64,
    /// Calls written.
    pub calls: u64,
    /// Streams written.
    pub streams: u64,
    /// Batches written (one per interval, and the last at the end of the input).
    pub batches: u64,
    /// Most dialogs held after any interval.
    pub max_held_dialogs: usize,
    /// Most streams held after any interval.
    pub max_held_streams: usize,
    /// Per-input summaries, with their warnings (also written to `inputs.jsonl`).
    pub inputs: Vec<Input>,
}

/// Files of one run, replaced at its start (a live run appends; a replay starts over).
const OUTPUT_FILES: [&str; 6] =
    ["calls.jsonl", "streams.jsonl", "sites.jsonl", "intervals.jsonl", "registrations.jsonl", "inputs.jsonl"];

/// Analyses `paths` incrementally into `opts.out` (see the module docs).
pub fn replay(paths: &[String], config: &Config, opts: &ReplayOptions<'_>) -> Result<ReplaySummary, ReplayError> {
    let mut capture = CaptureSet::open(paths)?;
    crate::report::create_output_dir(opts.out)?;
    for name in OUTPUT_FILES {
        crate::report::clear_output_path(&opts.out.join(name))?;
    }
    let mut out = BatchWriter { sink: LiveSink::open(opts.out)?, config, opts, summary: ReplaySummary::default() };
    let mut analyzer = Analyzer::new(config);
    analyzer.set_incremental_limits(opts.limits);
    let mut interval_from: Option<Timestamp> = None;
    while let Some(frame) = capture.next_frame(analyzer.warnings_mut()) {
        let now = frame.at.time;
        analyzer.push_frame(&frame);
        let from = *interval_from.get_or_insert(now);
        if now.0.saturating_sub(from.0) >= opts.interval_ns.max(1) {
            let mut batch = analyzer.take_finished(now);
            // The inputs as read so far (interface names, file numbers), not live's one span.
            batch.inputs = capture.summaries();
            let held = (analyzer.held_dialogs(), analyzer.held_streams());
            out.write(&batch, from, now, analyzer.progress().frames, Some(held))?;
            interval_from = Some(now);
        }
    }
    let end = analyzer.capture_end();
    let frames = analyzer.progress().frames;
    let mut last = analyzer.finish();
    last.inputs = capture.summaries();
    let doc = out.write(&last, interval_from.unwrap_or(end), end, frames, None)?;
    out.sink.write_registrations(&doc)?;
    let mut inputs = BufWriter::new(crate::report::append_output_file(&opts.out.join("inputs.jsonl"))?);
    for input in &doc.inputs {
        serde_json::to_writer(&mut inputs, input)?;
        inputs.write_all(b"\n")?;
    }
    inputs.flush()?;
    out.summary.inputs = doc.inputs;
    out.summary.frames = frames;
    Ok(out.summary)
}

/// Writes batches into the sink and keeps the tally.
struct BatchWriter<'a> {
    sink: LiveSink,
    config: &'a Config,
    opts: &'a ReplayOptions<'a>,
    summary: ReplaySummary,
}

impl BatchWriter<'_> {
    /// Writes the calls and streams of `batch` and the interval's line, with the dialogs and
    /// streams still `held` (`None`: the last batch); returns the batch's document. Unlike
    /// `live`, calls open at the end keep the outcome the one-document run gives them (the
    /// file ended, as it does for that run).
    fn write(
        &mut self,
        batch: &Analysis,
        from: Timestamp,
        to: Timestamp,
        frames: u64,
        held: Option<(usize, usize)>,
    ) -> io::Result<Document> {
        let mut doc = super::batch_document(
            batch,
            self.opts.sites,
            &self.opts.site_options,
            &self.config.diagnosis,
            held.is_none(),
        );
        let (held_dialogs, held_streams) = held.unwrap_or((0, 0));
        let (calls, streams, _) = self.sink.write_batch(&mut doc, to)?;
        let record = IntervalRecord {
            // A file has no kernel drop counters: `received` is the frames read in the interval.
            drops: DropWindow {
                from,
                to,
                received: frames.saturating_sub(self.summary.frames),
                dropped: 0,
                if_dropped: 0,
            },
            calls,
            streams,
            streams_capture_loss: 0,
            held_dialogs,
            held_streams,
            frames,
        };
        self.summary.frames = frames;
        self.summary.calls += calls as u64;
        self.summary.streams += streams as u64;
        self.summary.batches += 1;
        self.summary.max_held_dialogs = self.summary.max_held_dialogs.max(held_dialogs);
        self.summary.max_held_streams = self.summary.max_held_streams.max(held_streams);
        self.sink.note_interval(&record)?;
        Ok(doc)
    }
}

/// Why a replay stopped.
#[derive(Debug)]
pub enum ReplayError {
    /// An input could not be opened or is not a capture.
    Capture(CaptureError),
    /// The output could not be written.
    Io(io::Error),
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayError::Capture(e) => write!(f, "{e}"),
            ReplayError::Io(e) => write!(f, "writing the output: {e}"),
        }
    }
}

impl std::error::Error for ReplayError {}

impl From<CaptureError> for ReplayError {
    fn from(e: CaptureError) -> Self {
        ReplayError::Capture(e)
    }
}

impl From<io::Error> for ReplayError {
    fn from(e: io::Error) -> Self {
        ReplayError::Io(e)
    }
}

impl From<serde_json::Error> for ReplayError {
    fn from(e: serde_json::Error) -> Self {
        ReplayError::Io(e.into())
    }
}
