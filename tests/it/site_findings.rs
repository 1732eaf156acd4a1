//! Site-level findings (diagnosis.md §4.5) on generated multi-site captures
//! (`callscope::synth::site_scenarios`): each code fires on the capture built to trigger it and
//! stays silent on its near miss; registration codes on REGISTER scripts.

use std::path::PathBuf;

use callscope::config::Config;
use callscope::diagnose::DiagnosisConfig;
use callscope::report::{build, build_with_sites, Document};
use callscope::sites::findings::SiteFinding;
use callscope::sites::{attach_with, SiteMap, SiteOptions, SiteReport};
use callscope::synth::diag_scenarios::{script, DiagCall, Script};
use callscope::synth::site_scenarios as sc;

fn path(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("site_findings");
    std::fs::create_dir_all(&d).expect("temp dir");
    d.join(format!("{name}.pcap"))
}

/// Analyses a script with the scenario map (or none) and attaches the sites.
fn analyse(name: &str, s: &Script, with_map: bool, cfg: &DiagnosisConfig) -> (Document, SiteReport) {
    let p = path(name);
    s.write_file(&p).expect("writes");
    let config = Config { diagnosis: cfg.clone(), ..Config::default() };
    let analysis = callscope::pipeline::analyze(&[p.to_string_lossy().into_owned()], &config).expect("opens");
    let map = if with_map { SiteMap::parse(sc::SITE_MAP_TOML, "sites.toml").expect("map") } else { SiteMap::default() };
    // As the CLI: with a map the diagnosis expects each site's DSCP.
    let mut doc = if with_map { build_with_sites(&analysis, Some(&map)) } else { build(&analysis) };
    let report = attach_with(&mut doc, &map, &SiteOptions::default(), cfg);
    (doc, report)
}

fn calls(name: &str, c: &[DiagCall], with_map: bool, cfg: &DiagnosisConfig) -> (Document, SiteReport) {
    analyse(name, &script(c), with_map, cfg)
}

fn findings<'a>(r: &'a SiteReport, code: &str) -> Vec<&'a SiteFinding> {
    r.summaries.iter().flat_map(|s| s.reasons.iter()).filter(|f| f.reason.code == code).collect()
}

fn default() -> DiagnosisConfig {
    DiagnosisConfig::default()
}

#[test]
fn inter_site_one_way_per_site_pair_and_per_address_pair() {
    let (doc, r) = calls("oneway", &sc::inter_site_one_way(false, false), true, &default());
    let f = findings(&r, "inter_site_one_way");
    assert_eq!(f.len(), 1, "{f:?}");
    let f = f[0];
    assert_eq!((f.from_site.as_deref(), f.to_site.as_deref()), (Some("branch"), Some("hq")));
    assert_eq!(f.site, "branch");
    assert_eq!(f.calls, vec!["hb0@hq", "hb1@hq", "hb2@hq"]);
    assert_eq!(f.reason.frames.len(), 3);
    assert_eq!(f.reason.metrics["rate_pct"], 37.5);
    assert_eq!(f.reason.metrics["reverse_rate_pct"], 0.0);
    // Failing calls' ports at hq (symmetric RTP from hq's stream) against the working calls'.
    assert!(f.reason.detail.contains("failing calls 20000–20004"), "{}", f.reason.detail);
    // The JSON: in `sites[]` on branch's site row, with from_site/to_site/calls.
    let row = doc.sites.iter().find(|s| s["site"] == "branch" && s["peer_site"].is_null()).expect("branch row");
    assert_eq!(row["reasons"][0]["code"], "inter_site_one_way");
    assert_eq!(row["reasons"][0]["to_site"], "hq");
    assert!(row["reasons"][0]["direction"].is_null());
    // Without a map: the same finding per address pair.
    let (doc, r) = calls("oneway-nomap", &sc::inter_site_one_way(false, false), false, &default());
    let f = findings(&r, "inter_site_one_way");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].from_addr.as_deref(), f[0].to_addr.as_deref()), (Some("10.3.0.30"), Some("10.1.0.10")));
    assert_eq!(f[0].from_site.as_deref(), Some("unknown"));
    assert_eq!(doc.sites.iter().filter(|s| s.get("code").is_some()).count(), 0, "address-pair entries replaced");
    // Near misses: 1 of 8 (12.5 %), and a failure elsewhere (warehouse → hq) making it site-wide.
    let (_, r) = calls("oneway-near", &sc::inter_site_one_way(true, false), true, &default());
    assert!(findings(&r, "inter_site_one_way").is_empty());
    let (_, r) = calls("oneway-spread", &sc::inter_site_one_way(false, true), true, &default());
    assert!(findings(&r, "inter_site_one_way").is_empty());
}

