//! Per-site and per-site-pair summaries (contract `SiteSummary`) and the time view (buckets per
//! site pair, busy hour, quality against concurrency), computed in plain Rust from the rows.
//! With the `polars` feature, `sites::frames` computes the same numbers with polars; a test
//! holds the two paths equal.

use std::collections::BTreeMap;

use serde::Serialize;

use super::rows::{CallRow, StreamRow};
use super::stats::{self, carried_us, peak_concurrent, percentile, round3, ActiveCalls};
use crate::time::Timestamp;

/// The busy hour is a 60-minute window (ITU-T E.500 time-consistent busy hour).
pub const BUSY_HOUR_US: i64 = 3_600_000_000;
/// Most time buckets per site pair (≈ 104 days of 15-min buckets); later buckets are not built.
pub const MAX_BUCKETS_PER_PAIR: usize = 10_000;
/// How many reason codes `top_reasons` lists.
pub const TOP_REASONS: usize = 5;
/// Loss at or above this marks a stream as lossy for `loss_onset_concurrent`, % (the E-model's
/// Ppl where G.711 with PLC loses about half a MOS point, ITU-T G.113 Appendix I).
pub const LOSSY_STREAM_PCT: f64 = 1.0;

/// Aggregation options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SiteOptions {
    /// Width of a time bucket, minutes (default 15).
    pub bucket_minutes: u32,
}

impl Default for SiteOptions {
    fn default() -> Self {
        SiteOptions { bucket_minutes: 15 }
    }
}

impl SiteOptions {
    /// Bucket width in µs (at least one minute).
    pub fn bucket_us(&self) -> i64 {
        i64::from(self.bucket_minutes.max(1)) * 60_000_000
    }
}

/// `failures`: calls by verdict class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FailureCounts {
    /// Verdict `signaling`.
    pub signaling: u64,
    /// Verdict `media`.
    pub media: u64,
    /// Verdict `routing`.
    pub routing: u64,
}

/// `top_reasons[]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReasonCount {
    /// Reason code.
    pub code: String,
    /// Calls with it.
    pub count: u64,
}

/// `one_way`: calls with `one_way_audio` per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OneWayCounts {
    /// Audio missing caller → callee.
    pub caller_to_callee: u64,
    /// Audio missing callee → caller.
    pub callee_to_caller: u64,
}

/// How quality moved with load (additive): "quality degrades before calls fail" as numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct QualityVsConcurrency {
    /// Pearson r of stream loss % against the calls in progress (same site / pair) when its call
    /// started; null with fewer than 3 streams or no variation.
    pub loss_r: Option<f64>,
    /// Pearson r of stream MOS against the same concurrency.
    pub mos_r: Option<f64>,
    /// Lowest concurrency at which a stream lost ≥ 1 % ([`LOSSY_STREAM_PCT`]).
    pub loss_onset_concurrent: Option<u32>,
}

/// Contract `SiteSummary`: one per site (`peer_site` null) and per ordered site pair.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SiteSummary {
    /// Site (the caller's site for a pair).
    pub site: String,
    /// Callee's site for a pair row, null for a site row.
    pub peer_site: Option<String>,
    /// Calls (all, including incomplete).
    pub calls: u64,
    /// Answered calls.
    pub answered: u64,
    /// ASR, % (quality-metrics.md §6); null without attempts.
    pub asr_pct: Option<f64>,
    /// NER, % (quality-metrics.md §6).
    pub ner_pct: Option<f64>,
    /// Calls by failing verdict class.
    pub failures: FailureCounts,
    /// Most frequent non-informational reason codes (count desc, code asc).
    pub top_reasons: Vec<ReasonCount>,
    /// One-way audio by direction.
    pub one_way: OneWayCounts,
    /// Streams (additive).
    pub streams: u64,
    /// Mean stream MOS.
    pub mos_mean: Option<f64>,
    /// 5th percentile of stream MOS.
    pub mos_p5: Option<f64>,
    /// Lowest stream MOS.
    pub mos_min: Option<f64>,
    /// Median stream loss, %.
    pub loss_p50_pct: Option<f64>,
    /// 95th percentile stream loss, %.
    pub loss_p95_pct: Option<f64>,
    /// Largest stream loss, % (additive).
    pub loss_max_pct: Option<f64>,
    /// Median of streams' mean jitter, ms.
    pub jitter_p50_ms: Option<f64>,
    /// 95th percentile of streams' mean jitter, ms.
    pub jitter_p95_ms: Option<f64>,
    /// Largest mean jitter, ms (additive).
    pub jitter_max_ms: Option<f64>,
    /// Median post-dial delay over calls, ms.
    pub pdd_p50_ms: Option<f64>,
    /// 95th percentile post-dial delay, ms.
    pub pdd_p95_ms: Option<f64>,
    /// Most calls in progress at once.
    pub peak_concurrent: u32,
    /// Start of the busy hour (UTC).
    pub busy_hour_start: Option<Timestamp>,
    /// Peak concurrency inside the busy hour (additive; equals `peak_concurrent`).
    pub busy_hour_peak_concurrent: u32,
    /// Calls started inside the busy hour (additive).
    pub busy_hour_attempts: u64,
    /// Share of streams marked with the sender site's expected DSCP, %.
    pub dscp_expected_pct: Option<f64>,
    /// Quality against concurrency (additive).
    pub quality_vs_concurrency: QualityVsConcurrency,
    /// Site-level findings filed under this row (diagnosis.md §2 `sites[].reasons`, §4.5);
    /// only site rows (`peer_site` null) carry them, filed under the finding's sending site.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<super::findings::SiteFinding>,
}

