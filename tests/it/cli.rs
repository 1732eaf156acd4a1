//! The `callscope` binary as a user runs it: exit codes, formats, standard input, bad files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::fixtures;

fn callscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callscope")).args(args).output().expect("binary runs")
}

fn sample() -> PathBuf {
    fixtures().join("captures/sipnab-sip-rtp-g711.pcap")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

fn temp_dir(name: &str) -> PathBuf {
    crate::common::fresh_scratch_dir("cli", name)
}

#[test]
fn json_document_follows_the_contract() {
    let out = callscope(&["analyze", "--format", "json", sample().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let doc = json(&out);
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["tool"]["name"], "callscope");
    assert_eq!(doc["inputs"][0]["packets"], 852);
    assert_eq!(doc["inputs"][0]["link_types"][0], "EN10MB");
    assert_eq!(doc["calls"].as_array().unwrap().len(), 2);
    let call = &doc["calls"][0];
    assert_eq!(call["call_id"], "1-1966@10.0.2.20");
    assert_eq!(call["outcome"], "answered");
    assert_eq!(call["final_status"], 200);
    assert_eq!(call["start"], "2016-11-26T14:52:59.666393Z");
    let streams = doc["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2);
    for s in streams {
        assert!(s["ssrc"].as_str().unwrap().starts_with("0x"));
        assert!(s["call_id"].is_string(), "every stream of this capture belongs to a call: {s}");
    }
}

#[test]
fn standard_input_gives_the_same_records_as_the_file() {
    let bytes = std::fs::read(sample()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_callscope"))
        .args(["analyze", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let piped = child.wait_with_output().unwrap();
    assert_eq!(piped.status.code(), Some(0));
    let from_file = json(&callscope(&["analyze", "--format", "json", sample().to_str().unwrap()]));
    let from_stdin = json(&piped);
    assert_eq!(from_stdin["calls"], from_file["calls"]);
    assert_eq!(from_stdin["streams"], from_file["streams"]);
    assert_eq!(from_stdin["inputs"][0]["path"], "-");
}

#[test]
fn usage_and_input_errors_exit_1_naming_the_file() {
    assert_eq!(callscope(&["analyze"]).status.code(), Some(1));
    assert_eq!(callscope(&["frobnicate"]).status.code(), Some(1));
    assert_eq!(callscope(&["--help"]).status.code(), Some(0));
    let missing = callscope(&["analyze", "/nonexistent/x.pcap"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/x.pcap"));
    let dir = temp_dir("notcap");
    let text = dir.join("notes.pcap");
    std::fs::write(&text, b"this is not a capture file at all, just text\n").unwrap();
    let not_capture = callscope(&["analyze", text.to_str().unwrap()]);
    assert_eq!(not_capture.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_capture.stderr).contains("notes.pcap"));
}

/// A capture cut mid-packet still reports every call seen before the cut, with a warning that
/// names the frame (foundation item 8).
#[test]
fn truncated_capture_keeps_what_was_analysed_and_warns_with_the_frame() {
    let bytes = std::fs::read(sample()).unwrap();
    let dir = temp_dir("cut");
    // Frame 434 (the second INVITE) starts well inside the file: cut in the middle of the file.
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3 + 7]).unwrap();
    let out = callscope(&["analyze", "--format", "json", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warnings"), "one-line warning count on stderr");
    let doc = json(&out);
    let warnings = doc["inputs"][0]["warnings"].as_array().unwrap();
    let truncated: Vec<_> = warnings.iter().filter(|w| w["kind"] == "truncated_capture").collect();
    assert_eq!(truncated.len(), 1, "{warnings:?}");
    let packets = doc["inputs"][0]["packets"].as_u64().unwrap();
    assert_eq!(truncated[0]["frame"].as_u64(), Some(packets + 1), "the cut frame is the one after the last read");
    let full = json(&callscope(&["analyze", "--format", "json", sample().to_str().unwrap()]));
    // The first call ended (BYE, 200) before the cut: its record is identical.
    assert_eq!(doc["calls"][0], full["calls"][0]);
}

#[test]
fn csv_into_a_directory_writes_one_file_per_record_kind() {
    let dir = temp_dir("csv");
    let out = callscope(&["analyze", "--format", "csv", "--out", dir.to_str().unwrap(), sample().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let calls = std::fs::read_to_string(dir.join("calls.csv")).unwrap();
    assert_eq!(calls.lines().count(), 3, "header and two calls:\n{calls}");
    assert!(calls.lines().next().unwrap().starts_with("call_id,"));
    let streams = std::fs::read_to_string(dir.join("streams.csv")).unwrap();
    assert_eq!(streams.lines().count(), 3);
    assert!(Path::new(&dir.join("warnings.csv")).exists());
}

#[test]
fn table_lists_calls_then_streams() {
    let out = callscope(&["analyze", "--format", "table", sample().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let calls_at = text.find("CALLS (2)").expect("calls header");
    let streams_at = text.find("RTP STREAMS (2)").expect("streams header");
    assert!(calls_at < streams_at);
    assert!(text.contains("1-1966@10.0.2.20"));
    assert!(text.contains("0x343DA99B"));
}
