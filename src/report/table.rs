//! Terminal sink: aligned tables of calls, then streams, then a warning summary.

use std::io::Write;

use super::records::{Call, Document, Stream};

/// Column alignment.
#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// Prints rows under a header with each column padded to its widest cell.
fn print_table(
    out: &mut dyn Write,
    title: &str,
    header: &[(&str, Align)],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    writeln!(out, "{title}")?;
    let mut widths: Vec<usize> = header.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let mut s = String::new();
        for (i, cell) in cells.enumerate() {
            let (width, align) = (widths[i], header[i].1);
            if i > 0 {
                s.push_str("  ");
            }
            let pad = width.saturating_sub(cell.chars().count());
            match align {
                Align::Left => {
                    s.push_str(cell);
                    s.extend(std::iter::repeat_n(' ', pad));
                }
                Align::Right => {
                    s.extend(std::iter::repeat_n(' ', pad));
                    s.push_str(cell);
                }
            }
        }
        s.trim_end().to_owned()
    };
    writeln!(out, "{}", line(&mut header.iter().map(|(h, _)| *h)))?;
    for row in rows {
        writeln!(out, "{}", line(&mut row.iter().map(String::as_str)))?;
    }
    if rows.is_empty() {
        writeln!(out, "(none)")?;
    }
    writeln!(out)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"))
}

fn snake<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn call_row(c: &Call) -> Vec<String> {
    let reasons: Vec<&str> = c.verdict.reasons.iter().map(|r| r.code).collect();
    vec![
        opt(c.start.map(|t| t.to_string())),
        opt(c.from_user.as_deref()),
        opt(c.to_user.as_deref()),
        snake(&c.outcome),
        opt(c.final_status),
        ms(c.setup_ms),
        ms(c.answer_ms),
        c.duration_s.map_or_else(|| "-".to_owned(), |d| format!("{d:.1}")),
        c.streams.len().to_string(),
        snake(&c.verdict.class),
        if reasons.is_empty() { "-".to_owned() } else { reasons.join(",") },
        c.call_id.clone(),
    ]
}

fn stream_row(s: &Stream) -> Vec<String> {
    vec![
        s.id.to_string(),
        s.src.to_string(),
        s.dst.to_string(),
        s.ssrc.clone(),
        opt(s.codec.as_deref()),
        s.packets.to_string(),
        format!("{} ({:.1}%)", s.lost, s.lost_pct),
        format!("{:.3}", s.max_delta_ms),
        format!("{:.3}", s.max_jitter_ms),
        s.dscp.to_string(),
        s.direction.as_ref().map_or_else(|| "-".to_owned(), snake),
        opt(s.call_id.as_deref()),
    ]
}

/// Rank of a call for "worst first": fail before degrade, then routing, signaling, media
/// (diagnosis.md §3), then more reasons first.
fn badness(c: &Call) -> (u8, u8, std::cmp::Reverse<usize>) {
    use crate::diagnose::{ReasonClass, Severity};
    let first = c.verdict.reasons.first();
    let sev = match first.map(|r| r.severity) {
        Some(Severity::Fail) => 0,
        Some(Severity::Degrade) => 1,
        _ => 2,
    };
    let class = match first.map(|r| r.class) {
        Some(ReasonClass::Routing) => 0,
        Some(ReasonClass::Signaling) => 1,
        Some(ReasonClass::Media) => 2,
        _ => 3,
    };
    let counted = c.verdict.reasons.iter().filter(|r| r.severity != Severity::Info).count();
    (sev, class, std::cmp::Reverse(counted))
}

/// Failed calls grouped by verdict class and deciding reason with counts, then listed worst
/// first (issue 5, item 7).
fn write_failures(doc: &Document, out: &mut dyn Write) -> std::io::Result<()> {
    use std::collections::BTreeMap;
    let failed: Vec<&Call> = doc.calls.iter().filter(|c| snake(&c.verdict.class) != "ok").collect();
    writeln!(out, "FAILED CALLS BY CLASS AND REASON ({} of {})", failed.len(), doc.calls.len())?;
    if failed.is_empty() {
        writeln!(out, "(none)")?;
        return writeln!(out);
    }
    let mut groups: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for c in &failed {
        let code = c.verdict.reasons.first().map_or("-", |r| r.code);
        *groups.entry((snake(&c.verdict.class), code)).or_default() += 1;
    }
    let mut rows: Vec<((String, &str), usize)> = groups.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for ((class, code), n) in rows {
        writeln!(out, "  {class:<10} {code:<32} {n:>6}")?;
    }
    writeln!(out)?;
    let mut worst = failed;
    worst.sort_by_key(|c| badness(c));
    writeln!(out, "FAILED CALLS, WORST FIRST")?;
    for c in worst {
        let first = c.verdict.reasons.first();
        writeln!(
            out,
            "  {} [{}] {} {} → {}: {}",
            snake(&c.verdict.class),
            first.map_or("-", |r| r.code),
            c.call_id,
            opt(c.from_user.as_deref()),
            opt(c.to_user.as_deref()),
            first.map_or("", |r| r.detail.as_str())
        )?;
    }
    writeln!(out)
}

/// Writes the tables.
pub fn write(doc: &Document, out: &mut dyn Write) -> std::io::Result<()> {
    use Align::{Left as L, Right as R};
    write_failures(doc, out)?;
    let calls: Vec<Vec<String>> = doc.calls.iter().map(call_row).collect();
    print_table(
        out,
        &format!("CALLS ({})", doc.calls.len()),
        &[
            ("start (UTC)", L),
            ("from", L),
            ("to", L),
            ("outcome", L),
            ("final", R),
            ("setup ms", R),
            ("answer ms", R),
            ("dur s", R),
            ("streams", R),
            ("verdict", L),
            ("reasons", L),
            ("call-id", L),
        ],
        &calls,
    )?;
    let streams: Vec<Vec<String>> = doc.streams.iter().map(stream_row).collect();
    print_table(
        out,
        &format!("RTP STREAMS ({})", doc.streams.len()),
        &[
            ("id", R),
            ("src", L),
            ("dst", L),
            ("ssrc", L),
            ("codec", L),
            ("pkts", R),
            ("lost", R),
            ("max delta ms", R),
            ("max jitter ms", R),
            ("dscp", R),
            ("direction", L),
            ("call-id", L),
        ],
        &streams,
    )?;
    for input in &doc.inputs {
        let total: u64 = input.warning_counts.values().sum();
        if total > 0 {
            let kinds: Vec<String> = input.warning_counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
            writeln!(out, "{}: {total} warnings ({})", input.path, kinds.join(", "))?;
        }
    }
    Ok(())
}
