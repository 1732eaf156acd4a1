//! Whole-capture tests of the stream codes (diagnosis.md §4.3/§4.4): each code on a generated
//! capture (src/synth/diag_stream_scenarios.rs) that triggers it and a near miss that must not,
//! the pcapng interface-statistics drops, and the real captures where the codes fire.

use callscope::diagnose::{Reason, Severity};
use callscope::report::records::{Call, Document};
use callscope::synth::diag_scenarios::Script;
use callscope::synth::diag_stream_scenarios as sc;

use crate::common::codes;
use crate::common::{run, shared_captures};

fn doc_of(name: &str, s: &Script) -> Document {
    let path = crate::common::scratch_capture("dstream", name);
    s.write_file(&path).expect("write capture");
    let d = run(std::slice::from_ref(&path));
    let _ = std::fs::remove_file(&path);
    d
}

fn only_call(d: &Document) -> &Call {
    d.calls.first().expect("one call")
}

fn find<'a>(c: &'a Call, code: &str) -> Option<&'a Reason> {
    c.verdict.reasons.iter().find(|r| r.code == code)
}

fn class(c: &Call) -> String {
    serde_json::to_value(c.verdict.class).unwrap().as_str().unwrap().to_owned()
}

#[test]
fn burst_loss_fires_on_long_runs_only() {
    let d = doc_of("burst", &sc::burst_loss(8));
    let c = only_call(&d);
    let r = find(c, "burst_loss").unwrap_or_else(|| panic!("{:?}", codes(c)));
    assert_eq!(r.severity, Severity::Degrade);
    assert_eq!(r.metrics.get("runs"), Some(&3.0));
    assert_eq!(r.metrics.get("longest_run_ms"), Some(&160.0));
    assert_eq!(r.metrics.get("lost_unique"), Some(&24.0));
    assert!(r.capture_dependent);
    assert_eq!(r.frames.len(), 6, "two frames around each run: {:?}", r.frames);
    assert!(r.detail.contains("3 runs"), "{}", r.detail);
    assert_eq!(class(c), "media");
    // Near miss: runs of 60 ms of audio (3 packets).
    let d = doc_of("burst-miss", &sc::burst_loss(3));
    assert!(find(only_call(&d), "burst_loss").is_none(), "{:?}", codes(only_call(&d)));
}

#[test]
fn high_rtt_sums_both_legs() {
    let d = doc_of("rtt", &sc::high_rtt(200));
    let c = only_call(&d);
    let r = find(c, "high_rtt").unwrap_or_else(|| panic!("{:?}", codes(c)));
    assert_eq!(r.metrics.get("rtt_ms"), Some(&400.0));
    assert_eq!(r.metrics.get("legs"), Some(&2.0));
    assert_eq!(r.metrics.get("threshold_ms"), Some(&300.0));
    assert_eq!(r.direction, None);
    assert_eq!(r.frames.len(), 8, "4 SRs and 4 RRs: {:?}", r.frames);
    assert!(r.detail.contains("end to end"), "{}", r.detail);
    assert_eq!(class(c), "media");
    let d = doc_of("rtt-miss", &sc::high_rtt(100));
    assert!(find(only_call(&d), "high_rtt").is_none());
    assert_eq!(class(only_call(&d)), "ok", "{:?}", codes(only_call(&d)));
}

#[test]
fn silent_payload_and_its_near_misses() {
    let d = doc_of("silent", &sc::silent_payload(0, false));
    let c = only_call(&d);
    let r = find(c, "silent_payload").unwrap_or_else(|| panic!("{:?}", codes(c)));
    assert_eq!(r.severity, Severity::Fail);
    assert_eq!(r.direction, Some(callscope::correlate::StreamDirection::CallerToCallee));
    assert_eq!(r.metrics.get("silent_pct"), Some(&100.0));
    assert_eq!(r.metrics.get("other_silent_pct"), Some(&0.0));
    assert_eq!(class(c), "media");
    // One packet in 10 carries sound: 90 % silent, below the 95 % threshold.
    let d = doc_of("silent-miss", &sc::silent_payload(10, false));
    assert!(find(only_call(&d), "silent_payload").is_none());
    assert_eq!(class(only_call(&d)), "ok", "{:?}", codes(only_call(&d)));
    // SRTP (a DTLS handshake on the media 5-tuple): payload checks are skipped.
    let d = doc_of("silent-srtp", &sc::silent_payload(0, true));
    let c = only_call(&d);
    assert!(find(c, "silent_payload").is_none(), "{:?}", codes(c));
    let r = find(c, "srtp_unanalyzable").unwrap_or_else(|| panic!("{:?}", codes(c)));
    assert_eq!(r.severity, Severity::Info);
    assert!(r.detail.contains("DTLS-SRTP"), "{}", r.detail);
}

