//! Whole-capture tests: one test binary (linking is the slow part), one module per concern.

mod bundle;
mod cli;
mod common;
mod hostile;
mod pairing;
mod shared_captures;
mod synthetic;
