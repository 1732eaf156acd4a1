//! callscope against the ground truth of captures its own generator writes (src/synth): every
//! named scenario (clean call, loss, one-way, NAT, 486, 404, 603, CANCEL/487, 408 after ringing,
//! re-INVITE moving media, SIP over TCP split across segments, IPv6, QinQ, fragmented INVITE,
//! sequence wrap, duplicates, reordering, SSRC change, challenge then answer, retransmissions,
//! no response) and a mixed busy capture. The truth is computed from what was emitted, never
//! from the analyzer.

use std::path::PathBuf;

use serde_json::Value;

use crate::common::run;
use callscope::synth::{self, Scenario};

/// Fields of the truth that the contract records must equal, per record kind.
const CALL_FIELDS: &[&str] =
    &["caller", "callee", "start", "outcome", "final_status", "setup_ms", "answer_ms", "duration_s"];
const STREAM_FIELDS: &[&str] = &[
    "call_id",
    "direction",
    "payload_type",
    "dscp",
    "first_time",
    "last_time",
    "packets",
    "expected",
    "lost",
    "duplicates",
    "out_of_order",
    "seq_restarts",
];

fn temp_file(name: &str) -> PathBuf {
    crate::common::scratch_capture("synth", name)
}

/// Writes the scenario, analyses it, and returns every mismatch as a line.
fn check(scenario: &Scenario) -> Vec<String> {
    let path = temp_file(&scenario.name);
    let truth = scenario.write_file(&path).expect("scenario writes");
    let truth = serde_json::to_value(&truth).unwrap();
    let doc = serde_json::to_value(run(&[path])).unwrap();
    let mut problems = Vec::new();
    let name = &scenario.name;
    let calls = doc["calls"].as_array().unwrap();
    let streams = doc["streams"].as_array().unwrap();
    let want_calls = truth["calls"].as_array().unwrap();
    let want_streams = truth["streams"].as_array().unwrap();
    if calls.len() != want_calls.len() {
        problems.push(format!("{name}: {} calls vs truth {}", calls.len(), want_calls.len()));
    }
    if streams.len() != want_streams.len() {
        problems.push(format!("{name}: {} streams vs truth {}", streams.len(), want_streams.len()));
    }
    for want in want_calls {
        let Some(got) = calls.iter().find(|c| c["call_id"] == want["call_id"]) else {
            problems.push(format!("{name}: call {} missing", want["call_id"]));
            continue;
        };
        for f in CALL_FIELDS {
            if !same(&got[*f], &want[*f]) {
                problems.push(format!("{name} call {}: {f} {} vs truth {}", want["call_id"], got[*f], want[*f]));
            }
        }
        // The truth leaves `ended_by` null where the contract says `unknown`.
        let ended = if want["ended_by"].is_null() { Value::from("unknown") } else { want["ended_by"].clone() };
        if got["ended_by"] != ended {
            problems.push(format!("{name} call {}: ended_by {} vs truth {ended}", want["call_id"], got["ended_by"]));
        }
    }
    for want in want_streams {
        let key = |s: &Value| (s["src"].clone(), s["dst"].clone(), s["ssrc"].clone());
        let Some(got) = streams.iter().find(|s| key(s) == key(want)) else {
            problems.push(format!("{name}: stream {} -> {} {} missing", want["src"], want["dst"], want["ssrc"]));
            continue;
        };
        for f in STREAM_FIELDS {
            if !same(&got[*f], &want[*f]) {
                problems.push(format!("{name} stream {}: {f} {} vs truth {}", want["ssrc"], got[*f], want[*f]));
            }
        }
    }
    problems
}

/// Numbers compare by value (1 and 1.0 are equal; times in ms to the microsecond).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-6,
        _ => a == b,
    }
}

#[test]
fn every_named_scenario_matches_its_ground_truth() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for scenario in synth::named_scenarios() {
        problems.extend(check(&scenario));
        checked += 1;
    }
    assert!(checked >= 20, "all named scenarios ran");
    assert!(problems.is_empty(), "{} mismatches:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn busy_mixed_capture_matches_its_ground_truth() {
    let problems = check(&synth::mixed(120, 40, 90, 11));
    assert!(problems.is_empty(), "{} mismatches:\n{}", problems.len(), problems.join("\n"));
}