#[test]
fn rtcp_reported_loss_and_jitter() {
    let d = doc_of("rr-loss", &sc::receiver_reports(20, 0));
    let c = only_call(&d);
    let r = find(c, "rtcp_reported_loss").unwrap_or_else(|| panic!("{:?}", codes(c)));
    assert_eq!(r.metrics.get("reported_lost"), Some(&20.0));
    assert_eq!(r.metrics.get("excess"), Some(&20.0));
    assert_eq!(r.metrics.get("threshold_packets"), Some(&5.0));
    assert!(r.detail.contains("between the capture point and 203.0.113.20"), "{}", r.detail);
    assert!(find(c, "rtcp_reported_jitter").is_none());
    let d = doc_of("rr-loss-miss", &sc::receiver_reports(3, 0));
    assert_eq!(class(only_call(&d)), "ok", "{:?}", codes(only_call(&d)));
    // 800 units at 8 kHz = 100 ms reported against ~0 here.
    let d = doc_of("rr-jitter", &sc::receiver_reports(0, 800));
    let c = only_call(&d);
    let r = find(c, "rtcp_reported_jitter").unwrap_or_else(|| panic!("{:?}", codes(c)));
    assert_eq!(r.metrics.get("reported_jitter_ms"), Some(&100.0));
    // 200 units = 25 ms, below the 30 ms high_jitter mean threshold.
    let d = doc_of("rr-jitter-miss", &sc::receiver_reports(0, 200));
    assert_eq!(class(only_call(&d)), "ok", "{:?}", codes(only_call(&d)));
}

#[test]
fn capture_loss_from_rtcp_demotes_loss() {
    // 30 caller packets missing here (6 %), the receiver reports none lost.
    let d = doc_of("cl-rtcp", &sc::capture_loss_rtcp(30, 0));
    let c = only_call(&d);
    let r = find(c, "capture_loss_suspected").unwrap_or_else(|| panic!("{:?}", codes(c)));
    assert!(r.detail.contains("reports 0 lost"), "{}", r.detail);
    let hl = find(c, "high_loss").expect("high_loss still listed");
    assert_eq!(hl.severity, Severity::Info);
    assert_eq!(class(c), "ok");
    // Near miss: the receiver confirms the loss: real loss before the capture point.
    let d = doc_of("cl-rtcp-miss", &sc::capture_loss_rtcp(30, 30));
    let c = only_call(&d);
    assert!(find(c, "capture_loss_suspected").is_none(), "{:?}", codes(c));
    assert_eq!(find(c, "high_loss").map(|r| r.severity), Some(Severity::Degrade));
}

#[test]
fn capture_loss_from_coinciding_gaps_on_unrelated_flows() {
    let d = doc_of("cl-gaps", &sc::coinciding_gaps(0));
    assert_eq!(d.calls.len(), 2);
    for c in &d.calls {
        let r = find(c, "capture_loss_suspected").unwrap_or_else(|| panic!("{}: {:?}", c.call_id, codes(c)));
        assert!(r.detail.contains("coincides within 50 ms"), "{}", r.detail);
        assert_eq!(r.frames.len(), 2, "{:?}", r.frames);
    }
    let d = doc_of("cl-gaps-miss", &sc::coinciding_gaps(500));
    for c in &d.calls {
        assert!(find(c, "capture_loss_suspected").is_none(), "{}: {:?}", c.call_id, codes(c));
    }
}

#[test]
fn path_not_captured_replaces_one_way_audio() {
    let d = doc_of("pnc", &sc::path_not_captured(true));
    let c = only_call(&d);
    let r = find(c, "capture_loss_suspected").unwrap_or_else(|| panic!("{:?}", codes(c)));
    assert_eq!(r.subcode, Some("path_not_captured"));
    assert!(find(c, "one_way_audio").is_none(), "{:?}", codes(c));
    assert_eq!(class(c), "ok");
    let d = doc_of("pnc-miss", &sc::path_not_captured(false));
    let c = only_call(&d);
    assert!(find(c, "one_way_audio").is_some(), "{:?}", codes(c));
    assert!(find(c, "capture_loss_suspected").is_none());
}

#[test]
fn zrtp_makes_the_call_srtp_unanalyzable() {
    let d = doc_of("zrtp", &sc::zrtp_call());
    let c = only_call(&d);
    let r = find(c, "srtp_unanalyzable").unwrap_or_else(|| panic!("{:?}", codes(c)));
    assert!(r.detail.contains("ZRTP"), "{}", r.detail);
    assert_eq!(class(c), "ok");
    // The clean base call carries no srtp_unanalyzable.
    let d = doc_of("zrtp-miss", &sc::receiver_reports(0, 0));
    assert!(find(only_call(&d), "srtp_unanalyzable").is_none());
}

