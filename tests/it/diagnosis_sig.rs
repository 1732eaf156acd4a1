//! Signaling and routing codes on generated captures (src/synth/diag_sig_scenarios.rs): each
//! code with a trigger and a near miss; outcome/code agreement on every shared capture; frames
//! attributed to their input file when several inputs are analysed together.

use std::path::PathBuf;

use callscope::diagnose::DiagnosisConfig;
use callscope::report::records::Document;
use callscope::sip::Outcome;
use callscope::synth::diag_scenarios::Script;
use callscope::synth::diag_sig_scenarios::{
    refused_at, replaces_invite, ringing_forever, session_timer, transfer, two_legs, SessionTimerCase, TransferCase,
};

use crate::common::{call, codes, reason};
use crate::common::{captures_in, run, shared_captures};

fn write(name: &str, script: &Script) -> PathBuf {
    let path = crate::common::scratch_capture("dsig", name);
    script.write_file(&path).expect("write capture");
    path
}

fn analyse(paths: &[PathBuf], cfg: &DiagnosisConfig) -> Document {
    let config = callscope::config::Config { diagnosis: cfg.clone(), ..Default::default() };
    let paths: Vec<String> = paths.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let analysis = callscope::pipeline::analyze(&paths, &config).expect("analyze");
    callscope::report::build(&analysis)
}

fn doc(name: &str, script: &Script) -> Document {
    analyse(&[write(name, script)], &DiagnosisConfig::default())
}

#[test]
fn session_timer_expiry_not_refreshed_and_refresh_failed() {
    let d = doc("st1", &session_timer("st1", SessionTimerCase::NotRefreshed));
    let r = reason(call(&d, "st1"), "session_timer_expiry");
    assert_eq!(r.subcode, Some("not_refreshed"));
    assert_eq!(
        r.direction,
        Some(callscope::correlate::StreamDirection::CallerToCallee),
        "refresher=uac, caller's INVITE"
    );
    // 2xx with Session-Expires (frame 3), BYE (frame 5).
    assert_eq!(r.frames, vec![3, 5]);
    assert_eq!(r.metrics.get("session_expires_s"), Some(&90.0));
    assert!(r.detail.contains("90 s") && r.detail.contains("60.0 s"), "{}", r.detail);
    let d = doc("st2", &session_timer("st2", SessionTimerCase::RefreshFailed));
    let r = reason(call(&d, "st2"), "session_timer_expiry");
    assert_eq!(r.subcode, Some("refresh_failed"));
    assert!(r.detail.contains("answered 481"), "{}", r.detail);
    assert_eq!(r.frames, vec![3, 5, 6, 7]);
    // Near misses: a refreshed call, and a BYE long before the interval ends.
    for (name, case) in [("st3", SessionTimerCase::Refreshed), ("st4", SessionTimerCase::EarlyBye)] {
        let d = doc(name, &session_timer(name, case));
        assert!(!codes(call(&d, name)).contains(&"session_timer_expiry"), "{name}: {:?}", codes(call(&d, name)));
    }
}

fn tc(refer_status: Option<u16>, sipfrag: Option<u16>, attended: bool, target_call: Option<u16>) -> TransferCase {
    TransferCase { refer_status, sipfrag, attended, target_call }
}

#[test]
fn transfer_info_and_target_failed() {
    // Blind transfer that works: info only, the call stays ok.
    let d = doc("xf-ok", &transfer("xf-ok", &tc(Some(202), Some(200), false, Some(200))));
    let c = call(&d, "xf-ok");
    let r = reason(c, "transfer");
    assert!(r.detail.starts_with("Blind transfer: 203.0.113.20:5060 asked 198.51.100.10:5060"), "{}", r.detail);
    assert!(r.detail.contains("sip:3003@203.0.113.30") && r.detail.contains("reports 200"), "{}", r.detail);
    assert_eq!(r.direction, Some(callscope::correlate::StreamDirection::CalleeToCaller));
    assert!(!codes(c).contains(&"transfer_target_failed") && !codes(c).contains(&"transfer_rejected"));
    assert_eq!(serde_json::to_value(c.verdict.class).unwrap(), "ok", "{:?}", codes(c));
    // No RTP anywhere in this capture (media_not_captured): the target call's silence proves nothing.
    let target = call(&d, "xf-ok-target");
    assert!(codes(target).contains(&"media_not_captured"), "{:?}", codes(target));
    assert!(!codes(target).contains(&"media_stops_after_transfer"), "{:?}", codes(target));
    // The NOTIFY reports 486 from the target.
    let d = doc("xf-busy", &transfer("xf-busy", &tc(Some(202), Some(486), true, None)));
    let c = call(&d, "xf-busy");
    let r = reason(c, "transfer_target_failed");
    assert!(r.detail.contains("reports 486"), "{}", r.detail);
    assert!(reason(c, "transfer").detail.starts_with("Attended transfer"));
    assert_eq!(serde_json::to_value(c.verdict.class).unwrap(), "routing");
    // No final NOTIFY, but the transferee's INVITE to the target fails 404.
    let d = doc("xf-404", &transfer("xf-404", &tc(Some(202), None, false, Some(404))));
    let r = reason(call(&d, "xf-404"), "transfer_target_failed");
    assert!(r.detail.contains("answered 404") && r.detail.contains("xf-404-target"), "{}", r.detail);
}

