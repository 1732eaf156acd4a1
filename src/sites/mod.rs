//! Stage 10 — sites: the site map, and per-site / per-site-pair summaries over the finished
//! records (output-contract.md `SiteSummary`), with the time view (buckets per site pair, busy
//! hour, quality against concurrency).
//!
//! Input: the [`Document`] built by `report` and a [`SiteMap`]. Output: `caller_site` /
//! `callee_site` filled on every call, and a [`SiteReport`] (also written into `doc.sites` and
//! `doc.site_windows`). Runs once per run on records, never on the packet path.
//!
//! The default build aggregates in plain Rust ([`summary`]); with the `polars` cargo feature,
//! [`frames`] turns the same rows into polars frames (for Parquet) and computes the summaries
//! with a lazy query, and a test holds both paths equal.

pub mod map;
pub mod rows;
pub mod stats;
pub mod summary;

#[cfg(feature = "polars")]
pub mod frames;

pub use map::{Site, SiteMap, SiteMapError, UNKNOWN_SITE};
pub use summary::{SiteOptions, SiteReport, SiteSummary, TimeBucket};

use crate::report::Document;

/// Resolves sites on the calls, computes the summaries and the time view, stores them in
/// `doc.sites` / `doc.site_windows` and returns them typed.
pub fn attach(doc: &mut Document, map: &SiteMap, opts: &SiteOptions) -> SiteReport {
    let (calls, streams) = rows::build_rows(doc, map);
    let names: Vec<&str> = map.sites.iter().map(|s| s.name.as_str()).collect();
    let report = summary::summarize(&names, &calls, &streams, opts);
    // Summaries first; the diagnosis stage's address-pair findings already in `sites[]` stay after them.
    let findings = std::mem::take(&mut doc.sites);
    doc.sites = report.summaries.iter().filter_map(|s| serde_json::to_value(s).ok()).chain(findings).collect();
    doc.site_windows = report.windows.iter().filter_map(|w| serde_json::to_value(w).ok()).collect();
    report
}
