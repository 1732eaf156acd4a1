//! Run configuration, resolved once from the command line; the library never sees clap types.

use crate::decode::DecodeLimits;

/// Everything a run needs to know besides its inputs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Decoder limits (fragments).
    pub decode: DecodeLimits,
    /// Diagnosis thresholds (`--config FILE`, diagnosis.md §10).
    pub diagnosis: crate::diagnose::DiagnosisConfig,
    /// Length of the per-stream quality windows, s (`--window-s`, default 10).
    pub window_s: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            decode: DecodeLimits::default(),
            diagnosis: crate::diagnose::DiagnosisConfig::default(),
            window_s: crate::quality::stream::DEFAULT_WINDOW_S,
        }
    }
}
