//! With the `polars` feature: the records and the site report as polars frames (the columns of
//! the Parquet dataset), and the per-site-pair aggregation as a lazy polars query over the same
//! rows the plain-Rust path uses — [`pair_stats_polars`] and [`pair_stats_plain`] must agree.
//!
//! Frames are built once at the end of a run from finished records: polars never touches the
//! packet path. Timestamps are `Datetime(Microseconds, UTC)`, written to Parquet as
//! `TIMESTAMP(isAdjustedToUTC = true, MICROS)`.

use polars::prelude::*;

use super::rows::{CallRow, StreamRow};
use super::stats::round3;
use super::summary::SiteReport;
use crate::report::records::Document;

fn utc_us(name: &str, values: Vec<Option<i64>>) -> PolarsResult<Column> {
    let dt = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    Ok(Series::new(name.into(), values).cast(&dt)?.into_column())
}

fn col_of<T>(name: &str, values: Vec<T>) -> Column
where
    Series: NamedFrom<Vec<T>, [T]>,
{
    Series::new(name.into(), values).into_column()
}

fn ts_us(t: Option<crate::time::Timestamp>) -> Option<i64> {
    t.map(|t| t.0.div_euclid(1000))
}

/// `calls.parquet`: one row per call.
pub fn calls_frame(doc: &Document) -> PolarsResult<DataFrame> {
    let c = &doc.calls;
    let s = |f: &dyn Fn(&crate::report::records::Call) -> Option<String>| c.iter().map(f).collect::<Vec<_>>();
    let f = |g: &dyn Fn(&crate::report::records::Call) -> Option<f64>| c.iter().map(g).collect::<Vec<_>>();
    let json_str = |v: serde_json::Value| v.as_str().map(str::to_owned);
    DataFrame::new_infer_height(vec![
        col_of("call_id", s(&|x| Some(x.call_id.clone()))),
        col_of("from_user", s(&|x| x.from_user.clone())),
        col_of("to_user", s(&|x| x.to_user.clone())),
        col_of("caller", s(&|x| x.caller.map(|a| a.to_string()))),
        col_of("callee", s(&|x| x.callee.map(|a| a.to_string()))),
        col_of("caller_site", s(&|x| Some(x.caller_site.clone()))),
        col_of("callee_site", s(&|x| Some(x.callee_site.clone()))),
        utc_us("start", c.iter().map(|x| ts_us(x.start)).collect())?,
        col_of("setup_ms", f(&|x| x.setup_ms)),
        col_of("answer_ms", f(&|x| x.answer_ms)),
        col_of("duration_s", f(&|x| x.duration_s)),
        col_of("final_status", c.iter().map(|x| x.final_status.map(i32::from)).collect::<Vec<_>>()),
        col_of("outcome", s(&|x| serde_json::to_value(x.outcome).ok().and_then(json_str))),
        col_of("verdict_class", s(&|x| Some(super::rows::verdict_name(x.verdict.class).to_owned()))),
        col_of("reason_codes", s(&|x| Some(x.verdict.reasons.iter().map(|r| r.code).collect::<Vec<_>>().join(",")))),
        col_of("mos_min", f(&|x| x.mos_min)),
    ])
}

/// `streams.parquet`: one row per stream.
pub fn streams_frame(doc: &Document) -> PolarsResult<DataFrame> {
    let st = &doc.streams;
    let f = |g: &dyn Fn(&crate::report::records::Stream) -> f64| st.iter().map(g).collect::<Vec<f64>>();
    DataFrame::new_infer_height(vec![
        col_of("id", st.iter().map(|s| s.id).collect::<Vec<u32>>()),
        col_of("call_id", st.iter().map(|s| s.call_id.clone()).collect::<Vec<_>>()),
        col_of("src", st.iter().map(|s| s.src.to_string()).collect::<Vec<_>>()),
        col_of("dst", st.iter().map(|s| s.dst.to_string()).collect::<Vec<_>>()),
        col_of("ssrc", st.iter().map(|s| s.ssrc.clone()).collect::<Vec<_>>()),
        col_of("payload_type", st.iter().map(|s| u32::from(s.payload_type)).collect::<Vec<u32>>()),
        col_of("codec", st.iter().map(|s| s.codec.clone()).collect::<Vec<_>>()),
        utc_us("first_time", st.iter().map(|s| ts_us(Some(s.first_time))).collect())?,
        utc_us("last_time", st.iter().map(|s| ts_us(Some(s.last_time))).collect())?,
        col_of("packets", st.iter().map(|s| s.packets).collect::<Vec<u64>>()),
        col_of("expected", st.iter().map(|s| s.expected).collect::<Vec<u64>>()),
        col_of("lost", st.iter().map(|s| s.lost).collect::<Vec<i64>>()),
        col_of("lost_pct", f(&|s| s.lost_pct)),
        col_of("mean_jitter_ms", f(&|s| s.mean_jitter_ms)),
        col_of("max_jitter_ms", f(&|s| s.max_jitter_ms)),
        col_of("dscp", st.iter().map(|s| u32::from(s.dscp)).collect::<Vec<u32>>()),
        col_of("mos", st.iter().map(|s| s.mos).collect::<Vec<Option<f64>>>()),
    ])
}

