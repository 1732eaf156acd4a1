//! Stage 5 — RTP: per-stream statistics, exactly as tshark 4.0's `rtp,streams` computes them
//! (quality-metrics.md §1), plus RFC 3550 sequence bookkeeping.
//!
//! Input: RTP payloads with their 5-tuple, arrival time and the clock rate the caller resolved
//! for the payload type. Output: [`StreamStats`] per (src, dst, SSRC). State: the stream table
//! (bounded). This stage knows nothing of SIP or SDP, so flows can be sharded across threads.

pub mod payload;
mod seq;
mod stats;
mod table;
mod wire;

#[cfg(test)]
mod parity_tests;

use std::net::SocketAddr;

pub use seq::{MAX_DROPOUT, MAX_MISORDER};
pub use stats::accept_without_signalling;
pub use table::{FinishedShard, StreamTable, DEFAULT_MAX_STREAMS};
pub use wire::{parse_fixed_header, parse_header};

use crate::capture::FrameRef;

/// Stream identity, as tshark's `rtp_stream_id.c`: (src, dst, SSRC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// The fixed RTP header fields the statistics need (RFC 3550 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (7 bits).
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// SSRC.
    pub ssrc: u32,
    /// Payload length in bytes (after CSRCs, extension and padding).
    pub payload_len: u16,
}

/// Per-packet input to [`StreamTable::observe`].
#[derive(Clone, Copy, Debug)]
pub struct RtpPacketInfo {
    /// Frame and time.
    pub at: FrameRef,
    /// Header fields.
    pub header: RtpHeader,
    /// Clock rate for this packet's payload type, resolved by the caller with tshark's rules
    /// (0 = unknown: no jitter, as tshark).
    pub clock_hz: u32,
    /// DSCP of the packet.
    pub dscp: u8,
    /// Outermost VLAN id of the packet (kept from the stream's first packet, for the site map).
    pub vlan: Option<u16>,
    /// Capture interface ([`crate::capture::Frame::interface`]), as `vlan`.
    pub interface: Option<u16>,
    /// The payload type is RFC 4733 telephone-event (from SDP, resolved by the caller):
    /// counted in `events`, never played through the buffer models, never loss.
    pub is_event: bool,
    /// The payload decodes to digital silence (G.711/L16 only, `None` otherwise), from
    /// [`crate::quality::silence::rtp_payload_is_silent`]; counted by the quality tracker for
    /// `silent_payload` (diagnosis.md §4.3).
    pub payload_silent: Option<bool>,
}

/// Statistics of one stream. Field meanings: output-contract.md `Stream` and
/// quality-metrics.md §1.3–§1.8.
#[derive(Clone, Debug)]
pub struct StreamStats {
    /// Identity.
    pub key: StreamKey,
    /// First and last packet.
    pub first: FrameRef,
    /// Last packet.
    pub last: FrameRef,
    /// First payload type seen.
    pub first_pt: u8,
    /// Every payload type seen (bit set over 0..128).
    pub pts_seen: u128,
    /// RTP packets (tshark `Pkts`).
    pub packets: u64,
    /// RFC 3550 A.1 expected (sum over segments).
    pub expected: u64,
    /// RFC 3550 A.1 received (duplicates included).
    pub received: u64,
    /// `expected − received` (§1.3).
    pub lost: i64,
    /// tshark's Lost (§1.4), kept for parity tests.
    pub tshark_lost: i64,
    /// tshark's expected (§1.4).
    pub tshark_expected: u32,
    /// Sequence errors (§1.5).
    pub seq_errors: u64,
    /// Any packet out of time sequence (tshark "Problems?" together with seq_errors).
    pub out_of_time_seq: bool,
    /// Duplicates (§1.3).
    pub duplicates: u64,
    /// Out of order (§1.3).
    pub out_of_order: u64,
    /// Sequence restarts (§1.3).
    pub seq_restarts: u64,
    /// Delta min/mean/max in ms (None when no regular packet: tshark prints -1.000 for min).
    pub min_delta_ms: Option<f64>,
    /// Mean delta.
    pub mean_delta_ms: f64,
    /// Max delta.
    pub max_delta_ms: f64,
    /// tshark jitter min/mean/max in ms (None when never updated: tshark prints -1.000).
    pub min_jitter_ms: Option<f64>,
    /// Mean jitter.
    pub mean_jitter_ms: f64,
    /// Max jitter.
    pub max_jitter_ms: f64,
    /// RFC 3550 A.8 jitter in timestamp units over audio packets (final value).
    pub jitter_rfc_ts: f64,
    /// Packets per DSCP value (index = DSCP).
    pub dscp_counts: [u32; 64],
    /// Outages (§1.3 step 4): the first [`MAX_MEDIA_GAPS_KEPT`] of them, in arrival order.
    pub media_gaps: Vec<MediaGap>,
    /// Number of outages, including those not kept in `media_gaps`.
    pub media_gaps_total: u64,
    /// Event/CN counts, DSCP changes and the quality tracker's results.
    pub extras: StreamExtras,
    /// Adjacent packet pairs (in arrival order) whose sequence step is small
    /// (< `MAX_DROPOUT` forward or < `MAX_MISORDER` back) and whose timestamp step is below
    /// 2²⁴ in either direction; feeds [`StreamStats::looks_like_rtp`].
    pub consistent_pairs: u64,
    /// Adjacent packet pairs (in arrival order) whose sequence number moved forward by
    /// 1..`MAX_DROPOUT`; feeds [`StreamStats::looks_like_rtp`].
    pub forward_pairs: u64,
}

