//! Stage 5b — RTCP: compound-packet parsing and per-SSRC report aggregation
//! (quality-metrics.md §4; RFC 3550 §6, RFC 3611, RFC 4585, RFC 5506).
//!
//! Input: UDP payloads already classified as RTCP, with their frame and addresses. Output: an
//! [`RtcpTable`] holding, per SSRC, what receivers reported about it (loss, jitter, extended
//! sequence), what it sent as a sender (SR counts, NTP reference times, CNAME, BYE), the latest
//! XR VoIP metrics about it, and passive round-trip samples. State: the table, bounded by
//! [`RtcpLimits`]. Like `rtp/`, this stage knows nothing of SIP or SDP; the caller converts
//! jitter to ms with the clock it resolved ([`ReportedSource::jitter_ms`]).
//!
//! Layout: [`wire`] (views over SR/RR/SDES/BYE/APP/feedback and the compound walk), [`xr`]
//! (RFC 3611 blocks), `table` (the aggregator, re-exported here).

pub mod wire;
pub mod xr;

mod table;

pub use table::{
    MarkKind, NtpMark, ReportSeen, ReportedSource, Reporter, RtcpLimits, RtcpTable, RttMethod, RttSample, RttStats,
    SenderInfo, SenderSide, SsrcEntry, VoipMetricsSeen,
};
pub use wire::{looks_like_rtcp, Malformed, MalformedReason, PacketType, ReportBlock, RtcpCompound, RtcpView};
pub use xr::{VoipMetrics, XrBlockType};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod capture_tests;
