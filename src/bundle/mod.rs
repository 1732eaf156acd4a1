//! Evidence bundles (`callscope call`, issue 10): per call a folder a helpdesk can attach to a
//! provider ticket as is.
//!
//! Per call: `summary.txt`/`summary.md` ([`render::summary`]), `ladder.txt`/`ladder.svg`
//! ([`render`]), `timeline.svg`/`timeline.png` (jitter and loss of each stream over the call,
//! the report's chart [`crate::report::plots::call_timeline`]), `call.pcap` (exactly the call's packets, found by a second pass over the
//! inputs, [`extract`]), `call.json` (the call's contract records). With `--redact` every file
//! goes through one [`redact::Redactor`] so pseudonyms agree across files; the pcap is rewritten
//! in place ([`packet`]) or the bundle is refused with the reason.
//!
//! `call.pcap` is classic pcap with nanosecond timestamps (magic `0xa1b23c4d`) so the original
//! times survive exactly, in the link type of the frames. When a call's frames come with several
//! link types (pcapng with several interfaces, or several inputs), the frames of the first link
//! type go to `call.pcap` and each further link type to `call-linktype-<N>.pcap`.

pub mod extract;
pub mod packet;
pub mod redact;
pub mod render;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::diagnose::{Severity, VerdictClass};
use crate::pipeline::Analysis;
use crate::report::records::{Call, Document, Stream};
use crate::report::registrations::{callee_unregistered, digits, is_phone_like, uri_user, BindingAt};
use crate::sip::Dialog;
use crate::time::Timestamp;

use extract::{Extracted, FrameFilter, KeptFrame};
use redact::{Cidr, Redactor};

/// Which calls to bundle.
#[derive(Clone, Debug, PartialEq)]
pub enum Selector {
    /// A Call-ID, else a phone number (From/To/PAI user part, compared digit by digit).
    CallIdOrNumber(String),
    /// The N calls with the worst verdicts (fail before degrade, then lowest MOS, most loss).
    Worst(usize),
    /// Every call whose verdict class is this.
    Class(VerdictClass),
}

/// Options of `callscope call`.
#[derive(Clone, Debug, Default)]
pub struct BundleOptions {
    /// Parent directory; one folder per call is created in it.
    pub out: PathBuf,
    /// Local time zone for the summaries (IANA name), e.g. `Europe/Berlin`.
    pub tz: Option<String>,
    /// Mask numbers and addresses.
    pub redact: bool,
    /// Networks whose addresses stay visible under `--redact` (the provider's side).
    pub keep_nets: Vec<Cidr>,
    /// Caps of the extraction pass (`[limits.bundle]`).
    pub limits: extract::BundleLimits,
    /// Decoder limits of the analysis, reused so fragments reassemble alike.
    pub decode_limits: crate::decode::DecodeLimits,
}

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading the capture failed.
    #[error(transparent)]
    Capture(#[from] crate::capture::CaptureError),
    /// Writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Error.
        source: std::io::Error,
    },
    /// The time zone name is unknown.
    #[error("unknown time zone {0:?} (use an IANA name such as Europe/Berlin)")]
    TimeZone(String),
    /// `--redact` cannot rewrite the capture safely.
    #[error("--redact refused for call {call}: frame {frame}: {why}. No call.pcap was written; the text files are redacted.")]
    Unsafe {
        /// Call (redacted folder name).
        call: String,
        /// Frame number in its input.
        frame: u64,
        /// Why.
        why: String,
    },
}

/// The calls (indices into `doc.calls`) a selector picks, in output order.
pub fn select(doc: &Document, analysis: &Analysis, selector: &Selector) -> Vec<usize> {
    match selector {
        Selector::CallIdOrNumber(s) => {
            let by_id: Vec<usize> =
                doc.calls.iter().enumerate().filter(|(_, c)| c.call_id == *s).map(|(i, _)| i).collect();
            if !by_id.is_empty() || !is_phone_like(s) {
                return by_id;
            }
            let want = digits(s);
            doc.calls
                .iter()
                .enumerate()
                .filter(|(_, c)| {
                    let pai = dialog_of(analysis, &c.call_id).and_then(|d| d.p_asserted_identity.as_deref());
                    [c.from_user.as_deref(), c.to_user.as_deref(), pai.map(uri_user)]
                        .into_iter()
                        .flatten()
                        .any(|u| is_phone_like(u) && number_matches(&digits(u), &want))
                })
                .map(|(i, _)| i)
                .collect()
        }
        Selector::Worst(n) => {
            let mut idx: Vec<usize> = (0..doc.calls.len()).collect();
            idx.sort_by(|&a, &b| {
                let (ca, cb) = (&doc.calls[a], &doc.calls[b]);
                badness(ca, &doc.streams)
                    .partial_cmp(&badness(cb, &doc.streams))
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .reverse()
                    .then(a.cmp(&b))
            });
            idx.truncate(*n);
            idx
        }
        Selector::Class(class) => {
            doc.calls.iter().enumerate().filter(|(_, c)| c.verdict.class == *class).map(|(i, _)| i).collect()
        }
    }
}

