//! `callscope report`: one self-contained `index.html` (inline CSS and SVG charts, no script,
//! readable from disk without a server) plus `report.json`, the charts as PNG and SVG under
//! `plots/`, and with the `polars` feature the Parquet dataset. The page only formats numbers
//! the records and the site report hold.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use super::plots::{Chart, ChartKind, Series};
use super::records::{Call, Document};
use crate::diagnose::VerdictClass;
use crate::sites::summary::SiteSummary;
use crate::sites::{SiteReport, TimeBucket};

/// Most per-call sections on the page (failed calls first); the JSON beside it has them all.
pub const MAX_CALL_SECTIONS: usize = 2000;

const CSS: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;color:#222;max-width:1400px}\
h1{font-size:24px}h2{font-size:19px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}\
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}\
th{background:#eef}td.l,th.l{text-align:left}.bad{color:#b00;font-weight:bold}.ok{color:#070}\
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts figure{margin:0;border:1px solid #ddd}\
.kv td{text-align:left}section.call{border-left:4px solid #b00;padding-left:10px;margin:14px 0}\
.scroll{overflow-x:auto;max-width:100%}\
td.l,h3,li,.kv td{overflow-wrap:anywhere;word-break:break-word}\
.kv{table-layout:fixed;width:100%}.kv th{width:14em}\
.charts svg{max-width:100%;height:auto}";

/// Writes the report into `dir` (created if missing); returns the files written.
pub fn write_report(doc: &Document, sites: &SiteReport, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    // Never through symlinks planted in the output directory (issue 7 §5).
    super::create_output_dir(&dir.join("plots"))?;
    let mut written = Vec::new();
    let charts = charts(doc, sites);
    let mut svgs = Vec::with_capacity(charts.len());
    for chart in &charts {
        let svg = chart.to_svg().map_err(io::Error::other)?;
        let svg_path = dir.join("plots").join(format!("{}.svg", chart.name));
        io::Write::write_all(&mut super::create_output_file(&svg_path)?, svg.as_bytes())?;
        let png_path = dir.join("plots").join(format!("{}.png", chart.name));
        super::clear_output_path(&png_path)?;
        chart.write_png(&png_path).map_err(io::Error::other)?;
        written.extend([svg_path, png_path]);
        svgs.push(svg);
    }
    let json_path = dir.join("report.json");
    let mut json = io::BufWriter::new(super::create_output_file(&json_path)?);
    super::write_json(doc, &mut json)?;
    io::Write::flush(&mut json)?;
    written.push(json_path);
    #[cfg(feature = "polars")]
    written.extend(super::parquet::write_dir(doc, sites, dir).map_err(io::Error::other)?);
    let html_path = dir.join("index.html");
    io::Write::write_all(&mut super::create_output_file(&html_path)?, render(doc, sites, &charts, &svgs).as_bytes())?;
    written.push(html_path);
    Ok(written)
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn num(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_owned(), |v| format!("{v}"))
}

fn time_label(t: Option<crate::time::Timestamp>) -> String {
    t.map_or_else(|| "–".to_owned(), |t| t.rfc3339())
}

fn pair_name(s: &str, peer: &str) -> String {
    format!("{s}->{peer}")
}

/// The charts of the report, from the records and the site report.
pub fn charts(doc: &Document, sites: &SiteReport) -> Vec<Chart> {
    let pairs = pair_names(&sites.windows);
    let over_time = |f: &dyn Fn(&TimeBucket) -> Option<f64>| -> Vec<Series> {
        pairs
            .iter()
            .map(|(a, b)| Series {
                name: pair_name(a, b),
                points: sites
                    .windows
                    .iter()
                    .filter(|w| &w.site == a && &w.peer_site == b)
                    .filter_map(|w| Some((w.start.secs() as f64, f(w)?)))
                    .collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect()
    };
    let mut load: Vec<Series> = Vec::new();
    for p in &sites.load_points {
        let name = pair_name(&p.site, &p.peer_site);
        match load.iter_mut().find(|s| s.name == name) {
            Some(s) => s.points.push((f64::from(p.concurrent), p.loss_pct)),
            None => load.push(Series { name, points: vec![(f64::from(p.concurrent), p.loss_pct)] }),
        }
    }
    let site_names: Vec<String> =
        sites.summaries.iter().filter(|s| s.peer_site.is_none()).map(|s| s.site.clone()).collect();
    let index = |n: &str| site_names.iter().position(|s| s == n);
    let cells = sites
        .summaries
        .iter()
        .filter_map(|s| {
            let peer = s.peer_site.as_deref()?;
            let failed = s.failures.signaling + s.failures.media + s.failures.routing;
            let pct = if s.calls == 0 { 0.0 } else { 100.0 * failed as f64 / s.calls as f64 };
            Some((index(&s.site)?, index(peer)?, s.calls, pct))
        })
        .collect();
    let chart = |name: &str, title: &str, x: &str, y: &str, kind| Chart {
        name: name.into(),
        title: title.into(),
        x_label: x.into(),
        y_label: y.into(),
        kind,
    };
    vec![
        chart(
            "busy_hour",
            "Concurrent calls per bucket, by site pair",
            "time (UTC)",
            "peak concurrent calls",
            ChartKind::TimeLines(over_time(&|w| Some(f64::from(w.concurrent_peak)))),
        ),
        chart(
            "loss_vs_concurrency",
            "Stream loss vs concurrent calls of its site pair",
            "calls in progress at call start",
            "loss %",
            ChartKind::Scatter(load),
        ),
        chart(
            "mos_over_time",
            "MOS p5 over time, by site pair",
            "time (UTC)",
            "MOS p5",
            ChartKind::TimeLines(over_time(&|w| w.mos_p5)),
        ),
        chart(
            "mos_by_site",
            "MOS p5 over time, by site (streams of calls from or to the site)",
            "time (UTC)",
            "MOS p5",
            ChartKind::TimeLines(mos_by_site(doc, sites, &site_names)),
        ),
        chart(
            "loss_over_time",
            "Loss p95 over time, by site pair",
            "time (UTC)",
            "loss p95 %",
            ChartKind::TimeLines(over_time(&|w| w.loss_p95_pct)),
        ),
        chart(
            "loss_distribution",
            "Stream loss distribution",
            "loss %",
            "streams",
            ChartKind::Histogram(doc.streams.iter().map(|s| s.lost_pct).collect()),
        ),
        chart(
            "jitter_distribution",
            "Stream mean jitter distribution",
            "mean jitter ms",
            "streams",
            ChartKind::Histogram(doc.streams.iter().map(|s| s.mean_jitter_ms).filter(|j| *j >= 0.0).collect()),
        ),
        chart(
            "site_matrix",
            "Site pairs: calls and failure share",
            "callee site",
            "caller site",
            ChartKind::Matrix { sites: site_names.clone(), cells },
        ),
    ]
}

/// Bucket width of the time view, s: the spacing of one pair's consecutive buckets (15 min when
/// no pair has two).
fn bucket_secs(windows: &[TimeBucket]) -> i64 {
    windows
        .windows(2)
        .filter(|w| w[0].site == w[1].site && w[0].peer_site == w[1].peer_site)
        .map(|w| w[1].start.secs() - w[0].start.secs())
        .filter(|d| *d > 0)
        .min()
        .unwrap_or(900)
}

/// MOS p5 per site and time bucket over the streams of the calls placed from or to the site
/// (the site rows' definition, sites/summary.rs), by the stream's first packet.
fn mos_by_site(doc: &Document, sites: &SiteReport, site_names: &[String]) -> Vec<Series> {
    let width = bucket_secs(&sites.windows);
    let call_sites: std::collections::HashMap<&str, (&str, &str)> =
        doc.calls.iter().map(|c| (c.call_id.as_str(), (c.caller_site.as_str(), c.callee_site.as_str()))).collect();
    site_names
        .iter()
        .map(|site| {
            let mut buckets: std::collections::BTreeMap<i64, Vec<f64>> = std::collections::BTreeMap::new();
            for s in &doc.streams {
                let Some((a, b)) = s.call_id.as_deref().and_then(|id| call_sites.get(id)) else { continue };
                if let (true, Some(mos)) = (*a == site || *b == site, s.mos) {
                    buckets.entry(s.first_time.secs().div_euclid(width) * width).or_default().push(mos);
                }
            }
            let points = buckets
                .iter()
                .filter_map(|(start, mos)| Some((*start as f64, crate::sites::stats::percentile(mos, 0.05)?)))
                .collect();
            Series { name: site.clone(), points }
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

fn pair_names(windows: &[TimeBucket]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    for w in windows {
        if !v.iter().any(|(a, b)| a == &w.site && b == &w.peer_site) {
            v.push((w.site.clone(), w.peer_site.clone()));
        }
    }
    v
}

fn render(doc: &Document, sites: &SiteReport, charts: &[Chart], svgs: &[String]) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>callscope report</title>\
         <style>{CSS}</style></head><body>\n<h1>callscope report</h1>\n"
    );
    overview(&mut h, doc, sites);
    h.push_str("<h2 id=\"sites\">Sites</h2>\n");
    summary_table(&mut h, sites.summaries.iter().filter(|s| s.peer_site.is_none()), false);
    h.push_str("<h2 id=\"pairs\">Site pairs (caller site → callee site)</h2>\n");
    summary_table(&mut h, sites.summaries.iter().filter(|s| s.peer_site.is_some()), true);
    h.push_str("<h2 id=\"charts\">Busy hour and quality</h2>\n<div class=\"charts\">\n");
    for (chart, svg) in charts.iter().zip(svgs) {
        let _ = writeln!(h, "<figure id=\"chart-{}\">{}</figure>", esc(&chart.name), strip_xml_prolog(svg));
    }
    h.push_str("</div>\n");
    failed_calls(&mut h, doc);
    h.push_str("</body></html>\n");
    h
}

/// plotters' SVG starts with `<svg ...>`; an XML prolog (if a version adds one) is invalid inline.
fn strip_xml_prolog(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => svg.get(i..).unwrap_or(svg),
        None => svg,
    }
}

fn overview(h: &mut String, doc: &Document, sites: &SiteReport) {
    let answered = doc.calls.iter().filter(|c| c.outcome == crate::sip::Outcome::Answered).count();
    let failed = doc.calls.iter().filter(|c| c.verdict.class != VerdictClass::Ok).count();
    let busiest = sites
        .summaries
        .iter()
        .filter(|s| s.peer_site.is_none())
        .max_by(|a, b| a.peak_concurrent.cmp(&b.peak_concurrent).then_with(|| b.site.cmp(&a.site)));
    h.push_str("<h2 id=\"overview\">Overview</h2>\n<table class=\"kv\">\n");
    let inputs: Vec<String> = doc.inputs.iter().map(|i| format!("{} ({} packets)", esc(&i.path), i.packets)).collect();
    let rows = [
        ("Inputs", inputs.join(", ")),
        ("Calls", doc.calls.len().to_string()),
        ("Answered", answered.to_string()),
        ("Failed calls", failed.to_string()),
        ("RTP streams", doc.streams.len().to_string()),
        (
            "Busiest site",
            busiest.map_or_else(
                || "–".to_owned(),
                |s| {
                    format!(
                        "{}: {} concurrent calls, busy hour from {}",
                        esc(&s.site),
                        s.peak_concurrent,
                        time_label(s.busy_hour_start)
                    )
                },
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(h, "<tr><th class=\"l\">{k}</th><td>{v}</td></tr>");
    }
    h.push_str("</table>\n");
}

fn summary_table<'a>(h: &mut String, rows: impl Iterator<Item = &'a SiteSummary>, pairs: bool) {
    let head = [
        "calls",
        "answered",
        "ASR %",
        "NER %",
        "signaling",
        "media",
        "routing",
        "one-way →",
        "one-way ←",
        "MOS mean",
        "MOS p5",
        "MOS min",
        "loss p50 %",
        "loss p95 %",
        "loss max %",
        "jitter p50 ms",
        "jitter p95 ms",
        "PDD p50 ms",
        "PDD p95 ms",
        "peak conc.",
        "busy hour (UTC)",
        "DSCP ok %",
        "loss r(conc.)",
        "loss from conc.",
    ];
    // Many columns: the table scrolls inside its box instead of widening the page.
    h.push_str("<div class=\"scroll\"><table><tr><th class=\"l\">site</th>");
    if pairs {
        h.push_str("<th class=\"l\">peer site</th>");
    }
    for c in head {
        let _ = write!(h, "<th>{c}</th>");
    }
    h.push_str("</tr>\n");
    for s in rows {
        let id = match &s.peer_site {
            Some(p) => format!("pair-{}-{}", s.site, p),
            None => format!("site-{}", s.site),
        };
        let _ = write!(h, "<tr id=\"{}\"><td class=\"l\">{}</td>", esc(&id), esc(&s.site));
        if let Some(p) = &s.peer_site {
            let _ = write!(h, "<td class=\"l\">{}</td>", esc(p));
        }
        let failed = |n: u64| if n > 0 { format!("<td class=\"bad\">{n}</td>") } else { format!("<td>{n}</td>") };
        let q = &s.quality_vs_concurrency;
        let cells = [
            format!("<td>{}</td><td>{}</td>", s.calls, s.answered),
            format!("<td>{}</td><td>{}</td>", num(s.asr_pct), num(s.ner_pct)),
            failed(s.failures.signaling) + &failed(s.failures.media) + &failed(s.failures.routing),
            failed(s.one_way.caller_to_callee) + &failed(s.one_way.callee_to_caller),
            format!("<td>{}</td><td>{}</td><td>{}</td>", num(s.mos_mean), num(s.mos_p5), num(s.mos_min)),
            format!("<td>{}</td><td>{}</td><td>{}</td>", num(s.loss_p50_pct), num(s.loss_p95_pct), num(s.loss_max_pct)),
            format!("<td>{}</td><td>{}</td>", num(s.jitter_p50_ms), num(s.jitter_p95_ms)),
            format!("<td>{}</td><td>{}</td>", num(s.pdd_p50_ms), num(s.pdd_p95_ms)),
            format!("<td>{}</td><td>{}</td>", s.peak_concurrent, time_label(s.busy_hour_start)),
            format!("<td>{}</td><td>{}</td>", num(s.dscp_expected_pct), num(q.loss_r)),
            format!("<td>{}</td>", q.loss_onset_concurrent.map_or_else(|| "–".to_owned(), |c| c.to_string())),
        ];
        h.push_str(&cells.concat());
        h.push_str("</tr>\n");
    }
    h.push_str("</table></div>\n");
}

/// Failed calls grouped by verdict class and first reason code, each linking to its section.
fn failed_calls(h: &mut String, doc: &Document) {
    let mut groups: std::collections::BTreeMap<(String, String), Vec<usize>> = std::collections::BTreeMap::new();
    for (i, c) in doc.calls.iter().enumerate() {
        if c.verdict.class != VerdictClass::Ok {
            let class = crate::sites::rows::verdict_name(c.verdict.class).to_owned();
            let code = c.verdict.reasons.first().map_or("unknown", |r| r.code).to_owned();
            groups.entry((class, code)).or_default().push(i);
        }
    }
    let total: usize = groups.values().map(Vec::len).sum();
    let _ = writeln!(h, "<h2 id=\"failed\">Failed calls ({total})</h2>");
    if groups.is_empty() {
        h.push_str("<p class=\"ok\">No call failed.</p>\n");
        return;
    }
    for ((class, code), calls) in &groups {
        let _ = write!(h, "<h3>{} / {} ({})</h3>\n<ul>", esc(class), esc(code), calls.len());
        for &i in calls {
            if let Some(c) = doc.calls.get(i) {
                let _ = write!(
                    h,
                    "<li><a href=\"#call-{i}\">{}</a> {} → {}</li>",
                    esc(&c.call_id),
                    esc(&c.caller_site),
                    esc(&c.callee_site)
                );
            }
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<h2 id=\"calls\">Failed call details</h2>\n");
    let failed = groups.values().flatten().copied().take(MAX_CALL_SECTIONS);
    for i in failed {
        if let Some(c) = doc.calls.get(i) {
            call_section(h, doc, i, c);
        }
    }
}

fn call_section(h: &mut String, doc: &Document, i: usize, c: &Call) {
    let addr = |a: Option<std::net::SocketAddr>| a.map_or_else(|| "–".to_owned(), |a| a.to_string());
    let _ = write!(
        h,
        "<section class=\"call\" id=\"call-{i}\"><h3>{}</h3><table class=\"kv\">\
         <tr><th class=\"l\">from → to</th><td>{} → {}</td></tr>\
         <tr><th class=\"l\">caller → callee</th><td>{} ({}) → {} ({})</td></tr>\
         <tr><th class=\"l\">start</th><td>{}</td></tr>\
         <tr><th class=\"l\">final status / outcome</th><td>{} / {}</td></tr></table><ul>",
        esc(&c.call_id),
        esc(c.from_user.as_deref().unwrap_or("?")),
        esc(c.to_user.as_deref().unwrap_or("?")),
        esc(&addr(c.caller)),
        esc(&c.caller_site),
        esc(&addr(c.callee)),
        esc(&c.callee_site),
        time_label(c.start),
        c.final_status.map_or_else(|| "none".to_owned(), |s| s.to_string()),
        esc(&serde_json::to_value(c.outcome).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()),
    );
    for r in &c.verdict.reasons {
        let frames: Vec<String> = r.frames.iter().map(u64::to_string).collect();
        let _ = write!(h, "<li><b>{}</b>: {} (frames {})</li>", esc(r.code), esc(&r.detail), frames.join(", "));
    }
    h.push_str("</ul>");
    let streams: Vec<_> = doc.streams.iter().filter(|s| c.streams.contains(&s.id)).collect();
    if !streams.is_empty() {
        h.push_str("<div class=\"scroll\"><table><tr><th class=\"l\">stream</th><th>packets</th><th>lost %</th><th>mean jitter ms</th><th>MOS</th></tr>");
        for s in streams {
            let _ = write!(
                h,
                "<tr><td class=\"l\">{} → {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&s.src.to_string()),
                esc(&s.dst.to_string()),
                s.packets,
                s.lost_pct,
                s.mean_jitter_ms,
                num(s.mos)
            );
        }
        h.push_str("</table></div>");
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
