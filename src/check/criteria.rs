//! The criteria file of `callscope check` (output-contract.md "Criteria"): a default `min_calls`
//! and `[[criterion]]` tables naming a metric, a comparison, a target, a scope and an optional
//! `only` filter. Loaded once before the captures are read; every error names its line, so a
//! bad file is a usage error (exit 1) the user can fix at once.

use std::path::Path;

use serde::Deserialize;

use super::metrics::Metric;

/// `min_calls` when the file does not say: the contract's example value. A gate that passed on
/// one or two calls would say "it seemed fine" with a machine's authority.
pub const DEFAULT_MIN_CALLS: u64 = 10;
/// Most criteria a file may hold (a file is written by hand; thousands are a mistake).
pub const MAX_CRITERIA: usize = 1024;

/// A criteria file could not be used; the message names the line.
#[derive(Debug, thiserror::Error)]
pub enum CriteriaError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a value of the wrong type.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// File path.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A value that parses but makes no sense (unknown metric, bad operator, bad pair name…).
    #[error("{path}:{line}: criterion {name:?}: {message}")]
    Invalid {
        /// File path.
        path: String,
        /// 1-based line of the criterion (or of the offending value when known).
        line: usize,
        /// Criterion name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// Comparison of a measured value with the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `==` (exact on the 3-decimal values of the records)
    Eq,
}

impl Op {
    /// Parses `>=`, `<=`, `>`, `<`, `==`.
    pub fn parse(text: &str) -> Option<Op> {
        Some(match text.trim() {
            ">=" => Op::Ge,
            "<=" => Op::Le,
            ">" => Op::Gt,
            "<" => Op::Lt,
            "==" => Op::Eq,
            _ => return None,
        })
    }

    /// The operator as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Ge => ">=",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Lt => "<",
            Op::Eq => "==",
        }
    }

    /// Whether `value op target` holds. Values are rounded to 3 decimals like every record
    /// number, so `==` compares what the user sees.
    pub fn holds(self, value: f64, target: f64) -> bool {
        let v = (value * 1000.0).round() / 1000.0;
        let t = (target * 1000.0).round() / 1000.0;
        match self {
            Op::Ge => v >= t,
            Op::Le => v <= t,
            Op::Gt => v > t,
            Op::Lt => v < t,
            Op::Eq => v == t,
        }
    }
}

/// Where a criterion is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// All calls of the capture.
    Global,
    /// Every site (calls with the site at either end), as `SiteSummary` rows with `peer_site` null.
    Site,
    /// Every ordered caller site → callee site pair.
    SitePair,
}

impl ScopeKind {
    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Global => "global",
            ScopeKind::Site => "site",
            ScopeKind::SitePair => "site_pair",
        }
    }
}

/// What a criterion measures: a metric of this run, or how much it got worse since the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// The metric's value in this run.
    Value(Metric),
    /// `regression_<metric>`: the worsening against `--baseline`, in the metric's unit
    /// (positive = worse; an improvement is negative).
    Regression(Metric),
}

impl Measure {
    /// Parses a metric name, `regression_` prefix included.
    pub fn parse(name: &str) -> Option<Measure> {
        match name.strip_prefix("regression_") {
            Some(base) => Metric::parse(base).map(Measure::Regression),
            None => Metric::parse(name).map(Measure::Value),
        }
    }

    /// The name as written in the criteria file.
    pub fn name(self) -> String {
        match self {
            Measure::Value(m) => m.name().to_owned(),
            Measure::Regression(m) => format!("regression_{}", m.name()),
        }
    }
}

/// One `[[criterion]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Criterion {
    /// Name shown in the table.
    pub name: String,
    /// What it measures.
    pub measure: Measure,
    /// Comparison.
    pub op: Op,
    /// Target (for a regression: the tolerated worsening).
    pub target: f64,
    /// Where it is evaluated.
    pub scope: ScopeKind,
    /// Only these sites (`hq`) or pairs (`hq->warehouse`); empty = every one with calls.
    pub only: Vec<String>,
    /// Fewer calls of evidence than this → `insufficient`.
    pub min_calls: u64,
    /// A `fail` of this criterion fails the gate (exit 2). `false` reports it without failing
    /// the gate (for regressions: "reported, not enforced").
    pub enforce: bool,
    /// 1-based line of the criterion in the file.
    pub line: usize,
}

