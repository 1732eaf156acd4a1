//! Stage 1 — capture: pcap / pcapng files (or standard input) → [`Frame`]s in time order.
//!
//! Input: byte streams. Output: borrowed frames, one at a time, each with its file index,
//! 1-based frame number, timestamp and link type. State: one streaming reader per input file
//! (the whole file is never held in memory; regular files are read in place from a mapping
//! whose pages are released behind the reader) and the merge of several files by timestamp.

mod mapped;
mod reader;

use crate::time::Timestamp;
use crate::warn::Warnings;

/// A link-layer header type (LINKTYPE_* number from the pcap/pcapng header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback (4-byte address family in host byte order).
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (no link header).
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback (4-byte address family in network byte order).
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// The name capinfos prints, for `inputs[].link_types`.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "NULL",
            1 => "EN10MB",
            12 | 101 => "RAW",
            108 => "LOOP",
            113 => "LINUX_SLL",
            228 => "IPV4",
            229 => "IPV6",
            276 => "LINUX_SLL2",
            _ => "OTHER",
        }
    }
}

/// Where a frame came from: input file index and 1-based frame number (tshark's numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FrameRef {
    /// Index of the input file on the command line (0-based).
    pub file: u16,
    /// 1-based frame number within the file.
    pub number: u64,
    /// Capture timestamp.
    pub time: Timestamp,
}

/// One captured frame, borrowing the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// File, number and time.
    pub at: FrameRef,
    /// Link type of the interface the frame was captured on.
    pub link: LinkType,
    /// Captured bytes (may be shorter than `orig_len` when the snap length cut it).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub orig_len: u32,
    /// Capture interface: index into the file's [`InputSummary::interfaces`] (pcapng), None for
    /// pcap files and interfaces past the cap. Matched by the site map's `interface`.
    pub interface: Option<u16>,
}

/// Summary of one input, filled in while reading; becomes `inputs[]` in the output.
#[derive(Clone, Debug, Default)]
pub struct InputSummary {
    /// Path as given on the command line (`-` for standard input).
    pub path: String,
    /// Link types seen (distinct, in order of first appearance).
    pub link_types: Vec<LinkType>,
    /// Frames read.
    pub packets: u64,
    /// Bytes read from the file.
    pub bytes: u64,
    /// First and last frame time.
    pub first_time: Option<Timestamp>,
    /// Last frame time.
    pub last_time: Option<Timestamp>,
    /// Packets the capturing host reported dropped: the sum over interfaces of the latest
    /// pcapng Interface Statistics Block's `isb_ifdrop` + `isb_osdrop` (pcapng §4.6); `None`
    /// when no ISB carried them. For `capture_loss_suspected` (diagnosis.md §4.4).
    pub interface_drops: Option<u64>,
    /// Frames read before the ISB that reported the drops (the ISB has no frame number).
    pub interface_drops_after_frame: u64,
    /// pcapng interface names (`if_name`) in Interface Description Block order over all
    /// sections; None for an unnamed interface. Empty for pcap files.
    pub interfaces: Vec<Option<String>>,
}

/// Errors that stop reading an input before any frame could be read (not a capture, cannot open).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The input path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not pcap or pcapng.
    #[error("{path}: not a pcap or pcapng capture ({detail})")]
    NotACapture {
        /// The input path.
        path: String,
        /// What the reader saw.
        detail: String,
    },
}

/// Reads frames from several inputs merged by timestamp (ties: the earlier file first).
///
/// A lending iterator: each frame borrows the reader and is valid until the next call.
///
/// Each input keeps its next packet parsed but unconsumed in its own buffer (the "head"); the
/// merge yields the smallest head and consumes it at the start of the next call. Within one
/// file frames keep file order even when time goes backwards (a `TimeWentBackwards` warning
/// is recorded), because the merge compares only the heads.
///
/// Inputs that are not captures at all fail [`CaptureSet::open`]; an empty file is treated as
/// not a capture (`NotACapture`, "empty file"). A file holding only a header yields no frames.
pub struct CaptureSet {
    inputs: Vec<reader::Input>,
    /// Whether every input has parsed its first head (done lazily: `open` has no warnings).
    started: bool,
    /// The input whose head was yielded last; it is consumed at the start of the next call.
    yielded: Option<usize>,
}

impl CaptureSet {
    /// Opens every path (`-` = standard input, at most once). Fails only when an input is
    /// unreadable or not a capture at all; problems inside a file become warnings while reading.
    pub fn open(paths: &[String]) -> Result<CaptureSet, CaptureError> {
        if paths.iter().filter(|p| p.as_str() == "-").count() > 1 {
            return Err(CaptureError::Io {
                path: "-".to_string(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "standard input given more than once"),
            });
        }
        let mut inputs = Vec::with_capacity(paths.len());
        for (index, path) in paths.iter().enumerate() {
            let file = u16::try_from(index).map_err(|_| CaptureError::Io {
                path: path.clone(),
                source: std::io::Error::other("more than 65536 input files"),
            })?;
            inputs.push(reader::Input::open_path(path, file)?);
        }
        Ok(CaptureSet::from_inputs(inputs))
    }

    /// Reads captures from arbitrary byte streams (named `name` in summaries and errors); used
    /// for standard-input-like sources and tests.
    pub fn from_readers(sources: Vec<(String, Box<dyn std::io::Read + Send>)>) -> Result<CaptureSet, CaptureError> {
        let mut inputs = Vec::with_capacity(sources.len());
        for (index, (name, source)) in sources.into_iter().enumerate() {
            let file = u16::try_from(index).map_err(|_| CaptureError::Io {
                path: name.clone(),
                source: std::io::Error::other("more than 65536 input files"),
            })?;
            inputs.push(reader::Input::from_reader(&name, file, source)?);
        }
        Ok(CaptureSet::from_inputs(inputs))
    }

    fn from_inputs(inputs: Vec<reader::Input>) -> CaptureSet {
        CaptureSet { inputs, started: false, yielded: None }
    }

    /// The next frame in time order across all inputs, or `None` at the end of every input.
    /// Truncation and bad records are reported to `warnings` with the frame number, and the
    /// reader stops that file (or skips the record) without losing earlier frames.
    pub fn next_frame(&mut self, warnings: &mut Warnings) -> Option<Frame<'_>> {
        if !self.started {
            self.started = true;
            for input in &mut self.inputs {
                input.advance(warnings);
            }
        } else if let Some(index) = self.yielded.take() {
            if let Some(input) = self.inputs.get_mut(index) {
                input.advance(warnings);
            }
        }
        let pick = if self.inputs.len() == 1 {
            // The common case: one file, nothing to compare.
            Some(0).filter(|_| self.inputs.first().is_some_and(|i| i.head.is_some()))
        } else {
            // Smallest head time; `min_by_key` keeps the first of equal keys, so ties go to
            // the lower file index.
            self.inputs
                .iter()
                .enumerate()
                .filter_map(|(index, input)| input.head.map(|head| (head.time, index)))
                .min_by_key(|&(time, _)| time)
                .map(|(_, index)| index)
        }?;
        self.yielded = Some(pick);
        self.inputs.get(pick)?.frame()
    }

    /// Per-input summaries (path, link types, counts, first/last time).
    ///
    /// `first_time`/`last_time` are the earliest and latest frame times, as capinfos reports
    /// them; `bytes` counts every byte read from the input, including a truncated tail.
    pub fn summaries(&self) -> Vec<InputSummary> {
        self.inputs.iter().map(reader::Input::summary).collect()
    }
}

#[cfg(test)]
mod tests;
