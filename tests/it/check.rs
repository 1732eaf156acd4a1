//! The validation gate (`callscope check`) on generated captures whose faults are known by
//! construction: each criterion met by a clean capture and missed by a faulty one (the right
//! rows failing, exit 0 vs 2), baseline regressions and tolerances, too few calls, and criteria
//! files that are wrong (exit 1 naming the line).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use callscope::check::{self, Baseline, CheckInputs, CheckReport, Criteria, ScopeKind, Status};
use callscope::config::Config;
use callscope::diagnose::{DiagnosisConfig, Reason, ReasonClass, Severity};
use callscope::report::{build, Document};
use callscope::sites::{attach, SiteMap, SiteOptions};
use callscope::synth::diag_scenarios::{script, DiagCall};
use callscope::synth::rtp::Loss;
use callscope::synth::scenario::{CallSpec, Scenario};

/// hq = the callers of `DiagCall` (198.51.100.10), carrier = the callees (203.0.113.20).
const MAP: &str = "[[site]]\nname = \"hq\"\ncidrs = [\"198.51.100.0/24\"]\n\n[[site]]\nname = \"carrier\"\ncidrs = [\"203.0.113.0/24\"]\n";

fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("check").join(name);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A call of the series: own media ports so overlapping calls never share a 5-tuple.
fn call(k: usize, start_ms: i64) -> DiagCall {
    let mut c = DiagCall::answered(&format!("c{k:02}@check"));
    let n = u16::try_from(k).unwrap_or(0);
    c.caller_media = SocketAddr::new(c.caller.ip(), 40000 + 2 * n);
    c.callee_media = SocketAddr::new(c.callee.ip(), 50000 + 2 * n);
    c.start_ms = start_ms;
    c
}

/// Twelve sequential calls, 15 s apart; `fault` edits call k.
fn series(fault: impl Fn(usize, &mut DiagCall)) -> Vec<DiagCall> {
    (0..12)
        .map(|k| {
            let mut c = call(k, k as i64 * 15_000);
            fault(k, &mut c);
            c
        })
        .collect()
}

fn write(calls: &[DiagCall], path: &Path) {
    script(calls).write_file(path).expect("script writes");
}

fn analyse(pcap: &Path, diag: &DiagnosisConfig) -> (Document, SiteMap) {
    let config = Config { diagnosis: diag.clone(), ..Config::default() };
    let analysis = callscope::pipeline::analyze(&[pcap.to_string_lossy().into_owned()], &config).expect("opens");
    let mut doc = build(&analysis);
    let map = SiteMap::parse(MAP, "map.toml").expect("map");
    attach(&mut doc, &map, &SiteOptions::default());
    (doc, map)
}

fn run_check(
    doc: &mut Document,
    map: &SiteMap,
    criteria: &str,
    baseline: Option<&Baseline>,
    diag: &DiagnosisConfig,
) -> CheckReport {
    let criteria = Criteria::parse(criteria, "criteria.toml").expect("criteria parse");
    let inputs = CheckInputs { map, criteria: &criteria, baseline, diag, opts: SiteOptions::default() };
    check::evaluate(doc, &inputs)
}

/// (metric, site) → (status, value) of the report.
fn row(r: &CheckReport, metric: &str, site: Option<&str>) -> (Status, Option<f64>) {
    let x = r
        .results
        .iter()
        .find(|x| x.metric == metric && x.site.as_deref() == site)
        .unwrap_or_else(|| panic!("no row {metric} {site:?}"));
    (x.status, x.value)
}

/// One global criterion per core metric, thresholds a clean call meets.
const CORE: &str = r#"
min_calls = 5
[[criterion]]
name = "two-way"
metric = "two_way_audio_pct"
op = ">="
value = 100.0
[[criterion]]
name = "one-way"
metric = "one_way_calls"
op = "<="
value = 0
[[criterion]]
name = "loss"
metric = "loss_p95_pct"
op = "<="
value = 1.0
[[criterion]]
name = "mos"
metric = "mos_p5"
op = ">="
value = 4.0
[[criterion]]
name = "mos mean"
metric = "mos_mean"
op = ">="
value = 4.0
[[criterion]]
name = "pdd"
metric = "pdd_p95_ms"
op = "<="
value = 3000.0
[[criterion]]
name = "asr"
metric = "asr_pct"
op = ">="
value = 100.0
[[criterion]]
name = "ner"
metric = "ner_pct"
op = ">="
value = 100.0
[[criterion]]
name = "sig"
metric = "signaling_failures"
op = "=="
value = 0
[[criterion]]
name = "routing"
metric = "routing_failures"
op = "=="
value = 0
[[criterion]]
name = "media"
metric = "media_failures"
op = "=="
value = 0
[[criterion]]
name = "dscp"
metric = "dscp_expected_pct"
op = ">="
value = 100.0
scope = "site"
only = ["hq"]
[[criterion]]
name = "jitter"
metric = "jitter_p95_ms"
op = "<="
value = 30.0
scope = "site_pair"
only = ["hq->carrier"]
"#;

/// The faulty series: one-way audio (c00, c01), 10 % loss both ways (c02), DSCP 0 from hq
/// (c03), ringing after 5 s (c04, c07), 404 (c05), 500 (c06).
fn faulty(k: usize, c: &mut DiagCall) {
    match k {
        0 | 1 => c.e2c.enabled = false,
        2 => {
            c.c2e.drop_every = Some(10);
            c.e2c.drop_every = Some(10);
        }
        3 => c.c2e.dscp = 0,
        4 | 7 => {
            c.ring_ms = Some(5000);
            c.final_status = (200, 6000);
        }
        5 => c.final_status = (404, 300),
        6 => c.final_status = (500, 300),
        _ => {}
    }
}