#[test]
fn inter_site_qos_mismatch_and_near_miss() {
    let (_, r) = calls("qos", &sc::qos_mismatch(false), true, &default());
    let f = findings(&r, "inter_site_qos_mismatch");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].from_site.as_deref(), f[0].to_site.as_deref()), (Some("branch"), Some("hq")));
    assert_eq!(f[0].reason.metrics["marked_pct"], 0.0);
    assert_eq!(f[0].reason.metrics["reverse_marked_pct"], 100.0);
    assert_eq!(f[0].calls.len(), 4);
    let (_, r) = calls("qos-near", &sc::qos_mismatch(true), true, &default());
    assert!(findings(&r, "inter_site_qos_mismatch").is_empty());
    // Without a map and without [qos] the rule is off; with expect_media_dscp it runs per address pair.
    let (_, r) = calls("qos-nomap", &sc::qos_mismatch(false), false, &default());
    assert!(findings(&r, "inter_site_qos_mismatch").is_empty());
    let mut cfg = default();
    cfg.qos.expect_media_dscp = Some(46);
    let (_, r) = calls("qos-nomap-cfg", &sc::qos_mismatch(false), false, &cfg);
    assert_eq!(findings(&r, "inter_site_qos_mismatch").len(), 1);
}

/// The `dscp_*` reasons of a call's verdict.
fn dscp_reasons<'a>(doc: &'a Document, call_id: &str) -> Vec<&'a callscope::diagnose::Reason> {
    let call = doc.calls.iter().find(|c| c.call_id == call_id).expect("call");
    call.verdict.reasons.iter().filter(|r| r.code.starts_with("dscp_")).collect()
}

#[test]
fn per_site_expected_dscp_drives_dscp_missing() {
    // hq → branch; branch's answer RTP marked 0 in the first call, EF in the second (near miss).
    let mut unmarked = sc::site_call("unmarked@hq", sc::addr(1, 10, 5060), sc::addr(3, 30, 5060), 0, 0);
    unmarked.e2c.dscp = 0;
    let marked = sc::site_call("marked@hq", sc::addr(1, 10, 5060), sc::addr(3, 30, 5060), 15_000, 1);
    let both = [unmarked, marked];
    // The map's sites expect EF (the default expected_dscp 46); no [qos] in the config.
    let (doc, _) = calls("dscp-site", &both, true, &default());
    let r = dscp_reasons(&doc, "unmarked@hq");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].code, "dscp_missing");
    assert_eq!(r[0].direction, Some(callscope::correlate::StreamDirection::CalleeToCaller));
    assert!(r[0].detail.contains("10.3.0.30:30000→10.1.0.10:20000"), "{}", r[0].detail);
    assert!(r[0].detail.contains("(expected 46, site branch)"), "{}", r[0].detail);
    assert_eq!(r[0].metrics["expected"], 46.0);
    assert!(dscp_reasons(&doc, "marked@hq").is_empty(), "EF-marked flows pass");
    // Without the map (and without [qos]) the DSCP rules are off.
    let (doc, _) = calls("dscp-nomap", &both, false, &default());
    assert!(dscp_reasons(&doc, "unmarked@hq").is_empty());
    // A site's own expectation wins over [qos]: branch expects AF41 (34), so EF is remarked and
    // 0 is missing against 34; an address in no site falls back to [qos] (here 46, met).
    let map = sc::SITE_MAP_TOML.replace("name = \"branch\"\n", "name = \"branch\"\nexpected_dscp = 34\n");
    let map = SiteMap::parse(&map, "sites.toml").expect("map");
    let mut cfg = default();
    cfg.qos.expect_media_dscp = Some(46);
    let mut outside = sc::site_call("outside@x", sc::addr(1, 10, 5060), "192.0.2.7:5060".parse().unwrap(), 30_000, 2);
    outside.e2c.dscp = 46;
    let p = path("dscp-af41");
    script(&[both[0].clone(), both[1].clone(), outside]).write_file(&p).expect("writes");
    let config = Config { diagnosis: cfg, ..Config::default() };
    let analysis = callscope::pipeline::analyze(&[p.to_string_lossy().into_owned()], &config).expect("opens");
    let doc = build_with_sites(&analysis, Some(&map));
    let codes = |id: &str| dscp_reasons(&doc, id).iter().map(|r| (r.code, r.metrics["expected"])).collect::<Vec<_>>();
    assert_eq!(codes("unmarked@hq"), vec![("dscp_missing", 34.0)]);
    assert_eq!(codes("marked@hq"), vec![("dscp_remarked", 34.0)]);
    assert!(codes("outside@x").is_empty());
}

