//! One capture input: a streaming pcap / pcapng reader that always holds the next packet
//! ("head") parsed but not yet consumed, so that several inputs can be merged by timestamp.
//!
//! Built on pcap-parser's streaming reader ([`pcap_parser::create_reader`]): a circular buffer
//! that is refilled from the input, so a file is never held in memory as a whole. Records are
//! consumed without shifting the buffer (`consume_noshift`); only a refill moves the unread
//! tail (less than one record) to the front, so packet bytes are copied once, by the `read`.
//! The buffer starts at [`INITIAL_BUFFER`] bytes and grows only when one block is larger, up to
//! [`MAX_BLOCK`]; a record that claims to be larger stops the file with a `BadRecord` warning
//! (legacy pcap records are limited to 262144 bytes, as tshark limits them). After the first
//! packet, the records or blocks of a regular file are read in place from a mapping instead
//! ([`MappedFile`]), by the same parsers and with the same warnings.

use std::io::{self, Read};

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};

use super::mapped::MappedFile;
use super::{CaptureError, Frame, FrameRef, InputSummary, LinkType};
use crate::time::Timestamp;
use crate::warn::{WarningKind, Warnings};

/// Initial size of each input's circular buffer: large enough that reads are efficient and
/// that ordinary blocks (≤ 256 KiB, the largest snap length tools write) fit without growing.
pub(crate) const INITIAL_BUFFER: usize = 512 * 1024;

/// Largest block or record accepted (256 MiB). Anything claiming more is garbage, not a packet.
pub(crate) const MAX_BLOCK: usize = 256 * 1024 * 1024;

/// Largest legacy pcap record accepted. Matches tshark: wiretap's libpcap reader rejects a
/// record bigger than `WTAP_MAX_PACKET_SIZE_STANDARD` (262144) as a bad file, which also stops
/// a garbage length from swallowing the records after it.
const MAX_PCAP_CAPLEN: u32 = 262_144;

/// Most pcapng interfaces kept per section; the table grows with the input, so it is bounded.
const MAX_INTERFACES: usize = 65_536;
/// Most interface names kept per file (over all sections): site matching needs a handful; a
/// file with more only loses the interface of the later ones (their frames carry `None`).
pub(crate) const MAX_INTERFACE_NAMES: usize = 1024;

/// Size of a legacy pcap record header (ts_sec, ts_usec, incl_len, orig_len).
const PCAP_RECORD_HEADER: usize = 16;
/// Size of a "modified" (Kuznetsov) pcap record header: 8 more bytes (ifindex, protocol, type).
const PCAP_MODIFIED_RECORD_HEADER: usize = 24;
/// Offset of the packet data in an Enhanced Packet Block (pcapng §4.3: type, length, interface
/// id, timestamp high/low, captured length, original length).
const EPB_DATA_OFFSET: usize = 28;
/// Enhanced Packet Block type (pcapng §4.3).
const EPB_BLOCK_TYPE: u32 = 0x0000_0006;
/// Shortest Enhanced Packet Block: the fixed fields and the trailing length, no data.
const EPB_MIN_LEN: usize = 32;
/// Offset of the packet data in a Simple Packet Block (pcapng §4.4: type, length, orig length).
const SPB_DATA_OFFSET: usize = 12;
/// Offset of the packet data in the obsolete Packet Block (pcapng appendix: type, length,
/// interface id u16, drops u16, timestamp high/low, captured length, original length).
const PB_DATA_OFFSET: usize = 28;
/// Block type of the obsolete Packet Block, which pcap-parser hands over as an unknown block.
const PB_BLOCK_TYPE: u32 = 0x0000_0002;
/// Block type of the pcapng Section Header Block (a palindrome, same in both byte orders).
const SHB_BLOCK_TYPE: u32 = 0x0A0D_0D0A;
/// Byte-order magic of the SHB as read little-endian from a little-endian section.
const SHB_BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// LINKTYPE values keep the link type in the low 26 bits; the top bits carry FCS information
/// (libpcap `LT_LINKTYPE`).
const LINKTYPE_MASK: u32 = 0x03FF_FFFF;
/// How many refills in a row may add no data before the reader gives up (guards against a
/// reader that neither returns data nor reports end of file).
const MAX_STALLED_REFILLS: u32 = 4;

/// Reads everything asked for on the first call (until the buffer is full or the input ends),
/// then passes reads through. pcap-parser detects the format from its first single `read`,
/// which on a pipe (standard input) may return only a few bytes.
struct FillFirstRead<R> {
    inner: R,
    first: bool,
}