/// `windows.parquet`: the time buckets per site pair.
pub fn windows_frame(report: &SiteReport) -> PolarsResult<DataFrame> {
    let w = &report.windows;
    DataFrame::new_infer_height(vec![
        utc_us("start", w.iter().map(|b| Some(b.start.0.div_euclid(1000))).collect())?,
        col_of("site", w.iter().map(|b| b.site.clone()).collect::<Vec<_>>()),
        col_of("peer_site", w.iter().map(|b| b.peer_site.clone()).collect::<Vec<_>>()),
        col_of("concurrent_peak", w.iter().map(|b| b.concurrent_peak).collect::<Vec<u32>>()),
        col_of("attempts", w.iter().map(|b| b.attempts).collect::<Vec<u64>>()),
        col_of("failures_signaling", w.iter().map(|b| b.failures.signaling).collect::<Vec<u64>>()),
        col_of("failures_media", w.iter().map(|b| b.failures.media).collect::<Vec<u64>>()),
        col_of("failures_routing", w.iter().map(|b| b.failures.routing).collect::<Vec<u64>>()),
        col_of("mos_p5", w.iter().map(|b| b.mos_p5).collect::<Vec<_>>()),
        col_of("loss_p95_pct", w.iter().map(|b| b.loss_p95_pct).collect::<Vec<_>>()),
    ])
}

/// `sites.parquet`: the `SiteSummary` rows, nested fields flattened with `_`.
pub fn sites_frame(report: &SiteReport) -> PolarsResult<DataFrame> {
    let r = &report.summaries;
    let of = |g: &dyn Fn(&super::SiteSummary) -> Option<f64>| r.iter().map(g).collect::<Vec<_>>();
    let count = |g: &dyn Fn(&super::SiteSummary) -> u64| r.iter().map(g).collect::<Vec<u64>>();
    DataFrame::new_infer_height(vec![
        col_of("site", r.iter().map(|s| s.site.clone()).collect::<Vec<_>>()),
        col_of("peer_site", r.iter().map(|s| s.peer_site.clone()).collect::<Vec<_>>()),
        col_of("calls", count(&|s| s.calls)),
        col_of("answered", count(&|s| s.answered)),
        col_of("asr_pct", of(&|s| s.asr_pct)),
        col_of("ner_pct", of(&|s| s.ner_pct)),
        col_of("failures_signaling", count(&|s| s.failures.signaling)),
        col_of("failures_media", count(&|s| s.failures.media)),
        col_of("failures_routing", count(&|s| s.failures.routing)),
        col_of(
            "top_reasons",
            r.iter()
                .map(|s| s.top_reasons.iter().map(|t| format!("{}:{}", t.code, t.count)).collect::<Vec<_>>().join(","))
                .collect::<Vec<_>>(),
        ),
        col_of("one_way_caller_to_callee", count(&|s| s.one_way.caller_to_callee)),
        col_of("one_way_callee_to_caller", count(&|s| s.one_way.callee_to_caller)),
        col_of("streams", count(&|s| s.streams)),
        col_of("mos_mean", of(&|s| s.mos_mean)),
        col_of("mos_p5", of(&|s| s.mos_p5)),
        col_of("mos_min", of(&|s| s.mos_min)),
        col_of("loss_p50_pct", of(&|s| s.loss_p50_pct)),
        col_of("loss_p95_pct", of(&|s| s.loss_p95_pct)),
        col_of("jitter_p50_ms", of(&|s| s.jitter_p50_ms)),
        col_of("jitter_p95_ms", of(&|s| s.jitter_p95_ms)),
        col_of("pdd_p50_ms", of(&|s| s.pdd_p50_ms)),
        col_of("pdd_p95_ms", of(&|s| s.pdd_p95_ms)),
        col_of("peak_concurrent", r.iter().map(|s| s.peak_concurrent).collect::<Vec<u32>>()),
        utc_us("busy_hour_start", r.iter().map(|s| ts_us(s.busy_hour_start)).collect())?,
        col_of("dscp_expected_pct", of(&|s| s.dscp_expected_pct)),
    ])
}