/// Numbers match when their digits are equal, or one ends with the other and the shorter has
/// at least 6 digits (national vs international format: `030 1234567` vs `+49 30 1234567`).
fn number_matches(a: &str, b: &str) -> bool {
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let short_trimmed = short.trim_start_matches('0');
    a == b || (short_trimmed.len() >= 6 && long.ends_with(short_trimmed))
}

/// Ranking for `--worst`: failures (by severity) first, then lowest MOS, then most loss.
fn badness(c: &Call, streams: &[Stream]) -> f64 {
    let severity = match c.verdict.reasons.first().map(|r| r.severity) {
        Some(Severity::Fail) if c.verdict.class != VerdictClass::Ok => 3.0,
        Some(Severity::Degrade) if c.verdict.class != VerdictClass::Ok => 2.0,
        _ => 0.0,
    };
    let mos = c.mos_min.map_or(0.0, |m| (5.0 - m).max(0.0) / 5.0);
    let loss =
        streams.iter().filter(|s| c.streams.contains(&s.id)).map(|s| s.lost_pct).fold(0.0, f64::max).clamp(0.0, 100.0)
            / 100.0;
    severity * 10.0 + mos + loss * 0.5
}

fn dialog_of<'a>(analysis: &'a Analysis, call_id: &str) -> Option<&'a Dialog> {
    analysis.dialogs.iter().find(|d| d.call_id == call_id && d.first_invite.is_some())
}

/// Call-IDs of the legs linked to a call: `calls[].linked` when the document has it (another
/// stage adds it; read through JSON so this module does not depend on its exact type: an array
/// of Call-ID strings or of objects with `call_id`).
fn linked_legs(call: &Call) -> Vec<String> {
    let Ok(v) = serde_json::to_value(call) else { return Vec::new() };
    let Some(list) = v.get("linked").and_then(|l| l.as_array()) else { return Vec::new() };
    list.iter()
        .filter_map(|x| x.as_str().map(str::to_owned).or_else(|| x.get("call_id")?.as_str().map(str::to_owned)))
        .take(16)
        .collect()
}

/// A folder name from a Call-ID: only `[A-Za-z0-9._-]`, no leading dot, no `..`, at most 64
/// characters, prefixed with the bundle's ordinal so names never collide.
pub fn folder_name(ordinal: usize, call_id: &str) -> String {
    let mut clean: String = call_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .take(64)
        .collect();
    while clean.contains("..") {
        clean = clean.replace("..", "_");
    }
    let clean = clean.trim_start_matches('.');
    format!("call-{ordinal:02}-{}", if clean.is_empty() { "unnamed" } else { clean })
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io { path: path.to_owned(), source }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    use std::io::Write as _;
    // Never through a symlink planted in the output directory (issue 7 §5).
    crate::report::create_output_file(path).and_then(|mut f| f.write_all(bytes)).map_err(io_err(path))
}

/// Writes a classic pcap (nanosecond magic) of frames, all of one link type.
pub fn write_pcap(path: &Path, link: u32, frames: &[&KeptFrame]) -> Result<(), BundleError> {
    let file = crate::report::create_output_file(path).map_err(io_err(path))?;
    let mut out = std::io::BufWriter::new(file);
    let snaplen = frames.iter().map(|f| f.data.len()).max().unwrap_or(0).max(65_535);
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&[0; 8]); // thiszone, sigfigs
    header.extend_from_slice(&u32::try_from(snaplen).unwrap_or(u32::MAX).to_le_bytes());
    header.extend_from_slice(&link.to_le_bytes());
    out.write_all(&header).map_err(io_err(path))?;
    for f in frames {
        let secs = u32::try_from(f.at.time.secs()).unwrap_or(0);
        let caplen = u32::try_from(f.data.len()).unwrap_or(u32::MAX);
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&secs.to_le_bytes());
        rec[4..8].copy_from_slice(&f.at.time.subsec_nanos().to_le_bytes());
        rec[8..12].copy_from_slice(&caplen.to_le_bytes());
        rec[12..16].copy_from_slice(&f.orig_len.max(caplen).to_le_bytes());
        out.write_all(&rec).map_err(io_err(path))?;
        out.write_all(&f.data).map_err(io_err(path))?;
    }
    out.flush().map_err(io_err(path))
}

struct Plan<'a> {
    calls: Vec<&'a Call>,
    dialogs: Vec<&'a Dialog>,
    streams: Vec<&'a Stream>,
}