#[test]
fn clean_capture_meets_every_core_criterion() {
    let d = dir("clean");
    let pcap = d.join("clean.pcap");
    write(&series(|_, _| {}), &pcap);
    let (mut doc, map) = analyse(&pcap, &DiagnosisConfig::default());
    let r = run_check(&mut doc, &map, CORE, None, &DiagnosisConfig::default());
    for x in &r.results {
        assert_eq!(x.status, Status::Pass, "{} {:?} {:?} {:?}", x.metric, x.site, x.value, x.note);
    }
    assert!(r.passed);
    assert_eq!(r.exit_code(), 0);
    assert_eq!(row(&r, "two_way_audio_pct", None), (Status::Pass, Some(100.0)));
    assert_eq!(row(&r, "pdd_p95_ms", None), (Status::Pass, Some(100.0)));
    assert_eq!(row(&r, "asr_pct", None).1, Some(100.0));
    assert_eq!(row(&r, "dscp_expected_pct", Some("hq")).1, Some(100.0));
}

#[test]
fn faulty_capture_misses_exactly_the_faulted_criteria_and_names_the_calls() {
    let d = dir("faulty");
    let pcap = d.join("faulty.pcap");
    write(&series(faulty), &pcap);
    let (mut doc, map) = analyse(&pcap, &DiagnosisConfig::default());
    let r = run_check(&mut doc, &map, CORE, None, &DiagnosisConfig::default());
    assert!(!r.passed);
    assert_eq!(r.exit_code(), 2);
    // 10 answered calls, 2 without audio callee → caller.
    assert_eq!(row(&r, "two_way_audio_pct", None), (Status::Fail, Some(80.0)));
    assert_eq!(row(&r, "one_way_calls", None), (Status::Fail, Some(2.0)));
    // 12 attempts, 10 answered; the 404 and the 500 are not network-effective.
    assert_eq!(row(&r, "asr_pct", None), (Status::Fail, Some(83.333)));
    assert_eq!(row(&r, "ner_pct", None), (Status::Fail, Some(83.333)));
    assert_eq!(row(&r, "signaling_failures", None), (Status::Fail, Some(1.0)));
    assert_eq!(row(&r, "routing_failures", None), (Status::Fail, Some(1.0)));
    assert_eq!(row(&r, "media_failures", None).0, Status::Fail);
    // p95 of 12 PDDs, two of 5000 ms: rank 10.45 lies between the two largest.
    assert_eq!(row(&r, "pdd_p95_ms", None), (Status::Fail, Some(5000.0)));
    let (loss_status, loss) = row(&r, "loss_p95_pct", None);
    assert_eq!(loss_status, Status::Fail);
    assert!(loss.is_some_and(|l| l > 9.0 && l < 10.5), "{loss:?}");
    assert_eq!(row(&r, "mos_p5", None).0, Status::Fail);
    // 18 streams (2 one-way calls carry one each), one of them unmarked.
    assert_eq!(row(&r, "dscp_expected_pct", Some("hq")), (Status::Fail, Some(94.444)));
    // What the faults did not touch still passes.
    assert_eq!(row(&r, "jitter_p95_ms", Some("hq->carrier")).0, Status::Pass);
    // Failing rows name the calls with their reasons.
    let two_way = r.results.iter().find(|x| x.metric == "two_way_audio_pct").unwrap();
    assert_eq!(two_way.worst_calls, vec!["c00@check", "c01@check"]);
    assert!(two_way.worst.iter().all(|w| w.reasons == vec!["one_way_audio"]), "{:?}", two_way.worst);
    let routing = r.results.iter().find(|x| x.metric == "routing_failures").unwrap();
    assert_eq!(routing.worst_calls, vec!["c05@check"]);
    assert!(routing.worst[0].why.starts_with("not_found:"), "{}", routing.worst[0].why);
    let loss_row = r.results.iter().find(|x| x.metric == "loss_p95_pct").unwrap();
    assert_eq!(loss_row.worst_calls.first().map(String::as_str), Some("c02@check"));
    let pdd = r.results.iter().find(|x| x.metric == "pdd_p95_ms").unwrap();
    assert_eq!(pdd.worst_calls[..2], ["c04@check", "c07@check"]);
    let dscp = r.results.iter().find(|x| x.metric == "dscp_expected_pct").unwrap();
    assert_eq!(dscp.worst_calls, vec!["c03@check"]);
}

#[test]
fn jitter_criterion_met_and_missed() {
    let d = dir("jitter");
    let mk = |jitter_us: u32, name: &str| {
        let mut s = Scenario::new(name, 7);
        for k in 0..10u16 {
            let caller: SocketAddr = "198.51.100.10:5060".parse().unwrap();
            let callee: SocketAddr = "203.0.113.20:5060".parse().unwrap();
            let mut c = CallSpec::answered(&format!("j{k}@check"), caller, callee, u64::from(k) * 15_000, 10_000);
            c.caller_media = SocketAddr::new(caller.ip(), 40000 + 2 * k);
            c.callee_media = SocketAddr::new(callee.ip(), 50000 + 2 * k);
            c.media.caller_to_callee.faults.jitter_max_us = jitter_us;
            c.media.callee_to_caller.faults.jitter_max_us = jitter_us;
            c.media.caller_to_callee.faults.loss = Loss::None;
            s = s.call(c);
        }
        let pcap = d.join(format!("{name}.pcap"));
        s.write_file(&pcap).expect("writes");
        pcap
    };
    let criteria = "min_calls = 5\n[[criterion]]\nname = \"jitter\"\nmetric = \"jitter_p95_ms\"\nop = \"<=\"\nvalue = 1.0\nscope = \"site\"\nonly = [\"carrier\"]\n";
    let diag = DiagnosisConfig::default();
    let (mut calm, map) = analyse(&mk(0, "calm"), &diag);
    let r = run_check(&mut calm, &map, criteria, None, &diag);
    assert_eq!(row(&r, "jitter_p95_ms", Some("carrier")), (Status::Pass, Some(0.0)));
    let (mut shaky, map) = analyse(&mk(9000, "shaky"), &diag);
    let r = run_check(&mut shaky, &map, criteria, None, &diag);
    let (status, value) = row(&r, "jitter_p95_ms", Some("carrier"));
    assert_eq!(status, Status::Fail, "{value:?}");
    assert!(value.is_some_and(|v| v > 1.0), "{value:?}");
    assert_eq!(r.results[0].worst_calls.len(), 5);
}

