//! Synthetic captures with known ground truth, for tests and benchmarks.
//!
//! Writes pcap files from scenario descriptions (calls, media, faults) and returns the truth
//! the analyzer's records must equal. Nothing here runs on the analysis path.
//!
//! * [`pcap`] — streaming classic-pcap writer;
//! * [`packet`] — link/IP/UDP/TCP frame builders, fragmentation, TCP segmentation;
//! * [`sip`] — SIP message and SDP texts;
//! * [`rtp`] — lazily generated RTP directions with faults;
//! * [`scenario`] — calls → time-ordered frames → pcap + [`truth::Truth`];
//! * [`truth`] — the ground-truth records (serde);
//! * [`media`] — one call whose RTP stream is an explicit packet list (quality tests);
//! * [`sites`] — a three-site capture for the sites stage and the report;
//! * [`fixtures`] — ready-made named scenarios, [`fixtures::mixed`] and
//!   [`fixtures::write_all_fixtures`].

pub mod diag_flow_scenarios;
pub mod diag_more_scenarios;
pub mod diag_scenarios;
pub mod diag_sig_scenarios;
pub mod diag_stream_scenarios;
pub mod fixtures;
pub mod media;
pub mod packet;
pub mod pcap;
pub mod rtp;
pub mod scenario;
pub mod sip;
pub mod site_scenarios;
pub mod sites;
pub mod truth;

pub use fixtures::{mixed, named_scenarios, write_all_fixtures};
pub use pcap::{PcapLinkType, PcapWriter, TsResolution};
pub use scenario::{CallSpec, Scenario};
pub use truth::Truth;

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Writing the capture or truth failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A scenario asked for something that cannot be built.
    #[error("invalid scenario: {0}")]
    Invalid(String),
    /// The truth could not be serialised.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// SplitMix64 (Steele, Lea, Flood 2014): a stateless 64-bit mixer used as a seeded hash, so
/// every random decision is a pure function of (seed, index) and output is reproducible.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// xorshift64 (Marsaglia 2003): a tiny seeded PRNG for sequential choices.
#[derive(Clone, Debug)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator from `seed` (mixed first, so 0 and small seeds work).
    pub fn new(seed: u64) -> Self {
        XorShift64(splitmix64(seed) | 1)
    }

    /// Next 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform value in `0..n` (`0` when `n == 0`); the modulo bias is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}