impl<R: Read> Read for FillFirstRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.first {
            return loop {
                match self.inner.read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
        }
        self.first = false;
        let mut filled = 0;
        while let Some(rest) = buf.get_mut(filled..) {
            if rest.is_empty() {
                break;
            }
            match self.inner.read(rest) {
                Ok(0) => break,
                Ok(n) => filled = filled.saturating_add(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

/// Time resolution and offset of one pcapng interface, and its link type.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    /// Index of this interface in [`InputSummary::interfaces`] (None past
    /// [`MAX_INTERFACE_NAMES`]): the capture interface the site map matches (`interface = ...`).
    name_index: Option<u16>,
    /// Timestamp units per second (`if_tsresol`, pcapng §4.2: 10^-n or 2^-n when bit 7 is set).
    units_per_second: u128,
    /// `if_tsoffset`: seconds added to every timestamp.
    offset_secs: i64,
    /// Snap length, which bounds the data of a Simple Packet Block (pcapng §4.4).
    snaplen: u32,
}

/// What the reader knows about the file format, learnt from the file or section header.
#[derive(Debug)]
enum Format {
    /// Legacy pcap: one link type for the file.
    Legacy { big_endian: bool, record_header: usize, link: LinkType, nanosecond: bool },
    /// pcapng: interfaces of the current section.
    Ng { big_endian: bool, interfaces: Vec<Interface> },
}

/// The parsed, not yet consumed packet at the front of the buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head {
    /// Capture time, compared by the merge.
    pub(crate) time: Timestamp,
    /// Link type of the packet's interface.
    link: LinkType,
    /// Length on the wire.
    orig_len: u32,
    /// 1-based frame number in this file.
    number: u64,
    /// Offset of the packet bytes from the start of the buffered block.
    data_start: usize,
    /// Captured length (padding excluded).
    data_len: usize,
    /// Index into the input's interface names (pcapng), None for pcap.
    interface: Option<u16>,
}

/// What one block means for the reader (owned, so the block's borrow of the buffer ends).
enum Step {
    /// A packet: becomes the head; `block_len` bytes are consumed when it has been yielded.
    Packet { head: Head, block_len: usize },
    /// A block without a packet (header, interface, statistics...): consume and go on.
    Skip { block_len: usize },
    /// An Interface Statistics Block with its drop counters (pcapng §4.6): consume, record.
    Statistics { block_len: usize, interface: u32, drops: u64 },
    /// The file cannot be read further.
    Stop { kind: WarningKind, detail: String },
}

/// One input file (or standard input) being read.
pub(crate) struct Input {
    file: u16,
    reader: Box<dyn PcapReaderIterator + Send>,
    /// Current size of the reader's circular buffer.
    capacity: usize,
    format: Format,
    /// The next frame, parsed but still in the buffer.
    pub(crate) head: Option<Head>,
    /// Bytes of the head block, consumed on the next advance (lending-iterator shape).
    pending_consume: usize,
    finished: bool,
    /// Packet blocks seen so far: tshark numbers frames by counting every packet block.
    packet_blocks: u64,
    previous_time: Option<Timestamp>,
    summary: InputSummary,
    /// Latest drop counter per interface (ISB counters are cumulative), bounded by
    /// [`MAX_DROP_INTERFACES`].
    interface_drops: Vec<(u32, u64)>,
    /// pcap-parser has handed over the legacy file header, so the buffer now starts with a
    /// record: [`Input::advance`] may parse complete standard records itself.
    legacy_records: bool,
    /// A pcapng file's first packet block was read: from here on a mapped file's blocks are
    /// parsed in place ([`Input::advance_mapped_ng`]).
    ng_records: bool,
    /// The whole file mapped into memory (regular files), see [`MappedFile`].
    mapped: Option<MappedFile>,
    /// Once the records of a mapped file are read in place: the offset in the file of the head
    /// block (pcap-parser's buffer is no longer used).
    mapped_pos: Option<usize>,
}

/// Interfaces whose ISB drop counters are remembered (more are ignored).
const MAX_DROP_INTERFACES: usize = 64;

impl Input {
    /// Opens a path (`-` = standard input) as input number `file`.
    pub(crate) fn open_path(path: &str, file: u16) -> Result<Input, CaptureError> {
        let source: Box<dyn Read + Send> = if path == "-" {
            Box::new(io::stdin())
        } else {
            let handle =
                std::fs::File::open(path).map_err(|source| CaptureError::Io { path: path.to_string(), source })?;
            let mapped = MappedFile::new(&handle);
            let mut input = Input::from_reader(path, file, Box::new(handle))?;
            input.mapped = mapped;
            return Ok(input);
        };
        Input::from_reader(path, file, source)
    }

    /// Starts reading `source`; fails when it is not a pcap or pcapng capture.
    pub(crate) fn from_reader(path: &str, file: u16, source: Box<dyn Read + Send>) -> Result<Input, CaptureError> {
        let not_a_capture =
            |detail: &str| CaptureError::NotACapture { path: path.to_string(), detail: detail.to_string() };
        let source = FillFirstRead { inner: source, first: true };
        let mut reader = match pcap_parser::create_reader(INITIAL_BUFFER, source) {
            Ok(reader) => reader,
            // Chosen behaviour: an empty file is not a capture (there is no magic to detect).
            Err(PcapError::Eof) => return Err(not_a_capture("empty file")),
            Err(PcapError::ReadError) => {
                return Err(CaptureError::Io { path: path.to_string(), source: io::Error::other("read failed") })
            }
            Err(PcapError::Incomplete(_)) => return Err(not_a_capture("file shorter than a capture file header")),
            Err(PcapError::HeaderNotRecognized) => return Err(not_a_capture("no pcap or pcapng magic number")),
            Err(other) => return Err(not_a_capture(&format!("{other:?}"))),
        };
        // The first block is the pcap file header or the pcapng section header.
        let (format, header_len) = match reader.next() {
            Ok((len, PcapBlockOwned::LegacyHeader(header))) => {
                let link = LinkType((header.network.0 as u32) & LINKTYPE_MASK);
                (
                    Format::Legacy {
                        big_endian: header.is_bigendian(),
                        record_header: if header.is_modified_format() {
                            PCAP_MODIFIED_RECORD_HEADER
                        } else {
                            PCAP_RECORD_HEADER
                        },
                        link,
                        nanosecond: header.is_nanosecond_precision(),
                    },
                    len,
                )
            }
            Ok((len, PcapBlockOwned::NG(Block::SectionHeader(shb)))) => {
                (Format::Ng { big_endian: shb.big_endian(), interfaces: Vec::new() }, len)
            }
            Ok(_) => return Err(not_a_capture("first block is not a file header")),
            Err(e) => return Err(not_a_capture(&format!("bad file header: {e:?}"))),
        };
        reader.consume_noshift(header_len);
        let mut summary = InputSummary { path: path.to_string(), bytes: header_len as u64, ..InputSummary::default() };
        if let Format::Legacy { link, .. } = format {
            summary.link_types.push(link);
        }
        Ok(Input {
            file,
            reader,
            capacity: INITIAL_BUFFER,
            format,
            head: None,
            pending_consume: 0,
            finished: false,
            packet_blocks: 0,
            previous_time: None,
            summary,
            interface_drops: Vec::new(),
            legacy_records: false,
            ng_records: false,
            mapped: None,
            mapped_pos: None,
        })
    }

    /// The head as a frame borrowing the buffer.
    pub(crate) fn frame(&self) -> Option<Frame<'_>> {
        let head = self.head?;
        let end = head.data_start.checked_add(head.data_len)?;
        // The range was checked against the parsed block; an empty slice is a safe fallback.
        let data = self.data().get(head.data_start..end).unwrap_or(&[]);
        Some(Frame {
            at: FrameRef { file: self.file, number: head.number, time: head.time },
            link: head.link,
            data,
            orig_len: head.orig_len,
            interface: head.interface,
        })
    }

    /// The summary so far (the yielded but unconsumed head block counts as read).
    pub(crate) fn summary(&self) -> InputSummary {
        let mut summary = self.summary.clone();
        summary.bytes = summary.bytes.saturating_add(self.pending_consume as u64);
        summary
    }

    /// The unconsumed bytes, starting with the head block: in place in a mapped file, else in
    /// pcap-parser's buffer.
    fn data(&self) -> &[u8] {
        match (self.mapped_pos, &self.mapped) {
            (Some(pos), Some(mapped)) => mapped.bytes().get(pos..).unwrap_or_default(),
            _ => self.reader.data(),
        }
    }

    /// Consumes the current head and parses the next packet into `head` (None at the end).
    pub(crate) fn advance(&mut self, warnings: &mut Warnings) {
        self.head = None;
        if self.pending_consume > 0 {
            match (self.mapped_pos.as_mut(), self.mapped.as_mut()) {
                (Some(pos), Some(mapped)) => {
                    *pos = pos.saturating_add(self.pending_consume);
                    mapped.reader_at(*pos);
                }
                _ => self.reader.consume_noshift(self.pending_consume),
            }
            self.summary.bytes = self.summary.bytes.saturating_add(self.pending_consume as u64);
            self.pending_consume = 0;
        }
        if self.legacy_records && !self.finished {
            let standard = matches!(self.format, Format::Legacy { record_header: PCAP_RECORD_HEADER, .. });
            if standard {
                self.start_reading_in_place();
            }
            if let Some((head, block_len)) = legacy_record(&self.format, self.data(), self.packet_blocks) {
                self.accept_packet(head, warnings);
                self.pending_consume = block_len;
                return;
            }
            if self.mapped_pos.is_some() {
                self.end_of_mapped_records(warnings);
                return;
            }
        }
        if self.ng_records && !self.finished {
            self.start_reading_in_place();
            if let Some((head, block_len)) = enhanced_packet(&self.format, self.data(), self.packet_blocks) {
                self.accept_packet(head, warnings);
                self.pending_consume = block_len;
                return;
            }
            if self.mapped_pos.is_some() {
                self.advance_mapped_ng(warnings);
                return;
            }
        }
        let mut stalled_refills = 0;
        while !self.finished {
            let next_frame_number = self.packet_blocks.saturating_add(1);
            let step = match self.reader.next() {
                Ok((block_len, block)) => interpret_block(
                    &mut self.format,
                    &mut self.summary.link_types,
                    &mut self.summary.interfaces,
                    self.previous_time,
                    next_frame_number,
                    block_len,
                    block,
                ),
                Err(PcapError::Eof) => {
                    self.finished = true;
                    return;
                }
                Err(PcapError::Incomplete(_)) | Err(PcapError::UnexpectedEof) => {
                    if self.need_more_data(warnings, &mut stalled_refills, false) {
                        continue;
                    }
                    return;
                }
                Err(PcapError::BufferTooSmall) => {
                    if self.need_more_data(warnings, &mut stalled_refills, true) {
                        continue;
                    }
                    return;
                }
                Err(e) => {
                    Step::Stop { kind: WarningKind::BadRecord, detail: format!("undecodable capture block ({e:?})") }
                }
            };
            match step {
                Step::Skip { block_len } => {
                    self.reader.consume_noshift(block_len);
                    self.summary.bytes = self.summary.bytes.saturating_add(block_len as u64);
                }
                Step::Statistics { block_len, interface, drops } => {
                    self.reader.consume_noshift(block_len);
                    self.summary.bytes = self.summary.bytes.saturating_add(block_len as u64);
                    self.record_drops(interface, drops);
                }
                Step::Packet { head, block_len } => {
                    self.legacy_records = matches!(self.format, Format::Legacy { .. });
                    self.ng_records = matches!(self.format, Format::Ng { .. });
                    self.accept_packet(head, warnings);
                    self.pending_consume = block_len;
                    return;
                }
                Step::Stop { kind, detail } => {
                    self.stop(warnings, kind, detail);
                    return;
                }
            }
        }
    }

    /// Switches a mapped file to reading in place (once): every byte consumed so far (file
    /// header and blocks) is the offset of the next record or block in the file.
    fn start_reading_in_place(&mut self) {
        if self.mapped_pos.is_some() {
            return;
        }
        if let Some(mapped) = &self.mapped {
            self.mapped_pos = usize::try_from(self.summary.bytes).ok();
            if let Some(pos) = self.mapped_pos {
                mapped.start_reading_at(pos);
            }
        }
    }

    /// The latest cumulative drop counter of `interface` (an Interface Statistics Block).
    fn record_drops(&mut self, interface: u32, drops: u64) {
        if let Some(slot) = self.interface_drops.iter_mut().find(|(i, _)| *i == interface) {
            slot.1 = drops;
        } else if self.interface_drops.len() < MAX_DROP_INTERFACES {
            self.interface_drops.push((interface, drops));
        }
        let total = self.interface_drops.iter().fold(0u64, |sum, (_, d)| sum.saturating_add(*d));
        if total > self.summary.interface_drops.unwrap_or(0) {
            self.summary.interface_drops_after_frame = self.packet_blocks;
        }
        self.summary.interface_drops = Some(total);
    }

    /// [`Input::advance`] for a mapped pcapng file after its first packet block: each block is
    /// parsed in place by pcap-parser's block parser and interpreted as on the streaming path
    /// (same frames, warnings and summary), without copying the file through a buffer (the
    /// streaming path made a pcapng run about 1.5× as long as the same packets in legacy pcap).
    fn advance_mapped_ng(&mut self, warnings: &mut Warnings) {
        while !self.finished {
            let (Some(pos), Format::Ng { big_endian, .. }) = (self.mapped_pos, &self.format) else { return };
            let data = self.mapped.as_ref().and_then(|m| m.bytes().get(pos..)).unwrap_or_default();
            // A block over the limit never fits the streaming path's buffer, whose refusal
            // `end_of_mapped_records` repeats.
            if matches!(declared_block_len(&self.format, data), Some(Ok(len)) if len > MAX_BLOCK) {
                self.end_of_mapped_records(warnings);
                return;
            }
            let parse =
                if *big_endian { pcap_parser::pcapng::parse_block_be } else { pcap_parser::pcapng::parse_block_le };
            let step = match parse(data) {
                Ok((rest, block)) => interpret_block(
                    &mut self.format,
                    &mut self.summary.link_types,
                    &mut self.summary.interfaces,
                    self.previous_time,
                    self.packet_blocks.saturating_add(1),
                    data.len() - rest.len(),
                    PcapBlockOwned::from(block),
                ),
                // The end of the file, a block cut by it, or one whose inner lengths do not fit.
                Err(pcap_parser::nom::Err::Incomplete(_)) => {
                    self.end_of_mapped_records(warnings);
                    return;
                }
                Err(pcap_parser::nom::Err::Error(e) | pcap_parser::nom::Err::Failure(e)) => {
                    Step::Stop { kind: WarningKind::BadRecord, detail: format!("undecodable capture block ({e:?})") }
                }
            };
            match step {
                Step::Skip { block_len } | Step::Statistics { block_len, .. } => {
                    if let Step::Statistics { interface, drops, .. } = step {
                        self.record_drops(interface, drops);
                    }
                    self.summary.bytes = self.summary.bytes.saturating_add(block_len as u64);
                    let next = pos.saturating_add(block_len);
                    self.mapped_pos = Some(next);
                    if let Some(mapped) = self.mapped.as_mut() {
                        mapped.reader_at(next);
                    }
                }
                Step::Packet { head, block_len } => {
                    self.accept_packet(head, warnings);
                    self.pending_consume = block_len;
                    return;
                }
                Step::Stop { kind, detail } => {
                    self.stop(warnings, kind, detail);
                    return;
                }
            }
        }
    }

    /// No record or block to read at the mapped position: the end of the file, or what the
    /// streaming path would say of the one there (a bad or too large length, inner lengths
    /// that contradict the block's, or a block cut by the end of the file).
    fn end_of_mapped_records(&mut self, warnings: &mut Warnings) {
        let available = self.data().len();
        match declared_block_len(&self.format, self.data()) {
            Some(Err(detail)) => self.stop(warnings, WarningKind::BadRecord, detail),
            Some(Ok(needed)) if needed > MAX_BLOCK => self.stop(
                warnings,
                WarningKind::BadRecord,
                format!("record claims {needed} bytes, more than the {MAX_BLOCK}-byte limit"),
            ),
            Some(Ok(needed)) if available >= needed => self.stop(
                warnings,
                WarningKind::BadRecord,
                format!("block of {needed} bytes whose inner lengths do not fit"),
            ),
            _ if available == 0 => self.finished = true,
            _ => {
                self.summary.bytes = self.summary.bytes.saturating_add(available as u64);
                self.stop(
                    warnings,
                    WarningKind::TruncatedCapture,
                    format!("capture file ends inside a record ({available} bytes left over)"),
                );
            }
        }
    }

    /// Counts a packet block, checks time order and makes it the head.
    fn accept_packet(&mut self, head: Head, warnings: &mut Warnings) {
        self.packet_blocks = head.number;
        if let Some(previous) = self.previous_time {
            if head.time < previous {
                // Kept in file order (tshark keeps them too); the merge sees this file's frames
                // in file order, so only the report says that time went backwards.
                warnings.push(self.file, head.number, WarningKind::TimeWentBackwards, || {
                    format!("frame time {} is earlier than the previous frame's {}", head.time, previous)
                });
            }
        }
        self.previous_time = Some(head.time);
        let summary = &mut self.summary;
        summary.packets = summary.packets.saturating_add(1);
        summary.first_time = Some(summary.first_time.map_or(head.time, |t| t.min(head.time)));
        summary.last_time = Some(summary.last_time.map_or(head.time, |t| t.max(head.time)));
        self.head = Some(head);
    }

    /// Ends this file with a warning for the frame that could not be read.
    fn stop(&mut self, warnings: &mut Warnings, kind: WarningKind, detail: String) {
        let frame = self.packet_blocks.saturating_add(1);
        warnings.push(self.file, frame, kind, || detail);
        self.finished = true;
        self.head = None;
    }

    /// The parser needs more bytes: grow the buffer for a large block, refill, or decide that
    /// the file is truncated or corrupt. Returns whether parsing should be tried again.
    ///
    /// The buffer grows only when the parser says the block cannot fit (`buffer_too_small`), so
    /// a garbage length at the end of a file is found to be truncation without allocating.
    fn need_more_data(&mut self, warnings: &mut Warnings, stalled_refills: &mut u32, buffer_too_small: bool) -> bool {
        let available = self.reader.data().len();
        if let Some(declared) = declared_block_len(&self.format, self.reader.data()) {
            let needed = match declared {
                Ok(needed) => needed,
                Err(detail) => {
                    self.stop(warnings, WarningKind::BadRecord, detail);
                    return false;
                }
            };
            if needed > MAX_BLOCK {
                self.stop(
                    warnings,
                    WarningKind::BadRecord,
                    format!("record claims {needed} bytes, more than the {MAX_BLOCK}-byte limit"),
                );
                return false;
            }
            if available >= needed {
                // The whole block is in the buffer and still does not parse: its inner
                // lengths contradict its total length.
                self.stop(
                    warnings,
                    WarningKind::BadRecord,
                    format!("block of {needed} bytes whose inner lengths do not fit"),
                );
                return false;
            }
            if buffer_too_small {
                // Double rather than jump to the declared size, so that a garbage length near
                // the end of a file costs at most about twice the rest of the file before the
                // end shows it is truncation. pcap-parser wants the buffer strictly larger than
                // the block; the margin also keeps refills efficient.
                let target = self.capacity.saturating_mul(2).min(needed.saturating_add(INITIAL_BUFFER));
                if self.reader.grow(target) {
                    self.capacity = target;
                }
            }
        }
        if self.reader.reader_exhausted() {
            if available > 0 {
                self.summary.bytes = self.summary.bytes.saturating_add(available as u64);
                self.stop(
                    warnings,
                    WarningKind::TruncatedCapture,
                    format!("capture file ends inside a record ({available} bytes left over)"),
                );
            } else {
                self.finished = true;
            }
            return false;
        }
        if self.reader.refill().is_err() {
            self.stop(warnings, WarningKind::TruncatedCapture, "read error while reading the capture".to_string());
            return false;
        }
        if self.reader.data().len() == available && !self.reader.reader_exhausted() {
            *stalled_refills += 1;
            if *stalled_refills > MAX_STALLED_REFILLS {
                self.stop(warnings, WarningKind::BadRecord, "reader made no progress on a block".to_string());
                return false;
            }
        } else {
            *stalled_refills = 0;
        }
        true
    }
}

/// The fast path of legacy pcap (the bulk of large captures): a standard 16-byte record header
/// followed by the whole record at the front of `data` is read here directly, exactly as
/// pcap-parser's `parse_pcap_frame` + [`interpret_block`] would read it (same fields, same
/// `MAX_PCAP_CAPLEN` bound), without its per-record dispatch. Anything else (short data, end of
/// file, oversized record, modified pcap) returns `None`: the streaming path then refills,
/// warns and stops as before, and a mapped file ends ([`Input::end_of_mapped_records`]).
fn legacy_record(format: &Format, data: &[u8], packet_blocks: u64) -> Option<(Head, usize)> {
    let Format::Legacy { big_endian, record_header: PCAP_RECORD_HEADER, link, nanosecond } = *format else {
        return None;
    };
    let caplen = read_u32(data, 8, big_endian)?;
    if caplen > MAX_PCAP_CAPLEN {
        return None;
    }
    let block_len = PCAP_RECORD_HEADER.checked_add(caplen as usize)?;
    if data.len() < block_len {
        return None;
    }
    let ts_sec = read_u32(data, 0, big_endian)?;
    let ts_frac = read_u32(data, 4, big_endian)?;
    let orig_len = read_u32(data, 12, big_endian)?;
    let fraction_ns = if nanosecond { i64::from(ts_frac) } else { i64::from(ts_frac).saturating_mul(1000) };
    let time = Timestamp(i64::from(ts_sec).saturating_mul(1_000_000_000).saturating_add(fraction_ns));
    let head = Head {
        time,
        link,
        orig_len,
        number: packet_blocks.saturating_add(1),
        data_start: PCAP_RECORD_HEADER,
        data_len: caplen as usize,
        interface: None,
    };
    Some((head, block_len))
}

/// The fast path of pcapng (the bulk of a pcapng capture is Enhanced Packet Blocks): a whole
/// EPB at the front of `data`, on an interface already described, is read here directly,
/// giving the same frame as pcap-parser's `parse_block_*` + [`interpret_block`], which took
/// about 440 instructions more per block (callgrind: the nom parser, the owned-block enum, the
/// options vector, u128 tick division). Anything that path could treat differently (short
/// data, a length under 32 or over [`MAX_BLOCK`], a trailing length unequal to the leading one,
/// packet data overrunning the block, an unknown interface, another block type) returns
/// `None`, and pcap-parser reads the block as before (a test holds the two paths to the same
/// frames). Options are skipped unread, as [`interpret_block`] ignores an EPB's options.
fn enhanced_packet(format: &Format, data: &[u8], packet_blocks: u64) -> Option<(Head, usize)> {
    let Format::Ng { big_endian, interfaces } = format else {
        return None;
    };
    let big_endian = *big_endian;
    if read_u32(data, 0, big_endian)? != EPB_BLOCK_TYPE {
        return None;
    }
    let block_len = read_u32(data, 4, big_endian)? as usize;
    if !(EPB_MIN_LEN..=MAX_BLOCK).contains(&block_len) || data.len() < block_len {
        return None;
    }
    if read_u32(data, block_len - 4, big_endian)? as usize != block_len {
        return None;
    }
    let caplen = read_u32(data, 20, big_endian)? as usize;
    // The data, padded to 32 bits, must fit between the fixed fields and the trailing length.
    if EPB_DATA_OFFSET.checked_add(caplen.checked_next_multiple_of(4)?)? > block_len - 4 {
        return None;
    }
    let interface = interfaces.get(read_u32(data, 8, big_endian)? as usize)?;
    let ticks = (u64::from(read_u32(data, 12, big_endian)?) << 32) | u64::from(read_u32(data, 16, big_endian)?);
    let head = Head {
        time: ticks_to_time(ticks, interface),
        link: interface.link,
        interface: interface.name_index,
        orig_len: read_u32(data, 24, big_endian)?,
        number: packet_blocks.saturating_add(1),
        data_start: EPB_DATA_OFFSET,
        data_len: caplen,
    };
    Some((head, block_len))
}

/// The total length the block at the front of `data` declares, once its header is buffered:
/// `None` = header incomplete, `Err` = a length that cannot be right.
fn declared_block_len(format: &Format, data: &[u8]) -> Option<Result<usize, String>> {
    match format {
        Format::Legacy { big_endian, record_header, .. } => {
            let caplen = read_u32(data, 8, *big_endian)?;
            if caplen > MAX_PCAP_CAPLEN {
                return Some(Err(format!("record of {caplen} bytes, bigger than the maximum of {MAX_PCAP_CAPLEN}")));
            }
            Some(Ok(record_header.saturating_add(caplen as usize)))
        }
        Format::Ng { big_endian, .. } => {
            let block_type = read_u32(data, 0, false)?;
            let big_endian = if block_type == SHB_BLOCK_TYPE {
                // A new section may switch byte order: its byte-order magic decides (§4.1).
                read_u32(data, 8, false)? != SHB_BYTE_ORDER_MAGIC
            } else {
                *big_endian
            };
            let len = read_u32(data, 4, big_endian)?;
            // pcapng §3.1: the total length includes the 12 bytes of framing and is a
            // multiple of 4.
            if len < 12 || len % 4 != 0 {
                return Some(Err(format!("bad pcapng block length {len}")));
            }
            Some(Ok(len as usize))
        }
    }
}

/// Reads a u32 at `offset` in the given byte order, if the bytes are there.
fn read_u32(data: &[u8], offset: usize, big_endian: bool) -> Option<u32> {
    let bytes: [u8; 4] = data.get(offset..offset.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian { u32::from_be_bytes(bytes) } else { u32::from_le_bytes(bytes) })
}

/// Turns one parsed block into a [`Step`], updating the interface table and link types.
fn interpret_block(
    format: &mut Format,
    link_types: &mut Vec<LinkType>,
    interface_names: &mut Vec<Option<String>>,
    previous_time: Option<Timestamp>,
    number: u64,
    block_len: usize,
    block: PcapBlockOwned<'_>,
) -> Step {
    let bad = |detail: String| Step::Stop { kind: WarningKind::BadRecord, detail };
    match (block, format) {
        (PcapBlockOwned::Legacy(record), Format::Legacy { record_header, link, nanosecond, .. }) => {
            if record.caplen > MAX_PCAP_CAPLEN {
                return bad(format!("record of {} bytes, bigger than the maximum of {MAX_PCAP_CAPLEN}", record.caplen));
            }
            let fraction_ns =
                if *nanosecond { i64::from(record.ts_usec) } else { i64::from(record.ts_usec).saturating_mul(1000) };
            let time = Timestamp(i64::from(record.ts_sec).saturating_mul(1_000_000_000).saturating_add(fraction_ns));
            Step::Packet {
                head: Head {
                    time,
                    link: *link,
                    interface: None,
                    orig_len: record.origlen,
                    number,
                    data_start: *record_header,
                    data_len: record.data.len(),
                },
                block_len,
            }
        }
        (PcapBlockOwned::NG(block), Format::Ng { big_endian, interfaces }) => match block {
            Block::SectionHeader(shb) => {
                // A new section: interface numbering starts again (pcapng §4.1).
                *big_endian = shb.big_endian();
                interfaces.clear();
                Step::Skip { block_len }
            }
            Block::InterfaceDescription(idb) => {
                if interfaces.len() >= MAX_INTERFACES {
                    return bad(format!("more than {MAX_INTERFACES} interfaces in one section"));
                }
                let Some(units_per_second) = units_per_second(idb.if_tsresol) else {
                    return bad(format!("unusable if_tsresol {:#04x}", idb.if_tsresol));
                };
                // pcap-parser 0.17 decodes if_tsoffset as little-endian whatever the section's
                // byte order; undo that for big-endian sections.
                let offset_secs = if *big_endian { idb.if_tsoffset.swap_bytes() } else { idb.if_tsoffset };
                let link = LinkType((idb.linktype.0 as u32) & LINKTYPE_MASK);
                if !link_types.contains(&link) {
                    link_types.push(link);
                }
                let name_index = (interface_names.len() < MAX_INTERFACE_NAMES)
                    .then(|| u16::try_from(interface_names.len()).ok())
                    .flatten();
                if name_index.is_some() {
                    // pcapng §4.2 if_name (e.g. "eth1"); invalid UTF-8 counts as unnamed.
                    interface_names.push(idb.if_name().and_then(Result::ok).map(str::to_owned));
                }
                interfaces.push(Interface { link, name_index, units_per_second, offset_secs, snaplen: idb.snaplen });
                Step::Skip { block_len }
            }
            Block::EnhancedPacket(epb) => {
                let Some(interface) = interfaces.get(epb.if_id as usize) else {
                    // tshark stops the file here too ("interface id out of range").
                    return bad(format!(
                        "packet on interface {} but only {} interfaces described",
                        epb.if_id,
                        interfaces.len()
                    ));
                };
                let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let data_len = (epb.caplen as usize).min(epb.data.len());
                Step::Packet {
                    head: Head {
                        time: ticks_to_time(ticks, interface),
                        link: interface.link,
                        interface: interface.name_index,
                        orig_len: epb.origlen,
                        number,
                        data_start: EPB_DATA_OFFSET,
                        data_len,
                    },
                    block_len,
                }
            }
            Block::SimplePacket(spb) => {
                let Some(interface) = interfaces.first() else {
                    return bad("simple packet block before any interface".to_string());
                };
                // pcapng §4.4: captured length = min(original length, snap length of
                // interface 0), and never more than the block holds.
                let mut data_len = (spb.origlen as usize).min(spb.data.len());
                if interface.snaplen != 0 {
                    data_len = data_len.min(interface.snaplen as usize);
                }
                Step::Packet {
                    head: Head {
                        // An SPB has no timestamp; reuse the previous frame's so that merging
                        // and time order are not disturbed (0 when it is the first frame).
                        time: previous_time.unwrap_or_default(),
                        link: interface.link,
                        interface: interface.name_index,
                        orig_len: spb.origlen,
                        number,
                        data_start: SPB_DATA_OFFSET,
                        data_len,
                    },
                    block_len,
                }
            }
            Block::Unknown(unknown) if normalized_type(unknown.block_type, *big_endian) == PB_BLOCK_TYPE => {
                obsolete_packet_block(unknown.data, *big_endian, interfaces, number, block_len)
            }
            Block::InterfaceStatistics(isb) => {
                // pcap-parser 0.17 reads option values little-endian whatever the section's
                // byte order (as for if_tsoffset above); undo that for big-endian sections.
                let value = |v: Option<Result<u64, _>>| {
                    v.and_then(Result::ok).map_or(0, |d: u64| if *big_endian { d.swap_bytes() } else { d })
                };
                let (ifdrop, osdrop) = (isb.isb_ifdrop(), isb.isb_osdrop());
                if ifdrop.is_none() && osdrop.is_none() {
                    return Step::Skip { block_len };
                }
                Step::Statistics { block_len, interface: isb.if_id, drops: value(ifdrop).saturating_add(value(osdrop)) }
            }
            _ => Step::Skip { block_len },
        },
        (PcapBlockOwned::LegacyHeader(_), _) => bad("a second pcap file header inside the file".to_string()),
        _ => bad("block of the other capture format".to_string()),
    }
}

/// pcap-parser reads an unknown block's type little-endian; this gives its real value.
fn normalized_type(raw_le: u32, big_endian: bool) -> u32 {
    if big_endian {
        raw_le.swap_bytes()
    } else {
        raw_le
    }
}

/// Decodes the obsolete Packet Block (type 2), which pcap-parser does not parse. `body` is the
/// block without its 8-byte header and 4-byte trailer.
fn obsolete_packet_block(
    body: &[u8],
    big_endian: bool,
    interfaces: &[Interface],
    number: u64,
    block_len: usize,
) -> Step {
    let bad = |detail: String| Step::Stop { kind: WarningKind::BadRecord, detail };
    let (Some(ids), Some(ts_high), Some(ts_low), Some(caplen), Some(origlen)) = (
        read_u32(body, 0, big_endian),
        read_u32(body, 4, big_endian),
        read_u32(body, 8, big_endian),
        read_u32(body, 12, big_endian),
        read_u32(body, 16, big_endian),
    ) else {
        return bad("packet block too short for its header".to_string());
    };
    // Interface id is the first u16 of the block, drops count the second.
    let interface_id = if big_endian { ids >> 16 } else { ids & 0xFFFF };
    let Some(interface) = interfaces.get(interface_id as usize) else {
        return bad(format!("packet on interface {interface_id} but only {} interfaces described", interfaces.len()));
    };
    let data_len = caplen as usize;
    let data_body_offset = PB_DATA_OFFSET - 8;
    if data_body_offset.saturating_add(data_len) > body.len() {
        return bad(format!("packet block captured length {caplen} exceeds the block"));
    }
    let ticks = (u64::from(ts_high) << 32) | u64::from(ts_low);
    Step::Packet {
        head: Head {
            time: ticks_to_time(ticks, interface),
            link: interface.link,
            interface: interface.name_index,
            orig_len: origlen,
            number,
            data_start: PB_DATA_OFFSET,
            data_len,
        },
        block_len,
    }
}

/// Timestamp units per second from `if_tsresol` (pcapng §4.2: bit 7 clear = 10^-n seconds,
/// set = 2^-n seconds), or `None` when it does not fit 128 bits.
fn units_per_second(tsresol: u8) -> Option<u128> {
    let exponent = u32::from(tsresol & 0x7F);
    if tsresol & 0x80 == 0 {
        10u128.checked_pow(exponent)
    } else {
        1u128.checked_shl(exponent)
    }
}

/// Converts a pcapng tick count to a [`Timestamp`], truncating sub-nanosecond parts as
/// Wireshark's pcapng reader does (`(ticks % units) * 10^9 / units`).
fn ticks_to_time(ticks: u64, interface: &Interface) -> Timestamp {
    let units = interface.units_per_second.max(1);
    // The usual resolutions (10^6, 10^9 per second) fit u64 arithmetic, which is a few
    // instructions where u128 division is a library call; both give the same quotients.
    let (secs, nanos) = match u64::try_from(units) {
        Ok(units) if (ticks % units).checked_mul(1_000_000_000).is_some() => {
            (u128::from(ticks / units), u128::from((ticks % units) * 1_000_000_000 / units))
        }
        _ => {
            let ticks = u128::from(ticks);
            // The remainder is below 2^64 (it is at most `ticks`), so multiplying by 10^9 fits.
            (ticks / units, (ticks % units) * 1_000_000_000 / units)
        }
    };
    let total = i128::try_from(secs)
        .unwrap_or(i128::MAX)
        .saturating_add(i128::from(interface.offset_secs))
        .saturating_mul(1_000_000_000)
        .saturating_add(i128::try_from(nanos).unwrap_or(0));
    Timestamp(i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX }))
}