fn plan<'a>(analysis: &'a Analysis, doc: &'a Document, index: usize) -> Option<Plan<'a>> {
    let call = doc.calls.get(index)?;
    let mut calls = vec![call];
    for leg in linked_legs(call) {
        if let Some(c) = doc.calls.iter().find(|c| c.call_id == leg) {
            if !calls.iter().any(|x| x.call_id == c.call_id) {
                calls.push(c);
            }
        }
    }
    let dialogs: Vec<&Dialog> = calls.iter().filter_map(|c| dialog_of(analysis, &c.call_id)).collect();
    let streams: Vec<&Stream> =
        doc.streams.iter().filter(|s| calls.iter().any(|c| c.streams.contains(&s.id))).collect();
    Some(Plan { calls, dialogs, streams })
}

/// Writes one folder per selected call into `opts.out`; returns the folders.
pub fn write_bundles(
    paths: &[String],
    analysis: &Analysis,
    doc: &Document,
    selected: &[usize],
    opts: &BundleOptions,
) -> Result<Vec<PathBuf>, BundleError> {
    let tz = match &opts.tz {
        Some(name) => Some(jiff::tz::TimeZone::get(name).map_err(|_| BundleError::TimeZone(name.clone()))?),
        None => None,
    };
    let plans: Vec<Plan<'_>> = selected.iter().filter_map(|&i| plan(analysis, doc, i)).collect();
    let filters: Vec<FrameFilter> = plans
        .iter()
        .map(|p| {
            let keys: Vec<(SocketAddr, SocketAddr, u32, Timestamp, Timestamp)> = p
                .streams
                .iter()
                .map(|s| {
                    let ssrc = u32::from_str_radix(s.ssrc.trim_start_matches("0x"), 16).unwrap_or(0);
                    (s.src, s.dst, ssrc, s.first_time, s.last_time)
                })
                .collect();
            FrameFilter { max_bytes: opts.limits.max_bundle_bytes, ..FrameFilter::new(&p.dialogs, &keys) }
        })
        .collect();
    let extracted = extract::extract(paths, &filters, &opts.limits, &opts.decode_limits)?;
    std::fs::create_dir_all(&opts.out).map_err(io_err(&opts.out))?;
    let mut folders = Vec::new();
    for (ordinal, (p, ex)) in plans.iter().zip(extracted).enumerate() {
        folders.push(write_one(paths, analysis, doc, p, ex, ordinal + 1, opts, tz.as_ref())?);
    }
    Ok(folders)
}

