//! Stage 9 — report: analysis results → the records of output-contract.md ([`records`]), and
//! the sinks that print them (table, JSON, CSV). Records carry every number; sinks only format.

pub mod csv;
pub mod html;
#[cfg(feature = "polars")]
pub mod parquet;
pub mod plots;
pub mod quality;
pub mod records;
pub mod registrations;
pub mod table;

use std::io::Write;

pub use records::{build, Document};

/// Output format (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned terminal tables: calls, then streams.
    Table,
    /// The JSON document of output-contract.md.
    Json,
    /// CSV, one table per record kind.
    Csv,
}

/// Writes the JSON document.
pub fn write_json(doc: &Document, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc)?;
    out.write_all(b"\n")
}