#[test]
fn busy_hour_pdd_spike_is_detected() {
    let d = dir("busy");
    // Ten overlapping calls at 09:00:00–09:00:09 (the busy hour) and ten sequential ones from
    // 10:30 (off-peak); all ring after 100 ms, or the burst after `burst_ring_ms`.
    let mk = |burst_ring_ms: i64, name: &str| {
        let mut calls = Vec::new();
        for k in 0..10 {
            let mut c = call(k, k as i64 * 1000);
            c.talk_ms = 30_000;
            c.ring_ms = Some(burst_ring_ms);
            c.final_status = (200, burst_ring_ms + 1000);
            calls.push(c);
        }
        for k in 10..20 {
            calls.push(call(k, 90 * 60_000 + (k as i64 - 10) * 20_000));
        }
        let pcap = d.join(format!("{name}.pcap"));
        write(&calls, &pcap);
        pcap
    };
    let criteria =
        "min_calls = 5\n[[criterion]]\nname = \"spike\"\nmetric = \"pdd_busy_hour_ratio\"\nop = \"<=\"\nvalue = 1.5\n";
    let diag = DiagnosisConfig::default();
    let (mut flat, map) = analyse(&mk(100, "flat"), &diag);
    let r = run_check(&mut flat, &map, criteria, None, &diag);
    assert_eq!(row(&r, "pdd_busy_hour_ratio", None), (Status::Pass, Some(1.0)), "{:?}", r.results[0].note);
    let (mut spiky, map) = analyse(&mk(400, "spiky"), &diag);
    let r = run_check(&mut spiky, &map, criteria, None, &diag);
    assert_eq!(row(&r, "pdd_busy_hour_ratio", None), (Status::Fail, Some(4.0)));
    assert_eq!(r.results[0].calls, 10);
    assert!(r.results[0].worst_calls.iter().all(|c| c.as_str() < "c10"), "{:?}", r.results[0].worst_calls);
}

const FEATURES: &str = r#"
min_calls = 1
[[criterion]]
name = "emergency"
metric = "emergency_ok_pct"
op = "=="
value = 100.0
[[criterion]]
name = "forwarding"
metric = "forwarded_reached_pct"
op = "=="
value = 100.0
[[criterion]]
name = "caller id"
metric = "caller_id_ok_pct"
op = "=="
value = 100.0
[[criterion]]
name = "fax"
metric = "t38_ok_pct"
op = "=="
value = 100.0
[[criterion]]
name = "transfer"
metric = "transfer_ok_pct"
op = "=="
value = 100.0
[[criterion]]
name = "hold"
metric = "hold_resume_ok_pct"
op = "=="
value = 100.0
[[criterion]]
name = "registered"
metric = "registered_pct"
op = ">="
value = 100.0
[[criterion]]
name = "rtt"
metric = "rtt_p95_ms"
op = "<="
value = 300.0
"#;

fn feature_calls(broken: bool) -> Vec<DiagCall> {
    let mut calls = Vec::new();
    let mut e = call(0, 0);
    e.to_user = "911".into();
    calls.push(e);
    let mut f = call(1, 15_000);
    f.invite_headers = "Diversion: <sip:2001@203.0.113.20>;reason=unconditional\r\n".into();
    calls.push(f);
    calls.push(call(2, 30_000)); // E.164 caller to the trunk
    if broken {
        let mut e = call(3, 45_000);
        e.to_user = "911".into();
        e.final_status = (503, 300);
        calls.push(e);
        let mut f = call(4, 60_000);
        f.invite_headers = "Diversion: <sip:2001@203.0.113.20>;reason=unconditional\r\n".into();
        f.final_status = (404, 300);
        calls.push(f);
        let mut x = call(5, 75_000);
        x.from_user = "2001".into(); // an extension as caller-ID on a trunk
        calls.push(x);
        let mut fax = call(6, 90_000);
        fax.t38_reoffer_ms = Some(2000); // refused 488: t38_rejected
        calls.push(fax);
    }
    calls
}

