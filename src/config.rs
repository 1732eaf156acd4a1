//! Run configuration, resolved once from the command line; the library never sees clap types.
//!
//! # State limits
//!
//! Captures come from strangers: every table that grows with traffic has a cap, gathered in
//! [`Limits`]. Hitting a cap never aborts the run; the stage evicts or refuses, counts it, and
//! records a warning with the frame number (shown in `inputs[].warnings`).
//!
//! | limit | default | when exceeded | warning kind |
//! |---|---|---|---|
//! | `decode.max_fragment_sets` | 4 096 incomplete IP datagrams | oldest set dropped | `fragment_dropped` |
//! | `decode.max_fragment_bytes` | 16 MiB held in fragments | oldest set dropped | `fragment_dropped` |
//! | `decode.fragment_timeout_ns` | 30 s of capture time | incomplete set dropped | `fragment_dropped` |
//! | `sip.dialogs.max_dialogs` | 200 000 open dialogs | least recently active 10 % closed early | `state_evicted` |
//! | `sip.dialogs.max_messages_per_dialog` | 1 000 | further messages not kept in the timeline | `state_evicted` |
//! | `sip.dialogs.max_transactions_per_dialog` | 2 048 | further transactions not checked for retransmission | `state_evicted` |
//! | `sip.dialogs.max_attempt_invites` | 32 INVITE CSeqs per attempt | further ones not remembered | — (bounded, silent) |
//! | `sip.dialogs.max_sdp_per_dialog` | 64 SDP bodies | further bodies learned but not kept | `state_evicted` |
//! | `sip.tcp.max_streams` | 16 384 TCP stream directions | idle, then the oldest, evicted | `state_evicted` |
//! | `sip.tcp.max_stream_bytes` | 64 KiB + 1 MiB (largest header + body) | buffer skipped, resync on next start line | `tcp_stream_gap` |
//! | `sip.tcp.max_total_bytes` | 256 MiB over all TCP streams | buffer skipped, resync | `tcp_stream_gap` |
//! | `sip.tcp.max_held_segments` | 64 out-of-order segments per stream | hole skipped | `tcp_stream_gap` |
//! | `sip.tcp.max_held_bytes` | 512 KiB out-of-order per stream | hole skipped | `tcp_stream_gap` |
//! | `sip.tcp.idle_timeout_ns` | 600 s | idle streams evicted first when full | `state_evicted` |
//! | `sip.dialogs.max_registrations` | 100 000 AORs | least recently active 10 % evicted | `state_evicted` |
//! | `sip.scan.max_headers` | 256 header fields per message | message rejected (TCP: resync) | `malformed_sip` |
//! | `sip.scan.max_header_bytes` | 64 KiB start line + headers | message rejected (TCP: resync) | `malformed_sip` |
//! | `sip.scan.max_body_bytes` | 1 MiB | TCP: message rejected, resync; UDP: body cut | `malformed_sip` |
//! | `max_rtp_streams` | 100 000 (src, dst, SSRC) streams, ~90 MB | packets of new streams refused and counted | `state_evicted` |
//! | `max_sdp_addresses` | 100 000 announced addresses | address learned longest ago evicted | `state_evicted` |
//! | `rtcp.max_ssrcs` | 4 096 SSRCs | new SSRCs counted, not kept | `state_evicted` |
//! | `rtcp.rtt_samples` and the other [`RtcpLimits`] | see [`RtcpLimits::default`] | first/newest kept, rest counted | — |
//! | `warnings_per_kind` | 100 per kind per file kept with text | counted only | — |
//! | `bundle.max_pending_fragment_sets` | 1 024 (`callscope call` second pass) | oldest set dropped | bundle note |
//! | `bundle.max_fragments_per_set` | 64 | further fragments dropped | bundle note |
//! | `bundle.max_bundle_bytes` | 512 MiB per bundle | further frames not copied | bundle note |
//!
//! The SIP size caps are also counted (`SipStage::oversized`, `TcpCounters::oversized_messages`)
//! and their warnings name the `[limits.sip.scan]` key to raise. `callscope config --default`
//! prints every limit with its default ([`LIMITS_DEFAULT_TOML`]).
//!
//! Every limit can be set in the `--config` TOML file under `[limits]`, with the names of the
//! table (`[limits.decode]`, `[limits.sip.dialogs]`, `[limits.sip.tcp]`, `[limits.sip.scan]`, `[limits.rtcp]`,
//! `[limits.bundle]`, and
//! `max_rtp_streams` / `max_sdp_addresses` / `warnings_per_kind` directly under `[limits]`).
//!
//! With the defaults, the hostile-corpus tests (`tests/it/hostile.rs`) measure a peak RSS well
//! under 1 GiB for each case.

use crate::decode::DecodeLimits;
use crate::rtcp::RtcpLimits;
use crate::sip::SipLimits;

