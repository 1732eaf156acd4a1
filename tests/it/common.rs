//! Helpers shared by the whole-capture tests.

use std::path::PathBuf;

use callscope::config::Config;
use callscope::pipeline::analyze;
use callscope::report::{build, Document};

/// The shared captures folder (`../shared/captures` beside the repository). In CI (`CI=true`)
/// its absence is a failure, never a silent skip; elsewhere the caller skips with a notice.
pub fn shared_captures() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [root.join("../shared/captures"), root.join("../../shared/captures")];
    let found = candidates.into_iter().find(|p| p.join("SOURCES.md").exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "../shared/captures is missing but CI=true: the shared captures must be present in CI"
        );
        eprintln!("NOTICE: ../shared/captures not found; shared-capture tests skipped");
    }
    found
}

/// Where the whole-capture tests write their scratch files: Cargo's per-target temporary
/// folder (`target/tmp`), not the system's, so that files a failed test leaves behind stay in
/// the build tree.
pub fn scratch_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// An empty scratch folder for test `name` of `suite` (this process's own: emptied if a
/// previous test left it behind).
pub fn fresh_scratch_dir(suite: &str, name: &str) -> PathBuf {
    let dir = scratch_root().join(format!("callscope-{suite}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Where `suite` writes its generated capture `name`: `name.pcap` in the suite's scratch folder
/// (created).
pub fn scratch_capture(suite: &str, name: &str) -> PathBuf {
    let dir = scratch_root().join(format!("callscope-{suite}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir.join(format!("{name}.pcap"))
}

/// The repository's own fixtures folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Runs the library pipeline on files and builds the output document.
pub fn run(paths: &[PathBuf]) -> Document {
    let paths: Vec<String> = paths.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let analysis = analyze(&paths, &Config::default()).expect("capture opens");
    build(&analysis)
}

/// Every capture file in a folder (pcap, pcapng, cap), sorted.
pub fn captures_in(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("pcap" | "pcapng" | "cap")))
        .collect();
    v.sort();
    v
}

/// One row of tshark's `rtp,streams` table.
#[derive(Debug, Clone)]
pub struct TsharkStream {
    pub src: String,
    pub dst: String,
    pub ssrc: u32,
    pub packets: u64,
    pub lost: i64,
    /// min/mean/max delta, min/mean/max jitter (ms), as printed.
    pub values: [f64; 6],
}

fn addr(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Parses a `<file>.rtp-streams.txt`: (section 1 = learned from SIP/SDP, section 2 = heuristic).
pub fn parse_rtp_streams(text: &str) -> (Vec<TsharkStream>, Vec<TsharkStream>) {
    let (mut sdp, mut heuristic) = (Vec::new(), Vec::new());
    let mut section = 0;
    for line in text.lines() {
        if line.starts_with("# (1)") {
            section = 1;
        } else if line.starts_with("# (2)") {
            section = 2;
        }
        let Some(row) = parse_row(line) else { continue };
        match section {
            1 => sdp.push(row),
            2 => heuristic.push(row),
            _ => {}
        }
    }
    (sdp, heuristic)
}

/// Columns: start end src sport dst dport ssrc payload… pkts lost (pct%) 6 values [X].
/// The payload column may contain spaces, so the row is read from both ends.
fn parse_row(line: &str) -> Option<TsharkStream> {
    let mut t: Vec<&str> = line.split_whitespace().collect();
    if t.len() < 17 || !t[6].starts_with("0x") {
        return None;
    }
    if t.last() == Some(&"X") {
        t.pop();
    }
    let n = t.len();
    let mut values = [0.0; 6];
    for (i, v) in values.iter_mut().enumerate() {
        *v = t[n - 6 + i].parse().ok()?;
    }
    Some(TsharkStream {
        src: addr(t[2], t[3]),
        dst: addr(t[4], t[5]),
        ssrc: u32::from_str_radix(t[6].trim_start_matches("0x"), 16).ok()?,
        packets: t[n - 9].parse().ok()?,
        lost: t[n - 8].parse().ok()?,
        values,
    })
}

/// The call with exactly this Call-ID (panics with the id when missing).
pub fn call<'a>(doc: &'a Document, id: &str) -> &'a callscope::report::records::Call {
    doc.calls.iter().find(|c| c.call_id == id).unwrap_or_else(|| panic!("call {id} missing"))
}

/// The reason codes of a call's verdict, in order.
pub fn codes(c: &callscope::report::records::Call) -> Vec<&'static str> {
    c.verdict.reasons.iter().map(|r| r.code).collect()
}

/// The call's first reason with this code (panics listing the codes it has).
pub fn reason<'a>(c: &'a callscope::report::records::Call, code: &str) -> &'a callscope::diagnose::Reason {
    c.verdict
        .reasons
        .iter()
        .find(|r| r.code == code)
        .unwrap_or_else(|| panic!("{} lacks {code}: {:?}", c.call_id, codes(c)))
}
