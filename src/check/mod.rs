//! Stage 11 — check: the validation gate (`callscope check`, output-contract.md "Criteria").
//!
//! Input: the finished [`Document`] (sites attached), the [`SiteMap`], the [`Criteria`], the
//! diagnosis settings and an optional [`Baseline`]. Output: a [`CheckReport`]: one result row
//! per criterion and scope key (global, each site, each site pair) with `pass`, `fail` or
//! `insufficient`, the worst calls of failing rows, and every metric per scope key (`metrics[]`,
//! which a later run reads back as its baseline). Runs once per run on records.
//!
//! Every value comes from [`metrics`], which reads the records and the site rows of
//! `sites::rows` with the `sites` percentile definitions; [`table`] and the JSON only format.

pub mod baseline;
pub mod criteria;
pub mod metrics;
pub mod table;

use std::collections::BTreeMap;

use serde::Serialize;

pub use baseline::{Baseline, BaselineError};
pub use criteria::{Criteria, CriteriaError, Criterion, Measure, Op, ScopeKind};
pub use metrics::{Measured, Metric, Worst};

use crate::diagnose::DiagnosisConfig;
use crate::report::Document;
use crate::sites::{SiteMap, SiteOptions};

/// Schema of the `check --format json` document.
pub const SCHEMA: u32 = 1;

/// A result row's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Criterion met.
    Pass,
    /// Criterion not met.
    Fail,
    /// Not enough evidence (fewer calls than `min_calls`, or nothing to measure): neither.
    Insufficient,
}

/// One row of `results[]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckResult {
    /// Criterion name.
    pub criterion: String,
    /// Metric name as written in the criteria file (additive).
    pub metric: String,
    /// Scope kind.
    pub scope: ScopeKind,
    /// Site (`hq`), pair (`hq->warehouse`), or null for global.
    pub site: Option<String>,
    /// Measured value (for a regression: the worsening since the baseline); null when none.
    pub value: Option<f64>,
    /// Comparison.
    pub op: &'static str,
    /// Target.
    pub target: f64,
    /// Outcome.
    pub status: Status,
    /// Calls the value rests on (registrations for `registered_pct`).
    pub calls: u64,
    /// Call-IDs of the worst calls of a failing row.
    pub worst_calls: Vec<String>,
    /// The worst calls with their reasons (additive).
    pub worst: Vec<Worst>,
    /// Regressions: the value in this run (additive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<f64>,
    /// Regressions: the baseline value (additive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    /// A failure of this row fails the gate (additive; `enforce = false` rows only report).
    pub enforced: bool,
    /// Why the row is insufficient, or what the value cannot see (additive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Every metric of one scope key (`metrics[]`, additive): what a later `--baseline` reads.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScopeMetrics {
    /// Scope kind.
    pub scope: ScopeKind,
    /// Site, pair, or null for global.
    pub site: Option<String>,
    /// Value per metric name (null without data).
    pub values: BTreeMap<&'static str, Option<f64>>,
    /// Evidence (calls) per metric name.
    pub calls: BTreeMap<&'static str, u64>,
}

/// The `check --format json` document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckReport {
    /// Schema version.
    pub schema: u32,
    /// No enforced row failed (and, with `insufficient_fails`, none lacked evidence).
    /// Insufficient rows never pass silently: they are listed with the reason.
    pub passed: bool,
    /// One row per criterion and scope key.
    pub results: Vec<CheckResult>,
    /// Every metric per scope key (additive).
    pub metrics: Vec<ScopeMetrics>,
    /// Baseline file and kind, when given (additive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
}

impl CheckReport {
    /// Process exit status: 0 all met, 2 any enforced criterion not met.
    pub fn exit_code(&self) -> u8 {
        if self.passed {
            0
        } else {
            2
        }
    }
}

/// What `evaluate` needs besides the document.
pub struct CheckInputs<'a> {
    /// Site map (the same one the document's sites came from).
    pub map: &'a SiteMap,
    /// Criteria.
    pub criteria: &'a Criteria,
    /// Baseline values, if any.
    pub baseline: Option<&'a Baseline>,
    /// Diagnosis settings of the run (trunk hosts for caller-ID).
    pub diag: &'a DiagnosisConfig,
    /// Bucket width (busy hour).
    pub opts: SiteOptions,
}