#[test]
fn busy_hour_degradation_and_near_misses() {
    let (_, r) = calls("busy", &sc::busy_hour(8, true), true, &default());
    let f = findings(&r, "busy_hour_degradation");
    assert_eq!(f.len(), 2, "both directions: {f:?}");
    let hw = f.iter().find(|x| x.from_site.as_deref() == Some("hq")).expect("hq→warehouse");
    assert_eq!(hw.to_site.as_deref(), Some("warehouse"));
    assert_eq!(hw.reason.metrics["buckets"], 8.0);
    assert_eq!(hw.reason.metrics["calls"], 44.0);
    assert!(hw.reason.metrics["rho"] >= 0.6, "{:?}", hw.reason.metrics);
    assert!(hw.reason.metrics["loss_top_pct"] > 5.0 && hw.reason.metrics["loss_bottom_pct"] == 0.0);
    assert_eq!(hw.calls.len(), 44);
    // Near misses: no loss (quality flat), and only seven buckets.
    let (_, r) = calls("busy-flat", &sc::busy_hour(8, false), true, &default());
    assert!(findings(&r, "busy_hour_degradation").is_empty());
    let (_, r) = calls("busy-short", &sc::busy_hour(7, true), true, &default());
    assert!(findings(&r, "busy_hour_degradation").is_empty());
}

#[test]
fn trunk_saturation_at_the_limit_and_near_misses() {
    let mut cfg = default();
    cfg.diagnosis.trunk_saturation.channels.insert(sc::TRUNK.into(), 4);
    let (_, r) = calls("trunk", &sc::trunk_saturation(3), true, &cfg);
    let f = findings(&r, "trunk_saturation");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!((f[0].trunk.as_deref(), f[0].site.as_str()), (Some(sc::TRUNK), "carrier"));
    assert_eq!(f[0].calls, vec!["r0@hq", "r1@hq", "r2@hq"]);
    assert_eq!(f[0].reason.metrics["peak_concurrent"], 4.0);
    // Without configured channels: the observed maximum (4) is the limit.
    let (_, r) = calls("trunk-observed", &sc::trunk_saturation(3), true, &default());
    assert_eq!(findings(&r, "trunk_saturation").len(), 1);
    // Near misses: a limit of 8 channels (4 up is not near it), and only two refusals.
    cfg.diagnosis.trunk_saturation.channels.insert(sc::TRUNK.into(), 8);
    let (_, r) = calls("trunk-roomy", &sc::trunk_saturation(3), true, &cfg);
    assert!(findings(&r, "trunk_saturation").is_empty());
    let (_, r) = calls("trunk-two", &sc::trunk_saturation(2), true, &default());
    assert!(findings(&r, "trunk_saturation").is_empty());
}

