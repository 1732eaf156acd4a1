//! Whole-capture tests of the media-flow codes (diagnosis.md §4.3: `rtp_to_unannounced_address`,
//! `rtp_port_mismatch`, `media_stops_after_resume`, `media_stops_after_transfer`,
//! `late_media_start`, `t38_not_flowing`) and `calls[].vantage` (§6): each code has a generated
//! capture that triggers it and a near miss that must not; the real captures must stay clean.

use callscope::correlate::StreamDirection::{CalleeToCaller, CallerToCallee};
use callscope::diagnose::{Reason, Severity};
use callscope::report::records::{Call, Document};
use callscope::synth::diag_flow_scenarios as sc;
use callscope::synth::diag_scenarios::Script;

use crate::common::{call, codes};
use crate::common::{run, shared_captures};

fn synth(name: &str, script: &Script) -> Document {
    let path = crate::common::scratch_capture("dflow", name);
    script.write_file(&path).expect("write capture");
    run(&[path])
}

fn found<'a>(c: &'a Call, code: &str) -> Vec<&'a Reason> {
    c.verdict.reasons.iter().filter(|r| r.code == code).collect()
}

#[track_caller]
fn one<'a>(c: &'a Call, code: &str) -> &'a Reason {
    let v = found(c, code);
    assert_eq!(v.len(), 1, "{code} once on {}: {:?}", c.call_id, codes(c));
    v[0]
}

#[track_caller]
fn none(c: &Call, code: &str) {
    assert!(found(c, code).is_empty(), "{code} must not fire on {}: {:?}", c.call_id, codes(c));
}

#[test]
fn rtp_to_unannounced_address_trigger_and_near_miss() {
    let d = synth("stray", &sc::misdirected("203.0.113.99:50000".parse().unwrap(), false));
    let c = call(&d, "flow-stray");
    let r = one(c, "rtp_to_unannounced_address");
    assert_eq!(r.direction, Some(CallerToCallee));
    assert_eq!(r.severity, Severity::Fail);
    assert!(r.capture_dependent);
    assert!(r.detail.contains("203.0.113.99:50000") && r.detail.contains("203.0.113.20:50000"), "{}", r.detail);
    assert_eq!(r.metrics.get("packets"), Some(&948.0));
    // Cites the SDP it ignored (the 200 OK, frame 4) and the stray flow's first packet.
    assert!(r.frames.contains(&4), "{:?}", r.frames);
    none(c, "rtp_port_mismatch");
    // A correct flow also exists: degrade.
    let d = synth("stray-d", &sc::misdirected("203.0.113.99:50000".parse().unwrap(), true));
    assert_eq!(one(call(&d, "flow-stray"), "rtp_to_unannounced_address").severity, Severity::Degrade);
    // Near miss: RTP to the announced address.
    let d = synth("stray-ok", &sc::misdirected(sc::b_media(), false));
    let c = call(&d, "flow-stray");
    none(c, "rtp_to_unannounced_address");
    none(c, "rtp_port_mismatch");
    assert!(c.verdict.reasons.is_empty(), "{:?}", codes(c));
}

#[test]
fn rtp_port_mismatch_trigger_and_near_miss() {
    let d = synth("port", &sc::misdirected("203.0.113.20:50010".parse().unwrap(), false));
    let c = call(&d, "flow-stray");
    let r = one(c, "rtp_port_mismatch");
    assert_eq!(r.direction, Some(CallerToCallee));
    assert_eq!(r.severity, Severity::Fail);
    assert!(r.detail.contains("203.0.113.20:50010"), "{}", r.detail);
    none(c, "rtp_to_unannounced_address");
    // RTP to the RTCP port (announced + 1).
    let d = synth("port-rtcp", &sc::misdirected("203.0.113.20:50001".parse().unwrap(), true));
    let r = one(call(&d, "flow-stray"), "rtp_port_mismatch");
    assert_eq!(r.subcode, Some("rtcp_port"));
    assert_eq!(r.severity, Severity::Degrade);
    // Stale port after a re-INVITE that moved the receiver.
    let d = synth("port-stale", &sc::stale_port(true));
    let c = call(&d, "flow-stale");
    let r = one(c, "rtp_port_mismatch");
    assert_eq!(r.subcode, Some("stale_port"));
    assert_eq!(r.direction, Some(CallerToCallee));
    // Near miss: the sender follows the move (packets in flight within the grace are fine).
    let d = synth("port-follow", &sc::stale_port(false));
    let c = call(&d, "flow-stale");
    none(c, "rtp_port_mismatch");
    none(c, "rtp_to_unannounced_address");
}

#[test]
fn media_stops_after_resume_trigger_and_near_miss() {
    let d = synth("resume", &sc::hold_resume(false));
    let c = call(&d, "flow-resume");
    let r = one(c, "media_stops_after_resume");
    assert_eq!(r.direction, Some(CalleeToCaller));
    assert_eq!(r.severity, Severity::Fail);
    assert!(r.capture_dependent);
    assert!(r.metrics.get("silence_s").is_some_and(|s| *s > 14.0), "{:?}", r.metrics);
    assert!(r.detail.contains("until the BYE"), "{}", r.detail);
    none(c, "media_stops_after_reinvite");
    let d = synth("resume-ok", &sc::hold_resume(true));
    let c = call(&d, "flow-resume");
    none(c, "media_stops_after_resume");
    assert_eq!(serde_json::to_value(c.verdict.class).unwrap(), "ok", "{:?}", codes(c));
}

