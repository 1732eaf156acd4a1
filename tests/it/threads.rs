//! `--threads`: the RTP statistics sharded over worker threads, the records and the per-call
//! diagnosis split over two threads and the JSON written on two give byte-identical output
//! whatever the number of threads (issue 6), on the shared captures, the repository fixtures
//! and generated captures, including a run where the stream bound is hit.

use std::path::{Path, PathBuf};

use callscope::capture::CaptureSet;
use callscope::config::Config;
use callscope::pipeline::analyze_capture_threaded;
use callscope::report::{build_threaded, write_json_threaded};

use crate::common::{captures_in, fixtures, shared_captures};

/// The pretty JSON document of `paths` analysed, built and written on `threads` threads
/// (`threads - 1` RTP workers), as `callscope analyze --threads` does.
fn json_with_threads(paths: &[PathBuf], config: &Config, threads: usize) -> String {
    let paths: Vec<String> = paths.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let capture = CaptureSet::open(&paths).expect("capture opens");
    let analysis = analyze_capture_threaded(capture, config, threads, &mut |_| {});
    let mut out = Vec::new();
    write_json_threaded(&build_threaded(&analysis, None, threads), &mut out, threads).expect("JSON to memory");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// Asserts that 1, 2 and 3 RTP workers give exactly the one-thread document.
fn assert_thread_independent(paths: &[PathBuf], config: &Config) {
    let one = json_with_threads(paths, config, 1);
    for threads in [2, 3, 4] {
        let many = json_with_threads(paths, config, threads);
        assert!(one == many, "{paths:?}: output with {threads} threads differs from 1 thread");
    }
}

fn temp_dir(name: &str) -> PathBuf {
    crate::common::fresh_scratch_dir("threads", name)
}

#[test]
fn shared_captures_do_not_depend_on_the_thread_count() {
    let Some(shared) = shared_captures() else { return };
    let files = captures_in(&shared);
    assert!(files.len() >= 10, "only {} shared captures", files.len());
    for file in &files {
        assert_thread_independent(std::slice::from_ref(file), &Config::default());
    }
    // Several inputs merged by time.
    let merged: Vec<PathBuf> = files.iter().take(4).cloned().collect();
    assert_thread_independent(&merged, &Config::default());
}

#[test]
fn fixtures_do_not_depend_on_the_thread_count() {
    let files = captures_in(&fixtures().join("captures"));
    assert!(files.len() >= 10, "only {} fixture captures", files.len());
    for file in &files {
        assert_thread_independent(std::slice::from_ref(file), &Config::default());
    }
}

fn generated(dir: &Path) -> Vec<PathBuf> {
    let mixed = dir.join("mixed.pcap");
    callscope::synth::mixed(60, 12, 90, 3).write_file(&mixed).expect("mixed capture written");
    let sites = dir.join("sites.pcap");
    callscope::synth::sites::three_sites().write_file(&sites).expect("three-site capture written");
    vec![mixed, sites]
}

#[test]
fn generated_captures_do_not_depend_on_the_thread_count() {
    let dir = temp_dir("generated");
    for file in generated(&dir) {
        assert_thread_independent(std::slice::from_ref(&file), &Config::default());
        // 5-second windows: more window records, same independence.
        let short_windows = Config { window_s: 5.0, ..Config::default() };
        assert_thread_independent(std::slice::from_ref(&file), &short_windows);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stream_bound_is_applied_to_the_whole_run_not_per_thread() {
    let dir = temp_dir("bound");
    let files = generated(&dir);
    let mut config = Config::default();
    config.limits.max_rtp_streams = 7;
    for file in &files {
        let one = json_with_threads(std::slice::from_ref(file), &config, 1);
        assert!(one.contains("RTP stream table full"), "{file:?}: the bound was not reached");
        for threads in [2, 3, 5] {
            assert!(one == json_with_threads(std::slice::from_ref(file), &config, threads), "{threads} threads");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
