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

/// A JSON object's entries in serialisation order (serde_json's `Value` sorts keys).
struct OrderedObject(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for OrderedObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    entries.push(entry);
                }
                Ok(OrderedObject(entries))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// Flattens one value into `prefix`-named scalar columns: nested objects become
/// `parent_child` columns, arrays are left out (windows have their own table).
fn flatten_into(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten_into(&format!("{prefix}_{k}"), v, out);
            }
        }
        serde_json::Value::Array(_) => {}
        serde_json::Value::Null => out.push((prefix.to_owned(), String::new())),
        serde_json::Value::String(text) => out.push((prefix.to_owned(), text.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// Writes the streams table. Scalar fields keep their record order; nested objects
/// (`quality`, `dscp_values`) are flattened to `parent_child` columns; the column set is the
/// union over all streams (a stream without a value leaves the cell empty).
pub fn write_streams(doc: &Document, out: &mut dyn Write) -> std::io::Result<()> {
    let mut columns: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<(String, String)>> = Vec::with_capacity(doc.streams.len());
    for stream in &doc.streams {
        let text = serde_json::to_string(stream as &Stream)?;
        let OrderedObject(entries) = serde_json::from_str(&text)?;
        let mut row = Vec::with_capacity(entries.len() + 16);
        for (key, value) in &entries {
            match value {
                serde_json::Value::Object(_) | serde_json::Value::Null => flatten_into(key, value, &mut row),
                serde_json::Value::Array(_) => {}
                serde_json::Value::String(text) => row.push((key.clone(), text.clone())),
                other => row.push((key.clone(), other.to_string())),
            }
        }
        for (key, _) in &row {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
        rows.push(row);
    }
    let mut w = ::csv::Writer::from_writer(out);
    if !columns.is_empty() {
        w.write_record(&columns).map_err(std::io::Error::other)?;
    }
    for row in rows {
        let record = columns.iter().map(|c| row.iter().find(|(k, _)| k == c).map_or("", |(_, v)| v.as_str()));
        w.write_record(record).map_err(std::io::Error::other)?;
    }
    w.flush()
}

/// One quality window as a CSV row (`--windows`).
#[derive(Serialize)]
struct WindowRow<'a> {
    stream: u32,
    call_id: Option<&'a str>,
    direction: Option<crate::correlate::StreamDirection>,
    start: String,
    length_s: f64,
    packets: u64,
    expected: u64,
    lost: i64,
    discarded: u64,
    jitter_ms: f64,
    ppl_pct: f64,
    mos: Option<f64>,
}

/// Writes the quality windows of every stream (`windows.csv`).
pub fn write_windows(doc: &Document, out: &mut dyn Write) -> std::io::Result<()> {
    let rows = doc.streams.iter().flat_map(|s| {
        s.windows.iter().map(move |w| WindowRow {
            stream: s.id,
            call_id: s.call_id.as_deref(),
            direction: s.direction,
            start: w.start.to_string(),
            length_s: w.length_s,
            packets: w.packets,
            expected: w.expected,
            lost: w.lost,
            discarded: w.discarded,
            jitter_ms: w.jitter_ms,
            ppl_pct: w.ppl_pct,
            mos: w.mos,
        })
    });
    write_table(rows, out)
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

/// Writes `windows.csv` (quality over time) into `dir` (`--windows`).
pub fn write_windows_file(doc: &Document, dir: &std::path::Path) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(super::create_output_file(&dir.join("windows.csv"))?);
    write_windows(doc, &mut f)?;
    f.flush()
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
