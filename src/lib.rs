//! callscope: a passive VoIP call-quality analyzer.
//!
//! The library is a one-way pipeline; each folder is one stage and imports only the output types
//! of the stages before it:
//!
//! ```text
//! capture ─► decode ─► classify ─┬─► sip (+ sdp) ───────┐
//!                                └─► rtp (stream stats) ─┴─► correlate ─► report
//! ```
//!
//! [`pipeline`] wires the stages together for one run; `main.rs` only parses arguments.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod bundle;
pub mod capture;
pub mod check;
pub mod classify;
pub mod config;
pub mod correlate;
pub mod decode;
pub mod diagnose;
pub mod live;
mod par;
pub mod pipeline;
pub mod quality;
pub mod report;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod sip;
pub mod sites;
pub mod synth;
pub mod time;
pub mod warn;

/// Hash map for tables looked up on every packet (streams, SDP addresses, TCP connections).
/// foldhash with a per-process random seed: about five times fewer instructions than std's
/// SipHash on these small keys (SipHash was 31 % of all instructions of a whole run, measured
/// with callgrind), while a seed chosen at start-up keeps crafted traffic from forcing
/// collisions.
pub type FastHashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
