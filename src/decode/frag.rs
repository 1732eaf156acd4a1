//! IP fragment reassembly (IPv4 RFC 791 §3.2, IPv6 RFC 8200 §4.5), bounded.
//!
//! A set is keyed by (source, destination, identification, protocol). Limits
//! ([`DecodeLimits`]): at most `max_fragment_sets` sets and `max_fragment_bytes` buffered bytes
//! (the oldest set is evicted with a `FragmentDropped` warning when a new fragment needs room),
//! and a set older than `fragment_timeout_ns` of capture time is dropped with a warning.
//!
//! Overlaps: a fragment whose bytes lie wholly inside data already received and equal it is a
//! duplicate (a retransmission or a capture on two interfaces) and is ignored; any other overlap
//! or a contradicting end of datagram drops the whole set with a warning — the policy RFC 5722
//! §4 prescribes for IPv6, applied to IPv4 too because overlapping fragments are an evasion
//! trick and callscope must not guess which copy the receiver used.
//!
//! The key has no input-file index: when several files are merged, fragments of one datagram
//! captured in two files (the same link seen twice) join one set, and copies count as
//! duplicates. Sets are looked up by a linear scan — incomplete sets are few in VoIP traffic,
//! and the scan is bounded by `max_fragment_sets`.
//!
//! Buffers of completed sets are handed to the caller and come back through
//! [`FragmentTable::recycle`], so steady-state reassembly does not allocate.

use std::collections::VecDeque;
use std::net::IpAddr;

use super::{DecodeCounters, DecodeLimits, Stop};
use crate::capture::FrameRef;
use crate::warn::{WarningKind, Warnings};

/// Largest IP datagram (without jumbograms): fragments ending past it are malformed.
const MAX_DATAGRAM: u32 = 65_535;
/// Most disjoint received ranges per set; more means a hostile fragment pattern.
const MAX_RANGES_PER_SET: usize = 256;
/// Buffers kept for reuse.
const MAX_SPARE_BUFFERS: usize = 8;

/// Received byte ranges `(start, end)` of one set.
type Ranges = Vec<(u32, u32)>;

/// Identifies the fragments of one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FragmentKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP identification.
    pub id: u32,
    /// Protocol of the reassembled payload.
    pub proto: u8,
}

/// One received fragment.
#[derive(Clone, Copy, Debug)]
pub(super) struct Piece<'a> {
    /// Which datagram.
    pub key: FragmentKey,
    /// Byte offset of `data` in the datagram.
    pub offset: u32,
    /// More fragments follow this one.
    pub more: bool,
    /// DSCP of this fragment's IP header.
    pub dscp: u8,
    /// The fragment's data.
    pub data: &'a [u8],
}

/// A completed datagram; give it back with [`FragmentTable::recycle`] after use.
#[derive(Debug)]
pub(super) struct Reassembled {
    /// The reassembled IP payload.
    pub data: Vec<u8>,
    /// DSCP of the first fragment (offset 0).
    pub dscp: u8,
    ranges: Vec<(u32, u32)>,
}

/// What became of a fragment.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Stored; the datagram is not complete yet.
    Held,
    /// The datagram is complete.
    Complete(Reassembled),
    /// Ignored (duplicate) or its set was dropped (a warning was recorded).
    Discarded,
}

#[derive(Debug)]
struct FragmentSet {
    key: FragmentKey,
    first: FrameRef,
    dscp: u8,
    data: Vec<u8>,
    /// Received byte ranges, sorted, disjoint and not adjacent (merged).
    ranges: Vec<(u32, u32)>,
    /// Datagram length, known once the last fragment arrived.
    total: Option<u32>,
}

/// The table of incomplete datagrams, oldest first.
#[derive(Debug, Default)]
pub(super) struct FragmentTable {
    sets: VecDeque<FragmentSet>,
    bytes: usize,
    spare: Vec<(Vec<u8>, Ranges)>,
}

