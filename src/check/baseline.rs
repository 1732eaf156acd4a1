//! `--baseline previous.json`: the metric values of an earlier run, per scope key, read from
//! either a `check --format json` document (its `metrics[]`, computed by this very module) or an
//! `analyze --format json` document (its `sites[]` SiteSummary rows for sites and pairs; for the
//! global scope the same percentiles recomputed from its `streams[]`/`calls[]`, and ASR/NER from
//! its `summary`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use super::criteria::ScopeKind;
use super::metrics::Metric;
use crate::sites::stats::{mean, percentile};

/// A baseline could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// Not readable.
    #[error("{path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Not JSON, or JSON of neither kind.
    #[error("{path}: {message}")]
    Format {
        /// File path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Scope key: kind and site (`None` global, `hq`, `hq->warehouse`).
pub type ScopeKey = (ScopeKind, Option<String>);

/// Metric values of an earlier run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Baseline {
    /// Where it came from (shown in the report).
    pub source: String,
    /// `check` or `analyze`.
    pub kind: &'static str,
    /// Values per scope key and metric name.
    pub values: HashMap<ScopeKey, BTreeMap<String, f64>>,
}

impl Baseline {
    /// Reads a baseline file.
    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| BaselineError::Io { path: shown.clone(), source })?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| BaselineError::Format { path: shown.clone(), message: format!("not JSON: {e}") })?;
        Baseline::from_json(&json, &shown)
    }

    /// Reads the values from a parsed `check` or `analyze` JSON document.
    pub fn from_json(json: &Value, source: &str) -> Result<Baseline, BaselineError> {
        if let Some(metrics) = json.get("metrics").and_then(Value::as_array).filter(|_| json.get("results").is_some()) {
            return Ok(Baseline { source: source.to_owned(), kind: "check", values: from_check(metrics) });
        }
        if json.get("calls").is_some() && json.get("streams").is_some() {
            return Ok(Baseline { source: source.to_owned(), kind: "analyze", values: from_analyze(json) });
        }
        Err(BaselineError::Format {
            path: source.to_owned(),
            message: "neither a `callscope check --format json` nor a `callscope analyze --format json` document"
                .to_owned(),
        })
    }

    /// The baseline value of a metric at a scope key.
    pub fn value(&self, kind: ScopeKind, site: Option<&str>, metric: Metric) -> Option<f64> {
        self.values.get(&(kind, site.map(str::to_owned))).and_then(|m| m.get(metric.name())).copied()
    }
}

fn scope_kind(name: &str) -> Option<ScopeKind> {
    Some(match name {
        "global" => ScopeKind::Global,
        "site" => ScopeKind::Site,
        "site_pair" => ScopeKind::SitePair,
        _ => return None,
    })
}

fn from_check(metrics: &[Value]) -> HashMap<ScopeKey, BTreeMap<String, f64>> {
    let mut out = HashMap::new();
    for m in metrics {
        let Some(kind) = m.get("scope").and_then(Value::as_str).and_then(scope_kind) else { continue };
        let site = m.get("site").and_then(Value::as_str).map(str::to_owned);
        let Some(values) = m.get("values").and_then(Value::as_object) else { continue };
        let row: BTreeMap<String, f64> = values.iter().filter_map(|(k, v)| Some((k.clone(), v.as_f64()?))).collect();
        out.insert((kind, site), row);
    }
    out
}

/// SiteSummary fields that carry a metric of the same meaning.
const SITE_FIELDS: [(&str, Metric); 8] = [
    ("mos_p5", Metric::MosP5),
    ("mos_mean", Metric::MosMean),
    ("loss_p95_pct", Metric::LossP95Pct),
    ("jitter_p95_ms", Metric::JitterP95Ms),
    ("pdd_p95_ms", Metric::PddP95Ms),
    ("asr_pct", Metric::AsrPct),
    ("ner_pct", Metric::NerPct),
    ("dscp_expected_pct", Metric::DscpExpectedPct),
];

