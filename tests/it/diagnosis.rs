//! Golden verdicts for the bundled real captures (diagnosis.md §8), reviewed by hand against
//! SOURCES.md and tshark's call summaries, including the "must not" lines; and the rule that no
//! clean call gets a media verdict.

use callscope::report::records::{Call, Document};

use crate::common::{run, shared_captures};

fn doc(name: &str) -> Option<Document> {
    let dir = shared_captures()?;
    Some(run(&[dir.join(name)]))
}

fn call<'a>(doc: &'a Document, prefix: &str) -> &'a Call {
    doc.calls.iter().find(|c| c.call_id.starts_with(prefix)).unwrap_or_else(|| panic!("call {prefix} missing"))
}

fn codes(c: &Call) -> Vec<&'static str> {
    c.verdict.reasons.iter().map(|r| r.code).collect()
}

fn reason<'a>(c: &'a Call, code: &str) -> &'a callscope::diagnose::Reason {
    c.verdict
        .reasons
        .iter()
        .find(|r| r.code == code)
        .unwrap_or_else(|| panic!("{} lacks {code}: {:?}", c.call_id, codes(c)))
}

fn class(c: &Call) -> String {
    serde_json::to_value(c.verdict.class).unwrap().as_str().unwrap().to_owned()
}

fn all_codes(doc: &Document) -> Vec<&'static str> {
    doc.calls.iter().flat_map(|c| c.verdict.reasons.iter().map(|r| r.code)).collect()
}

#[test]
fn b2bua_one_way_audio_and_leg_linking() {
    let Some(d) = doc("sipnab-b2bua-asterisk.pcapng") else { return };
    let a = call(&d, "M2Q0ZDc1");
    assert_eq!(class(a), "media");
    let r = reason(a, "one_way_audio");
    assert_eq!(r.direction, Some(callscope::correlate::StreamDirection::CallerToCallee));
    for f in [34, 37, 40, 49, 403, 404] {
        assert!(r.frames.contains(&f), "frame {f} in {:?}", r.frames);
    }
    assert_eq!(r.metrics.get("packets"), Some(&1.0));
    assert_eq!(r.metrics.get("packets_other_way"), Some(&355.0));
    assert!(r.detail.contains("172.16.98.145:8000"), "{}", r.detail);
    assert!(!codes(a).contains(&"auth_failure"), "401 then success is normal");
    assert_eq!(a.linked.len(), 1);
    assert!(a.linked[0].call_id.starts_with("37686afc"));
    assert_eq!(a.linked[0].basis, "heuristic");
    assert!(a.linked[0].score >= 5);
    let b = call(&d, "37686afc");
    assert!(b.linked[0].call_id.starts_with("M2Q0ZDc1"));
}

#[test]
fn negotiated_one_way_is_not_one_way_audio() {
    for name in ["sipnab-sip-rtp-g711.pcap", "sipnab-sip-rtp-g729a.pcap"] {
        let Some(d) = doc(name) else { return };
        for c in &d.calls {
            assert!(codes(c).contains(&"negotiated_one_way"), "{name}: {:?}", codes(c));
            assert!(!codes(c).contains(&"one_way_audio"));
            assert_eq!(class(c), "ok");
        }
        let first = reason(&d.calls[0], "negotiated_one_way");
        assert_eq!(first.frames, vec![1, 4]);
    }
}

#[test]
fn g711_vad_silences_are_not_gaps_and_ringing_call_is_incomplete() {
    let Some(d) = doc("sipnab-SIP_CALL_RTP_G711.pcap") else { return };
    assert!(!all_codes(&d).contains(&"media_gap"));
    assert!(!all_codes(&d).contains(&"long_setup"));
    let ringing = call(&d, "12015624");
    assert!(codes(ringing).iter().all(|c| !c.contains("timeout")), "{:?}", codes(ringing));
    assert_eq!(class(call(&d, "12013223")), "ok");
}