#[test]
fn transfer_rejected_refused_unanswered_and_replaces() {
    let d = doc("xr-603", &transfer("xr-603", &tc(Some(603), None, false, None)));
    let r = reason(call(&d, "xr-603"), "transfer_rejected");
    assert_eq!((r.subcode, r.frames.len()), (Some("refused"), 2));
    assert!(r.detail.contains("refused 603"), "{}", r.detail);
    let d = doc("xr-none", &transfer("xr-none", &tc(None, None, false, None)));
    assert_eq!(reason(call(&d, "xr-none"), "transfer_rejected").subcode, Some("unanswered"));
    let d = doc("rep-481", &replaces_invite("rep-481", 481));
    assert_eq!(reason(call(&d, "rep-481"), "transfer_rejected").subcode, Some("replaces_refused"));
    // Near misses: an accepted REFER, and an INVITE with Replaces that is answered.
    let d = doc("xr-ok", &transfer("xr-ok", &tc(Some(202), Some(200), false, None)));
    assert!(!codes(call(&d, "xr-ok")).contains(&"transfer_rejected"));
    let d = doc("rep-ok", &replaces_invite("rep-ok", 200));
    assert!(!codes(call(&d, "rep-ok")).contains(&"transfer_rejected"));
}

#[test]
fn transfer_point_is_exposed_on_the_dialog() {
    let path = write("xf-point", &transfer("xf-point", &tc(Some(202), Some(200), false, None)));
    let analysis = callscope::pipeline::analyze(&[path.to_string_lossy().into_owned()], &Default::default()).unwrap();
    let d = analysis.dialogs.iter().find(|d| d.call_id == "xf-point").expect("dialog");
    let (refer, accepted) = d.transfer_point().expect("accepted transfer");
    assert_eq!((refer.number, accepted.number), (5, 6));
}

#[test]
fn explicit_ids_link_legs_before_the_heuristic() {
    let sid = "Session-ID: 0123456789abcdef0123456789abcdef\r\n";
    let d = doc("sid", &two_legs("sid", "2002", "2002", "2001", sid, sid, None));
    let a = call(&d, "sid-a");
    assert_eq!(a.linked.len(), 1);
    assert_eq!((a.linked[0].call_id.as_str(), a.linked[0].basis), ("sid-b", "session_id"));
    assert!(a.linked[0].rule.starts_with("explicit: Session-ID"), "{}", a.linked[0].rule);
    let d = doc("xcid", &two_legs("xcid", "2002", "2002", "2001", "", "X-CID: xcid-a\r\n", None));
    assert_eq!(call(&d, "xcid-b").linked[0].basis, "correlation_header");
    let pcv = "P-Charging-Vector: icid-value=abc123;icid-generated-at=10.0.0.1\r\n";
    let d = doc("icid", &two_legs("icid", "2002", "2002", "2001", pcv, pcv, None));
    assert_eq!(call(&d, "icid-a").linked[0].basis, "icid");
    // Near miss: different Session-IDs do not link explicitly (the heuristic may still).
    let d = doc(
        "sid2",
        &two_legs("sid2", "2002", "2002", "2001", sid, "Session-ID: ffffffffffffffffffffffffffffffff\r\n", None),
    );
    assert!(call(&d, "sid2-a").linked.iter().all(|l| l.basis == "heuristic"), "{:?}", call(&d, "sid2-a").linked);
}

#[test]
fn number_translation_mismatch_called_and_calling() {
    let sid = "Session-ID: 11111111111111111111111111111111\r\n";
    let d = doc("ntm", &two_legs("ntm", "0301234567", "0307654321", "2001", sid, sid, None));
    let b = call(&d, "ntm-b");
    let r = reason(b, "number_translation_mismatch");
    assert_eq!(r.subcode, Some("called"));
    assert!(r.detail.contains("0301234567") && r.detail.contains("0307654321"), "{}", r.detail);
    assert_eq!(r.frames, vec![1, 3], "ingress and egress INVITE");
    assert!(!codes(call(&d, "ntm-a")).contains(&"number_translation_mismatch"), "judged on the egress leg");
    // Near miss: prefix added by the PBX, same significant digits.
    let d = doc("ntm-ok", &two_legs("ntm-ok", "90301234567", "+49301234567", "2001", sid, sid, None));
    assert!(!codes(call(&d, "ntm-ok-b")).contains(&"number_translation_mismatch"));
    // Calling: extension 2001 must leave as its DID.
    let mut cfg = DiagnosisConfig::default();
    cfg.numbering.did_map.insert("2001".into(), "+15551232001".into());
    let bad = analyse(&[write("ntm-c", &two_legs("ntm-c", "2002", "2002", "2001", sid, sid, None))], &cfg);
    let r = reason(call(&bad, "ntm-c-b"), "number_translation_mismatch");
    assert_eq!(r.subcode, Some("calling"));
    let good = analyse(&[write("ntm-c2", &two_legs("ntm-c2", "2002", "2002", "+15551232001", sid, sid, None))], &cfg);
    assert!(!codes(call(&good, "ntm-c2-b")).contains(&"number_translation_mismatch"));
}