/// How many outages a stream keeps with their frames (the count goes on in
/// [`StreamStats::media_gaps_total`]).
pub const MAX_MEDIA_GAPS_KEPT: usize = 16;

/// Per-stream numbers beyond tshark's columns (issue 4): events, comfort noise, DSCP changes
/// and the quality tracker's results.
#[derive(Clone, Debug, Default)]
pub struct StreamExtras {
    /// Outermost VLAN id of the stream's first packet (the site map matches it).
    pub vlan: Option<u16>,
    /// Capture interface of the stream's first packet (index into the file's
    /// `InputSummary::interfaces`).
    pub interface: Option<u16>,
    /// RFC 4733 telephone-event packets (quality-metrics.md §2: they count as received).
    pub events: u64,
    /// Comfort-noise packets (PT 13 and 19, RFC 3389).
    pub cn_packets: u64,
    /// Packets whose DSCP differs from the previous packet's (quality-metrics.md §7).
    pub dscp_changes: u64,
    /// The first [`MAX_DSCP_CHANGES_KEPT`] changes, in arrival order.
    pub dscp_change_list: Vec<DscpChange>,
    /// Quality tracker results (buffer models, windows, measured ptime); `None` until the
    /// stream is finished.
    pub quality: Option<Box<crate::quality::QualityStats>>,
}

/// How many DSCP changes a stream keeps with their frames (the count goes on in
/// [`StreamExtras::dscp_changes`]).
pub const MAX_DSCP_CHANGES_KEPT: usize = 8;

/// A DSCP re-marking seen mid-stream (quality-metrics.md §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DscpChange {
    /// First packet carrying the new value.
    pub at: FrameRef,
    /// Value of the previous packet.
    pub from: u8,
    /// New value.
    pub to: u8,
}

/// An outage: two packets adjacent in arrival order, ≥ 1000 ms apart, with packets missing
/// between them (quality-metrics.md §1.3 step 4, `media_gap` subcode `lost`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaGap {
    /// Last packet before the outage.
    pub start: FrameRef,
    /// First packet after it.
    pub end: FrameRef,
    /// Sequence numbers skipped (`step − 1`).
    pub missing: u32,
}

/// A clean 100-packet G.711 stream (20 ms spacing, no loss or jitter) between two frames, for
/// unit tests of the stages that read [`StreamStats`].
#[cfg(test)]
pub(crate) fn clean_test_stream(key: StreamKey, first: FrameRef, last: FrameRef) -> StreamStats {
    StreamStats {
        key,
        first,
        last,
        first_pt: 0,
        pts_seen: 1,
        packets: 100,
        expected: 100,
        received: 100,
        lost: 0,
        tshark_lost: 0,
        tshark_expected: 100,
        seq_errors: 0,
        out_of_time_seq: false,
        duplicates: 0,
        out_of_order: 0,
        seq_restarts: 0,
        min_delta_ms: Some(20.0),
        mean_delta_ms: 20.0,
        max_delta_ms: 20.0,
        min_jitter_ms: Some(0.0),
        mean_jitter_ms: 0.0,
        max_jitter_ms: 0.0,
        jitter_rfc_ts: 0.0,
        dscp_counts: [0; 64],
        media_gaps: Vec::new(),
        media_gaps_total: 0,
        extras: Default::default(),
        consistent_pairs: 99,
        forward_pairs: 99,
    }
}