#[test]
fn registration_failed_challenge_423_and_expired() {
    let (doc, _) = analyse("regfail", &sc::registration_failed(false), true, &default());
    let reg = |user: &str| doc.registrations.iter().find(|r| r.aor.contains(user)).expect("aor");
    let r1 = reg("1001");
    assert_eq!(r1.reasons.len(), 1, "{:?}", r1.reasons);
    let x = &r1.reasons[0];
    assert_eq!((x.code, x.subcode), ("registration_failed", None));
    assert!(x.detail.contains("403 Forbidden after a challenge"), "{}", x.detail);
    assert_eq!(x.frames.len(), 4, "REGISTER, 401, retry, 403: {:?}", x.frames);
    // 423 then a longer expiry granted: resolved, no failure.
    let r2 = reg("1002");
    assert!(r2.reasons.is_empty(), "{:?}", r2.reasons);
    assert_eq!((r2.status, r2.failures), ("registered", 0));
    let r3 = reg("1003");
    assert_eq!(r3.status, "expired");
    assert_eq!(r3.reasons.len(), 1);
    assert_eq!(r3.reasons[0].subcode, Some("expired"));
    assert_eq!(r3.reasons[0].metrics["expires_s"], 60.0);
    let (doc, _) = analyse("regfail-near", &sc::registration_failed(true), true, &default());
    assert!(doc.registrations.iter().all(|r| r.reasons.is_empty()), "{:?}", doc.registrations);
}

#[test]
fn registration_churn_rate_nat_and_near_miss() {
    let (_, r) = analyse("churn", &sc::registration_churn(false, false), true, &default());
    let f = findings(&r, "registration_churn");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].site, "hq");
    assert_eq!(f[0].aors.len(), 1);
    assert!(f[0].aors[0].contains("1005"));
    assert_eq!(f[0].reason.metrics["share_pct"], 20.0);
    assert!(f[0].reason.detail.contains("10 REGISTER transactions in an hour (limit 6)"), "{}", f[0].reason.detail);
    let (_, r) = analyse("churn-nat", &sc::registration_churn(false, true), true, &default());
    assert_eq!(findings(&r, "registration_churn").len(), 1);
    let (_, r) = analyse("churn-near", &sc::registration_churn(true, false), true, &default());
    assert!(findings(&r, "registration_churn").is_empty());
    // The site share threshold: with 25 % required, one of five AORs is not enough.
    let mut cfg = default();
    cfg.diagnosis.registration_churn.site_aor_pct = 25.0;
    let (_, r) = analyse("churn-share", &sc::registration_churn(false, false), true, &cfg);
    assert!(findings(&r, "registration_churn").is_empty());
}

#[test]
fn unregistered_extensions_listed_and_unlisted() {
    let (_, r) = analyse("unreg", &sc::unregistered_extensions(false), true, &default());
    let f = findings(&r, "unregistered_extensions");
    assert_eq!(f.len(), 2, "{f:?}");
    let hq = f.iter().find(|x| x.site == "hq").expect("hq");
    assert_eq!(hq.extensions, vec!["1002", "1003"]);
    assert_eq!(hq.calls, vec!["u1003@br"]);
    let br = f.iter().find(|x| x.site == "branch").expect("branch");
    assert_eq!((br.extensions.clone(), br.calls.clone()), (vec!["2002".to_owned()], vec!["u2002@hq".to_owned()]));
    let (_, r) = analyse("unreg-near", &sc::unregistered_extensions(true), true, &default());
    assert!(findings(&r, "unregistered_extensions").is_empty(), "{:?}", findings(&r, "unregistered_extensions"));
}

#[test]
fn thresholds_come_from_the_config_file() {
    let cfg = DiagnosisConfig::from_toml(
        "[diagnosis.inter_site_one_way]\nrate_pct = 50.0\n[diagnosis.trunk_saturation]\nchannels = { \"10.9.0.1\" = 4 }\n",
    )
    .expect("parses");
    assert_eq!(cfg.diagnosis.trunk_saturation.channels.get(sc::TRUNK), Some(&4));
    let (_, r) = calls("oneway-cfg", &sc::inter_site_one_way(false, false), true, &cfg);
    assert!(findings(&r, "inter_site_one_way").is_empty(), "37.5 % is below a 50 % threshold");
    assert!(callscope::diagnose::DEFAULT_TOML.contains("[diagnosis.busy_hour_degradation]"));
}