#[allow(clippy::too_many_arguments)]
fn write_one(
    paths: &[String],
    analysis: &Analysis,
    doc: &Document,
    p: &Plan<'_>,
    mut ex: Extracted,
    ordinal: usize,
    opts: &BundleOptions,
    tz: Option<&jiff::tz::TimeZone>,
) -> Result<PathBuf, BundleError> {
    let Some(call) = p.calls.first() else {
        return Err(BundleError::Io { path: opts.out.clone(), source: std::io::Error::other("empty plan") });
    };
    let mut notes = Vec::new();
    if let Some(d) = p.dialogs.first() {
        if let Some((reg, binding)) = callee_unregistered(&analysis.dialogs, &analysis.registrations, d) {
            let state = match binding {
                BindingAt::NotYetRegistered => "had not registered yet",
                _ => "was not registered",
            };
            notes.push(format!(
                "callee {} {state} when the {} was sent (registration status at capture end: {}, last REGISTER response {})",
                reg.aor,
                call.final_status.map_or("final response".to_owned(), |c| c.to_string()),
                crate::report::registrations::status_name(reg),
                reg.last_code.map_or("-".to_owned(), |c| c.to_string())
            ));
        }
    }
    if ex.over_budget > 0 {
        notes.push(format!(
            "{} frames not copied into call.pcap: bundle size cap reached (limits.bundle.max_bundle_bytes = {})",
            ex.over_budget, opts.limits.max_bundle_bytes
        ));
    }
    if ex.fragment_sets_evicted > 0 || ex.fragments_dropped > 0 {
        notes.push(format!(
            "IP fragments possibly missing from call.pcap: {} pending fragment sets evicted \
             (limits.bundle.max_pending_fragment_sets = {}), {} fragments over limits.bundle.max_fragments_per_set = {}",
            ex.fragment_sets_evicted,
            opts.limits.max_pending_fragment_sets,
            ex.fragments_dropped,
            opts.limits.max_fragments_per_set
        ));
    }
    let view = render::BundleView {
        calls: p.calls.clone(),
        dialogs: p.dialogs.clone(),
        streams: p.streams.clone(),
        sip: &ex.sip,
        tz,
        tz_name: opts.tz.as_deref(),
        notes,
        inputs: paths,
    };
    let mut files: Vec<(&str, String)> = vec![
        ("summary.txt", render::summary(&view, false)),
        ("summary.md", render::summary(&view, true)),
        ("ladder.txt", render::ladder_text(&view)),
        ("ladder.svg", render::ladder_svg(&view)),
    ];
    // The chart names streams by direction and SSRC only (no address, no number), so the PNG
    // needs no redaction; the SVG goes through the redactor with the other text files anyway.
    let timeline = crate::report::plots::call_timeline(call, &p.streams);
    if let Ok(svg) = timeline.to_svg() {
        files.push(("timeline.svg", svg));
    }
    let regs: Vec<&crate::report::records::RegistrationRecord> = doc
        .registrations
        .iter()
        .filter(|r| {
            p.calls.iter().any(|c| {
                [c.from_user.as_deref(), c.to_user.as_deref()]
                    .into_iter()
                    .flatten()
                    .any(|u| crate::report::registrations::same_user(uri_user(&r.aor), u))
            })
        })
        .collect();
    let mut json = serde_json::json!({
        "schema": crate::report::records::SCHEMA,
        "tool": doc.tool,
        "calls": p.calls,
        "streams": p.streams,
        "registrations": regs,
    });
    let mut redactor = opts.redact.then(|| Redactor::new(opts.keep_nets.clone()));
    let mut name = folder_name(ordinal, &call.call_id);
    if let Some(r) = redactor.as_mut() {
        for c in &p.calls {
            for u in [c.from_user.as_deref(), c.to_user.as_deref()].into_iter().flatten() {
                r.learn_number(u);
            }
        }
        for d in &p.dialogs {
            if let Some(pai) = d.p_asserted_identity.as_deref() {
                r.learn_number(uri_user(pai));
            }
        }
        for d in &p.dialogs {
            for m in &d.messages {
                r.avoid(m.src.ip());
                r.avoid(m.dst.ip());
            }
        }
        for s in &p.streams {
            r.avoid(s.src.ip());
            r.avoid(s.dst.ip());
        }
        for f in ex.frames.iter().filter(|f| f.sip) {
            r.learn_from_text(&f.data);
        }
        for (_, text) in files.iter_mut() {
            *text = r.text(text);
        }
        r.json(&mut json);
        name = folder_name(ordinal, &r.text(&call.call_id));
    }
    let dir = opts.out.join(&name);
    // The folder name comes from capture content (sanitised by `folder_name`); a folder planted
    // as a symlink under that name is refused (issue 7 §5).
    crate::report::create_output_dir(&dir).map_err(io_err(&dir))?;
    for (file, text) in &files {
        write_file(&dir.join(file), text.as_bytes())?;
    }
    let json_bytes = serde_json::to_vec_pretty(&json).unwrap_or_default();
    write_file(&dir.join("call.json"), &json_bytes)?;
    // create_output_file refuses a planted symlink and removes an old file; plotters then
    // creates the PNG itself.
    let png = dir.join("timeline.png");
    drop(crate::report::create_output_file(&png).map_err(io_err(&png))?);
    timeline.write_png(&png).map_err(|e| BundleError::Io { path: png.clone(), source: std::io::Error::other(e) })?;
    if let Some(r) = redactor.as_mut() {
        for f in &mut ex.frames {
            let link = f.link;
            packet::rewrite_frame(link, &mut f.data, r).map_err(|why| BundleError::Unsafe {
                call: name.clone(),
                frame: f.at.number,
                why,
            })?;
        }
    }
    let mut links: Vec<u32> = Vec::new();
    for f in &ex.frames {
        if !links.contains(&f.link.0) {
            links.push(f.link.0);
        }
    }
    if links.is_empty() {
        links.push(1);
    }
    for (i, link) in links.iter().enumerate() {
        let frames: Vec<&KeptFrame> = ex.frames.iter().filter(|f| f.link.0 == *link).collect();
        let file = if i == 0 { "call.pcap".to_owned() } else { format!("call-linktype-{link}.pcap") };
        write_pcap(&dir.join(file), *link, &frames)?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_safe() {
        assert_eq!(folder_name(1, "abc@10.0.0.1"), "call-01-abc_10.0.0.1");
        assert_eq!(folder_name(2, "../../etc/passwd"), "call-02-____etc_passwd");
        assert_eq!(folder_name(3, "...."), "call-03-__");
        assert_eq!(folder_name(4, ""), "call-04-unnamed");
        assert!(folder_name(5, &"x".repeat(500)).len() <= 72);
        assert!(!folder_name(6, "a/b\\c\0d").contains(['/', '\\', '\0']));
    }

    #[test]
    fn number_matching_ignores_format() {
        assert!(number_matches("4930123456", "4930123456"));
        assert!(number_matches("030123456", "4930123456"));
        assert!(!number_matches("1001", "2001"));
        assert!(!number_matches("01", "4930123401"));
    }
}