#[test]
fn feature_criteria_met_missed_and_not_judgeable() {
    let d = dir("features");
    let mut diag = DiagnosisConfig::default();
    diag.caller_id.trunk_hosts = vec!["203.0.113.20".into()];
    for broken in [false, true] {
        let pcap = d.join(format!("features-{broken}.pcap"));
        write(&feature_calls(broken), &pcap);
        let (mut doc, map) = analyse(&pcap, &diag);
        let r = run_check(&mut doc, &map, FEATURES, None, &diag);
        let expect_ok = |metric: &str, broken_value: f64| {
            let (status, value) = row(&r, metric, None);
            if broken {
                assert_eq!((status, value), (Status::Fail, Some(broken_value)), "{metric}");
            } else {
                assert_eq!((status, value), (Status::Pass, Some(100.0)), "{metric}");
            }
        };
        expect_ok("emergency_ok_pct", 50.0);
        expect_ok("forwarded_reached_pct", 50.0);
        expect_ok("caller_id_ok_pct", if broken { 85.714 } else { 100.0 });
        if broken {
            assert_eq!(row(&r, "t38_ok_pct", None), (Status::Fail, Some(0.0)));
            let fax = r.results.iter().find(|x| x.metric == "t38_ok_pct").unwrap();
            assert_eq!(fax.worst_calls, vec!["c06@check"]);
            assert_eq!(fax.worst[0].reasons, vec!["t38_rejected"]);
            let cid = r.results.iter().find(|x| x.metric == "caller_id_ok_pct").unwrap();
            assert_eq!(cid.worst_calls, vec!["c05@check"]);
        } else {
            assert_eq!(row(&r, "t38_ok_pct", None), (Status::Insufficient, None));
        }
        // The 404 to 2002 (c04), never seen registering, is an unregistered extension
        // (diagnosis.md §4.5 without a list): registration health fails on it.
        if broken {
            let reg = r.results.iter().find(|x| x.metric == "registered_pct").unwrap();
            assert_eq!((reg.status, reg.value), (Status::Fail, Some(0.0)));
            assert_eq!(reg.worst[0].aor.as_deref(), Some("2002"));
            assert_eq!(reg.worst_calls, vec!["c04@check"]);
        }
        // Not judgeable from these captures (or from today's diagnosis): insufficient with a reason.
        let mut unjudged = vec!["transfer_ok_pct", "hold_resume_ok_pct", "rtt_p95_ms"];
        if !broken {
            unjudged.push("registered_pct");
        }
        for metric in unjudged {
            let x = r.results.iter().find(|x| x.metric == metric).unwrap();
            assert_eq!((x.status, x.value), (Status::Insufficient, None), "{metric}");
            assert!(x.note.as_deref().is_some_and(|n| !n.is_empty()), "{metric}");
        }
        assert_eq!(r.passed, !broken);
    }
    // Without trunk hosts caller-ID cannot be judged, and says why.
    let pcap = d.join("features-true.pcap");
    let (mut doc, map) = analyse(&pcap, &DiagnosisConfig::default());
    let r = run_check(&mut doc, &map, FEATURES, None, &DiagnosisConfig::default());
    let cid = r.results.iter().find(|x| x.metric == "caller_id_ok_pct").unwrap();
    assert_eq!(cid.status, Status::Insufficient);
    assert!(cid.note.as_deref().unwrap_or("").contains("trunk_hosts"));
}

#[test]
fn hold_rtt_and_registrations_from_the_records() {
    // The synth cannot script a hold re-INVITE, RTCP or REGISTER here; the rules read the
    // records, so records carrying them exercise the rules.
    let d = dir("records");
    let pcap = d.join("records.pcap");
    write(&series(|_, _| {}), &pcap);
    let (mut doc, map) = analyse(&pcap, &DiagnosisConfig::default());
    let hold = |frames: Vec<u64>| Reason::new("hold", ReasonClass::Info, Severity::Info, None, "held".into(), frames);
    doc.calls[0].verdict.reasons.push(hold(vec![10, 20]));
    doc.calls[1].verdict.reasons.push(hold(vec![30, 40]));
    doc.calls[1].verdict.reasons.push(Reason::new(
        "media_stops_after_reinvite",
        ReasonClass::Media,
        Severity::Fail,
        None,
        "stopped".into(),
        vec![41],
    ));
    doc.calls[2].verdict.reasons.push(hold(vec![50])); // never resumed: not in the population
    for (k, s) in doc.streams.iter_mut().enumerate() {
        s.rtcp = Some(callscope::report::records::RtcpSummary {
            reports: 1,
            far_end_lost_pct: None,
            far_end_max_lost_pct: None,
            far_end_cumulative_lost: None,
            far_end_jitter_ms: None,
            far_end_max_jitter_ms: None,
            sender_reports: 1,
            sender_packet_count: None,
            rtt_ms_min: None,
            rtt_ms_mean: Some(if k < 2 { 900.0 } else { 40.0 }),
            rtt_ms_max: None,
            xr: None,
        });
    }
    let reg = |aor: &str, status: &'static str| callscope::report::records::RegistrationRecord {
        aor: aor.into(),
        contact: None,
        source: Some("198.51.100.10:5060".parse().unwrap()),
        user_agent: None,
        first_time: callscope::time::Timestamp(0),
        last_time: callscope::time::Timestamp(0),
        expires_s: Some(3600),
        status,
        last_code: Some(if status == "registered" { 200 } else { 403 }),
        attempts: 1,
        failures: u32::from(status != "registered"),
        missed_calls: Vec::new(),
        reasons: Vec::new(),
        activity: None,
    };
    doc.registrations =
        vec![reg("sip:2001@x", "registered"), reg("sip:2002@x", "registered"), reg("sip:2003@x", "failed")];
    let criteria = "min_calls = 1\n\
        [[criterion]]\nname = \"hold\"\nmetric = \"hold_resume_ok_pct\"\nop = \">=\"\nvalue = 100.0\n\
        [[criterion]]\nname = \"rtt\"\nmetric = \"rtt_p95_ms\"\nop = \"<=\"\nvalue = 300.0\n\
        [[criterion]]\nname = \"reg\"\nmetric = \"registered_pct\"\nop = \">=\"\nvalue = 95.0\nscope = \"site\"\nonly = [\"hq\"]\n";
    let r = run_check(&mut doc, &map, criteria, None, &DiagnosisConfig::default());
    assert_eq!(row(&r, "hold_resume_ok_pct", None), (Status::Fail, Some(50.0)));
    assert_eq!(r.results[0].worst_calls, vec!["c01@check"]);
    // 24 streams, two at 900 ms: p95 rank 21.85 → 40 + 0.85 · 860.
    assert_eq!(row(&r, "rtt_p95_ms", None), (Status::Fail, Some(771.0)));
    assert_eq!(r.results[1].worst_calls.first().map(String::as_str), Some("c00@check"));
    assert_eq!(row(&r, "registered_pct", Some("hq")), (Status::Fail, Some(66.667)));
    assert_eq!(r.results[2].worst[0].aor.as_deref(), Some("sip:2003@x"));
}

