//! Run configuration, resolved once from the command line; the library never sees clap types.

use crate::decode::DecodeLimits;

/// Everything a run needs to know besides its inputs.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Decoder limits (fragments).
    pub decode: DecodeLimits,
    /// Diagnosis thresholds (`--config FILE`, diagnosis.md §10).
    pub diagnosis: crate::diagnose::DiagnosisConfig,
}
