//! callscope against tshark 4.0.17 on every capture in `../shared/captures/` (tshark's outputs
//! are committed beside them, so no tshark is needed here).

use std::collections::BTreeMap;

use crate::common::{captures_in, fixtures, parse_rtp_streams, run, shared_captures};
use callscope::report::Document;

/// quality-metrics.md §8: deltas and jitter within 0.0015 ms of tshark's printed value.
const TOLERANCE_MS: f64 = 0.0015;

/// Streams where tshark's own decoding is wrong, with the exact difference callscope must show.
/// `ndpi-FAX-Call-t38-CA-TDM-SIP-FB-1.pcap`, 10.35.60.100:15580 → 10.23.1.52:16756: H.248/MEGACO
/// frames 1434/1435 announce `m=image 16756`, so tshark decodes the 27 RTP packets that follow
/// (same SSRC, continuous sequence) as T.38 (quality-metrics.md §8 lists the case as not
/// comparable). callscope counts them: 132 + 27 packets; Lost stays 1712 (the packets extend the
/// sequence range tshark sees by exactly as many numbers as they fill).
const TSHARK_MISDECODES: &[(u32, u64, i64)] = &[(0x0EAF_0EAF, 27, 0)];

fn stream_values(s: &callscope::report::records::Stream) -> [f64; 6] {
    [s.min_delta_ms, s.mean_delta_ms, s.max_delta_ms, s.min_jitter_ms, s.mean_jitter_ms, s.max_jitter_ms]
}

/// Compares one capture's streams; returns (equal, total SDP rows, found heuristic-only, total
/// heuristic-only) and the problems seen.
fn compare(doc: &Document, reference: &str) -> ((usize, usize, usize, usize), Vec<String>) {
    let (sdp, heuristic) = parse_rtp_streams(reference);
    let ours: BTreeMap<(String, String, u32), &callscope::report::records::Stream> =
        doc.streams.iter().map(|s| ((s.src.to_string(), s.dst.to_string(), u32_ssrc(&s.ssrc)), s)).collect();
    let mut problems = Vec::new();
    let mut equal = 0;
    for want in &sdp {
        let key = (want.src.clone(), want.dst.clone(), want.ssrc);
        let Some(got) = ours.get(&key) else {
            problems.push(format!("missing {} -> {} 0x{:08X}", want.src, want.dst, want.ssrc));
            continue;
        };
        let mut bad = Vec::new();
        if let Some(&(_, extra_packets, lost_delta)) = TSHARK_MISDECODES.iter().find(|m| m.0 == want.ssrc) {
            if got.packets == want.packets + extra_packets && got.lost == want.lost + lost_delta {
                equal += 1;
            } else {
                problems.push(format!("0x{:08X}: expected tshark + {extra_packets} packets", want.ssrc));
            }
            continue;
        }
        if got.packets != want.packets {
            bad.push(format!("packets {} vs {}", got.packets, want.packets));
        }
        let slack = i64::try_from(got.out_of_order + got.duplicates + got.seq_restarts).unwrap_or(i64::MAX);
        if (got.lost - want.lost).abs() > slack {
            bad.push(format!("lost {} vs {}", got.lost, want.lost));
        }
        for (i, (g, w)) in stream_values(got).iter().zip(want.values).enumerate() {
            if (g - w).abs() > TOLERANCE_MS {
                bad.push(format!("value#{i} {g} vs {w}"));
            }
        }
        if bad.is_empty() {
            equal += 1;
        } else {
            problems.push(format!("0x{:08X}: {}", want.ssrc, bad.join(", ")));
        }
    }
    let sdp_keys: Vec<_> = sdp.iter().map(|s| (s.src.clone(), s.dst.clone(), s.ssrc)).collect();
    let extra: Vec<_> =
        heuristic.iter().filter(|h| !sdp_keys.contains(&(h.src.clone(), h.dst.clone(), h.ssrc))).collect();
    let found = extra.iter().filter(|h| ours.contains_key(&(h.src.clone(), h.dst.clone(), h.ssrc))).count();
    for h in extra.iter().filter(|h| !ours.contains_key(&(h.src.clone(), h.dst.clone(), h.ssrc))) {
        problems.push(format!("heuristic-only stream not found: {} -> {} 0x{:08X}", h.src, h.dst, h.ssrc));
    }
    ((equal, sdp.len(), found, extra.len()), problems)
}

fn u32_ssrc(s: &str) -> u32 {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or(0)
}

