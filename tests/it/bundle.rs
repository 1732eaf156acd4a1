//! `callscope call` bundles checked against tshark: the bundle's call.pcap read back by tshark
//! has the call's packets and the same `rtp,streams` figures callscope reports for the call;
//! the summary's UTC times equal tshark's `frame.time_epoch` of the same original frames;
//! `--redact` leaves no original number or address in any byte of the bundle.
//!
//! tshark is needed: missing in CI (`CI=true`) is a failure, locally the tests skip with a notice.

use std::path::{Path, PathBuf};
use std::process::Command;

use callscope::bundle::{self, BundleOptions, Selector};
use callscope::config::Config;
use callscope::pipeline::analyze;
use callscope::report::{build, Document};
use callscope::synth::{self, Scenario};
use callscope::time::Timestamp;

use crate::common::shared_captures;

fn tshark() -> bool {
    let found = Command::new("tshark").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "tshark is missing but CI=true: .ci/run must install it (bundle tests need it)"
        );
        eprintln!("NOTICE: tshark not installed; bundle tests skipped");
    }
    found
}

fn temp_dir(name: &str) -> PathBuf {
    crate::common::fresh_scratch_dir("bundle", name)
}

fn tshark_out(args: &[&str]) -> String {
    let out = Command::new("tshark").args(args).output().expect("tshark runs");
    assert!(out.status.success(), "tshark {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (src, dst, ssrc, packets, lost, [min/mean/max delta, min/mean/max jitter]) rows.
fn rtp_streams(pcap: &Path) -> Vec<(String, String, u32, u64, i64, [f64; 6])> {
    // With the RTP heuristic: a call's relay hops carry RTP that no SDP of the call announced
    // (callscope ties them to the call by SSRC; tshark needs the heuristic to see them).
    let text =
        tshark_out(&["-r", pcap.to_str().unwrap(), "-n", "-q", "--enable-heuristic", "rtp_udp", "-z", "rtp,streams"]);
    let mut rows = Vec::new();
    for line in text.lines().take(10_000) {
        let mut t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 17 || !t[6].starts_with("0x") {
            continue;
        }
        if t.last() == Some(&"X") {
            t.pop();
        }
        let n = t.len();
        let mut v = [0.0; 6];
        for (i, x) in v.iter_mut().enumerate() {
            *x = t[n - 6 + i].parse().unwrap();
        }
        let addr =
            |ip: &str, port: &str| if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") };
        rows.push((
            addr(t[2], t[3]),
            addr(t[4], t[5]),
            u32::from_str_radix(t[6].trim_start_matches("0x"), 16).unwrap(),
            t[n - 9].parse().unwrap(),
            t[n - 8].parse().unwrap(),
            v,
        ));
    }
    rows
}

fn frame_count(pcap: &Path) -> usize {
    tshark_out(&["-r", pcap.to_str().unwrap(), "-n", "-T", "fields", "-e", "frame.number"]).lines().count()
}

/// Frames tshark decodes as SIP or RTP (RTCP and ICMP errors are kept as evidence beside the
/// streams; relay copies of RTCP on ports no SDP announced are `data` to tshark).
fn sip_and_rtp_frames(pcap: &Path) -> usize {
    let protocols = tshark_out(&[
        "-r",
        pcap.to_str().unwrap(),
        "-n",
        "--enable-heuristic",
        "rtp_udp",
        "-T",
        "fields",
        "-e",
        "frame.protocols",
    ]);
    protocols
        .lines()
        .filter(|l| !l.contains(":icmp") && (l.contains(":sip") || l.split(':').any(|p| p == "rtp")))
        .count()
}

struct Bundled {
    doc: Document,
    dirs: Vec<PathBuf>,
    selected: Vec<usize>,
}

fn bundle_of(paths: &[PathBuf], selector: Selector, out: &Path, redact: bool) -> Bundled {
    let paths: Vec<String> = paths.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let analysis = analyze(&paths, &Config::default()).expect("capture opens");
    let doc = build(&analysis);
    let selected = bundle::select(&doc, &analysis, &selector);
    assert!(!selected.is_empty(), "{selector:?} selects a call in {paths:?}");
    let opts = BundleOptions {
        out: out.to_owned(),
        tz: Some("Europe/Berlin".into()),
        redact,
        keep_nets: vec![],
        ..Default::default()
    };
    let dirs = bundle::write_bundles(&paths, &analysis, &doc, &selected, &opts).expect("bundle written");
    Bundled { doc, dirs, selected }
}

/// call.pcap equals the call: tshark's streams equal callscope's (packets, lost, deltas,
/// jitter), and its frame count equals the SIP messages + RTP packets (+ extra frames given).
fn check_pcap_against_records(b: &Bundled, original: &Path, extra_frames: usize) {
    for (dir, &i) in b.dirs.iter().zip(&b.selected) {
        let call = &b.doc.calls[i];
        let pcap = dir.join("call.pcap");
        let ts = rtp_streams(&pcap);
        // The bundle carries every linked leg (diagnosis.md §5): their SIP and streams too.
        let legs: Vec<&callscope::report::records::Call> = std::iter::once(call)
            .chain(call.linked.iter().filter_map(|l| b.doc.calls.iter().find(|c| c.call_id == l.call_id)))
            .collect();
        let ours: Vec<_> = b.doc.streams.iter().filter(|s| legs.iter().any(|c| c.streams.contains(&s.id))).collect();
        assert_eq!(ts.len(), ours.len(), "{}: tshark streams {ts:?}", call.call_id);
        for s in &ours {
            let ssrc = u32::from_str_radix(s.ssrc.trim_start_matches("0x"), 16).unwrap();
            let row = ts
                .iter()
                .find(|r| r.0 == s.src.to_string() && r.1 == s.dst.to_string() && r.2 == ssrc)
                .unwrap_or_else(|| panic!("{}: stream {} -> {} not in tshark's {ts:?}", call.call_id, s.src, s.dst));
            assert_eq!((row.3, row.4), (s.packets, s.lost), "{} packets/lost", call.call_id);
            let mine =
                [s.min_delta_ms, s.mean_delta_ms, s.max_delta_ms, s.min_jitter_ms, s.mean_jitter_ms, s.max_jitter_ms];
            for (a, b) in row.5.iter().zip(mine) {
                assert!((a - b).abs() < 0.0015, "{}: tshark {:?} vs callscope {mine:?}", call.call_id, row.5);
            }
        }
        let rtp: u64 = ours.iter().map(|s| s.packets).sum();
        let sip: usize = legs.iter().map(|c| c.sip_messages).sum();
        let want = sip + usize::try_from(rtp).unwrap() + extra_frames;
        assert_eq!(sip_and_rtp_frames(&pcap), want, "{}: SIP + RTP frames in call.pcap", call.call_id);
        check_times(dir, original);
    }
}

/// Every SIP line of summary.txt carries the UTC time tshark gives the same original frame.
fn check_times(dir: &Path, original: &Path) {
    let epochs = tshark_out(&["-r", original.to_str().unwrap(), "-n", "-T", "fields", "-e", "frame.time_epoch"]);
    let epochs: Vec<&str> = epochs.lines().collect();
    let summary = std::fs::read_to_string(dir.join("summary.txt")).unwrap();
    let mut checked = 0;
    for line in summary.lines().filter(|l| l.starts_with("20") && l.contains("  #")).take(5000) {
        let utc = line.split_whitespace().next().unwrap();
        let frame: usize = line.split("  #").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
        let (secs, frac) = epochs[frame - 1].split_once('.').unwrap();
        let t = Timestamp::from_parts(secs.parse().unwrap(), format!("{frac:0<9}")[..9].parse().unwrap());
        assert_eq!(utc, t.rfc3339(), "frame {frame} in {}", dir.display());
        checked += 1;
    }
    assert!(checked > 0, "no SIP lines in {}", dir.display());
}

fn synth_file(dir: &Path, scenario: &Scenario) -> PathBuf {
    let path = dir.join(format!("{}.pcap", scenario.name));
    scenario.write_file(&path).expect("scenario writes");
    path
}

#[test]
fn synthetic_calls_bundle_to_exactly_their_packets() {
    if !tshark() {
        return;
    }
    let dir = temp_dir("synth");
    for scenario in [
        synth::fixtures::clean_call(),
        synth::fixtures::one_way_audio(),
        synth::fixtures::not_found_404(),
        synth::fixtures::cancel_487(),
        synth::fixtures::loss_one_direction(),
        synth::fixtures::ipv6_call(),
        synth::fixtures::vlan_call(),
    ] {
        let pcap = synth_file(&dir, &scenario);
        let b = bundle_of(std::slice::from_ref(&pcap), Selector::Worst(1), &dir.join(&scenario.name), false);
        check_pcap_against_records(&b, &pcap, 0);
        for f in ["summary.txt", "summary.md", "ladder.txt", "ladder.svg", "call.json", "call.pcap"] {
            assert!(b.dirs[0].join(f).exists(), "{}: {f}", scenario.name);
        }
    }
}

#[test]
fn fragmented_invite_keeps_every_fragment() {
    if !tshark() {
        return;
    }
    let dir = temp_dir("frag");
    let scenario = synth::fixtures::ipv4_fragmented_invite();
    let pcap = synth_file(&dir, &scenario);
    let b = bundle_of(std::slice::from_ref(&pcap), Selector::Worst(1), &dir.join("out"), false);
    let call_pcap = b.dirs[0].join("call.pcap");
    // tshark reassembles the INVITE from the copied fragments: the same SIP count as the source.
    let sip =
        |p: &Path| tshark_out(&["-r", p.to_str().unwrap(), "-n", "-Y", "sip", "-T", "fields", "-e", "frame.number"]);
    assert_eq!(sip(&call_pcap).lines().count(), sip(&pcap).lines().count());
    assert_eq!(rtp_streams(&call_pcap).len(), b.doc.streams.len());
}

#[test]
fn one_way_audio_summary_has_the_evidence() {
    if !tshark() {
        return;
    }
    let dir = temp_dir("oneway");
    let pcap = synth_file(&dir, &synth::fixtures::one_way_audio());
    let b = bundle_of(&[pcap], Selector::CallIdOrNumber("2002".into()), &dir.join("out"), false);
    let summary = std::fs::read_to_string(b.dirs[0].join("summary.txt")).unwrap();
    assert!(summary.contains("Call-ID                one_way_audio-1@10.1.0.10"), "{summary}");
    assert!(summary.contains("Start                  2024-03-01T09:00:00.100000Z  (2024-03-01T10:00:00.100000+01:00)"));
    assert!(summary.contains("caller_to_callee  10.1.0.10:40000 -> 10.2.0.20:50000"), "{summary}");
    // Only one direction of RTP exists: one stream row.
    assert_eq!(summary.matches(" -> 10.1.0.10:40000").count(), 0);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(b.dirs[0].join("call.json")).unwrap()).unwrap();
    assert_eq!(json["calls"][0]["call_id"], "one_way_audio-1@10.1.0.10");
    assert_eq!(json["streams"].as_array().unwrap().len(), 1);
    let svg = std::fs::read_to_string(b.dirs[0].join("ladder.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("RTP PCMU 498 pkts"));
}

/// The jitter/loss timeline of the report's plots is in every bundle: the SVG names one line per
/// stream in both panels, the loss axis reaches the lossy direction's loss, the PNG is a PNG.
#[test]
fn bundle_has_the_jitter_loss_timeline() {
    let dir = temp_dir("timeline");
    let pcap = synth_file(&dir, &synth::fixtures::loss_one_direction());
    let b = bundle_of(&[pcap], Selector::Worst(1), &dir.join("out"), false);
    let svg = std::fs::read_to_string(b.dirs[0].join("timeline.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.contains("Jitter and loss over the call") && svg.contains("jitter ms") && svg.contains("loss %"));
    let streams = &b.doc.streams;
    assert_eq!(streams.len(), 2);
    for s in streams {
        let label = format!("(SSRC {})", s.ssrc);
        // One legend entry per panel.
        assert_eq!(svg.matches(&label).count(), 2, "{label} in {svg}");
    }
    assert!(svg.contains("caller to callee (SSRC") && svg.contains("callee to caller (SSRC"));
    // Two panels × two streams = four series lines (axes and grid are drawn 1 px wide).
    assert_eq!(svg.matches("stroke-width=\"2\"").count(), 4, "{svg}");
    // The chart's data: only the callee → caller line of the loss panel leaves 0, and its
    // windows add up to the 6 lost packets of the scenario.
    let call = &b.doc.calls[0];
    let refs: Vec<&callscope::report::records::Stream> = streams.iter().collect();
    let chart = callscope::report::plots::call_timeline(call, &refs);
    let callscope::report::plots::ChartKind::Panels(panels) = &chart.kind else { panic!("timeline has panels") };
    assert_eq!(panels.len(), 2);
    for (s, line) in streams.iter().zip(&panels[1].series) {
        let lossy = line.points.iter().any(|p| p.1 > 0.0);
        assert_eq!(lossy, s.lost > 0, "{} {:?}", line.name, line.points);
        assert_eq!(line.points.len(), s.windows.len());
    }
    let lossy = streams.iter().find(|s| s.lost > 0).expect("a lossy stream");
    assert_eq!((lossy.lost, lossy.windows.iter().map(|w| w.lost).sum::<i64>()), (6, 6));
    let png = std::fs::read(b.dirs[0].join("timeline.png")).unwrap();
    assert_eq!(png.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]));
    // IHDR width and height: the report's chart size.
    assert_eq!(png.get(16..24), Some(&[0, 0, 2, 208, 0, 0, 1, 104][..]));
}

/// All bytes of all files in a folder.
fn bundle_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).map(|p| (p.clone(), std::fs::read(p).unwrap())).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn redaction_leaves_no_original_number_or_address() {
    if !tshark() {
        return;
    }
    let dir = temp_dir("redact");
    let mut scenario = synth::fixtures::clean_call();
    scenario.calls[0].caller_user = "+4930123456".into();
    scenario.calls[0].callee_user = "0891234567".into();
    scenario.calls[0].call_id = "redact-1@10.1.0.10".into();
    let pcap = synth_file(&dir, &scenario);
    let plain = bundle_of(
        std::slice::from_ref(&pcap),
        Selector::CallIdOrNumber("+49 (30) 123456".into()),
        &dir.join("plain"),
        false,
    );
    let red =
        bundle_of(std::slice::from_ref(&pcap), Selector::CallIdOrNumber("089 1234567".into()), &dir.join("red"), true);
    let call = &plain.doc.calls[plain.selected[0]];
    let mut secrets: Vec<Vec<u8>> = vec![b"4930123456".to_vec(), b"0891234567".to_vec(), b"891234567".to_vec()];
    let mut addrs = vec![call.caller.unwrap().ip(), call.callee.unwrap().ip()];
    for s in plain.doc.streams.iter() {
        addrs.push(s.src.ip());
        addrs.push(s.dst.ip());
    }
    for a in &addrs {
        secrets.push(a.to_string().into_bytes());
        if let std::net::IpAddr::V4(v4) = a {
            secrets.push(v4.octets().to_vec());
        }
    }
    // The unredacted bundle does contain them (the test would prove nothing otherwise).
    let plain_files = bundle_bytes(&plain.dirs[0]);
    assert!(secrets.iter().all(|s| plain_files.iter().any(|(_, b)| contains(b, s))));
    let files = bundle_bytes(&red.dirs[0]);
    assert_eq!(files.len(), 8); // summary.txt/.md, ladder.txt/.svg, timeline.svg/.png, call.json, call.pcap
    for (path, bytes) in &files {
        for s in &secrets {
            assert!(!contains(bytes, s), "{} still contains {:?}", path.display(), String::from_utf8_lossy(s));
        }
    }
    let name = red.dirs[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(!name.contains("10.1.0.10"), "{name}");
    let summary = std::fs::read_to_string(red.dirs[0].join("summary.txt")).unwrap();
    assert!(summary.contains("sip:+xxxxxxxx56@"), "{summary}");
    // The rewritten capture still parses: same frames, same streams (addresses pseudonymised).
    let red_pcap = red.dirs[0].join("call.pcap");
    assert_eq!(frame_count(&red_pcap), frame_count(&plain.dirs[0].join("call.pcap")));
    let (a, b) = (rtp_streams(&red_pcap), rtp_streams(&plain.dirs[0].join("call.pcap")));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((x.2, x.3, x.4), (y.2, y.3, y.4));
        assert!(!x.0.starts_with("10.1.0.10"));
    }
    // tshark finds no checksum or SIP errors in the rewritten packets.
    let bad = tshark_out(&[
        "-r",
        red_pcap.to_str().unwrap(),
        "-n",
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-Y",
        "ip.checksum.status == 0 || udp.checksum.status == 0",
    ]);
    assert_eq!(bad.lines().count(), 0, "{bad}");
    // Every SIP message still parses (a masked `+xx…` user only draws tshark's E.164 warning).
    let sip =
        |p: &Path| tshark_out(&["-r", p.to_str().unwrap(), "-n", "-Y", "sip.CSeq", "-T", "fields", "-e", "sip.CSeq"]);
    assert_eq!(sip(&red_pcap), sip(&plain.dirs[0].join("call.pcap")));
}

#[test]
fn keep_net_leaves_the_provider_side_visible() {
    let dir = temp_dir("keepnet");
    let pcap = synth_file(&dir, &synth::fixtures::clean_call());
    let paths = vec![pcap.to_string_lossy().into_owned()];
    let analysis = analyze(&paths, &Config::default()).unwrap();
    let doc = build(&analysis);
    let selected = bundle::select(&doc, &analysis, &Selector::Worst(1));
    let opts = BundleOptions {
        out: dir.join("out"),
        tz: None,
        redact: true,
        keep_nets: vec!["10.2.0.0/16".parse().unwrap()],
        ..Default::default()
    };
    let dirs = bundle::write_bundles(&paths, &analysis, &doc, &selected, &opts).unwrap();
    let summary = std::fs::read_to_string(dirs[0].join("summary.txt")).unwrap();
    assert!(summary.contains("10.2.0.20:5060"), "{summary}");
    assert!(!summary.contains("10.1.0.10"), "{summary}");
}

#[test]
fn shared_captures_bundle_like_tshark() {
    let Some(shared) = shared_captures() else { return };
    if !tshark() {
        return;
    }
    let dir = temp_dir("shared");
    for name in ["sipnab-sip-rtp-g711.pcap", "sipnab-b2bua-asterisk.pcapng", "sipnab-SIP_CALL_RTP_G711.pcap"] {
        let original = shared.join(name);
        let b = bundle_of(std::slice::from_ref(&original), Selector::Worst(10), &dir.join(name), false);
        check_pcap_against_records(&b, &original, 0);
    }
}

#[test]
fn redaction_refuses_fragments_with_a_clear_message() {
    let dir = temp_dir("refuse");
    let pcap = synth_file(&dir, &synth::fixtures::ipv4_fragmented_invite());
    let paths = vec![pcap.to_string_lossy().into_owned()];
    let analysis = analyze(&paths, &Config::default()).unwrap();
    let doc = build(&analysis);
    let selected = bundle::select(&doc, &analysis, &Selector::Worst(1));
    let opts = BundleOptions { out: dir.join("out"), tz: None, redact: true, keep_nets: vec![], ..Default::default() };
    let err = bundle::write_bundles(&paths, &analysis, &doc, &selected, &opts).unwrap_err().to_string();
    assert!(err.contains("--redact refused") && err.contains("IPv4 fragment"), "{err}");
}

#[test]
fn redacted_real_capture_has_no_original_addresses() {
    let Some(shared) = shared_captures() else { return };
    let dir = temp_dir("redact-real");
    let original = shared.join("sipnab-sip-rtp-g711.pcap");
    let b = bundle_of(&[original], Selector::Worst(1), &dir, true);
    let call = &b.doc.calls[b.selected[0]];
    let addrs = [call.caller.unwrap().ip().to_string(), call.callee.unwrap().ip().to_string()];
    for (path, bytes) in bundle_bytes(&b.dirs[0]) {
        for a in &addrs {
            assert!(!contains(&bytes, a.as_bytes()), "{} still contains {a}", path.display());
        }
    }
}
