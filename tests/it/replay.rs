//! `analyze --jsonl DIR` (`callscope::live::replay`): every call written as the one-document run
//! writes it, and what is held follows the calls in progress, not the capture's length.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use callscope::config::Config;
use callscope::live::replay::{replay, ReplayOptions, ReplaySummary};
use callscope::sites::SiteMap;
use serde_json::Value;

use crate::common::run;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callscope-replay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn replay_into(capture: &Path, out: &Path) -> ReplaySummary {
    let sites = SiteMap::default();
    let opts = ReplayOptions {
        out,
        interval_ns: 10_000_000_000,
        limits: Default::default(),
        sites: &sites,
        site_options: Default::default(),
    };
    replay(&[capture.to_string_lossy().into_owned()], &Config::default(), &opts).expect("replay runs")
}

fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("output file");
    text.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect()
}

/// Stream records by (src, dst, SSRC, first frame), without their run-local id; and the map
/// from id to that name.
fn streams_by_name(streams: &[Value]) -> (BTreeMap<String, Value>, BTreeMap<u64, String>) {
    let name = |s: &Value| format!("{} {} {} {}", s["src"], s["dst"], s["ssrc"], s["first_frame"]);
    let ids = streams.iter().map(|s| (s["id"].as_u64().unwrap_or(0), name(s))).collect::<BTreeMap<_, _>>();
    let records = streams
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s["id"] = Value::Null;
            name_reason_streams(&mut s["reasons"], &ids);
            (name(&s), s)
        })
        .collect();
    (records, ids)
}

fn name_reason_streams(reasons: &mut Value, ids: &BTreeMap<u64, String>) {
    for r in reasons.as_array_mut().into_iter().flatten() {
        if let Some(id) = r["stream"].as_u64() {
            r["stream"] = Value::String(ids.get(&id).cloned().unwrap_or_default());
        }
    }
}

/// Call records by Call-ID, with stream ids replaced by stream names.
fn calls_by_id(calls: &[Value], ids: &BTreeMap<u64, String>) -> BTreeMap<String, Value> {
    calls
        .iter()
        .map(|c| {
            let mut c = c.clone();
            let names: Vec<Value> = c["streams"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|id| Value::String(ids.get(&id.as_u64().unwrap_or(0)).cloned().unwrap_or_default()))
                .collect();
            c["streams"] = Value::Array(names);
            name_reason_streams(&mut c["verdict"]["reasons"], ids);
            (c["call_id"].as_str().unwrap_or_default().to_owned(), c)
        })
        .collect()
}

/// Replays a mixed capture and checks every call and stream against the one-document run.
fn replay_matches_offline(name: &str, calls: usize, concurrency: usize, seconds: u64) -> ReplaySummary {
    let dir = temp_dir(name);
    let capture = dir.join("mixed.pcap");
    callscope::synth::mixed(calls, concurrency, seconds, 7).write_file(&capture).expect("capture written");
    let offline = serde_json::to_value(run(std::slice::from_ref(&capture))).expect("serialises");
    let out = dir.join("out");
    let summary = replay_into(&capture, &out);
    let (want_streams, want_ids) = streams_by_name(offline["streams"].as_array().expect("streams"));
    let want_calls = calls_by_id(offline["calls"].as_array().expect("calls"), &want_ids);
    let (got_streams, got_ids) = streams_by_name(&lines(&out.join("streams.jsonl")));
    let got_calls = calls_by_id(&lines(&out.join("calls.jsonl")), &got_ids);
    let inputs = lines(&out.join("inputs.jsonl"));
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(got_calls.len(), want_calls.len(), "{name}: calls");
    for (id, want) in &want_calls {
        assert_eq!(got_calls.get(id), Some(want), "{name}: call {id}");
    }
    assert_eq!(got_streams.len(), want_streams.len(), "{name}: streams");
    for (key, want) in &want_streams {
        assert_eq!(got_streams.get(key), Some(want), "{name}: stream {key}");
    }
    assert_eq!(summary.calls as usize, want_calls.len());
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0]["packets"], offline["inputs"][0]["packets"]);
    summary
}

#[test]
fn replay_writes_the_offline_records_and_holds_only_the_calls_in_progress() {
    let short = replay_matches_offline("short", 40, 4, 120);
    let long = replay_matches_offline("long", 160, 4, 480);
    // Four times the calls at the same concurrency (4 calls in progress, 7 and 8 dialogs held
    // at most when written): the same calls and streams held at most, a fraction of the calls.
    assert!(short.batches >= 10 && long.batches > 3 * short.batches, "{} vs {} batches", long.batches, short.batches);
    assert!(short.max_held_dialogs >= 4 && short.max_held_streams >= 4, "{short:?}");
    assert!(long.max_held_dialogs <= short.max_held_dialogs + 2, "{long:?}\nvs\n{short:?}");
    assert!(long.max_held_streams <= short.max_held_streams + 4, "{long:?}\nvs\n{short:?}");
    assert!(long.max_held_dialogs * 10 < long.calls as usize, "{long:?}");
}

#[test]
fn a_second_replay_replaces_the_files() {
    let dir = temp_dir("rerun");
    let capture = dir.join("mixed.pcap");
    callscope::synth::mixed(12, 3, 60, 3).write_file(&capture).expect("capture written");
    let out = dir.join("out");
    let first = replay_into(&capture, &out);
    let second = replay_into(&capture, &out);
    let calls = lines(&out.join("calls.jsonl"));
    let intervals = lines(&out.join("intervals.jsonl"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(first.calls, 12);
    assert_eq!(calls.len() as u64, second.calls);
    assert_eq!(intervals.len() as u64, second.batches);
    // The intervals account for every frame once.
    let frames: u64 = intervals.iter().map(|i| i["received"].as_u64().unwrap_or(0)).sum();
    assert_eq!(frames, second.frames);
}

#[test]
fn the_cli_writes_json_lines_and_refuses_a_second_output() {
    let dir = temp_dir("cli");
    let capture = dir.join("mixed.pcap");
    callscope::synth::mixed(6, 2, 30, 5).write_file(&capture).expect("capture written");
    let out = dir.join("out");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_callscope"))
            .arg("analyze")
            .arg("--jsonl")
            .arg(&out)
            .args(extra)
            .arg(&capture)
            .output()
            .expect("binary runs")
    };
    let ok = run(&[]);
    let refused = run(&["--format", "json"]);
    let calls = lines(&out.join("calls.jsonl"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stderr).contains("6 calls"), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(calls.len(), 6);
    assert_eq!(refused.status.code(), Some(1), "{}", String::from_utf8_lossy(&refused.stderr));
}