#[test]
fn media_stops_after_transfer_trigger_and_near_miss() {
    let d = synth("xfer", &sc::transfer(false));
    let c = call(&d, "flow-xfer-2");
    let r = one(c, "media_stops_after_transfer");
    assert_eq!(r.direction, Some(CalleeToCaller));
    assert_eq!(r.subcode, Some("refer"));
    assert!(r.detail.contains("flow-xfer-1"), "{}", r.detail);
    // REFER and NOTIFY of the first call are cited with the new INVITE.
    let first = call(&d, "flow-xfer-1");
    none(first, "media_stops_after_transfer");
    assert!(r.frames.len() >= 6, "{:?}", r.frames);
    let d = synth("xfer-ok", &sc::transfer(true));
    none(call(&d, "flow-xfer-2"), "media_stops_after_transfer");
    assert_eq!(serde_json::to_value(call(&d, "flow-xfer-2").verdict.class).unwrap(), "ok");
}

#[test]
fn late_media_start_trigger_and_near_miss() {
    let d = synth("late", &sc::late_start(3000));
    let c = call(&d, "flow-late");
    let v = found(c, "late_media_start");
    assert_eq!(v.len(), 2, "{:?}", codes(c));
    let r = v.iter().find(|r| r.direction == Some(CallerToCallee)).expect("caller→callee");
    assert_eq!(r.severity, Severity::Degrade);
    assert!(r.metrics.get("delay_ms").is_some_and(|d| (*d - 3000.0).abs() < 5.0), "{:?}", r.metrics);
    assert_eq!(r.metrics.get("max_ms"), Some(&1000.0));
    assert!(r.detail.contains("3000 ms"), "{}", r.detail);
    let d = synth("late-ok", &sc::late_start(200));
    none(call(&d, "flow-late"), "late_media_start");
}

#[test]
fn t38_not_flowing_trigger_and_near_miss() {
    let d = synth("t38", &sc::t38(false));
    let c = call(&d, "flow-t38");
    let v = found(c, "t38_not_flowing");
    assert_eq!(v.len(), 2, "{:?}", codes(c));
    let c2e = v.iter().find(|r| r.direction == Some(CallerToCallee)).expect("caller→callee");
    assert_eq!(c2e.subcode, Some("rtp_on_old_port"));
    assert!(c2e.detail.contains("203.0.113.20:50000"), "{}", c2e.detail);
    let e2c = v.iter().find(|r| r.direction == Some(CalleeToCaller)).expect("callee→caller");
    assert_eq!(e2c.subcode, Some("no_udptl"));
    let d = synth("t38-ok", &sc::t38(true));
    let c = call(&d, "flow-t38");
    none(c, "t38_not_flowing");
    assert!(codes(c).contains(&"t38_fax"), "{:?}", codes(c));
}

#[test]
fn vantage_is_on_every_call() {
    let d = synth("vantage-in", &sc::vantage(true));
    let v = call(&d, "flow-vantage").vantage.as_ref().expect("vantage");
    assert_eq!(v.capture_side, "caller_site");
    assert_eq!(v.sip_hops.len(), 1);
    assert_eq!((v.rtp_flows.caller_to_callee, v.rtp_flows.callee_to_caller), (1, 1));
    let d = synth("vantage-out", &sc::vantage(false));
    assert_eq!(call(&d, "flow-vantage").vantage.as_ref().expect("vantage").capture_side, "transit");
    let d = synth("vantage-pub", &sc::late_start(200));
    assert_eq!(call(&d, "flow-late").vantage.as_ref().expect("vantage").capture_side, "unknown");
    let json = serde_json::to_value(&d.calls[0]).unwrap();
    assert!(json["vantage"]["rtp_flows"]["caller_to_callee"].is_u64(), "{json}");
}

/// No real capture's call gets one of these codes unless reviewed (diagnosis.md §8 lists none
/// of them), and every call carries a vantage.
#[test]
fn real_captures_stay_clean_of_flow_codes() {
    let Some(dir) = shared_captures() else { return };
    const CODES: [&str; 6] = [
        "rtp_to_unannounced_address",
        "rtp_port_mismatch",
        "media_stops_after_resume",
        "media_stops_after_transfer",
        "late_media_start",
        "t38_not_flowing",
    ];
    for path in crate::common::captures_in(&dir) {
        let d = run(std::slice::from_ref(&path));
        for c in &d.calls {
            assert!(c.vantage.is_some(), "{} {}", path.display(), c.call_id);
            for r in &c.verdict.reasons {
                assert!(!CODES.contains(&r.code), "{}: {} {} {}", path.display(), c.call_id, r.code, r.detail);
            }
        }
    }
}
