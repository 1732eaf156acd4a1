//! CSV sink: one table per record kind (calls, streams, warnings). Nested contract fields are
//! flattened: verdict → class and `;`-joined reason codes, stream ids `;`-joined.

use std::io::Write;

use serde::Serialize;

use super::records::{Call, Document, Stream};

/// A call as one CSV row.
#[derive(Serialize)]
struct CallRow<'a> {
    call_id: &'a str,
    from_user: Option<&'a str>,
    to_user: Option<&'a str>,
    caller: Option<String>,
    callee: Option<String>,
    start: Option<String>,
    setup_ms: Option<f64>,
    answer_ms: Option<f64>,
    duration_s: Option<f64>,
    final_status: Option<u16>,
    outcome: crate::sip::Outcome,
    ended_by: crate::sip::EndedBy,
    verdict_class: crate::diagnose::VerdictClass,
    reasons: String,
    streams: String,
    mos_min: Option<f64>,
}

impl<'a> From<&'a Call> for CallRow<'a> {
    fn from(c: &'a Call) -> Self {
        CallRow {
            call_id: &c.call_id,
            from_user: c.from_user.as_deref(),
            to_user: c.to_user.as_deref(),
            caller: c.caller.map(|a| a.to_string()),
            callee: c.callee.map(|a| a.to_string()),
            start: c.start.map(|t| t.to_string()),
            setup_ms: c.setup_ms,
            answer_ms: c.answer_ms,
            duration_s: c.duration_s,
            final_status: c.final_status,
            outcome: c.outcome,
            ended_by: c.ended_by,
            verdict_class: c.verdict.class,
            reasons: c.verdict.reasons.iter().map(|r| r.code).collect::<Vec<_>>().join(";"),
            streams: c.streams.iter().map(u32::to_string).collect::<Vec<_>>().join(";"),
            mos_min: c.mos_min,
        }
    }
}

/// A warning as one CSV row.
#[derive(Serialize)]
struct WarningRow<'a> {
    input: &'a str,
    frame: u64,
    kind: crate::warn::WarningKind,
    detail: &'a str,
}

fn write_table<T: Serialize>(rows: impl Iterator<Item = T>, out: &mut dyn Write) -> std::io::Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    for row in rows {
        w.serialize(row).map_err(std::io::Error::other)?;
    }
    w.flush()
}

/// Writes the calls table.
pub fn write_calls(doc: &Document, out: &mut dyn Write) -> std::io::Result<()> {
    write_table(doc.calls.iter().map(CallRow::from), out)
}

/// Writes the streams table (every contract field is scalar, so the record is the row).
pub fn write_streams(doc: &Document, out: &mut dyn Write) -> std::io::Result<()> {
    write_table(doc.streams.iter().map(|s: &Stream| s), out)
}

/// Writes the warnings table.
pub fn write_warnings(doc: &Document, out: &mut dyn Write) -> std::io::Result<()> {
    let rows = doc.inputs.iter().flat_map(|i| {
        i.warnings.iter().map(move |w| WarningRow { input: &i.path, frame: w.frame, kind: w.kind, detail: &w.detail })
    });
    write_table(rows, out)
}

/// Writes every table to one stream, each preceded by a `# <kind>` line and separated by a
/// blank line (used when `--out` is a file or standard output).
pub fn write_all(doc: &Document, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all(b"# calls\n")?;
    write_calls(doc, out)?;
    out.write_all(b"\n# streams\n")?;
    write_streams(doc, out)?;
    out.write_all(b"\n# warnings\n")?;
    write_warnings(doc, out)
}

/// Writes `calls.csv`, `streams.csv` and `warnings.csv` into `dir`.
pub fn write_dir(doc: &Document, dir: &std::path::Path) -> std::io::Result<()> {
    type Writer = fn(&Document, &mut dyn Write) -> std::io::Result<()>;
    let tables: [(&str, Writer); 3] =
        [("calls.csv", write_calls), ("streams.csv", write_streams), ("warnings.csv", write_warnings)];
    for (name, write) in tables {
        let mut f = std::io::BufWriter::new(super::create_output_file(&dir.join(name))?);
        write(doc, &mut f)?;
        f.flush()?;
    }
    Ok(())
}