fn describe(key: &FragmentKey) -> String {
    format!("{} -> {} id {:#x} proto {}", key.src, key.dst, key.id, key.proto)
}

impl FragmentTable {
    /// Number of incomplete sets held.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Bytes buffered by incomplete sets.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Returns a completed datagram's buffers for reuse.
    pub fn recycle(&mut self, done: Reassembled) {
        if self.spare.len() < MAX_SPARE_BUFFERS {
            let (mut data, mut ranges) = (done.data, done.ranges);
            data.clear();
            ranges.clear();
            self.spare.push((data, ranges));
        }
    }

    fn drop_at(
        &mut self,
        index: usize,
        why: &str,
        now: FrameRef,
        counters: &mut DecodeCounters,
        warnings: &mut Warnings,
    ) {
        if let Some(set) = self.sets.remove(index) {
            self.bytes = self.bytes.saturating_sub(set.data.len());
            counters.fragments_dropped += 1;
            warnings.push(now.file, now.number, WarningKind::FragmentDropped, || {
                format!("IP fragment set {} begun in frame {} dropped: {why}", describe(&set.key), set.first.number)
            });
            self.recycle(Reassembled { data: set.data, dscp: 0, ranges: set.ranges });
        }
    }

    /// Drops sets older than the timeout (capture time of `now`). Cheap when nothing expires:
    /// sets are kept in creation order, so only the front is looked at.
    pub fn expire(
        &mut self,
        now: FrameRef,
        limits: &DecodeLimits,
        counters: &mut DecodeCounters,
        warnings: &mut Warnings,
    ) {
        while let Some(oldest) = self.sets.front() {
            if now.time.0.saturating_sub(oldest.first.time.0) <= limits.fragment_timeout_ns {
                break;
            }
            self.drop_at(0, "never completed (timeout)", now, counters, warnings);
        }
    }

    /// Drops every incomplete set (end of the capture), with a warning each.
    pub fn drain(&mut self, counters: &mut DecodeCounters, warnings: &mut Warnings) {
        while let Some(set) = self.sets.front() {
            let at = set.first;
            self.drop_at(0, "incomplete at end of capture", at, counters, warnings);
        }
    }