#[cfg(test)]
mod fast_path_tests {
    use super::super::tests::{block, put_u32};
    use super::*;

    /// An Enhanced Packet Block with `data` and raw `options` (already padded).
    fn epb(be: bool, if_id: u32, ticks: u64, data: &[u8], orig: u32, options: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        for field in [if_id, (ticks >> 32) as u32, ticks as u32, data.len() as u32, orig] {
            put_u32(&mut body, field, be);
        }
        body.extend_from_slice(data);
        body.resize(body.len().next_multiple_of(4), 0);
        body.extend_from_slice(options);
        let mut out = Vec::new();
        block(&mut out, EPB_BLOCK_TYPE, &body, be);
        out
    }

    fn ng(be: bool) -> Format {
        let interface = |link, units_per_second, offset_secs, name_index| Interface {
            link: LinkType(link),
            name_index,
            units_per_second,
            offset_secs,
            snaplen: 0,
        };
        Format::Ng {
            big_endian: be,
            interfaces: vec![interface(1, 1_000_000, 0, Some(0)), interface(113, 1_000_000_000, -7, None)],
        }
    }

    /// What pcap-parser + [`interpret_block`] make of the block at the front of `data`.
    fn reference(format: &mut Format, data: &[u8], number: u64) -> Option<(String, usize)> {
        let Format::Ng { big_endian, .. } = format else { return None };
        let parse = if *big_endian { pcap_parser::pcapng::parse_block_be } else { pcap_parser::pcapng::parse_block_le };
        let (rest, block) = parse(data).ok()?;
        let block_len = data.len() - rest.len();
        let block = PcapBlockOwned::from(block);
        match interpret_block(format, &mut Vec::new(), &mut Vec::new(), None, number, block_len, block) {
            Step::Packet { head, block_len } => Some((format!("{head:?}"), block_len)),
            _ => None,
        }
    }