#[test]
fn sngrep_aaa_verdicts() {
    let Some(d) = doc("sngrep-aaa.pcap") else { return };
    let timeout = call(&d, "105090259");
    assert_eq!(class(timeout), "routing");
    assert_eq!(reason(timeout, "request_timeout").frames, vec![223, 252]);
    let re = reason(timeout, "retransmissions");
    for f in [223, 225, 227, 247] {
        assert!(re.frames.contains(&f), "{:?}", re.frames);
    }
    let nat = reason(timeout, "sdp_private_address_behind_nat");
    assert_eq!(nat.subcode, Some("nat_confirmed"));
    assert!(nat.frames.contains(&228));
    assert!(nat.detail.contains("80.230.219.70"));
    let f = call(&d, "24487391");
    assert_eq!(reason(f, "forbidden").frames, vec![548, 581]);
    assert!(!codes(f).contains(&"auth_failure"));
    assert!(codes(call(&d, "85216695")).contains(&"forbidden"));
    let u = reason(call(&d, "11894297"), "temporarily_unavailable");
    assert!(u.frames.contains(&621));
    assert!(u.detail.contains("Q.850 cause 21"));
}

#[test]
fn fax_t38_rejected_media_stops_and_gap() {
    let Some(d) = doc("ndpi-FAX-Call-t38-CA-TDM-SIP-FB-1.pcap") else { return };
    let a = call(&d, "00e9d4a5");
    let t = reason(a, "t38_rejected");
    for f in [1394, 1398, 1404] {
        assert!(t.frames.contains(&f), "{:?}", t.frames);
    }
    let stops: Vec<_> = a.verdict.reasons.iter().filter(|r| r.code == "media_stops_after_reinvite").collect();
    assert_eq!(stops.len(), 2, "both ways");
    assert!(stops.iter().any(|r| r.frames.contains(&1488) && r.frames.contains(&1534)));
    let gap = reason(a, "media_gap");
    assert_eq!(gap.subcode, Some("lost"));
    assert!(gap.frames.contains(&240) && gap.frames.contains(&1419));
    assert!(!codes(a).contains(&"bye_with_reason_header"), "Q.850 16 is normal clearing");
    assert!(!codes(a).contains(&"retransmissions"), "mirror duplicates are not retransmissions");
    assert!(!codes(a).contains(&"high_loss"), "the 92.8 % is one hole, reported as media_gap");
    let b = call(&d, "SD4909701");
    assert!(codes(b).contains(&"t38_rejected"));
    assert!(!codes(b).contains(&"no_media"), "the SBC's other side carries its media, not captured here");
    assert!(a.linked.iter().any(|l| l.call_id.starts_with("SD4909701")), "{:?}", a.linked);
}

#[test]
fn arkime_capture_loss_demotes_loss() {
    let Some(d) = doc("arkime-gtp-iphone.pcap") else { return };
    let c = &d.calls[0];
    assert!(codes(c).contains(&"capture_loss_suspected"));
    for r in &c.verdict.reasons {
        if matches!(r.code, "high_loss" | "media_gap" | "burst_loss") {
            assert_eq!(r.severity, callscope::diagnose::Severity::Info, "{}", r.code);
        }
    }
}

#[test]
fn routing_error_is_not_found_not_auth() {
    let Some(d) = doc("sipnab-sip-routing-error.pcapng") else { return };
    assert_eq!(d.calls.len(), 2);
    assert_eq!(reason(&d.calls[0], "not_found").frames, vec![21, 30]);
    assert_eq!(reason(&d.calls[1], "not_found").frames, vec![45, 49]);
    assert!(!all_codes(&d).contains(&"auth_failure"));
    assert!(d.calls.iter().all(|c| class(c) == "routing"));
}