    /// Adds one fragment. `Err` for a fragment that is malformed in itself.
    pub fn insert(
        &mut self,
        piece: &Piece<'_>,
        now: FrameRef,
        limits: &DecodeLimits,
        counters: &mut DecodeCounters,
        warnings: &mut Warnings,
    ) -> Result<Outcome, Stop> {
        let len = u32::try_from(piece.data.len()).map_err(|_| Stop::Malformed("huge fragment"))?;
        let start = piece.offset;
        let end = start
            .checked_add(len)
            .filter(|&end| end <= MAX_DATAGRAM)
            .ok_or(Stop::Malformed("IP fragment ends past 65535 bytes"))?;
        // RFC 791 §3.2 / RFC 8200 §4.5: every fragment but the last carries a multiple of 8.
        if piece.more && len % 8 != 0 {
            return Err(Stop::Malformed("IP fragment with more-fragments set is not a multiple of 8 bytes"));
        }
        if piece.more && len == 0 {
            return Ok(Outcome::Discarded);
        }
        let end_usize = end as usize;

        // Room: evict the oldest other sets until the bytes this fragment may add fit.
        let mut index = self.sets.iter().position(|s| s.key == piece.key);
        if index.is_none() {
            if limits.max_fragment_sets == 0 {
                counters.fragments_dropped += 1;
                warnings.push(now.file, now.number, WarningKind::FragmentDropped, || {
                    "IP fragment dropped: reassembly disabled (max_fragment_sets = 0)".into()
                });
                return Ok(Outcome::Discarded);
            }
            while self.sets.len() >= limits.max_fragment_sets {
                self.drop_at(0, "fragment table full (oldest evicted)", now, counters, warnings);
            }
        }
        let current_len = index.and_then(|i| self.sets.get(i)).map_or(0, |s| s.data.len());
        let growth = end_usize.saturating_sub(current_len);
        if current_len + growth > limits.max_fragment_bytes {
            match index {
                Some(i) => self.drop_at(i, "larger than the fragment byte limit", now, counters, warnings),
                None => {
                    counters.fragments_dropped += 1;
                    warnings.push(now.file, now.number, WarningKind::FragmentDropped, || {
                        format!("IP fragment of {} dropped: larger than the fragment byte limit", describe(&piece.key))
                    });
                }
            }
            return Ok(Outcome::Discarded);
        }
        while self.bytes + growth > limits.max_fragment_bytes {
            let victim = match index {
                Some(0) => 1,
                _ => 0,
            };
            if victim >= self.sets.len() {
                break;
            }
            self.drop_at(victim, "fragment byte limit reached (oldest evicted)", now, counters, warnings);
            index = index.map(|i| if victim < i { i - 1 } else { i });
        }

        let index = match index {
            Some(i) => i,
            None => {
                let (data, ranges) = self.spare.pop().unwrap_or_default();
                self.sets.push_back(FragmentSet {
                    key: piece.key,
                    first: now,
                    dscp: piece.dscp,
                    data,
                    ranges,
                    total: None,
                });
                self.sets.len() - 1
            }
        };
        let Some(set) = self.sets.get_mut(index) else {
            return Ok(Outcome::Discarded);
        };

        // Duplicate: inside one received range with identical bytes.
        let mut overlap = false;
        for &(s, e) in &set.ranges {
            if start < e && s < end {
                let same = start >= s && end <= e && set.data.get(start as usize..end_usize) == Some(piece.data);
                if same {
                    return Ok(Outcome::Discarded);
                }
                overlap = true;
            }
        }
        let contradiction = if overlap {
            Some("overlapping fragments with different data (RFC 5722)")
        } else if !piece.more && (set.total.is_some_and(|t| t != end) || set.ranges.last().is_some_and(|r| r.1 > end)) {
            Some("two different last fragments")
        } else if piece.more && set.total.is_some_and(|t| end > t) {
            Some("fragment past the end of the datagram")
        } else if set.ranges.len() >= MAX_RANGES_PER_SET {
            Some("too many holes")
        } else {
            None
        };
        if let Some(why) = contradiction {
            self.drop_at(index, why, now, counters, warnings);
            return Ok(Outcome::Discarded);
        }

        if set.data.len() < end_usize {
            self.bytes += end_usize - set.data.len();
            set.data.resize(end_usize, 0);
        }
        if let Some(target) = set.data.get_mut(start as usize..end_usize) {
            target.copy_from_slice(piece.data);
        }
        if !piece.more {
            set.total = Some(end);
        }
        if start == 0 {
            set.dscp = piece.dscp;
        }
        // Insert the range, then merge with touching neighbours.
        let at = set.ranges.partition_point(|r| r.0 < start);
        set.ranges.insert(at, (start, end));
        let mut merged = 0usize;
        for i in 0..set.ranges.len() {
            let Some(&(s, e)) = set.ranges.get(i) else {
                break;
            };
            match merged.checked_sub(1).and_then(|m| set.ranges.get_mut(m)) {
                Some(last) if last.1 >= s => last.1 = last.1.max(e),
                _ => {
                    if let Some(slot) = set.ranges.get_mut(merged) {
                        *slot = (s, e);
                    }
                    merged += 1;
                }
            }
        }
        set.ranges.truncate(merged);

        let complete = set.total.is_some_and(|t| set.ranges.as_slice() == [(0, t)]);
        if !complete {
            return Ok(Outcome::Held);
        }
        let Some(set) = self.sets.remove(index) else {
            return Ok(Outcome::Discarded);
        };
        self.bytes = self.bytes.saturating_sub(set.data.len());
        counters.reassembled += 1;
        Ok(Outcome::Complete(Reassembled { data: set.data, dscp: set.dscp, ranges: set.ranges }))
    }
}
