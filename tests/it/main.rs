//! Whole-capture tests: one test binary (linking is the slow part), one module per concern.

mod bundle;
mod check;
mod cli;
mod common;
mod diagnosis;
mod hostile;
#[cfg(feature = "live")]
mod live;
mod pairing;
mod quality;
mod shared_captures;
mod sites;
mod synthetic;
mod threads;
