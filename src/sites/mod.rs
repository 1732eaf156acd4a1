//! Stage 10 — sites: the site map, and per-site / per-site-pair summaries over the finished
//! records (output-contract.md `SiteSummary`), with the time view (buckets per site pair, busy
//! hour, quality against concurrency).
//!
//! Input: the [`Document`] built by `report` and a [`SiteMap`]. Output: `caller_site` /
//! `callee_site` filled on every call, and a [`SiteReport`] (also written into `doc.sites` and
//! `doc.site_windows`). Runs once per run on records, never on the packet path.
//!
//! The default build aggregates in plain Rust ([`summary`]); with the `polars` cargo feature,
//! `frames` turns the same rows into polars frames (for Parquet) and computes the summaries
//! with a lazy query, and a test holds both paths equal. [`findings`] adds the site-level
//! codes of diagnosis.md §4.5 to the site rows (`sites[].reasons`).

pub mod findings;
pub mod map;
pub mod rows;
pub mod stats;
pub mod summary;

#[cfg(feature = "polars")]
pub mod frames;

pub use map::{Site, SiteMap, SiteMapError, UNKNOWN_SITE};
pub use summary::{SiteOptions, SiteReport, SiteSummary, TimeBucket};

use crate::diagnose::DiagnosisConfig;
use crate::report::Document;

/// Resolves sites on the calls, computes the summaries, the time view and the site-level
/// findings with the default thresholds; see [`attach_with`].
pub fn attach(doc: &mut Document, map: &SiteMap, opts: &SiteOptions) -> SiteReport {
    attach_with(doc, map, opts, &DiagnosisConfig::default())
}

/// Resolves sites on the calls, computes the summaries, the time view and the site-level
/// findings (diagnosis.md §4.5, thresholds from `cfg`), stores them in `doc.sites` /
/// `doc.site_windows` and returns them typed. Each finding goes into `reasons` of the site row
/// of its (sending) site; a site with findings but no calls gets a row of its own. The
/// diagnosis stage's address-pair `inter_site_one_way` entries are replaced by the findings'
/// (per site pair with a map, per address pair without); other entries already in `sites[]`
/// stay after the rows.
pub fn attach_with(doc: &mut Document, map: &SiteMap, opts: &SiteOptions, cfg: &DiagnosisConfig) -> SiteReport {
    let (calls, streams) = rows::build_rows(doc, map);
    let names: Vec<&str> = map.sites.iter().map(|s| s.name.as_str()).collect();
    let mut report = summary::summarize(&names, &calls, &streams, opts);
    for finding in findings::site_findings(doc, map, cfg, opts) {
        let row = report.summaries.iter_mut().find(|s| s.peer_site.is_none() && s.site == finding.site);
        match row {
            Some(row) => row.reasons.push(finding),
            None => {
                let site = finding.site.clone();
                let mut row = summary::empty_summary(&site, opts);
                row.reasons.push(finding);
                let at = report.summaries.iter().position(|s| s.peer_site.is_some()).unwrap_or(report.summaries.len());
                report.summaries.insert(at, row);
            }
        }
    }
    let earlier = std::mem::take(&mut doc.sites);
    let kept = earlier.into_iter().filter(|v| v.get("code").and_then(|c| c.as_str()) != Some("inter_site_one_way"));
    doc.sites = report.summaries.iter().filter_map(|s| serde_json::to_value(s).ok()).chain(kept).collect();
    doc.site_windows = report.windows.iter().filter_map(|w| serde_json::to_value(w).ok()).collect();
    report
}