/// Every cap on state that grows with traffic; see the module docs for defaults and behaviour.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// IP fragment reassembly.
    pub decode: DecodeLimits,
    /// SIP dialogs, transactions and TCP reassembly.
    pub sip: SipLimits,
    /// Most RTP streams measured at once (see `rtp::StreamTable`).
    pub max_rtp_streams: usize,
    /// Most SDP-announced addresses kept in the payload-type map.
    pub max_sdp_addresses: usize,
    /// RTCP per-SSRC state.
    pub rtcp: RtcpLimits,
    /// Warnings kept with their text, per kind and file (all are counted).
    pub warnings_per_kind: u64,
    /// Evidence-bundle extraction (`callscope call`).
    pub bundle: crate::bundle::extract::BundleLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            decode: DecodeLimits::default(),
            sip: SipLimits::default(),
            max_rtp_streams: crate::rtp::DEFAULT_MAX_STREAMS,
            max_sdp_addresses: crate::sdp::PayloadMap::CAPACITY,
            rtcp: RtcpLimits::default(),
            warnings_per_kind: crate::warn::Warnings::KEEP_PER_KIND,
            bundle: crate::bundle::extract::BundleLimits::default(),
        }
    }
}

/// Everything a run needs to know besides its inputs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Caps on the state of every stage.
    pub limits: Limits,
    /// Diagnosis thresholds (`--config FILE`, diagnosis.md §10).
    pub diagnosis: crate::diagnose::DiagnosisConfig,
    /// Length of the per-stream quality windows, s (`--window-s`, default 10).
    pub window_s: f64,
}

impl Config {
    /// Reads a `--config` file: the diagnosis thresholds of diagnosis.md §10 plus an optional
    /// `[limits]` table with the state caps documented above (e.g. `[limits.sip.dialogs]
    /// max_dialogs = 50000`); unknown keys are errors, missing ones keep their defaults.
    pub fn apply_file(&mut self, text: &str) -> Result<(), String> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
        if table.remove("limits").is_some() {
            // Parsed again from the text (not from the Value) so that the error carries the
            // span: toml's message then says "at line N, column M" and quotes the line.
            let only: LimitsOnly = toml::from_str(text).map_err(|e| format!("[limits]: {e}"))?;
            self.limits = only.limits;
        }
        let diagnosis: crate::diagnose::DiagnosisConfig =
            toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| e.to_string())?;
        self.diagnosis = diagnosis.validate()?;
        Ok(())
    }
}

/// The `[limits]` table of a config file, other tables ignored (they are read separately).
#[derive(serde::Deserialize)]
struct LimitsOnly {
    #[serde(default)]
    limits: Limits,
}

/// Every `[limits]` key with its default, commented; printed by `callscope config --default`
/// after the diagnosis thresholds. A test checks it parses back to [`Limits::default`].
pub const LIMITS_DEFAULT_TOML: &str = r#"
# ---------------------------------------------------------------------------------------------
# State limits (issue 7): every table that grows with traffic is capped. Hitting a cap never
# aborts the run: the oldest state is evicted (or the packet/message refused), counted, and a
# warning with the frame number is listed in inputs[].warnings / warning_counts.
[limits]
# RTP (src, dst, SSRC) streams measured at once (~900 bytes each); new streams refused beyond.
max_rtp_streams = 100000
# SDP-announced media addresses remembered; the one learned longest ago is evicted.
max_sdp_addresses = 100000
# Warnings kept with their text per kind and input file (all are counted).
warnings_per_kind = 100

[limits.decode]
# Incomplete IP datagrams held for reassembly; the oldest set is dropped beyond.
max_fragment_sets = 4096
# Bytes held in fragments over all sets.
max_fragment_bytes = 16777216
# A fragment set incomplete for this long (capture time, ns) is dropped.
fragment_timeout_ns = 30000000000

[limits.sip.dialogs]
# Open dialogs; beyond, the least recently active 10 % are closed early.
max_dialogs = 200000
# Messages kept in one dialog's timeline (further ones counted, not kept).
max_messages_per_dialog = 1000
# Transactions remembered per dialog for retransmission detection.
max_transactions_per_dialog = 2048
# INVITE CSeq numbers remembered per call attempt.
max_attempt_invites = 32
# SDP bodies kept per dialog.
max_sdp_per_dialog = 64
# Registration AORs tracked; beyond, the least recently active 10 % are evicted.
max_registrations = 100000

[limits.sip.scan]
# Header fields in one SIP message (more: the message is rejected, malformed_sip).
max_headers = 256
# Bytes of start line plus headers (more: rejected).
max_header_bytes = 65536
# Content-Length framed on TCP (more: rejected, the stream resynchronises); UDP bodies are cut.
max_body_bytes = 1048576

[limits.sip.tcp]
# TCP stream directions followed; idle ones, then the oldest, are evicted beyond.
max_streams = 16384
# Unframed bytes buffered per stream direction (largest header section + body).
max_stream_bytes = 1114112
# Bytes buffered over all TCP streams.
max_total_bytes = 268435456
# Out-of-order segments held per stream before the hole is skipped.
max_held_segments = 64
# Out-of-order bytes held per stream before the hole is skipped.
max_held_bytes = 524288
# Streams idle this long (capture time, ns) are evicted first when the table is full.
idle_timeout_ns = 600000000000

