//! `--format parquet --out DIR` (cargo feature `polars`): `calls.parquet`, `streams.parquet`,
//! `windows.parquet` and `sites.parquet`, with the column names and types of
//! `sites::frames` (UTC timestamps as `timestamp[us, UTC]`). The same files are queried by
//! DuckDB, Spark or Trino when captures from many probes are collected.

use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, PolarsResult};
// polars-io directly with only its `parquet` feature: polars' own `parquet` feature turns on its
// streaming engine, which needs polars-io `cloud` (object_store, reqwest, hyper, rustls, tokio).
use polars_io::prelude::ParquetWriter;

use super::records::Document;
use crate::sites::frames;
use crate::sites::SiteReport;

/// Writes the four Parquet files into `dir` (created if missing); returns their paths.
pub fn write_dir(doc: &Document, sites: &SiteReport, dir: &Path) -> PolarsResult<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let tables: [(&str, DataFrame); 4] = [
        ("calls", frames::calls_frame(doc)?),
        ("streams", frames::streams_frame(doc)?),
        ("windows", frames::windows_frame(sites)?),
        ("sites", frames::sites_frame(sites)?),
    ];
    let mut written = Vec::with_capacity(tables.len());
    for (name, mut df) in tables {
        let path = dir.join(format!("{name}.parquet"));
        ParquetWriter::new(super::create_output_file(&path)?).finish(&mut df)?;
        written.push(path);
    }
    Ok(written)
}