#[test]
fn site_values_equal_the_site_summaries() {
    let d = dir("three");
    let pcap = d.join("three_sites.pcap");
    callscope::synth::sites::three_sites().write_file(&pcap).expect("writes");
    let analysis = callscope::pipeline::analyze(&[pcap.to_string_lossy().into_owned()], &Config::default()).unwrap();
    let mut doc = build(&analysis);
    let map = SiteMap::parse(callscope::synth::sites::THREE_SITES_TOML, "sites.toml").unwrap();
    let sites = attach(&mut doc, &map, &SiteOptions::default());
    let r = run_check(&mut doc, &map, "", None, &DiagnosisConfig::default());
    assert_eq!(sites.summaries.len(), r.metrics.iter().filter(|m| m.scope != ScopeKind::Global).count());
    for s in &sites.summaries {
        let (kind, key) = match &s.peer_site {
            Some(p) => (ScopeKind::SitePair, format!("{}->{p}", s.site)),
            None => (ScopeKind::Site, s.site.clone()),
        };
        let m = r.metrics.iter().find(|m| m.scope == kind && m.site.as_deref() == Some(&key)).expect("scope");
        let v = |name: &str| m.values.get(name).copied().flatten();
        assert_eq!(v("mos_p5"), s.mos_p5, "{key}");
        assert_eq!(v("mos_mean"), s.mos_mean, "{key}");
        assert_eq!(v("loss_p95_pct"), s.loss_p95_pct, "{key}");
        assert_eq!(v("jitter_p95_ms"), s.jitter_p95_ms, "{key}");
        assert_eq!(v("pdd_p95_ms"), s.pdd_p95_ms, "{key}");
        assert_eq!(v("asr_pct"), s.asr_pct, "{key}");
        assert_eq!(v("ner_pct"), s.ner_pct, "{key}");
        assert_eq!(v("dscp_expected_pct"), s.dscp_expected_pct, "{key}");
        assert_eq!(v("media_failures"), Some(s.failures.media as f64), "{key}");
        assert_eq!(v("routing_failures"), Some(s.failures.routing as f64), "{key}");
        assert_eq!(v("signaling_failures"), Some(s.failures.signaling as f64), "{key}");
    }
}

const REGRESSION: &str = r#"
min_calls = 5
[[criterion]]
name = "loss no worse"
metric = "regression_loss_p95_pct"
tolerance = TOL
scope = "site"
only = ["hq"]
[[criterion]]
name = "asr no worse"
metric = "regression_asr_pct"
tolerance = TOL
"#;

#[test]
fn baseline_regressions_detected_and_tolerances_respected() {
    let d = dir("baseline");
    let (good, bad) = (d.join("good.pcap"), d.join("bad.pcap"));
    write(&series(|_, _| {}), &good);
    write(&series(faulty), &bad);
    let diag = DiagnosisConfig::default();
    // Baseline 1: the check JSON of the pilot.
    let (mut pilot, map) = analyse(&good, &diag);
    let pilot_report = run_check(&mut pilot, &map, "", None, &diag);
    let check_json = serde_json::to_value(&pilot_report).unwrap();
    // Baseline 2: the analyze JSON of the pilot.
    let analyze_json = serde_json::to_value(&pilot).unwrap();
    for (json, kind) in [(check_json, "check"), (analyze_json, "analyze")] {
        let baseline = Baseline::from_json(&json, "pilot.json").unwrap();
        assert_eq!(baseline.kind, kind);
        let (mut now, map) = analyse(&bad, &diag);
        // Tight tolerance: both regressions fail.
        let r = run_check(&mut now, &map, &REGRESSION.replace("TOL", "0.5"), Some(&baseline), &diag);
        let loss = r.results.iter().find(|x| x.metric == "regression_loss_p95_pct").unwrap();
        assert_eq!((loss.status, loss.baseline), (Status::Fail, Some(0.0)), "{kind}");
        assert_eq!(loss.value, loss.current, "{kind}: worsening = current − 0");
        assert_eq!(loss.worst_calls.first().map(String::as_str), Some("c02@check"));
        let asr = r.results.iter().find(|x| x.metric == "regression_asr_pct").unwrap();
        assert_eq!(
            (asr.status, asr.value, asr.baseline, asr.current),
            (Status::Fail, Some(16.667), Some(100.0), Some(83.333)),
            "{kind}"
        );
        assert!(!r.passed);
        // Generous tolerance: both pass.
        let r = run_check(&mut now, &map, &REGRESSION.replace("TOL", "20.0"), Some(&baseline), &diag);
        assert!(r.results.iter().all(|x| x.status == Status::Pass), "{kind}: {:?}", r.results);
        assert!(r.passed);
        // Not enforced: reported as failing rows, the gate passes.
        let lenient = format!("regressions_fail = false\n{}", REGRESSION.replace("TOL", "0.5"));
        let r = run_check(&mut now, &map, &lenient, Some(&baseline), &diag);
        assert!(r.results.iter().all(|x| x.status == Status::Fail && !x.enforced));
        assert!(r.passed);
    }
    // The same run against itself: no regression, value 0.
    let baseline = Baseline::from_json(&serde_json::to_value(&pilot_report).unwrap(), "pilot.json").unwrap();
    let r = run_check(&mut pilot, &map, &REGRESSION.replace("TOL", "0.0"), Some(&baseline), &diag);
    assert!(r.results.iter().all(|x| x.status == Status::Pass && x.value == Some(0.0)), "{:?}", r.results);
}

#[test]
fn too_few_calls_is_insufficient_never_pass() {
    let d = dir("few");
    let pcap = d.join("few.pcap");
    write(&series(|_, _| {}), &pcap);
    let diag = DiagnosisConfig::default();
    let (mut doc, map) = analyse(&pcap, &diag);
    let criteria = "min_calls = 50\n[[criterion]]\nname = \"mos\"\nmetric = \"mos_p5\"\nop = \">=\"\nvalue = 1.0\n\
                    [[criterion]]\nname = \"loss\"\nmetric = \"loss_p95_pct\"\nop = \"<=\"\nvalue = 1.0\nmin_calls = 12\n";
    let r = run_check(&mut doc, &map, criteria, None, &diag);
    let mos = &r.results[0];
    assert_eq!((mos.status, mos.value, mos.calls), (Status::Insufficient, Some(4.37), 12));
    assert!(mos.note.as_deref().unwrap_or("").contains("min_calls 50"));
    assert_eq!(r.results[1].status, Status::Pass, "per-criterion min_calls overrides the default");
    assert!(r.passed, "insufficient is neither pass nor fail by default");
    let strict = format!("insufficient_fails = true\n{criteria}");
    assert!(!run_check(&mut doc, &map, &strict, None, &diag).passed);
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_callscope")).args(args).output().expect("binary runs")
}