#[test]
fn rtp_streams_equal_tshark_on_every_shared_capture() {
    let Some(dir) = shared_captures() else { return };
    assert_parity_in(&dir);
}

#[test]
fn rtp_streams_equal_tshark_on_bundled_captures() {
    assert_parity_in(&fixtures().join("captures"));
}

/// Every capture in `dir` against `dir/tshark/<file>.rtp-streams.txt`.
fn assert_parity_in(dir: &std::path::Path) {
    let (mut equal, mut total, mut found, mut total_h) = (0, 0, 0, 0);
    let mut report = Vec::new();
    for cap in captures_in(dir) {
        let name = cap.file_name().unwrap().to_string_lossy().into_owned();
        let reference = std::fs::read_to_string(dir.join("tshark").join(format!("{name}.rtp-streams.txt"))).unwrap();
        let doc = run(std::slice::from_ref(&cap));
        let ((e, t, f, th), problems) = compare(&doc, &reference);
        report.push(format!("{name}: {e}/{t} SDP streams equal, {f}/{th} heuristic-only found"));
        for p in problems {
            report.push(format!("    {p}"));
        }
        (equal, total, found, total_h) = (equal + e, total + t, found + f, total_h + th);
    }
    let summary =
        format!("{}\nparity: {equal}/{total} equal; {found}/{total_h} heuristic-only found", report.join("\n"));
    println!("{summary}");
    assert_eq!(equal, total, "{summary}");
    assert!(found * 10 >= total_h * 9, "{summary}");
}

/// The distinct final responses to INVITE of each dialog, in order, repeats collapsed, as
/// tshark/summarize.py writes them (`401>200`, `none`).
fn invite_finals(doc: &Document, analysis_dialogs: &[callscope::sip::Dialog]) -> BTreeMap<String, String> {
    let _ = doc;
    analysis_dialogs
        .iter()
        .filter(|d| d.messages.iter().any(|m| m.method == Some(callscope::sip::Method::Invite)))
        .map(|d| {
            let mut finals: Vec<u16> = Vec::new();
            for m in &d.messages {
                if let Some(code) = m.status.filter(|c| *c >= 200) {
                    if m.cseq.1 == callscope::sip::Method::Invite && finals.last() != Some(&code) {
                        finals.push(code);
                    }
                }
            }
            let text = if finals.is_empty() {
                "none".to_owned()
            } else {
                finals.iter().map(u16::to_string).collect::<Vec<_>>().join(">")
            };
            (d.call_id.clone(), text)
        })
        .collect()
}

#[test]
fn sip_counts_and_invite_outcomes_equal_tshark_facts() {
    let Some(dir) = shared_captures() else { return };
    let mut failures = Vec::new();
    for cap in captures_in(&dir) {
        let name = cap.file_name().unwrap().to_string_lossy().into_owned();
        let facts: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("tshark").join(format!("{name}.facts.json"))).unwrap(),
        )
        .unwrap();
        let path = cap.to_string_lossy().into_owned();
        let analysis = callscope::pipeline::analyze(&[path], &callscope::config::Config::default()).unwrap();
        let doc = callscope::report::build(&analysis);
        // tshark counts a SIP message without Call-ID too (summarize.py: max(1, Call-IDs)).
        let messages: usize = analysis.dialogs.iter().map(|d| d.messages.len()).sum::<usize>()
            + usize::try_from(analysis.sip_orphan_messages).unwrap();
        let dialogs = analysis.dialogs.len();
        let invite_calls = doc.calls.len();
        let finals = invite_finals(&doc, &analysis.dialogs);
        let want_finals: BTreeMap<String, String> = facts["invite_final"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned())).collect())
            .unwrap_or_default();
        let got = (messages as u64, dialogs as u64, invite_calls as u64);
        let want = (
            facts["sip_messages"].as_u64().unwrap(),
            facts["sip_dialogs"].as_u64().unwrap(),
            facts["invite_calls"].as_u64().unwrap(),
        );
        if got != want {
            failures.push(format!("{name}: (messages, dialogs, INVITE dialogs) {got:?} vs tshark {want:?}"));
        }
        if finals != want_finals {
            let diff: Vec<String> = want_finals
                .iter()
                .filter(|(k, v)| finals.get(*k) != Some(v))
                .map(|(k, v)| format!("{k}: {:?} vs tshark {v}", finals.get(k)))
                .take(5)
                .collect();
            failures.push(format!("{name}: INVITE outcomes differ: {}", diff.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
