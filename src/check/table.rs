//! The `check` table: one line per result row, the worst calls under each failing row, and a
//! verdict line. Formats the [`CheckReport`]; computes nothing.

use std::io::{self, Write};

use super::{CheckReport, Status};

/// Longest reason text printed under a failing row (the JSON carries it whole).
const WHY_MAX_CHARS: usize = 140;

fn status_word(status: Status, enforced: bool) -> &'static str {
    match (status, enforced) {
        (Status::Pass, _) => "PASS",
        (Status::Fail, true) => "FAIL",
        (Status::Fail, false) => "FAIL (not enforced)",
        (Status::Insufficient, _) => "INSUFFICIENT",
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= WHY_MAX_CHARS {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(WHY_MAX_CHARS - 1).collect();
    s.push('…');
    s
}

/// Writes the table.
pub fn write(report: &CheckReport, out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<[String; 7]> = report
        .results
        .iter()
        .map(|r| {
            [
                r.criterion.clone(),
                r.site.clone().unwrap_or_else(|| "(all)".to_owned()),
                r.metric.clone(),
                r.value.map_or_else(|| "-".to_owned(), |v| format!("{v}")),
                format!("{} {}", r.op, r.target),
                r.calls.to_string(),
                status_word(r.status, r.enforced).to_owned(),
            ]
        })
        .collect();
    let header = ["CRITERION", "SCOPE", "METRIC", "VALUE", "TARGET", "CALLS", "STATUS"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths.iter()).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s
    };
    writeln!(out, "{}", line(&header.map(str::to_owned)))?;
    for (row, r) in rows.iter().zip(&report.results) {
        writeln!(out, "{}", line(row))?;
        if r.status == Status::Fail {
            for w in &r.worst {
                let who = w.call_id.as_deref().or(w.aor.as_deref()).unwrap_or("-");
                writeln!(out, "    worst: {who}  {}", shorten(&w.why))?;
            }
        }
        if r.status == Status::Insufficient {
            if let Some(note) = &r.note {
                writeln!(out, "    why: {}", shorten(note))?;
            }
        }
    }
    let count = |s: Status| report.results.iter().filter(|r| r.status == s).count();
    if let Some(b) = &report.baseline {
        writeln!(out, "baseline: {b}")?;
    }
    writeln!(
        out,
        "{} rows: {} pass, {} fail, {} insufficient → {}",
        report.results.len(),
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Insufficient),
        match (report.passed, count(Status::Insufficient)) {
            (false, _) => "CRITERIA NOT MET".to_owned(),
            (true, 0) => "CRITERIA MET".to_owned(),
            (true, n) => format!("CRITERIA MET WHERE JUDGED ({n} rows without enough evidence)"),
        }
    )
}