/// A little-endian pcapng: SHB, IDB (Ethernet), one EPB, an ISB with `isb_ifdrop` = 7.
fn pcapng_with_drops() -> Vec<u8> {
    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let len = u32::try_from(12 + body.len()).unwrap();
        let mut b = kind.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }
    let mut out = Vec::new();
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    out.extend(block(0x0A0D_0D0A, &shb));
    let mut idb = 1u16.to_le_bytes().to_vec();
    idb.extend_from_slice(&[0, 0]);
    idb.extend_from_slice(&65535u32.to_le_bytes());
    out.extend(block(1, &idb));
    let frame = [0u8; 60];
    let mut epb = 0u32.to_le_bytes().to_vec();
    epb.extend_from_slice(&0u32.to_le_bytes());
    epb.extend_from_slice(&1_000_000u32.to_le_bytes());
    epb.extend_from_slice(&60u32.to_le_bytes());
    epb.extend_from_slice(&60u32.to_le_bytes());
    epb.extend_from_slice(&frame);
    out.extend(block(6, &epb));
    let mut isb = 0u32.to_le_bytes().to_vec();
    isb.extend_from_slice(&0u32.to_le_bytes());
    isb.extend_from_slice(&2_000_000u32.to_le_bytes());
    isb.extend_from_slice(&5u16.to_le_bytes());
    isb.extend_from_slice(&8u16.to_le_bytes());
    isb.extend_from_slice(&7u64.to_le_bytes());
    isb.extend_from_slice(&[0, 0, 0, 0]);
    out.extend(block(5, &isb));
    out
}

#[test]
fn pcapng_interface_statistics_drops_are_read() {
    let data = pcapng_with_drops();
    let mut set = callscope::capture::CaptureSet::from_readers(vec![(
        "isb.pcapng".to_owned(),
        Box::new(std::io::Cursor::new(data)) as Box<dyn std::io::Read + Send>,
    )])
    .expect("pcapng opens");
    let mut warnings = callscope::warn::Warnings::default();
    let mut frames = 0;
    while set.next_frame(&mut warnings).is_some() {
        frames += 1;
        assert!(frames < 10, "bounded");
    }
    assert_eq!(frames, 1);
    let s = set.summaries();
    assert_eq!(s[0].interface_drops, Some(7));
    assert_eq!(s[0].interface_drops_after_frame, 1);
}

/// Real captures where the codes fire, checked by hand against SOURCES.md / diagnosis.md §8.
#[test]
fn real_captures_fire_the_stream_codes_where_expected() {
    let Some(dir) = shared_captures() else { return };
    // rtpproxy-lost: an orphan stream with 56.8 % loss in runs: burst_loss in streams[].reasons.
    let d = run(&[dir.join("rtpproxy-lost.a.rtp.pcap")]);
    assert!(d.streams[0].reasons.iter().any(|r| r.code == "burst_loss" && r.severity == Severity::Degrade));
    // DTLS-only WebRTC flow: srtp_unanalyzable on the stream, citing the first DTLS frame (3).
    let d = run(&[dir.join("ndpi-stun_dtls_rtp.pcapng")]);
    let r = d.streams.iter().flat_map(|s| &s.reasons).find(|r| r.code == "srtp_unanalyzable").expect("srtp");
    assert_eq!(r.frames.first(), Some(&3));
    // arkime: RTCP proves the packets existed (SR 70 counts 451 sent, 14 captured; RR 70
    // reports 0 lost where 97 % is missing): capture loss, no loss reason above info.
    let d = run(&[dir.join("arkime-gtp-iphone.pcap")]);
    let c = &d.calls.iter().find(|c| c.call_id.starts_with("zTHDK1uO")).expect("call");
    let r = find(c, "capture_loss_suspected").expect("capture loss");
    assert!(r.frames.contains(&69) && r.frames.contains(&70), "{:?}", r.frames);
    assert!(r.detail.contains("451 packets sent"), "{}", r.detail);
    assert!(c
        .verdict
        .reasons
        .iter()
        .filter(|r| matches!(r.code, "high_loss" | "burst_loss" | "media_gap"))
        .all(|r| r.severity == Severity::Info));
    // sipnab G.711: the far end's RR reports jitter far above what the capture point measures.
    let d = run(&[dir.join("sipnab-SIP_CALL_RTP_G711.pcap")]);
    assert!(d.calls.iter().any(|c| find(c, "rtcp_reported_jitter").is_some()));
    // The fax call: its 34 s hole is media_gap's, not burst_loss's (§4.3).
    let d = run(&[dir.join("ndpi-FAX-Call-t38-CA-TDM-SIP-FB-1.pcap")]);
    assert!(d.calls.iter().all(|c| find(c, "burst_loss").is_none()));
}
