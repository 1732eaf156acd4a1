//! `callscope live` (feature `live`): argument handling and failure messages that need no traffic.
//! The capture itself is tested as root in network namespaces by tests/live/run.sh (.ci/run).

use std::process::Command;

fn callscope(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_callscope")).args(args).output().expect("binary runs")
}

#[test]
fn live_help_lists_the_capture_options() {
    let out = callscope(&["live", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--interface",
        "--bpf",
        "--snaplen",
        "--buffer-mb",
        "--interval",
        "--out",
        "--write-pcap",
        "--pcap-keep-files",
        "--pcap-keep-mb",
        "--sites",
    ] {
        assert!(text.contains(opt), "{opt} missing from:\n{text}");
    }
}

#[test]
fn a_missing_interface_is_a_clear_error() {
    let dir = crate::common::scratch_root().join(format!("callscope-live-it-{}", std::process::id()));
    let out = callscope(&[
        "live",
        "-i",
        "callscope-no-such-if0",
        "--duration",
        "1s",
        "--out",
        dir.to_str().unwrap_or("/tmp/callscope-live-it"),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // As root libpcap names the interface; without CAP_NET_RAW the privilege message comes first.
    assert!(err.contains("callscope-no-such-if0") || err.contains("CAP_NET_RAW"), "unexpected message: {err}");
}

#[test]
fn a_bad_interval_is_a_usage_error() {
    let out = callscope(&["live", "-i", "lo", "--interval", "10 parsecs"]);
    assert_eq!(out.status.code(), Some(1));
}