    /// The fast path reads every block it accepts exactly as pcap-parser does (the same frame
    /// and length), over both byte orders, options, padding, both interfaces, and thousands of
    /// blocks with random bytes overwritten; and it accepts the well-formed ones (else this
    /// test would prove nothing).
    #[test]
    fn enhanced_packets_read_as_pcap_parser_reads_them() {
        let option = |be: bool| {
            // opt_comment "hi" (code 1, length 2, padded), then opt_endofopt.
            let mut o = Vec::new();
            o.extend_from_slice(&if be { [0, 1, 0, 2] } else { [1, 0, 2, 0] });
            o.extend_from_slice(b"hi\0\0");
            o.extend_from_slice(&[0; 4]);
            o
        };
        let mut seeds = Vec::new();
        for be in [false, true] {
            for (len, options) in
                [(0, Vec::new()), (1, Vec::new()), (61, Vec::new()), (64, option(be)), (3, option(be))]
            {
                let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
                seeds.push((be, epb(be, (len % 2) as u32, 1_700_000_000_123_456 + len as u64, &data, 1500, &options)));
            }
        }
        let mut rng = crate::synth::XorShift64::new(1);
        let mut random = move || rng.next_u64();
        let (mut accepted, mut compared) = (0, 0);
        for (be, seed) in &seeds {
            let format = ng(*be);
            let fast = enhanced_packet(&format, seed, 41).map(|(head, len)| (format!("{head:?}"), len));
            assert!(fast.is_some(), "well-formed block refused: {seed:?}");
            assert_eq!(fast, reference(&mut ng(*be), seed, 42));
            for _ in 0..2000 {
                let mut block = seed.clone();
                // Mostly the fixed fields and the trailing length, where lengths can lie.
                for _ in 0..1 + random() % 3 {
                    let at = if random() % 4 == 0 {
                        block.len() - 1 - (random() as usize % 4)
                    } else {
                        random() as usize % 28
                    };
                    block[at] = random() as u8;
                }
                if random() % 5 == 0 {
                    block.truncate(random() as usize % block.len());
                }
                let Some((head, len)) = enhanced_packet(&format, &block, 41) else { continue };
                accepted += 1;
                compared += 1;
                assert_eq!(Some((format!("{head:?}"), len)), reference(&mut ng(*be), &block, 42), "{block:?}");
            }
        }
        assert!(accepted > 1000 && compared == accepted, "only {accepted} mutated blocks exercised the fast path");
    }