/// One time bucket of one site pair (`windows.parquet`, the busy-hour chart).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimeBucket {
    /// Bucket start (UTC, a multiple of the width since the epoch).
    pub start: Timestamp,
    /// Caller's site.
    pub site: String,
    /// Callee's site.
    pub peer_site: String,
    /// Most calls in progress at once inside the bucket.
    pub concurrent_peak: u32,
    /// Calls whose first INVITE falls in the bucket.
    pub attempts: u64,
    /// Those calls by failing verdict class.
    pub failures: FailureCounts,
    /// 5th percentile MOS of streams starting in the bucket.
    pub mos_p5: Option<f64>,
    /// 95th percentile loss of streams starting in the bucket, %.
    pub loss_p95_pct: Option<f64>,
}

/// One stream's quality against the load of its site pair when its call started (the
/// "quality vs concurrent calls" chart).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoadPoint {
    /// Caller's site.
    pub site: String,
    /// Callee's site.
    pub peer_site: String,
    /// Calls of the pair in progress when the stream's call started.
    pub concurrent: u32,
    /// Stream loss, %.
    pub loss_pct: f64,
    /// Stream MOS.
    pub mos: Option<f64>,
}

/// Everything the sites stage produces.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SiteReport {
    /// Site rows, then pair rows.
    pub summaries: Vec<SiteSummary>,
    /// Buckets per pair, by pair then time.
    pub windows: Vec<TimeBucket>,
    /// Per-stream load points of every pair.
    pub load_points: Vec<LoadPoint>,
}

/// Site names in display order: map order, then any other name seen (only `unknown`), sorted.
pub fn site_order(map_names: &[&str], calls: &[CallRow], streams: &[StreamRow]) -> Vec<String> {
    let mut names: Vec<String> = map_names.iter().map(|s| (*s).to_owned()).collect();
    let seen = calls
        .iter()
        .flat_map(|c| [&c.caller_site, &c.callee_site])
        .chain(streams.iter().flat_map(|s| [&s.caller_site, &s.callee_site]));
    let mut extra: Vec<&String> = seen.filter(|n| !map_names.contains(&n.as_str())).collect();
    extra.sort();
    extra.dedup();
    names.extend(extra.into_iter().cloned());
    names
}