#[test]
fn emergency_routing_cross_leg_subcodes() {
    let sid = "Session-ID: 22222222222222222222222222222222\r\n";
    let mut cfg = DiagnosisConfig::default();
    cfg.emergency.require_location = true;
    cfg.emergency.allowed_egress = vec!["192.0.2.50".into()];
    let subs = |d: &Document, id: &str| -> Vec<&'static str> {
        call(d, id).verdict.reasons.iter().filter(|r| r.code == "emergency_routing").filter_map(|r| r.subcode).collect()
    };
    // Dialled 9911, left as 933 to a host that is not allowed, without location.
    let d = analyse(&[write("em", &two_legs("em", "9911", "933", "2001", sid, sid, Some("192.0.2.99:5060")))], &cfg);
    let mut got = subs(&d, "em-b");
    got.sort_unstable();
    assert_eq!(got, vec!["no_location", "translated", "wrong_egress"]);
    // Near miss: 911 kept, allowed trunk, Geolocation present.
    let geo = format!("{sid}Geolocation: <cid:loc@pbx>\r\n");
    let d = analyse(&[write("em-ok", &two_legs("em-ok", "9911", "911", "2001", sid, &geo, None))], &cfg);
    assert!(subs(&d, "em-ok-b").is_empty(), "{:?}", codes(call(&d, "em-ok-b")));
    assert!(codes(call(&d, "em-ok-b")).contains(&"emergency_call"));
}

#[test]
fn ringing_without_final_is_incomplete_until_timer_c() {
    let d = doc("ring-short", &ringing_forever("ring-short", 100_000));
    let c = call(&d, "ring-short");
    assert_eq!(c.outcome, Outcome::Incomplete);
    assert!(c.verdict.reasons.is_empty(), "{:?}", codes(c));
    let d = doc("ring-long", &ringing_forever("ring-long", 181_000));
    let c = call(&d, "ring-long");
    assert_eq!(c.outcome, Outcome::Failed);
    assert_eq!(codes(c), vec!["no_final_response"]);
    // A shorter configured Timer C moves the outcome with the code.
    let mut cfg = DiagnosisConfig::default();
    cfg.sip.timer_c_s = 60;
    let d = analyse(&[write("ring-cfg", &ringing_forever("ring-cfg", 100_000))], &cfg);
    assert_eq!(call(&d, "ring-cfg").outcome, Outcome::Failed);
}

#[test]
fn no_failed_call_on_a_shared_capture_lacks_a_reason() {
    let Some(dir) = shared_captures() else { return };
    let mut checked = 0;
    for path in captures_in(&dir).into_iter().take(100) {
        let d = run(std::slice::from_ref(&path));
        for c in &d.calls {
            checked += 1;
            let failing =
                matches!(c.outcome, Outcome::Failed | Outcome::NoAnswer | Outcome::NotFound | Outcome::Rejected);
            if failing {
                assert!(
                    !c.verdict.reasons.is_empty(),
                    "{}: {} is {:?} without a reason",
                    path.display(),
                    c.call_id,
                    c.outcome
                );
            }
            if matches!(c.outcome, Outcome::Failed | Outcome::NoAnswer | Outcome::NotFound) {
                assert_ne!(
                    serde_json::to_value(c.verdict.class).unwrap(),
                    "ok",
                    "{}: {} {:?}: {:?}",
                    path.display(),
                    c.call_id,
                    c.outcome,
                    codes(c)
                );
            }
            if c.outcome == Outcome::Incomplete {
                assert!(
                    !codes(c).iter().any(|x| matches!(*x, "invite_timeout" | "no_final_response")),
                    "{}: {} incomplete with a timeout code",
                    path.display(),
                    c.call_id
                );
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn frames_name_their_file_with_two_inputs() {
    let first = write("file-a", &refused_at("file-a", 1000, 404));
    let second = write("file-b", &refused_at("file-b", 60_000, 503));
    let d = analyse(&[first.clone(), second], &DiagnosisConfig::default());
    let a = reason(call(&d, "file-a"), "not_found");
    let b = reason(call(&d, "file-b"), "service_unavailable");
    // Both calls' INVITEs are frame 2 of their own file (the marker is frame 1).
    assert_eq!((a.frames[0], a.file), (2, Some(0)));
    assert_eq!((b.frames[0], b.file), (2, Some(1)));
    let json = serde_json::to_value(&d.calls).unwrap();
    assert_eq!(json[1]["verdict"]["reasons"][0]["file"], 1);
    // One input: no file field.
    let single = analyse(&[first], &DiagnosisConfig::default());
    assert_eq!(reason(call(&single, "file-a"), "not_found").file, None);
}
