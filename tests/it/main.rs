//! Whole-capture tests: one test binary (linking is the slow part), one module per concern.

mod common;
mod shared_captures;