/// Evaluates the criteria on a document. `doc` gets its call sites (re)resolved from the map
/// (idempotent after `sites::attach`).
pub fn evaluate(doc: &mut Document, inputs: &CheckInputs<'_>) -> CheckReport {
    let (call_rows, stream_rows) = crate::sites::rows::build_rows(doc, inputs.map);
    let doc: &Document = doc;
    let ctx = metrics::Context {
        doc,
        calls: &call_rows,
        streams: &stream_rows,
        map: inputs.map,
        diag: inputs.diag,
        opts: inputs.opts,
    };
    let keys = scope_keys(&ctx);
    let all: Vec<(baseline::ScopeKey, BTreeMap<Metric, Measured>)> = keys
        .into_iter()
        .map(|(kind, key)| {
            let pop = ctx.population(kind, key.as_deref());
            let measured = Metric::ALL.iter().map(|&m| (m, ctx.measure(&pop, m))).collect();
            ((kind, key), measured)
        })
        .collect();
    let mut results = Vec::new();
    for c in &inputs.criteria.criteria {
        let keys: Vec<Option<String>> = match c.scope {
            ScopeKind::Global => vec![None],
            _ if !c.only.is_empty() => c.only.iter().cloned().map(Some).collect(),
            kind => all.iter().filter(|((k, _), _)| *k == kind).map(|((_, s), _)| s.clone()).collect(),
        };
        for key in keys {
            let measured = all.iter().find(|((k, s), _)| *k == c.scope && *s == key).map(|(_, m)| m);
            results.push(judge(c, key, measured, inputs.baseline));
        }
    }
    let insufficient_fails = inputs.criteria.insufficient_fails;
    let passed = results
        .iter()
        .all(|r| !r.enforced || r.status == Status::Pass || (r.status == Status::Insufficient && !insufficient_fails));
    let metrics = all
        .iter()
        .map(|((kind, site), m)| ScopeMetrics {
            scope: *kind,
            site: site.clone(),
            values: m.iter().map(|(k, v)| (k.name(), v.value)).collect(),
            calls: m.iter().map(|(k, v)| (k.name(), v.evidence)).collect(),
        })
        .collect();
    CheckReport {
        schema: SCHEMA,
        passed,
        results,
        metrics,
        baseline: inputs.baseline.map(|b| format!("{} ({})", b.source, b.kind)),
    }
}

/// Global, every site with calls, streams or registrations (map order, then `unknown`), and
/// every ordered pair with calls or streams.
fn scope_keys(ctx: &metrics::Context<'_>) -> Vec<(ScopeKind, Option<String>)> {
    let names: Vec<&str> = ctx.map.sites.iter().map(|s| s.name.as_str()).collect();
    let mut order = crate::sites::summary::site_order(&names, ctx.calls, ctx.streams);
    for r in &ctx.doc.registrations {
        let site = ctx.map.name_of(r.source.map(|a| a.ip()));
        if !order.iter().any(|o| o == site) {
            order.push(site.to_owned());
        }
    }
    let mut keys = vec![(ScopeKind::Global, None)];
    for site in &order {
        let pop = ctx.population(ScopeKind::Site, Some(site));
        if !(pop.calls.is_empty() && pop.streams.is_empty() && pop.registrations.is_empty()) {
            keys.push((ScopeKind::Site, Some(site.clone())));
        }
    }
    for a in &order {
        for b in &order {
            let key = format!("{a}->{b}");
            let pop = ctx.population(ScopeKind::SitePair, Some(&key));
            if !(pop.calls.is_empty() && pop.streams.is_empty()) {
                keys.push((ScopeKind::SitePair, Some(key)));
            }
        }
    }
    keys
}

fn judge(
    c: &Criterion,
    key: Option<String>,
    measured: Option<&BTreeMap<Metric, Measured>>,
    baseline: Option<&Baseline>,
) -> CheckResult {
    let mut row = CheckResult {
        criterion: c.name.clone(),
        metric: c.measure.name(),
        scope: c.scope,
        site: key.clone(),
        value: None,
        op: c.op.as_str(),
        target: c.target,
        status: Status::Insufficient,
        calls: 0,
        worst_calls: Vec::new(),
        worst: Vec::new(),
        current: None,
        baseline: None,
        enforced: c.enforce,
        note: None,
    };
    let base_metric = match c.measure {
        Measure::Value(m) | Measure::Regression(m) => m,
    };
    let Some(m) = measured.and_then(|all| all.get(&base_metric)) else {
        row.note = Some(match &key {
            Some(k) => format!("no calls for {k} in the capture"),
            None => "no calls in the capture".to_owned(),
        });
        return row;
    };
    row.calls = m.evidence;
    row.note = m.note.clone();
    let value = match c.measure {
        Measure::Value(_) => m.value,
        Measure::Regression(metric) => {
            row.current = m.value;
            row.baseline = baseline.and_then(|b| b.value(c.scope, key.as_deref(), metric));
            match (baseline, row.current, row.baseline) {
                (None, _, _) => {
                    row.note = Some("regression criteria need --baseline".to_owned());
                    None
                }
                (Some(_), Some(cur), Some(base)) => {
                    let worse = if metric.higher_is_better() { base - cur } else { cur - base };
                    Some(crate::sites::stats::round3(worse))
                }
                (Some(b), _, None) => {
                    row.note = Some(format!("the baseline ({}) has no {} for this scope", b.kind, metric.name()));
                    None
                }
                (Some(_), None, Some(_)) => None,
            }
        }
    };
    row.value = value;
    let Some(v) = value else { return row };
    if m.evidence < c.min_calls {
        row.note = Some(format!("not enough evidence: {} calls, min_calls {}", m.evidence, c.min_calls));
        return row;
    }
    if c.op.holds(v, c.target) {
        row.status = Status::Pass;
    } else {
        row.status = Status::Fail;
        row.worst = m.worst.clone();
        row.worst_calls = m.worst.iter().filter_map(|w| w.call_id.clone()).collect();
    }
    row
}

/// Writes the report as JSON (pretty, newline-terminated).
pub fn write_json(report: &CheckReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(std::io::Error::other)?;
    writeln!(out)
}