/// The whole criteria file.
#[derive(Clone, Debug, PartialEq)]
pub struct Criteria {
    /// File default for `min_calls`.
    pub min_calls: u64,
    /// An enforced row without enough evidence fails the gate too (`insufficient_fails`,
    /// default false: the contract's "neither pass nor fail"; the row is always listed).
    pub insufficient_fails: bool,
    /// Criteria in file order.
    pub criteria: Vec<Criterion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    min_calls: Option<u64>,
    /// Default of `enforce` for `regression_*` criteria (the issue: "marking regressions as
    /// failures when the criteria file says so").
    regressions_fail: Option<bool>,
    /// An enforced `insufficient` row fails the gate (default false: "neither pass nor fail").
    insufficient_fails: Option<bool>,
    #[serde(default)]
    criterion: Vec<toml::Spanned<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    metric: toml::Spanned<String>,
    op: Option<toml::Spanned<String>>,
    value: Option<f64>,
    /// Regression shorthand: `tolerance = x` means `op = "<="`, `value = x`.
    tolerance: Option<f64>,
    scope: Option<toml::Spanned<String>>,
    #[serde(default)]
    only: Vec<toml::Spanned<String>>,
    min_calls: Option<u64>,
    enforce: Option<bool>,
}

impl Criteria {
    /// Reads and validates a criteria file.
    pub fn load(path: &Path) -> Result<Criteria, CriteriaError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CriteriaError::Io { path: shown.clone(), source })?;
        Criteria::parse(&text, &shown)
    }

    /// Parses criteria from TOML text; `path` only names the source in errors.
    pub fn parse(text: &str, path: &str) -> Result<Criteria, CriteriaError> {
        let line_of = |offset: usize| text.get(..offset).map_or(1, |t| t.bytes().filter(|&b| b == b'\n').count() + 1);
        let doc: FileDoc = toml::from_str(text).map_err(|e| CriteriaError::Syntax {
            path: path.to_owned(),
            line: e.span().map_or(1, |s| line_of(s.start)),
            message: e.message().trim().to_owned(),
        })?;
        let min_default = doc.min_calls.unwrap_or(DEFAULT_MIN_CALLS);
        let regressions_fail = doc.regressions_fail.unwrap_or(true);
        if doc.criterion.len() > MAX_CRITERIA {
            return Err(CriteriaError::Syntax {
                path: path.to_owned(),
                line: 1,
                message: format!("more than {MAX_CRITERIA} criteria"),
            });
        }
        let mut criteria = Vec::with_capacity(doc.criterion.len());
        for spanned in doc.criterion {
            let line = line_of(spanned.span().start);
            let e = spanned.into_inner();
            let invalid = |at: usize, message: String| CriteriaError::Invalid {
                path: path.to_owned(),
                line: at,
                name: e.name.clone(),
                message,
            };
            let metric_line = line_of(e.metric.span().start);
            let measure = Measure::parse(e.metric.get_ref()).ok_or_else(|| {
                invalid(
                    metric_line,
                    format!("unknown metric {:?} (known: {}, and regression_<metric>)", e.metric.get_ref(), known()),
                )
            })?;
            let (op, target) = match (&e.op, e.value, e.tolerance) {
                (_, Some(_), Some(_)) => return Err(invalid(line, "give either value or tolerance, not both".into())),
                (None, None, Some(t)) if matches!(measure, Measure::Regression(_)) => (Op::Le, t),
                (Some(_), None, Some(_)) => {
                    return Err(invalid(line, "tolerance already means op = \"<=\"; remove op".into()))
                }
                (None, None, Some(_)) => {
                    return Err(invalid(line, "tolerance is for regression_<metric> criteria; use op and value".into()))
                }
                (Some(op), Some(v), None) => {
                    let op = Op::parse(op.get_ref()).ok_or_else(|| {
                        invalid(
                            line_of(op.span().start),
                            format!("op {:?} is not one of >=, <=, >, <, ==", op.get_ref()),
                        )
                    })?;
                    (op, v)
                }
                (None, Some(_), None) => return Err(invalid(line, "missing op (>=, <=, >, <, ==)".into())),
                (_, None, None) => return Err(invalid(line, "missing value".into())),
            };
            if !target.is_finite() {
                return Err(invalid(line, "value must be a finite number".into()));
            }
            let scope = match &e.scope {
                None => ScopeKind::Global,
                Some(s) => match s.get_ref().as_str() {
                    "global" => ScopeKind::Global,
                    "site" => ScopeKind::Site,
                    "site_pair" => ScopeKind::SitePair,
                    other => {
                        return Err(invalid(
                            line_of(s.span().start),
                            format!("scope {other:?} is not one of global, site, site_pair"),
                        ))
                    }
                },
            };
            let mut only = Vec::with_capacity(e.only.len());
            for o in &e.only {
                let at = line_of(o.span().start);
                let name = o.get_ref().trim();
                match scope {
                    ScopeKind::Global => {
                        return Err(invalid(at, "only needs scope = \"site\" or \"site_pair\"".into()))
                    }
                    ScopeKind::Site if name.contains("->") || name.is_empty() => {
                        return Err(invalid(at, format!("{name:?} is not a site name")))
                    }
                    ScopeKind::SitePair => {
                        let ok =
                            name.split_once("->").is_some_and(|(a, b)| !a.trim().is_empty() && !b.trim().is_empty());
                        if !ok {
                            return Err(invalid(at, format!("{name:?} is not a site pair (write \"caller->callee\")")));
                        }
                    }
                    ScopeKind::Site => {}
                }
                let normal = match name.split_once("->") {
                    Some((a, b)) => format!("{}->{}", a.trim(), b.trim()),
                    None => name.to_owned(),
                };
                only.push(normal);
            }
            let enforce = e.enforce.unwrap_or(match measure {
                Measure::Regression(_) => regressions_fail,
                Measure::Value(_) => true,
            });
            criteria.push(Criterion {
                name: e.name.clone(),
                measure,
                op,
                target,
                scope,
                only,
                min_calls: e.min_calls.unwrap_or(min_default),
                enforce,
                line,
            });
        }
        Ok(Criteria { min_calls: min_default, insufficient_fails: doc.insufficient_fails.unwrap_or(false), criteria })
    }

    /// Whether any criterion needs `--baseline`.
    pub fn needs_baseline(&self) -> bool {
        self.criteria.iter().any(|c| matches!(c.measure, Measure::Regression(_)))
    }
}

