//! Tests of the live sink's document edits (no libpcap needed).

use super::*;
use crate::config::Config;
use crate::report::build;

/// A small synthetic run: 6 calls, some with loss (synth `mixed`).
fn doc() -> Document {
    let dir =
        std::env::temp_dir().join(format!("callscope-live-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("mixed.pcap");
    crate::synth::mixed(30, 4, 120, 7).write_file(&path).expect("synthetic capture written");
    let analysis =
        crate::pipeline::analyze(&[path.to_string_lossy().into_owned()], &Config::default()).expect("capture opens");
    let _ = std::fs::remove_dir_all(&dir);
    build(&analysis)
}

#[test]
fn renumbering_shifts_every_stream_reference() {
    let mut d = doc();
    let n = d.streams.len() as u32;
    assert!(n > 0);
    let before: Vec<Vec<u32>> = d.calls.iter().map(|c| c.streams.clone()).collect();
    assert_eq!(renumber_streams(&mut d, 100), 100 + n);
    assert_eq!(d.streams.first().map(|s| s.id), Some(101));
    for (c, old) in d.calls.iter().zip(before) {
        assert_eq!(c.streams, old.iter().map(|id| id + 100).collect::<Vec<_>>());
        for r in &c.verdict.reasons {
            if let Some(id) = r.stream {
                assert!(c.streams.contains(&id), "reason {} cites stream {id} outside the call", r.code);
            }
        }
    }
}

#[test]
fn drops_during_a_lossy_stream_make_its_loss_capture_loss() {
    let mut d = doc();
    let Some(lossy) = d.streams.iter().find(|s| s.lost > 0 && s.call_id.is_some()).cloned() else {
        panic!("the mixed scenario has a stream with loss")
    };
    // A window with drops inside the stream's span; another one without drops.
    let windows = [
        DropWindow { from: lossy.first_time, to: lossy.first_time, received: 10, dropped: 3, if_dropped: 1 },
        DropWindow { from: lossy.last_time, to: lossy.last_time, received: 10, dropped: 0, if_dropped: 0 },
    ];
    let marked = mark_capture_loss(&mut d, &windows);
    assert!(marked >= 1);
    let s = d.streams.iter().find(|s| s.id == lossy.id).expect("stream kept");
    let r = s.reasons.iter().find(|r| r.code == "capture_loss_suspected").expect("marked");
    assert_eq!(r.subcode, Some("capture_drops"));
    assert_eq!(r.metrics.get("capture_dropped"), Some(&3.0));
    assert_eq!(r.metrics.get("capture_if_dropped"), Some(&1.0));
    let call = d.calls.iter().find(|c| Some(&c.call_id) == lossy.call_id.as_ref()).expect("call");
    // Loss reasons of that stream are info now: they cannot decide the verdict.
    for r in &call.verdict.reasons {
        if r.stream == Some(lossy.id) && DEMOTED_BY_CAPTURE_LOSS.contains(&r.code) {
            assert_eq!(r.severity, Severity::Info, "{}", r.code);
        }
    }
    assert!(call.verdict.reasons.iter().any(|r| r.code == "capture_loss_suspected"));
}

#[test]
fn no_drops_no_marking() {
    let mut d = doc();
    let windows = [DropWindow { from: Timestamp(0), to: Timestamp(i64::MAX), received: 5, dropped: 0, if_dropped: 0 }];
    assert_eq!(mark_capture_loss(&mut d, &windows), 0);
    assert!(d.calls.iter().all(|c| c.verdict.reasons.iter().all(|r| r.code != "capture_loss_suspected")));
}

#[test]
fn open_calls_close_as_incomplete() {
    let mut d = doc();
    let answered = d.calls.iter().filter(|c| c.outcome == Outcome::Answered).count();
    assert!(answered > 0);
    // Pretend the capture stopped before the BYEs: no call has ended.
    for c in d.calls.iter_mut() {
        c.ended_by = EndedBy::Unknown;
    }
    let failed_final = d.calls.iter().filter(|c| c.final_status.is_some_and(|s| s >= 300)).count();
    let closed = close_open_calls(&mut d);
    assert_eq!(closed, d.calls.len() - failed_final);
    assert_eq!(d.calls.iter().filter(|c| c.outcome == Outcome::Incomplete).count(), closed);
}

#[test]
fn view_counts_batches_and_intervals() {
    let mut d = doc();
    let mut view = ViewState::default();
    view.on_interval(&IntervalRecord {
        drops: DropWindow { from: Timestamp(0), to: Timestamp(1), received: 100, dropped: 2, if_dropped: 0 },
        calls: 0,
        streams: 0,
        streams_capture_loss: 0,
        held_dialogs: 4,
        held_streams: 8,
        frames: 100,
    });
    renumber_streams(&mut d, 0);
    view.on_batch(&d);
    assert_eq!(view.calls, d.calls.len() as u64);
    assert_eq!(view.by_class.values().sum::<u64>(), d.calls.len() as u64);
    let text = view.render();
    assert!(text.contains("active: 4 calls, 8 streams"), "{text}");
    assert!(text.contains("100 received, 2 dropped (kernel)"), "{text}");
    assert!(text.contains("unknown"), "{text}");
}

#[test]
fn sink_appends_json_lines_with_document_wide_ids() {
    let dir = std::env::temp_dir().join(format!("callscope-live-sink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut sink = LiveSink::open(&dir).expect("sink opens");
    let mut a = doc();
    let mut b = doc();
    let n = a.streams.len();
    sink.write_batch(&mut a, Timestamp(1)).expect("written");
    sink.write_batch(&mut b, Timestamp(2)).expect("written");
    let streams = std::fs::read_to_string(dir.join("streams.jsonl")).expect("streams.jsonl");
    let ids: Vec<u64> = streams
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("one JSON object per line")["id"].as_u64().unwrap_or(0)
        })
        .collect();
    assert_eq!(ids.len(), 2 * n);
    assert_eq!(ids, (1..=2 * n as u64).collect::<Vec<_>>());
    let calls = std::fs::read_to_string(dir.join("calls.jsonl")).expect("calls.jsonl");
    assert_eq!(calls.lines().count(), a.calls.len() + b.calls.len());
    let _ = std::fs::remove_dir_all(&dir);
}