/// Computes site and pair summaries and the time view in plain Rust.
pub fn summarize(map_names: &[&str], calls: &[CallRow], streams: &[StreamRow], opts: &SiteOptions) -> SiteReport {
    let order = site_order(map_names, calls, streams);
    let mut report = SiteReport::default();
    for site in &order {
        let in_site = |a: &str, b: &str| a == site || b == site;
        let cs: Vec<&CallRow> = calls.iter().filter(|c| in_site(&c.caller_site, &c.callee_site)).collect();
        let ss: Vec<&StreamRow> = streams.iter().filter(|s| in_site(&s.caller_site, &s.callee_site)).collect();
        if !cs.is_empty() || !ss.is_empty() {
            report.summaries.push(summary(site, None, &cs, &ss, calls, opts));
        }
    }
    for a in &order {
        for b in &order {
            let cs: Vec<&CallRow> = calls.iter().filter(|c| &c.caller_site == a && &c.callee_site == b).collect();
            let ss: Vec<&StreamRow> = streams.iter().filter(|s| &s.caller_site == a && &s.callee_site == b).collect();
            if cs.is_empty() && ss.is_empty() {
                continue;
            }
            report.summaries.push(summary(a, Some(b), &cs, &ss, calls, opts));
            report.windows.extend(buckets(a, b, &cs, &ss, opts));
            let active = ActiveCalls::new(&intervals(&cs));
            report.load_points.extend(ss.iter().map(|s| LoadPoint {
                site: a.clone(),
                peer_site: b.clone(),
                concurrent: active.at(load_instant(s, calls)),
                loss_pct: s.lost_pct,
                mos: s.mos,
            }));
        }
    }
    report
}

fn intervals(cs: &[&CallRow]) -> Vec<(i64, i64)> {
    cs.iter().map(|c| (c.start_us, c.end_us)).collect()
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| round3(100.0 * num as f64 / den as f64))
}

fn count(cs: &[&CallRow], f: impl Fn(&CallRow) -> bool) -> u64 {
    cs.iter().filter(|c| f(c)).count() as u64
}

/// Failures by verdict class of some calls.
pub fn failures_of(cs: &[&CallRow]) -> FailureCounts {
    FailureCounts {
        signaling: count(cs, |c| c.verdict_class == "signaling"),
        media: count(cs, |c| c.verdict_class == "media"),
        routing: count(cs, |c| c.verdict_class == "routing"),
    }
}

/// The row of a site without calls or streams (one that only has findings, e.g. registrations).
pub fn empty_summary(site: &str, opts: &SiteOptions) -> SiteSummary {
    summary(site, None, &[], &[], &[], opts)
}

fn summary(
    site: &str,
    peer: Option<&str>,
    cs: &[&CallRow],
    ss: &[&StreamRow],
    all_calls: &[CallRow],
    opts: &SiteOptions,
) -> SiteSummary {
    let attempts = count(cs, |c| c.is_attempt);
    let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
    for code in cs.iter().flat_map(|c| c.reason_codes.iter()) {
        *reasons.entry(code.as_str()).or_default() += 1;
    }
    let mut top: Vec<ReasonCount> =
        reasons.into_iter().map(|(code, count)| ReasonCount { code: code.into(), count }).collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
    top.truncate(TOP_REASONS);
    let mos: Vec<f64> = ss.iter().filter_map(|s| s.mos).collect();
    let loss: Vec<f64> = ss.iter().map(|s| s.lost_pct).collect();
    let jitter: Vec<f64> = ss.iter().filter_map(|s| s.jitter_ms).collect();
    let pdd: Vec<f64> = cs.iter().filter_map(|c| c.pdd_ms).collect();
    let spans = intervals(cs);
    let busy = busy_hour(&spans, opts);
    SiteSummary {
        site: site.to_owned(),
        peer_site: peer.map(str::to_owned),
        calls: cs.len() as u64,
        answered: count(cs, |c| c.answered),
        asr_pct: ratio(count(cs, |c| c.is_attempt && c.answered), attempts),
        ner_pct: ratio(count(cs, |c| c.is_network_effective), attempts),
        failures: failures_of(cs),
        top_reasons: top,
        one_way: OneWayCounts {
            caller_to_callee: count(cs, |c| c.one_way_caller_to_callee),
            callee_to_caller: count(cs, |c| c.one_way_callee_to_caller),
        },
        streams: ss.len() as u64,
        mos_mean: stats::mean(&mos),
        mos_p5: percentile(&mos, 0.05),
        mos_min: stats::min(&mos),
        loss_p50_pct: percentile(&loss, 0.5),
        loss_p95_pct: percentile(&loss, 0.95),
        loss_max_pct: stats::max(&loss),
        jitter_p50_ms: percentile(&jitter, 0.5),
        jitter_p95_ms: percentile(&jitter, 0.95),
        jitter_max_ms: stats::max(&jitter),
        pdd_p50_ms: percentile(&pdd, 0.5),
        pdd_p95_ms: percentile(&pdd, 0.95),
        peak_concurrent: peak_concurrent(&spans, i64::MIN, i64::MAX),
        busy_hour_start: busy.map(|(start, _)| Timestamp(start.saturating_mul(1000))),
        busy_hour_peak_concurrent: busy.map_or(0, |(_, peak)| peak),
        busy_hour_attempts: busy
            .map_or(0, |(start, _)| count(cs, |c| c.start_us >= start && c.start_us < start + BUSY_HOUR_US)),
        dscp_expected_pct: ratio(ss.iter().filter(|s| s.dscp_ok).count() as u64, ss.len() as u64),
        quality_vs_concurrency: quality_vs_concurrency(&spans, ss, all_calls),
        reasons: Vec::new(),
    }
}