fn known() -> String {
    Metric::ALL.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_field_and_the_defaults() {
        let text = "min_calls = 3\nregressions_fail = false\n\n[[criterion]]\nname = \"a\"\nmetric = \"two_way_audio_pct\"\n\
                    op = \">=\"\nvalue = 99.0\nscope = \"site_pair\"\nonly = [\"hq -> warehouse\"]\n\n\
                    [[criterion]]\nname = \"b\"\nmetric = \"regression_mos_p5\"\ntolerance = 0.2\nscope = \"site\"\nmin_calls = 1\n";
        let c = Criteria::parse(text, "c.toml").unwrap();
        assert_eq!(c.min_calls, 3);
        let a = &c.criteria[0];
        assert_eq!(
            (a.measure, a.op, a.target, a.scope),
            (Measure::Value(Metric::TwoWayAudioPct), Op::Ge, 99.0, ScopeKind::SitePair)
        );
        assert_eq!((a.only.clone(), a.min_calls, a.enforce, a.line), (vec!["hq->warehouse".to_owned()], 3, true, 4));
        let b = &c.criteria[1];
        assert_eq!(
            (b.measure, b.op, b.target, b.min_calls, b.enforce),
            (Measure::Regression(Metric::MosP5), Op::Le, 0.2, 1, false)
        );
        assert_eq!(b.line, 12);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("[[criterion]]\nname = \"x\"\nmetric = \"mos_p99\"\nop = \">=\"\nvalue = 1\n", 3, "unknown metric"),
            ("[[criterion]]\nname = \"x\"\nmetric = \"mos_p5\"\nop = \"=>\"\nvalue = 1\n", 4, "op \"=>\""),
            ("[[criterion]]\nname = \"x\"\nmetric = \"mos_p5\"\nop = \">=\"\n", 1, "missing value"),
            ("min_calls = 1\n[[criterion]]\nname = \"x\"\nmetric = \"mos_p5\"\nop = \">=\"\nvalue = \"high\"\n", 6, "invalid type"),
            ("[[criterion]]\nname = \"x\"\nmetric = \"mos_p5\"\nop = \">=\"\nvalue = 1\nscope = \"pair\"\n", 6, "scope"),
            ("[[criterion]]\nname = \"x\"\nmetric = \"mos_p5\"\nop = \">=\"\nvalue = 1\nscope = \"site_pair\"\nonly = [\"hq\"]\n", 7, "not a site pair"),
            ("[[criterion]]\nname = \"x\"\nmetric = \"mos_p5\"\nop = \">=\"\nvalue = 1\ncolour = 2\n", 6, "unknown field"),
            ("[[criterion]]\nname = \"x\"\nmetric = \"mos_p5\"\ntolerance = 1\n", 1, "tolerance is for regression"),
            ("min_calls = 1\nthis is not toml\n", 2, ""),
        ];
        for (text, line, needle) in cases {
            let err = Criteria::parse(text, "c.toml").unwrap_err().to_string();
            assert!(err.starts_with(&format!("c.toml:{line}:")), "{err}");
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn operators_compare_at_record_precision() {
        assert!(Op::Ge.holds(99.0, 99.0));
        assert!(!Op::Gt.holds(99.0, 99.0));
        assert!(Op::Eq.holds(0.1 + 0.2, 0.3));
        assert!(Op::Le.holds(2.9999, 3.0));
        assert!(!Op::Lt.holds(3.0001, 3.0));
    }
}
