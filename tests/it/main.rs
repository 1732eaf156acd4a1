//! Whole-capture tests: one test binary (linking is the slow part), one module per concern.

mod cli;
mod common;
mod quality;
mod shared_captures;
mod synthetic;