[limits.rtcp]
# SSRCs with RTCP state; new SSRCs are counted, not kept, beyond.
max_ssrcs = 4096
# SR / XR reference-time marks remembered per SSRC (newest kept), for round-trip times.
marks_per_ssrc = 64
# Report frames remembered per reported-on SSRC (first ones kept).
report_frames_per_ssrc = 32
# Distinct reporters remembered per reported-on SSRC.
reporters_per_ssrc = 8
# Round-trip samples kept (first ones).
rtt_samples = 8192
# Malformed RTCP frames remembered with their reason (first ones).
malformed_frames = 16

[limits.bundle]
# callscope call (evidence bundles), second pass: pending IPv4 fragment sets remembered.
max_pending_fragment_sets = 1024
# Fragments remembered per pending set.
max_fragments_per_set = 64
# Bytes of frames copied into one call.pcap.
max_bundle_bytes = 536870912
"#;

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            diagnosis: crate::diagnose::DiagnosisConfig::default(),
            window_s: crate::quality::stream::DEFAULT_WINDOW_S,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_sets_limits_and_thresholds_and_rejects_unknown_keys() {
        let mut c = Config::default();
        c.apply_file("[limits]\nmax_rtp_streams = 5\n[limits.sip.dialogs]\nmax_dialogs = 7\n").unwrap();
        assert_eq!((c.limits.max_rtp_streams, c.limits.sip.dialogs.max_dialogs), (5, 7));
        assert_eq!(c.limits.sip.tcp.max_streams, 16_384, "unset keys keep their defaults");
        assert!(c.apply_file("[limits]\nmax_rtp_stream = 5\n").unwrap_err().contains("max_rtp_stream"));
        assert!(Config::default().apply_file(crate::diagnose::DEFAULT_TOML).is_ok());
    }

    #[test]
    fn defaults_match_the_documented_table() {
        let l = Limits::default();
        assert_eq!(l.decode.max_fragment_sets, 4096);
        assert_eq!(l.decode.max_fragment_bytes, 16 << 20);
        assert_eq!(l.decode.fragment_timeout_ns, 30_000_000_000);
        assert_eq!(l.sip.dialogs.max_dialogs, 200_000);
        assert_eq!(l.sip.dialogs.max_messages_per_dialog, 1_000);
        assert_eq!(l.sip.dialogs.max_transactions_per_dialog, 2_048);
        assert_eq!(l.sip.dialogs.max_sdp_per_dialog, 64);
        assert_eq!(l.sip.tcp.max_streams, 16_384);
        assert_eq!(l.sip.tcp.max_stream_bytes, (64 << 10) + (1 << 20));
        assert_eq!(l.sip.tcp.max_total_bytes, 256 << 20);
        assert_eq!(l.sip.tcp.max_held_segments, 64);
        assert_eq!(l.sip.tcp.max_held_bytes, 512 << 10);
        assert_eq!(l.max_rtp_streams, 100_000);
        assert_eq!(l.max_sdp_addresses, 100_000);
        assert_eq!(l.rtcp.max_ssrcs, 4096);
        assert_eq!(l.warnings_per_kind, 100);
        assert_eq!(l.sip.dialogs.max_registrations, 100_000);
        assert_eq!(
            (l.sip.scan.max_headers, l.sip.scan.max_header_bytes, l.sip.scan.max_body_bytes),
            (256, 65_536, 1 << 20)
        );
        assert_eq!(
            (l.bundle.max_pending_fragment_sets, l.bundle.max_fragments_per_set, l.bundle.max_bundle_bytes),
            (1024, 64, 512 << 20)
        );
    }

    #[test]
    fn printed_limits_parse_back_to_the_defaults() {
        let mut c = Config::default();
        c.limits.max_rtp_streams = 1;
        c.apply_file(LIMITS_DEFAULT_TOML).unwrap();
        let (got, want) = (format!("{:?}", c.limits), format!("{:?}", Limits::default()));
        assert_eq!(got, want);
        // Every limit is in the printed text (no key left undocumented): a changed value in
        // each line must change the result.
        let keys = LIMITS_DEFAULT_TOML.lines().filter(|l| l.contains(" = ")).count();
        assert_eq!(keys, 30, "update LIMITS_DEFAULT_TOML and this count together");
        // Together with the diagnosis thresholds, as `callscope config --default` prints them.
        let both = format!("{}{}", crate::diagnose::DEFAULT_TOML, LIMITS_DEFAULT_TOML);
        assert!(Config::default().apply_file(&both).is_ok());
    }

    #[test]
    fn limits_errors_name_the_line() {
        let text = "[limits]\nmax_rtp_streams = 5\n\n[limits.sip.scan]\nmax_headers = \"many\"\n";
        let err = Config::default().apply_file(text).unwrap_err();
        assert!(err.contains("line 5"), "{err}");
        let err = Config::default().apply_file("[limits.sip.dialogs]\nmax_dialog = 1\n").unwrap_err();
        assert!(err.contains("line 2") && err.contains("max_dialog"), "{err}");
    }
}