/// The busy hour: among 60-minute windows starting on the boundaries of buckets with calls in
/// progress, the one with the most concurrent calls; ties go to the most carried call-seconds
/// (ITU-T E.500 traffic), then the earliest. Returns (start µs, peak).
pub fn busy_hour(spans: &[(i64, i64)], opts: &SiteOptions) -> Option<(i64, u32)> {
    let width = opts.bucket_us();
    let first = spans.iter().map(|s| s.0).min()?;
    let last = spans.iter().map(|s| s.1).max()?;
    let mut start = first.div_euclid(width) * width;
    let mut best: Option<(u32, i64, i64)> = None;
    for _ in 0..MAX_BUCKETS_PER_PAIR {
        if start > last {
            break;
        }
        let peak = peak_concurrent(spans, start, start + BUSY_HOUR_US);
        let carried = carried_us(spans, start, start + BUSY_HOUR_US);
        if best.is_none_or(|(p, c, _)| (peak, carried) > (p, c)) {
            best = Some((peak, carried, start));
        }
        start += width;
    }
    best.map(|(peak, _, start)| (start, peak))
}

fn quality_vs_concurrency(spans: &[(i64, i64)], ss: &[&StreamRow], all_calls: &[CallRow]) -> QualityVsConcurrency {
    let active = ActiveCalls::new(spans);
    let load = |s: &StreamRow| f64::from(active.at(load_instant(s, all_calls)));
    let loss: Vec<(f64, f64)> = ss.iter().map(|s| (load(s), s.lost_pct)).collect();
    let mos: Vec<(f64, f64)> = ss.iter().filter_map(|s| Some((load(s), s.mos?))).collect();
    QualityVsConcurrency {
        loss_r: stats::pearson(&loss),
        mos_r: stats::pearson(&mos),
        loss_onset_concurrent: loss.iter().filter(|(_, l)| *l >= LOSSY_STREAM_PCT).map(|(c, _)| *c as u32).min(),
    }
}

/// When a stream's load is measured: its call's first INVITE (or its first packet without a call).
fn load_instant(s: &StreamRow, calls: &[CallRow]) -> i64 {
    s.call.and_then(|i| calls.get(i)).map_or(s.first_us, |c| c.start_us)
}

fn buckets(site: &str, peer: &str, cs: &[&CallRow], ss: &[&StreamRow], opts: &SiteOptions) -> Vec<TimeBucket> {
    let width = opts.bucket_us();
    let spans = intervals(cs);
    let times = spans.iter().flat_map(|s| [s.0, s.1]).chain(ss.iter().map(|s| s.first_us));
    let (Some(first), Some(last)) = (times.clone().min(), times.max()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut start = first.div_euclid(width) * width;
    while start <= last && out.len() < MAX_BUCKETS_PER_PAIR {
        let end = start + width;
        let started: Vec<&CallRow> = cs.iter().copied().filter(|c| c.start_us >= start && c.start_us < end).collect();
        let in_bucket: Vec<&&StreamRow> = ss.iter().filter(|s| s.first_us >= start && s.first_us < end).collect();
        let mos: Vec<f64> = in_bucket.iter().filter_map(|s| s.mos).collect();
        let loss: Vec<f64> = in_bucket.iter().map(|s| s.lost_pct).collect();
        out.push(TimeBucket {
            start: Timestamp(start.saturating_mul(1000)),
            site: site.to_owned(),
            peer_site: peer.to_owned(),
            concurrent_peak: peak_concurrent(&spans, start, end),
            attempts: started.len() as u64,
            failures: failures_of(&started),
            mos_p5: percentile(&mos, 0.05),
            loss_p95_pct: percentile(&loss, 0.95),
        });
        start = end;
    }
    out
}
