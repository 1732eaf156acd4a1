//! Seven codes of diagnosis.md §4.1/§4.3/§4.4 on generated captures
//! (src/synth/diag_more_scenarios.rs): `call_leg_does_not_exist`, `glare`, `forwarded`,
//! `high_jitter`, `late_packets`, `low_mos`, `rtp_from_unexpected_source`, each with a trigger
//! and a near miss that must not fire.

use crate::common::{call, codes, reason};
use callscope::correlate::StreamDirection::{CalleeToCaller, CallerToCallee};
use callscope::diagnose::{ReasonClass, Severity};
use callscope::report::records::Document;
use callscope::synth::diag_more_scenarios::{
    bursty_arrival, cancel_race, delay_spikes, forwarded, glare, in_dialog_request, spread_loss, stray_source,
    Forwarding, GlareRetry, StraySource,
};
use callscope::synth::diag_scenarios::Script;

fn doc(name: &str, script: &Script) -> Document {
    let path = crate::common::scratch_capture("dmore", name);
    script.write_file(&path).expect("write capture");
    let config = callscope::config::Config::default();
    let analysis = callscope::pipeline::analyze(&[path.to_string_lossy().into_owned()], &config).expect("analyze");
    callscope::report::build(&analysis)
}

/// Analyses `script` as call `id` and returns its codes.
fn codes_of(id: &str, script: &Script) -> Vec<&'static str> {
    codes(call(&doc(id, script), id))
}

fn assert_absent(id: &str, script: &Script, code: &str) {
    let got = codes_of(id, script);
    assert!(!got.contains(&code), "{id}: {code} must not fire: {got:?}");
}

// ---- call_leg_does_not_exist -------------------------------------------------------------

#[test]
fn call_leg_does_not_exist_on_bye_and_reinvite() {
    // The callee's BYE answered 481: degrade, in the way of the BYE (callee → caller).
    let d = doc("cl1", &in_dialog_request("cl1", "BYE", true, 481));
    let r = reason(call(&d, "cl1"), "call_leg_does_not_exist");
    assert_eq!(r.class, ReasonClass::Signaling);
    assert_eq!(r.severity, Severity::Degrade);
    assert_eq!(r.direction, Some(CalleeToCaller));
    // setup = INVITE, 180, 200, ACK (frames 1-4); BYE frame 5, 481 frame 6.
    assert_eq!(r.frames, vec![5, 6]);
    assert!(r.detail.contains("BYE (CSeq 2) answered 481"), "{}", r.detail);
    // The caller's re-INVITE answered 481: F (the active call lost its dialog), caller → callee.
    let d = doc("cl2", &in_dialog_request("cl2", "INVITE", false, 481));
    let r = reason(call(&d, "cl2"), "call_leg_does_not_exist");
    assert_eq!(r.severity, Severity::Fail);
    assert_eq!(r.direction, Some(CallerToCallee));
    assert_eq!(r.frames, vec![5, 6]);
}

#[test]
fn call_leg_does_not_exist_near_misses() {
    // A 481 to a CANCEL that crossed the 200 is the normal race (RFC 3261 §9.2).
    assert_absent("cl3", &cancel_race("cl3"), "call_leg_does_not_exist");
    // The same in-dialog requests answered 200.
    assert_absent("cl4", &in_dialog_request("cl4", "BYE", true, 200), "call_leg_does_not_exist");
    assert_absent("cl5", &in_dialog_request("cl5", "INVITE", false, 200), "call_leg_does_not_exist");
}

// ---- glare -------------------------------------------------------------------------------

#[test]
fn glare_not_retried_and_retried_outside_window() {
    for (id, retry) in [("gl1", GlareRetry::None), ("gl2", GlareRetry::After(500))] {
        let d = doc(id, &glare(id, retry));
        let r = reason(call(&d, id), "glare");
        assert_eq!(r.class, ReasonClass::Signaling);
        assert_eq!(r.severity, Severity::Degrade);
        assert_eq!(r.direction, Some(CallerToCallee), "{id}: way of the caller's re-INVITE");
        // re-INVITE frame 5, 491 frame 6.
        assert_eq!(&r.frames[..2], &[5, 6], "{id}");
    }
}

#[test]
fn glare_near_miss_reinvite_accepted() {
    assert_absent("gl3", &in_dialog_request("gl3", "INVITE", false, 200), "glare");
}

/// diagnosis.md §4.1: a 491 retried inside RFC 3261 §14.1 (2.1–4 s for the Call-ID owner) is
/// resolved glare and must not be reported.
#[test]
fn glare_near_miss_retried_inside_window() {
    assert_absent("gl4", &glare("gl4", GlareRetry::After(3000)), "glare");
}