#[test]
fn caller_and_callee_sites_through_a_proxy_come_from_the_phones() {
    // hq phone → proxy 10.5.0.1 (site core) → branch phone 10.3.0.30: the INVITE goes to the
    // proxy, the SDP answer and the RTP come from the branch phone.
    let proxy = "10.5.0.1:5060".parse().unwrap();
    let mut both_ways = sc::site_call("both@hq", sc::addr(1, 10, 5060), proxy, 0, 0);
    both_ways.callee_media = sc::addr(3, 30, 30000);
    let mut callee_silent = sc::site_call("silent@hq", sc::addr(1, 10, 5060), proxy, 15_000, 1);
    callee_silent.callee_media = sc::addr(3, 30, 30002);
    callee_silent.e2c.enabled = false;
    let mut refused = DiagCall::refused("busy@hq", 486, 500);
    refused.caller = sc::addr(1, 10, 5060);
    refused.callee = proxy;
    refused.caller_media = sc::addr(1, 10, 20004);
    refused.callee_media = sc::addr(3, 30, 30004);
    refused.start_ms = 30_000;
    let p = path("proxy-sites");
    script(&[both_ways, callee_silent, refused]).write_file(&p).expect("writes");
    let analysis =
        callscope::pipeline::analyze(&[p.to_string_lossy().into_owned()], &Config::default()).expect("opens");
    let map = format!("{}\n[[site]]\nname = \"core\"\ncidrs = [\"10.5.0.0/16\"]\n", sc::SITE_MAP_TOML);
    let map = SiteMap::parse(&map, "sites.toml").expect("map");
    let sites_of = |doc: &Document, id: &str| {
        let c = doc.calls.iter().find(|c| c.call_id == id).expect("call");
        (c.caller_site.clone(), c.callee_site.clone())
    };
    let mut doc = build(&analysis);
    attach_with(&mut doc, &map, &SiteOptions::default(), &default());
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    // RTP both ways: the sources of each party's RTP.
    assert_eq!(sites_of(&doc, "both@hq"), pair("hq", "branch"));
    // No callee RTP: the callee's SDP answer (10.3.0.30).
    assert_eq!(sites_of(&doc, "silent@hq"), pair("hq", "branch"));
    // No media and no answer: the INVITE's destination, the proxy (the caller from its offer).
    assert_eq!(sites_of(&doc, "busy@hq"), pair("hq", "core"));
    // The contract fields stay the INVITE's addresses.
    let c = doc.calls.iter().find(|c| c.call_id == "both@hq").expect("call");
    assert_eq!((c.caller, c.callee), (Some(sc::addr(1, 10, 5060)), Some(proxy)));
    // The site pair rows follow: hq → branch holds the two answered calls, hq → core the refused one.
    let row = doc.sites.iter().find(|s| s["site"] == "hq" && s["peer_site"] == "branch").expect("hq->branch row");
    assert_eq!(row["calls"], 2);
    let row = doc.sites.iter().find(|s| s["site"] == "hq" && s["peer_site"] == "core").expect("hq->core row");
    assert_eq!(row["calls"], 1);
    // RTP wins over SDP: an answer naming a warehouse address does not move a callee whose RTP
    // comes from branch, but does move the one that sent none.
    let mut doc = build(&analysis);
    for c in &mut doc.calls {
        c.callee_sdp_ip = Some("10.2.0.9".parse().unwrap());
    }
    attach_with(&mut doc, &map, &SiteOptions::default(), &default());
    assert_eq!(sites_of(&doc, "both@hq"), pair("hq", "branch"));
    assert_eq!(sites_of(&doc, "silent@hq"), pair("hq", "warehouse"));
}