#[test]
fn cli_exit_codes_table_json_and_bad_files() {
    let d = dir("cli");
    let (good, bad) = (d.join("good.pcap"), d.join("bad.pcap"));
    write(&series(|_, _| {}), &good);
    write(&series(faulty), &bad);
    let map = d.join("sites.toml");
    std::fs::write(&map, MAP).unwrap();
    let criteria = d.join("criteria.toml");
    std::fs::write(&criteria, CORE).unwrap();
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let (c, m) = (s(&criteria), s(&map));
    let out = cli(&["check", "--criteria", &c, "--sites", &m, "--format", "table", &s(&good)]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("→ CRITERIA MET"), "{text}");
    let out = cli(&["check", "--criteria", &c, "--sites", &m, "--format", "table", &s(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("    worst: c00@check  one_way_audio:"), "{text}");
    assert!(text.contains("CRITERIA NOT MET"));
    // JSON to a file, then used as the baseline of the bad run.
    let pilot = d.join("pilot.json");
    let out = cli(&["check", "--criteria", &c, "--sites", &m, "--format", "json", "--out", &s(&pilot), &s(&good)]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&pilot).unwrap()).unwrap();
    assert_eq!((json["schema"].as_u64(), json["passed"].as_bool()), (Some(1), Some(true)));
    let first = &json["results"][0];
    for key in ["criterion", "scope", "site", "value", "op", "target", "status", "calls", "worst_calls"] {
        assert!(first.get(key).is_some(), "results[] lacks {key}");
    }
    let reg = d.join("regression.toml");
    std::fs::write(&reg, REGRESSION.replace("TOL", "0.5")).unwrap();
    let out =
        cli(&["check", "--criteria", &s(&reg), "--sites", &m, "--baseline", &s(&pilot), "--format", "json", &s(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["results"][1]["status"], "fail");
    // Bad criteria file: exit 1, the message names the line.
    let broken = d.join("broken.toml");
    std::fs::write(
        &broken,
        "min_calls = 3\n\n[[criterion]]\nname = \"x\"\nmetric = \"mos_p50\"\nop = \">=\"\nvalue = 1\n",
    )
    .unwrap();
    let out = cli(&["check", "--criteria", &s(&broken), &s(&good)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.toml:5:") && err.contains("unknown metric \"mos_p50\""), "{err}");
    // Bad baseline and missing --criteria: exit 1.
    let out = cli(&["check", "--criteria", &c, "--baseline", &s(&criteria), &s(&good)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not JSON"));
    assert_eq!(cli(&["check", &s(&good)]).status.code(), Some(1));
    // The example criteria file parses.
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/criteria.toml");
    let parsed = Criteria::load(&example).expect("fixtures/criteria.toml parses");
    assert!(parsed.criteria.len() >= 20);
}

/// Criteria of the codes other diagnosis rules add (transfer*, media_stops_after_resume,
/// number_translation_mismatch, t38_*, emergency_*): exercised on records carrying those codes,
/// so they count as soon as the diagnosis emits them.
const CODE_CRITERIA: &str = r#"
min_calls = 1
[[criterion]]
name = "transfers complete"
metric = "transfer_ok_pct"
op = ">="
value = 100.0
[[criterion]]
name = "hold resume"
metric = "hold_resume_ok_pct"
op = ">="
value = 100.0
[[criterion]]
name = "no translation mismatch"
metric = "translation_mismatch_calls"
op = "<="
value = 0
[[criterion]]
name = "fax"
metric = "t38_ok_pct"
op = ">="
value = 100.0
[[criterion]]
name = "emergency"
metric = "emergency_ok_pct"
op = ">="
value = 100.0
"#;

fn coded(code: &'static str, class: ReasonClass, severity: Severity, frame: u64) -> Reason {
    Reason::new(code, class, severity, None, format!("{code} (hand-built)"), vec![frame])
}

#[test]
fn criteria_on_codes_of_other_rules_from_hand_built_records() {
    let d = dir("codes");
    let pcap = d.join("codes.pcap");
    write(&series(|_, _| {}), &pcap);
    let diag = DiagnosisConfig::default();
    for broken in [false, true] {
        let (mut doc, map) = analyse(&pcap, &diag);
        let info = |code: &'static str, f: u64| coded(code, ReasonClass::Info, Severity::Info, f);
        let mut add = |k: usize, r: Reason| doc.calls[k].verdict.reasons.push(r);
        add(0, info("transfer", 5));
        add(1, info("transfer", 6));
        add(4, Reason::new("hold", ReasonClass::Info, Severity::Info, None, "held".into(), vec![10, 20]));
        add(5, Reason::new("hold", ReasonClass::Info, Severity::Info, None, "held".into(), vec![11, 21]));
        add(7, info("t38_fax", 30));
        add(8, info("t38_fax", 31));
        add(9, info("emergency_call", 40));
        add(10, info("emergency_call", 41));
        if broken {
            add(1, coded("transfer_rejected", ReasonClass::Signaling, Severity::Degrade, 7));
            add(2, coded("transfer_target_failed", ReasonClass::Routing, Severity::Fail, 8));
            add(3, info("transfer", 9));
            add(3, coded("media_stops_after_transfer", ReasonClass::Media, Severity::Fail, 9));
            add(5, coded("media_stops_after_resume", ReasonClass::Media, Severity::Fail, 22));
            add(6, coded("media_stops_after_resume", ReasonClass::Media, Severity::Fail, 23)); // hold not resumed-shaped
            add(6, coded("number_translation_mismatch", ReasonClass::Routing, Severity::Fail, 24));
            add(8, coded("t38_not_flowing", ReasonClass::Media, Severity::Fail, 32));
            add(11, info("emergency_call", 42));
            add(11, coded("emergency_routing", ReasonClass::Routing, Severity::Fail, 43).with_subcode("wrong_egress"));
        }
        let r = run_check(&mut doc, &map, CODE_CRITERIA, None, &diag);
        let get = |metric: &str| r.results.iter().find(|x| x.metric == metric && x.site.is_none()).unwrap();
        if !broken {
            for (metric, value) in [
                ("transfer_ok_pct", 100.0),
                ("hold_resume_ok_pct", 100.0),
                ("translation_mismatch_calls", 0.0),
                ("t38_ok_pct", 100.0),
                ("emergency_ok_pct", 100.0),
            ] {
                assert_eq!((get(metric).status, get(metric).value), (Status::Pass, Some(value)), "{metric}");
            }
            assert!(r.passed);
            continue;
        }
        let t = get("transfer_ok_pct");
        assert_eq!((t.status, t.value, t.calls), (Status::Fail, Some(25.0), 4));
        assert_eq!(t.worst_calls, vec!["c01@check", "c02@check", "c03@check"]);
        let h = get("hold_resume_ok_pct");
        assert_eq!((h.status, h.value, h.calls), (Status::Fail, Some(33.333), 3));
        assert_eq!(h.worst_calls, vec!["c05@check", "c06@check"]);
        let n = get("translation_mismatch_calls");
        assert_eq!((n.status, n.value, n.worst_calls.clone()), (Status::Fail, Some(1.0), vec!["c06@check".to_owned()]));
        assert_eq!(n.worst[0].reasons, vec!["number_translation_mismatch"]);
        let f = get("t38_ok_pct");
        assert_eq!(
            (f.status, f.value, f.worst_calls.clone()),
            (Status::Fail, Some(50.0), vec!["c08@check".to_owned()])
        );
        let e = get("emergency_ok_pct");
        assert_eq!(
            (e.status, e.value, e.worst_calls.clone()),
            (Status::Fail, Some(66.667), vec!["c11@check".to_owned()])
        );
        assert!(!r.passed);
    }
}

/// "Extensions registered" (issue 9 provisioning) reads the registration findings: AORs with
/// their status, churn and `registration_failed`, plus listed extensions never seen.
fn site_scenario_check(name: &str, s: &callscope::synth::diag_scenarios::Script, criteria: &str) -> CheckReport {
    let d = dir("registrations");
    let pcap = d.join(format!("{name}.pcap"));
    s.write_file(&pcap).expect("writes");
    let diag = DiagnosisConfig::default();
    let analysis =
        callscope::pipeline::analyze(&[pcap.to_string_lossy().into_owned()], &Config::default()).expect("opens");
    let mut doc = build(&analysis);
    let map = SiteMap::parse(callscope::synth::site_scenarios::SITE_MAP_TOML, "sites.toml").expect("map");
    callscope::sites::attach_with(&mut doc, &map, &SiteOptions::default(), &diag);
    run_check(&mut doc, &map, criteria, None, &diag)
}

const REGISTERED: &str =
    "min_calls = 1\n[[criterion]]\nname = \"extensions registered\"\nmetric = \"registered_pct\"\n\
                          op = \">=\"\nvalue = 100.0\nscope = \"site\"\nonly = [\"hq\"]\n";

#[test]
fn extensions_registered_reads_the_registration_findings() {
    use callscope::synth::site_scenarios as sc;
    // hq lists 1001–1003: 1001 registered, 1002 refused 403, 1003 never registers (a call to it 480).
    let r = site_scenario_check("unreg", &sc::unregistered_extensions(false), REGISTERED);
    let x = &r.results[0];
    assert_eq!((x.status, x.value, x.calls), (Status::Fail, Some(33.333), 3));
    let aors: Vec<&str> = x.worst.iter().filter_map(|w| w.aor.as_deref()).collect();
    assert_eq!(aors, vec!["sip:1002@10.1.0.1", "1003"]);
    assert_eq!(x.worst[0].reasons, vec!["registration_failed"]);
    assert_eq!(x.worst[1].reasons, vec!["unregistered_extensions"]);
    assert_eq!(x.worst_calls, vec!["u1003@br"]);
    // Near miss: 1001 and 1002 registered, 1003 not proven missing (short capture, no failed call).
    let r = site_scenario_check("unreg-near", &sc::unregistered_extensions(true), REGISTERED);
    assert_eq!((r.results[0].status, r.results[0].value), (Status::Pass, Some(100.0)));
    // Churn: five AORs registered at the end, 1005 churning → 80 %.
    let r = site_scenario_check("churn", &sc::registration_churn(false, false), REGISTERED);
    assert_eq!((r.results[0].status, r.results[0].value), (Status::Fail, Some(80.0)));
    assert_eq!(r.results[0].worst[0].reasons, vec!["registration_churn"]);
    let r = site_scenario_check("churn-near", &sc::registration_churn(true, false), REGISTERED);
    assert_eq!(r.results[0].status, Status::Pass);
}

#[test]
fn cli_registration_gate_exit_2_then_0() {
    use callscope::synth::site_scenarios as sc;
    let d = dir("cli-registrations");
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let (map, criteria) = (d.join("sites.toml"), d.join("criteria.toml"));
    std::fs::write(&map, sc::SITE_MAP_TOML).unwrap();
    std::fs::write(&criteria, REGISTERED).unwrap();
    for (near, code) in [(false, 2), (true, 0)] {
        let pcap = d.join(format!("unreg-{near}.pcap"));
        sc::unregistered_extensions(near).write_file(&pcap).unwrap();
        let out = cli(&["check", "--criteria", &s(&criteria), "--sites", &s(&map), "--format", "json", &s(&pcap)]);
        assert_eq!(out.status.code(), Some(code), "{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["results"][0]["site"], "hq");
    }
}

/// One criterion per feature of issue 9 (global, one call is enough evidence).
const FEATURE_GATE: &str = r#"
min_calls = 1
[[criterion]]
name = "hold/resume keeps two-way audio"
metric = "hold_resume_ok_pct"
op = ">="
value = 100.0
[[criterion]]
name = "transfers complete"
metric = "transfer_ok_pct"
op = ">="
value = 100.0
[[criterion]]
name = "forwarded calls reach a destination"
metric = "forwarded_reached_pct"
op = ">="
value = 100.0
[[criterion]]
name = "no translation mismatch"
metric = "translation_mismatch_calls"
op = "<="
value = 0
[[criterion]]
name = "emergency calls connect"
metric = "emergency_ok_pct"
op = "=="
value = 100.0
[[criterion]]
name = "fax switches to T.38"
metric = "t38_ok_pct"
op = ">="
value = 100.0
"#;

/// `[emergency]` for the cross-leg emergency captures: location required, one allowed trunk.
const EMERGENCY_CONFIG: &str = "[emergency]\nrequire_location = true\nallowed_egress = [\"192.0.2.50\"]\n";

/// `callscope check` on one generated capture: exit code and the names of the failed and the
/// passed criteria.
fn gate(d: &Path, name: &str, s: &callscope::synth::diag_scenarios::Script) -> (i32, Vec<String>, Vec<String>) {
    let pcap = d.join(format!("{name}.pcap"));
    s.write_file(&pcap).expect("writes");
    let (criteria, config) = (d.join("features.toml"), d.join("emergency.toml"));
    let p = |p: &Path| p.to_string_lossy().into_owned();
    let out = cli(&["check", "--criteria", &p(&criteria), "--config", &p(&config), "--format", "json", &p(&pcap)]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    let names = |status: &str| -> Vec<String> {
        let rows = json["results"].as_array().expect("results");
        rows.iter()
            .filter(|r| r["status"] == status)
            .filter_map(|r| r["criterion"].as_str().map(str::to_owned))
            .collect()
    };
    (out.status.code().unwrap_or(-1), names("fail"), names("pass"))
}

#[test]
fn feature_criteria_on_generated_feature_captures_pass_and_fail_exactly() {
    use callscope::synth::diag_flow_scenarios as flow;
    use callscope::synth::diag_sig_scenarios::{transfer, two_legs, TransferCase};
    let d = dir("feature-gate");
    std::fs::write(d.join("features.toml"), FEATURE_GATE).unwrap();
    std::fs::write(d.join("emergency.toml"), EMERGENCY_CONFIG).unwrap();
    let tc = |refer: u16, sipfrag: Option<u16>, target: Option<u16>| TransferCase {
        refer_status: Some(refer),
        sipfrag,
        attended: false,
        target_call: target,
    };
    let sid = "Session-ID: 33333333333333333333333333333333\r\n";
    let geo = format!("{sid}Geolocation: <cid:loc@pbx>\r\n");
    let diverted = "Diversion: <sip:2001@203.0.113.20>;reason=unconditional\r\n";
    let forwarded = |status: u16| {
        let mut c = DiagCall::answered("fwd@check");
        c.invite_headers = diverted.into();
        c.final_status.0 = status;
        script(&[c])
    };
    let fax_refused = {
        let mut c = DiagCall::answered("fax@check");
        c.t38_reoffer_ms = Some(2000);
        script(&[c])
    };
    // (capture, the criterion it must fail, or None: every judged criterion passes).
    let hold = "hold/resume keeps two-way audio";
    let xfer = "transfers complete";
    let fwd = "forwarded calls reach a destination";
    let ntm = "no translation mismatch";
    let em = "emergency calls connect";
    let fax = "fax switches to T.38";
    let cases: Vec<(&str, callscope::synth::diag_scenarios::Script, &str, bool)> = vec![
        ("hold-ok", flow::hold_resume(true), hold, true),
        ("hold-stops", flow::hold_resume(false), hold, false),
        ("xfer-ok", transfer("xfer-ok", &tc(202, Some(200), Some(200))), xfer, true),
        ("xfer-rejected", transfer("xfer-rejected", &tc(603, None, None)), xfer, false),
        ("xfer-target", transfer("xfer-target", &tc(202, None, Some(404))), xfer, false),
        ("xfer-media-ok", flow::transfer(true), xfer, true),
        ("xfer-media-stops", flow::transfer(false), xfer, false),
        ("fwd-ok", forwarded(200), fwd, true),
        ("fwd-404", forwarded(404), fwd, false),
        ("ntm-ok", two_legs("ntm-ok", "90301234567", "+49301234567", "2001", sid, sid, None), ntm, true),
        ("ntm-bad", two_legs("ntm-bad", "0301234567", "0307654321", "2001", sid, sid, None), ntm, false),
        ("em-ok", two_legs("em-ok", "9911", "911", "2001", sid, &geo, None), em, true),
        ("em-bad", two_legs("em-bad", "9911", "911", "2001", sid, sid, Some("192.0.2.99:5060")), em, false),
        ("fax-ok", flow::t38(true), fax, true),
        ("fax-not-flowing", flow::t38(false), fax, false),
        ("fax-rejected", fax_refused, fax, false),
    ];
    for (name, capture, criterion, works) in &cases {
        let (code, failed, passed) = gate(&d, name, capture);
        if *works {
            assert_eq!((code, failed.clone()), (0, vec![]), "{name}: passed {passed:?}");
            assert!(passed.iter().any(|p| p == criterion), "{name}: {criterion} not passed: {passed:?}");
        } else {
            assert_eq!((code, failed.clone()), (2, vec![criterion.to_string()]), "{name}: passed {passed:?}");
        }
    }
}
