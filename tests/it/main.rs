//! Whole-capture tests: one test binary (linking is the slow part), one module per concern.

mod bundle;
mod check;
mod cli;
mod common;
mod diagnosis;
mod diagnosis_flow;
mod diagnosis_more;
mod diagnosis_sig;
mod diagnosis_stream;
mod hostile;
#[cfg(feature = "live")]
mod live;
mod pairing;
mod quality;
mod replay;
mod shared_captures;
mod site_findings;
mod sites;
mod synthetic;
mod threads;