#[test]
fn dtmf2_declined_and_delayed_offer_clean() {
    let Some(d) = doc("sipnab-SIP_DTMF2.cap") else { return };
    assert_eq!(reason(call(&d, "5514@"), "declined").frames, vec![7, 9]);
    let c = call(&d, "25672@");
    assert!(!codes(c).contains(&"sdp_missing_or_invalid"));
    assert!(!codes(c).contains(&"high_loss"));
    assert!(!codes(c).contains(&"one_way_audio"), "symmetric RTP through the relay");
    assert_eq!(class(c), "ok");
}

#[test]
fn reinvite_codec_change_is_info_only() {
    let Some(d) = doc("sipnab-register-invite-reinvite-bye.pcap") else { return };
    let c = &d.calls[0];
    let r = reason(c, "codec_change");
    assert!(r.frames.contains(&162) && r.frames.contains(&163));
    assert!(!codes(c).contains(&"media_stops_after_reinvite"));
    assert_eq!(class(c), "ok");
}

#[test]
fn sipp_branch_forbidden_and_no_media_claims() {
    let Some(d) = doc("sipnab-sipp-branch-scenario.pcapng") else { return };
    assert!(d.calls.iter().all(|c| c.linked.is_empty()), "parallel sipp calls are not B2BUA legs");
    let forbidden = d.calls.iter().filter(|c| codes(c).first() == Some(&"forbidden")).count();
    assert_eq!(forbidden, 1148);
    for c in &d.calls {
        assert!(!codes(c).contains(&"no_media"), "no RTP in the file: media_not_captured only");
        if c.outcome == callscope::sip::Outcome::Answered {
            assert!(codes(c).contains(&"media_not_captured"), "{}", c.call_id);
        }
    }
}

#[test]
fn orphan_streams_loss_and_dups() {
    let Some(dir) = shared_captures() else { return };
    let lost = run(&[dir.join("rtpproxy-lost.a.rtp.pcap")]);
    let r = lost.streams[0].reasons.iter().find(|r| r.code == "high_loss").expect("high_loss on the orphan stream");
    assert!(r.detail.contains("56.8 %"), "{}", r.detail);
    let dups = run(&[dir.join("rtpproxy-dups.a.rtp.pcap")]);
    assert!(dups.streams.iter().all(|s| s.reasons.is_empty()), "duplicates are never loss");
    let dtmf = run(&[dir.join("rtpproxy-catch_dtmf-dtmf.pcap")]);
    assert!(dtmf.streams.iter().all(|s| s.reasons.is_empty()), "telephone-event streams are not judged");
}

#[test]
fn mediastreamer_icmp_unreachable() {
    let Some(d) = doc("mediastreamer2-pcmu_8k_no_jitter.pcap") else { return };
    let r = d.streams.iter().flat_map(|s| &s.reasons).find(|r| r.code == "media_icmp_unreachable").expect("icmp");
    assert!(r.frames.contains(&2522) && r.frames.contains(&2528), "{:?}", r.frames);
}

#[test]
fn malformed_and_incomplete_captures() {
    let Some(d) = doc("zeek-invalid-content-length.pcap") else { return };
    assert_eq!(reason(&d.calls[0], "malformed_sip").frames, vec![1, 2]);
    let Some(d) = doc("suricata-sip-body-large.pcap") else { return };
    assert!(d.calls[0].verdict.reasons.is_empty(), "incomplete, not invite_timeout");
    let Some(d) = doc("sngrep-ipv6frag.pcap") else { return };
    assert_eq!(codes(&d.calls[0]), vec!["media_not_captured"]);
}

#[test]
fn clean_calls_get_no_media_verdict() {
    for name in ["sipnab-sip-over-tcp.pcap", "sipnab-h263-over-rtp.pcap", "sipnab-register-invite-reinvite-bye.pcap"] {
        let Some(d) = doc(name) else { return };
        for c in &d.calls {
            assert_eq!(class(c), "ok", "{name} {}: {:?}", c.call_id, codes(c));
        }
    }
}