/// The numbers of a site-pair row that the lazy polars query computes.
#[derive(Clone, Debug, PartialEq)]
pub struct PairStats {
    /// Caller's site.
    pub site: String,
    /// Callee's site.
    pub peer_site: String,
    /// calls, answered, streams.
    pub counts: [u64; 3],
    /// asr, ner, pdd p50/p95, loss p50/p95/max, jitter p50/p95, mos mean/p5/min, dscp %.
    pub values: [Option<f64>; 13],
}

/// The same numbers from the plain-Rust summaries (pair rows).
pub fn pair_stats_plain(report: &SiteReport) -> Vec<PairStats> {
    let mut v: Vec<PairStats> = report
        .summaries
        .iter()
        .filter_map(|s| {
            Some(PairStats {
                site: s.site.clone(),
                peer_site: s.peer_site.clone()?,
                counts: [s.calls, s.answered, s.streams],
                values: [
                    s.asr_pct,
                    s.ner_pct,
                    s.pdd_p50_ms,
                    s.pdd_p95_ms,
                    s.loss_p50_pct,
                    s.loss_p95_pct,
                    s.loss_max_pct,
                    s.jitter_p50_ms,
                    s.jitter_p95_ms,
                    s.mos_mean,
                    s.mos_p5,
                    s.mos_min,
                    s.dscp_expected_pct,
                ],
            })
        })
        .collect();
    v.sort_by(|a, b| (&a.site, &a.peer_site).cmp(&(&b.site, &b.peer_site)));
    v
}

fn call_rows_frame(calls: &[CallRow]) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        col_of("caller_site", calls.iter().map(|c| c.caller_site.clone()).collect::<Vec<_>>()),
        col_of("callee_site", calls.iter().map(|c| c.callee_site.clone()).collect::<Vec<_>>()),
        col_of("answered", calls.iter().map(|c| c.answered).collect::<Vec<bool>>()),
        col_of("is_attempt", calls.iter().map(|c| c.is_attempt).collect::<Vec<bool>>()),
        col_of("is_ner", calls.iter().map(|c| c.is_network_effective).collect::<Vec<bool>>()),
        col_of("pdd_ms", calls.iter().map(|c| c.pdd_ms).collect::<Vec<_>>()),
    ])
}

fn stream_rows_frame(streams: &[StreamRow]) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        col_of("caller_site", streams.iter().map(|s| s.caller_site.clone()).collect::<Vec<_>>()),
        col_of("callee_site", streams.iter().map(|s| s.callee_site.clone()).collect::<Vec<_>>()),
        col_of("lost_pct", streams.iter().map(|s| s.lost_pct).collect::<Vec<f64>>()),
        col_of("jitter_ms", streams.iter().map(|s| s.jitter_ms).collect::<Vec<_>>()),
        col_of("mos", streams.iter().map(|s| s.mos).collect::<Vec<_>>()),
        col_of("dscp_ok", streams.iter().map(|s| s.dscp_ok).collect::<Vec<bool>>()),
    ])
}

fn q(name: &str, p: f64) -> Expr {
    col(name).quantile(lit(p), QuantileMethod::Linear).cast(DataType::Float64)
}

fn count_true(name: &str) -> Expr {
    col(name).cast(DataType::UInt64).sum().cast(DataType::Float64)
}

