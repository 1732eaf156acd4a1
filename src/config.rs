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
//! | SIP header count / header bytes / body bytes | 256 / 64 KiB / 1 MiB (`sip::scan` consts) | message rejected (header) or cut (body) | `malformed_sip` |
//! | `max_rtp_streams` | 100 000 (src, dst, SSRC) streams, ~90 MB | packets of new streams refused and counted | `state_evicted` |
//! | `max_sdp_addresses` | 100 000 announced addresses | address learned longest ago evicted | `state_evicted` |
//! | `rtcp.max_ssrcs` | 4 096 SSRCs | new SSRCs counted, not kept | `state_evicted` |
//! | `rtcp.rtt_samples` and the other [`RtcpLimits`] | see [`RtcpLimits::default`] | first/newest kept, rest counted | — |
//! | `warnings_per_kind` | 100 per kind per file kept with text | counted only | — |
//!
//! Every limit can be set in the `--config` TOML file under `[limits]`, with the names of the
//! table (`[limits.decode]`, `[limits.sip.dialogs]`, `[limits.sip.tcp]`, `[limits.rtcp]`, and
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
        if let Some(limits) = table.remove("limits") {
            self.limits = limits.try_into().map_err(|e: toml::de::Error| format!("[limits]: {e}"))?;
        }
        let diagnosis: crate::diagnose::DiagnosisConfig =
            toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| e.to_string())?;
        self.diagnosis = diagnosis.validate()?;
        Ok(())
    }
}

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
    }
}