fn from_analyze(json: &Value) -> HashMap<ScopeKey, BTreeMap<String, f64>> {
    let mut out: HashMap<ScopeKey, BTreeMap<String, f64>> = HashMap::new();
    // Site summaries (diagnosis findings in the same array have no `calls` / `peer_site`).
    for row in json.get("sites").and_then(Value::as_array).into_iter().flatten() {
        let (Some(site), Some(peer), Some(_)) =
            (row.get("site").and_then(Value::as_str), row.get("peer_site"), row.get("calls"))
        else {
            continue;
        };
        let key = match peer.as_str() {
            Some(p) => (ScopeKind::SitePair, Some(format!("{site}->{p}"))),
            None => (ScopeKind::Site, Some(site.to_owned())),
        };
        let mut values = BTreeMap::new();
        for (field, metric) in SITE_FIELDS {
            if let Some(v) = row.get(field).and_then(Value::as_f64) {
                values.insert(metric.name().to_owned(), v);
            }
        }
        if let Some(f) = row.get("failures") {
            for (field, metric) in [
                ("signaling", Metric::SignalingFailures),
                ("media", Metric::MediaFailures),
                ("routing", Metric::RoutingFailures),
            ] {
                if let Some(v) = f.get(field).and_then(Value::as_f64) {
                    values.insert(metric.name().to_owned(), v);
                }
            }
        }
        out.insert(key, values);
    }
    // Global: the same definitions over every stream / call of the document.
    let streams: Vec<&Value> = json.get("streams").and_then(Value::as_array).into_iter().flatten().collect();
    let calls: Vec<&Value> = json.get("calls").and_then(Value::as_array).into_iter().flatten().collect();
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64);
    let mos: Vec<f64> = streams.iter().filter_map(|s| num(s, "mos")).collect();
    let loss: Vec<f64> = streams.iter().filter_map(|s| num(s, "lost_pct")).collect();
    // tshark prints −1 for a jitter never computed (unknown clock); sites::rows drops those too.
    let jitter: Vec<f64> = streams.iter().filter_map(|s| num(s, "mean_jitter_ms")).filter(|j| *j >= 0.0).collect();
    let pdd: Vec<f64> = calls.iter().filter_map(|c| num(c, "setup_ms")).collect();
    let mut global = BTreeMap::new();
    let mut put = |m: Metric, v: Option<f64>| {
        if let Some(v) = v {
            global.insert(m.name().to_owned(), v);
        }
    };
    put(Metric::MosP5, percentile(&mos, 0.05));
    put(Metric::MosMean, mean(&mos));
    put(Metric::LossP95Pct, percentile(&loss, 0.95));
    put(Metric::JitterP95Ms, percentile(&jitter, 0.95));
    put(Metric::PddP95Ms, percentile(&pdd, 0.95));
    let summary = json.get("summary");
    put(Metric::AsrPct, summary.and_then(|s| num(s, "asr_pct")));
    put(Metric::NerPct, summary.and_then(|s| num(s, "ner_pct")));
    let class_count = |class: &str| {
        Some(calls.iter().filter(|c| c.pointer("/verdict/class").and_then(Value::as_str) == Some(class)).count() as f64)
    };
    put(Metric::SignalingFailures, class_count("signaling"));
    put(Metric::MediaFailures, class_count("media"));
    put(Metric::RoutingFailures, class_count("routing"));
    out.insert((ScopeKind::Global, None), global);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_check_metrics_and_rejects_other_json() {
        let json = serde_json::json!({"schema": 1, "passed": true, "results": [],
            "metrics": [{"scope": "site", "site": "hq", "values": {"mos_p5": 4.1, "asr_pct": null}},
                        {"scope": "global", "site": null, "values": {"loss_p95_pct": 0.5}}]});
        let b = Baseline::from_json(&json, "b.json").unwrap();
        assert_eq!(b.kind, "check");
        assert_eq!(b.value(ScopeKind::Site, Some("hq"), Metric::MosP5), Some(4.1));
        assert_eq!(b.value(ScopeKind::Site, Some("hq"), Metric::AsrPct), None);
        assert_eq!(b.value(ScopeKind::Global, None, Metric::LossP95Pct), Some(0.5));
        let err = Baseline::from_json(&serde_json::json!({"x": 1}), "b.json").unwrap_err().to_string();
        assert!(err.starts_with("b.json: neither"), "{err}");
    }

    #[test]
    fn reads_analyze_site_rows_and_recomputes_global() {
        let json = serde_json::json!({"calls": [{"setup_ms": 100.0, "verdict": {"class": "media"}},
                                                {"setup_ms": 300.0, "verdict": {"class": "ok"}}],
            "streams": [{"mos": 4.0, "lost_pct": 0.0, "mean_jitter_ms": -1.0}, {"mos": 3.0, "lost_pct": 2.0, "mean_jitter_ms": 4.0}],
            "summary": {"asr_pct": 50.0, "ner_pct": 100.0},
            "sites": [{"site": "hq", "peer_site": null, "calls": 2, "mos_p5": 3.05, "failures": {"signaling": 0, "media": 1, "routing": 0}},
                      {"site": "hq", "peer_site": "wh", "calls": 2, "pdd_p95_ms": 290.0},
                      {"code": "inter_site_one_way", "site": "hq"}]});
        let b = Baseline::from_json(&json, "a.json").unwrap();
        assert_eq!(b.kind, "analyze");
        assert_eq!(b.value(ScopeKind::Site, Some("hq"), Metric::MosP5), Some(3.05));
        assert_eq!(b.value(ScopeKind::Site, Some("hq"), Metric::MediaFailures), Some(1.0));
        assert_eq!(b.value(ScopeKind::SitePair, Some("hq->wh"), Metric::PddP95Ms), Some(290.0));
        assert_eq!(b.value(ScopeKind::Global, None, Metric::MosP5), Some(3.05));
        assert_eq!(b.value(ScopeKind::Global, None, Metric::PddP95Ms), Some(290.0));
        assert_eq!(b.value(ScopeKind::Global, None, Metric::JitterP95Ms), Some(4.0));
        assert_eq!(b.value(ScopeKind::Global, None, Metric::AsrPct), Some(50.0));
        assert_eq!(b.value(ScopeKind::Global, None, Metric::MediaFailures), Some(1.0));
    }
}