/// Per-site-pair numbers with a lazy polars query (group by caller site, callee site).
pub fn pair_stats_polars(calls: &[CallRow], streams: &[StreamRow]) -> PolarsResult<Vec<PairStats>> {
    let keys = [col("caller_site"), col("callee_site")];
    let c = call_rows_frame(calls)?
        .lazy()
        .group_by(keys.clone())
        .agg([
            len().cast(DataType::Float64).alias("calls"),
            count_true("answered").alias("answered"),
            count_true("is_attempt").alias("attempts"),
            col("answered").and(col("is_attempt")).cast(DataType::UInt64).sum().cast(DataType::Float64).alias("asr_n"),
            count_true("is_ner").alias("ner_n"),
            q("pdd_ms", 0.5).alias("pdd_p50"),
            q("pdd_ms", 0.95).alias("pdd_p95"),
        ])
        .collect()?;
    let s = stream_rows_frame(streams)?
        .lazy()
        .group_by(keys)
        .agg([
            len().cast(DataType::Float64).alias("streams"),
            q("lost_pct", 0.5).alias("loss_p50"),
            q("lost_pct", 0.95).alias("loss_p95"),
            col("lost_pct").max().alias("loss_max"),
            q("jitter_ms", 0.5).alias("jitter_p50"),
            q("jitter_ms", 0.95).alias("jitter_p95"),
            col("mos").mean().alias("mos_mean"),
            q("mos", 0.05).alias("mos_p5"),
            col("mos").min().alias("mos_min"),
            count_true("dscp_ok").alias("dscp_ok"),
        ])
        .collect()?;
    let mut out: Vec<PairStats> = Vec::new();
    let get =
        |df: &DataFrame, name: &str, i: usize| -> PolarsResult<Option<f64>> { Ok(df.column(name)?.f64()?.get(i)) };
    let key = |df: &DataFrame, i: usize| -> PolarsResult<(String, String)> {
        Ok((
            df.column("caller_site")?.str()?.get(i).unwrap_or_default().to_owned(),
            df.column("callee_site")?.str()?.get(i).unwrap_or_default().to_owned(),
        ))
    };
    let pct = |n: Option<f64>, d: Option<f64>| match (n, d) {
        (Some(n), Some(d)) if d > 0.0 => Some(round3(100.0 * n / d)),
        _ => None,
    };
    let r3 = |x: Option<f64>| x.map(round3);
    let mut pairs: Vec<(String, String)> = Vec::new();
    for i in 0..c.height() {
        pairs.push(key(&c, i)?);
    }
    for i in 0..s.height() {
        let k = key(&s, i)?;
        if !pairs.contains(&k) {
            pairs.push(k);
        }
    }
    for (a, b) in pairs {
        let ci = (0..c.height()).find(|&i| key(&c, i).is_ok_and(|k| k == (a.clone(), b.clone())));
        let si = (0..s.height()).find(|&i| key(&s, i).is_ok_and(|k| k == (a.clone(), b.clone())));
        let cv = |name: &str| -> PolarsResult<Option<f64>> { ci.map_or(Ok(None), |i| get(&c, name, i)) };
        let sv = |name: &str| -> PolarsResult<Option<f64>> { si.map_or(Ok(None), |i| get(&s, name, i)) };
        let n = |x: Option<f64>| x.map_or(0, |v| v as u64);
        out.push(PairStats {
            site: a,
            peer_site: b,
            counts: [n(cv("calls")?), n(cv("answered")?), n(sv("streams")?)],
            values: [
                pct(cv("asr_n")?, cv("attempts")?),
                pct(cv("ner_n")?, cv("attempts")?),
                r3(cv("pdd_p50")?),
                r3(cv("pdd_p95")?),
                r3(sv("loss_p50")?),
                r3(sv("loss_p95")?),
                r3(sv("loss_max")?),
                r3(sv("jitter_p50")?),
                r3(sv("jitter_p95")?),
                r3(sv("mos_mean")?),
                r3(sv("mos_p5")?),
                r3(sv("mos_min")?),
                pct(sv("dscp_ok")?, sv("streams")?),
            ],
        });
    }
    out.sort_by(|a, b| (&a.site, &a.peer_site).cmp(&(&b.site, &b.peer_site)));
    Ok(out)
}