    /// The u64 shortcut of [`ticks_to_time`] gives the u128 formula's result for every
    /// resolution pcapng can declare that fits u64, including 2^-n ones and 10^-19.
    #[test]
    fn tick_conversion_matches_the_wide_formula() {
        let wide = |ticks: u64, units: u128, offset: i64| {
            let t = u128::from(ticks);
            let total = i128::try_from(t / units)
                .unwrap_or(i128::MAX)
                .saturating_add(i128::from(offset))
                .saturating_mul(1_000_000_000)
                .saturating_add(i128::try_from((t % units) * 1_000_000_000 / units).unwrap_or(0));
            Timestamp(i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX }))
        };
        let mut rng = crate::synth::XorShift64::new(2);
        for tsresol in (0u8..=19).chain(0x80..=0xBF) {
            let Some(units) = units_per_second(tsresol) else { continue };
            let interface =
                Interface { link: LinkType(1), name_index: None, units_per_second: units, offset_secs: 3, snaplen: 0 };
            for _ in 0..500 {
                let state = rng.next_u64();
                for ticks in [state, state >> 20, state % 1_000_000_007, u64::MAX, 0] {
                    assert_eq!(ticks_to_time(ticks, &interface), wide(ticks, units.max(1), 3), "{tsresol:#x} {ticks}");
                }
            }
        }
    }
}