// ---- forwarded ---------------------------------------------------------------------------

#[test]
fn forwarded_by_181_diversion_history_info() {
    for (id, how) in [("fw1", Forwarding::Ringing181), ("fw2", Forwarding::Diversion), ("fw3", Forwarding::HistoryInfo)]
    {
        let d = doc(id, &forwarded(id, how));
        let c = call(&d, id);
        let r = reason(c, "forwarded");
        assert_eq!(r.class, ReasonClass::Info, "{id}");
        assert_eq!(r.severity, Severity::Info, "{id}");
        assert_eq!(r.direction, None, "{id}");
        assert_eq!(r.frames[0], 1, "{id}: the INVITE");
        assert_eq!(c.verdict.class, callscope::diagnose::VerdictClass::Ok, "{id}: info never fails a call");
    }
}

#[test]
fn forwarded_near_miss_plain_call() {
    assert_absent("fw4", &forwarded("fw4", Forwarding::None), "forwarded");
}

/// diagnosis.md §4.4/§4.6: a 3xx followed within `follow_ms` by a new INVITE to its Contact is
/// `forwarded` (info), not `moved`.
#[test]
fn forwarded_by_followed_3xx() {
    let got = codes_of("fw5", &forwarded("fw5", Forwarding::Followed3xx));
    assert!(got.contains(&"forwarded") && !got.contains(&"moved"), "{got:?}");
}

// ---- high_jitter -------------------------------------------------------------------------

#[test]
fn high_jitter_from_bursty_arrival() {
    let d = doc("hj1", &bursty_arrival("hj1", 20));
    let r = reason(call(&d, "hj1"), "high_jitter");
    assert_eq!(r.class, ReasonClass::Media);
    assert_eq!(r.severity, Severity::Degrade);
    assert_eq!(r.direction, Some(CallerToCallee));
    assert!(r.capture_dependent);
    let mean = r.metrics.get("mean_jitter_ms").copied().unwrap_or(0.0);
    let max = r.metrics.get("max_jitter_ms").copied().unwrap_or(0.0);
    assert!(mean > 30.0 || max > 60.0, "mean {mean} max {max}");
}

#[test]
fn high_jitter_near_miss_small_bursts() {
    // Bursts of 2 (40 ms): jitter about 20 ms, below 30 / 60.
    assert_absent("hj2", &bursty_arrival("hj2", 2), "high_jitter");
}

// ---- late_packets ------------------------------------------------------------------------

#[test]
fn late_packets_from_delay_spikes() {
    let d = doc("lp1", &delay_spikes("lp1", 10, 200));
    let r = reason(call(&d, "lp1"), "late_packets");
    assert_eq!(r.class, ReasonClass::Media);
    assert_eq!(r.direction, Some(CallerToCallee));
    assert!(r.capture_dependent);
    assert!(r.metrics.get("late_pct").copied().unwrap_or(0.0) > 1.0, "{:?}", r.metrics);
}

#[test]
fn late_packets_near_miss_rare_spikes() {
    assert_absent("lp2", &delay_spikes("lp2", 250, 200), "late_packets");
}

// ---- low_mos -----------------------------------------------------------------------------

#[test]
fn low_mos_from_spread_loss() {
    let d = doc("lm1", &spread_loss("lm1", 10));
    let r = reason(call(&d, "lm1"), "low_mos");
    assert_eq!(r.class, ReasonClass::Media);
    assert_eq!(r.direction, Some(CallerToCallee));
    assert!(r.capture_dependent);
    assert!(r.metrics.get("mos").copied().unwrap_or(5.0) < 3.6, "{:?}", r.metrics);
}

#[test]
fn low_mos_near_miss_light_loss() {
    // One packet in 100 lost: G.711 stays above 3.6.
    assert_absent("lm2", &spread_loss("lm2", 100), "low_mos");
}

// ---- rtp_from_unexpected_source ----------------------------------------------------------

#[test]
fn rtp_from_unexpected_source_third_address() {
    let d = doc("us1", &stray_source("us1", StraySource::Unknown));
    let r = reason(call(&d, "us1"), "rtp_from_unexpected_source");
    assert_eq!(r.class, ReasonClass::Media);
    assert_eq!(r.severity, Severity::Degrade);
    assert_eq!(r.direction, Some(CalleeToCaller), "RTP towards the caller");
    assert!(r.detail.contains("192.0.2.99:6000"), "{}", r.detail);
    assert!(r.capture_dependent);
}

#[test]
fn rtp_from_unexpected_source_near_miss_peer_nat() {
    assert_absent("us2", &stray_source("us2", StraySource::CalleeNat), "rtp_from_unexpected_source");
}
