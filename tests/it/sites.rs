//! Sites and the report on the synthetic three-site capture (`callscope::synth::sites`), whose
//! per-site truth is known by construction: summaries and busy-hour figures asserted exactly,
//! the HTML report rendered in headless Chromium.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use callscope::config::Config;
use callscope::report::{build, Document};
use callscope::sites::{attach, SiteMap, SiteOptions, SiteReport, SiteSummary};
use callscope::synth::sites::{three_sites, LOSSY_FROM_CONCURRENT, THREE_SITES_TOML};
use callscope::synth::Truth;

fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Writes the capture once per test and analyses it with the fixture site map.
fn analysed(name: &str) -> (PathBuf, Truth, Document, SiteReport) {
    let dir = out_dir(name);
    let pcap = dir.join("three_sites.pcap");
    let truth = three_sites().write_file(&pcap).expect("synth writes");
    let analysis =
        callscope::pipeline::analyze(&[pcap.to_string_lossy().into_owned()], &Config::default()).expect("opens");
    let mut doc = build(&analysis);
    let map = SiteMap::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/sites.toml")).expect("map loads");
    let sites = attach(&mut doc, &map, &SiteOptions::default());
    (pcap, truth, doc, sites)
}

fn row<'a>(sites: &'a SiteReport, site: &str, peer: Option<&str>) -> &'a SiteSummary {
    sites.summaries.iter().find(|s| s.site == site && s.peer_site.as_deref() == peer).expect("row exists")
}

/// Loss % of the lossy burst streams from the truth (5 % of the slots, expected − received).
fn lossy_pct(truth: &Truth) -> f64 {
    let s = truth
        .streams
        .iter()
        .find(|s| s.call_id.as_deref().is_some_and(|c| c.starts_with("burst-16@")))
        .expect("burst-16");
    (100_000.0 * s.lost as f64 / s.expected as f64).round() / 1000.0
}

#[test]
fn fixture_map_is_the_synth_map() {
    let file = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/sites.toml")).unwrap();
    assert_eq!(file, THREE_SITES_TOML);
}

#[test]
fn calls_get_sites_from_the_map_ipv4_ipv6_and_unknown() {
    let (_, _, doc, _) = analysed("sites_calls");
    let site = |prefix: &str| {
        let c = doc.calls.iter().find(|c| c.call_id.starts_with(prefix)).expect("call");
        (c.caller_site.as_str(), c.callee_site.as_str())
    };
    assert_eq!(site("burst-1@"), ("hq", "warehouse"));
    assert_eq!(site("oneway-0@"), ("hq", "branch"));
    assert_eq!(site("v6-0@"), ("branch", "hq"));
    assert_eq!(site("notfound@"), ("branch", "warehouse"));
    assert_eq!(site("stranger@"), ("unknown", "hq"));
    assert_eq!(doc.calls.len(), 28);
}

#[test]
fn warehouse_summary_and_busy_hour_equal_the_truth() {
    let (_, truth, doc, sites) = analysed("sites_warehouse");
    let lossy = lossy_pct(&truth);
    assert!(lossy > 4.9 && lossy < 5.1, "{lossy}");
    let w = row(&sites, "warehouse", None);
    // 19 answered hq calls + 486 + 404 from branch; the 404 is a routing failure, 486 counts in NER.
    assert_eq!((w.calls, w.answered), (21, 19));
    assert_eq!((w.asr_pct, w.ner_pct), (Some(90.476), Some(95.238)));
    // The 6 calls placed while more than 10 were up lose 5 % both ways: `high_loss` on each of
    // their 12 streams makes them media failures; the 404 is the routing failure.
    assert_eq!((w.failures.signaling, w.failures.media, w.failures.routing), (0, 6, 1));
    assert_eq!(
        w.top_reasons.iter().map(|r| (r.code.as_str(), r.count)).collect::<Vec<_>>(),
        vec![("high_loss", 12), ("not_found", 1)]
    );
    assert_eq!(w.streams, 38);
    // 12 of 38 streams lose 5 %: the median is 0, the 95th percentile (rank 35.15) and max are lossy.
    assert_eq!((w.loss_p50_pct, w.loss_p95_pct, w.loss_max_pct), (Some(0.0), Some(lossy), Some(lossy)));
    assert_eq!((w.pdd_p50_ms, w.pdd_p95_ms), (Some(800.0), Some(800.0)));
    assert_eq!(w.peak_concurrent, 16);
    // 08:15 bucket window holds the morning calls and the 09:00 burst: same peak, more traffic.
    assert_eq!(w.busy_hour_start.map(|t| t.rfc3339()).as_deref(), Some("2024-03-01T08:15:00.000000Z"));
    assert_eq!((w.busy_hour_peak_concurrent, w.busy_hour_attempts), (16, 21));
    assert_eq!(w.dscp_expected_pct, Some(100.0));
    // Loss starts exactly at the 11th concurrent call and correlates with load.
    let q = w.quality_vs_concurrency;
    assert_eq!(q.loss_onset_concurrent, Some(LOSSY_FROM_CONCURRENT as u32));
    assert!(q.loss_r.is_some_and(|r| r > 0.8), "{q:?}");
    // MOS fields are the stream MOS statistics (null until the quality stage computes MOS).
    let mos: Vec<f64> = doc
        .streams
        .iter()
        .filter(|s| s.call_id.as_deref().is_some_and(|c| c.starts_with("burst-") || c.starts_with("morning-")))
        .filter_map(|s| s.mos)
        .collect();
    assert_eq!(w.mos_min, mos.iter().copied().reduce(f64::min).map(|m| (m * 1000.0).round() / 1000.0));

    let b = row(&sites, "branch", Some("warehouse"));
    assert_eq!((b.calls, b.answered, b.asr_pct, b.ner_pct), (2, 0, Some(0.0), Some(50.0)));
    assert_eq!((b.streams, b.loss_p95_pct, b.pdd_p50_ms), (0, None, None));
}

#[test]
fn time_buckets_show_the_burst_and_its_loss() {
    let (_, truth, _, sites) = analysed("sites_buckets");
    let lossy = lossy_pct(&truth);
    let hw: Vec<_> = sites.windows.iter().filter(|w| w.site == "hq" && w.peer_site == "warehouse").collect();
    let starts: Vec<String> = hw.iter().map(|w| w.start.rfc3339()).collect();
    assert_eq!(starts, ["08:15", "08:30", "08:45", "09:00"].map(|t| format!("2024-03-01T{t}:00.000000Z")).to_vec());
    let (morning, burst) = (hw[0], hw[3]);
    assert_eq!((morning.concurrent_peak, morning.attempts, morning.loss_p95_pct), (3, 3, Some(0.0)));
    assert_eq!((hw[1].concurrent_peak, hw[1].attempts, hw[1].loss_p95_pct), (0, 0, None));
    assert_eq!((burst.concurrent_peak, burst.attempts, burst.loss_p95_pct), (16, 16, Some(lossy)));
    let other = SiteOptions { bucket_minutes: 60 };
    assert_eq!(other.bucket_us(), 3_600_000_000);
}

#[test]
fn one_way_and_dscp_by_direction_and_site() {
    let (_, _, doc, sites) = analysed("sites_oneway");
    let hb = row(&sites, "hq", Some("branch"));
    assert_eq!((hb.calls, hb.streams), (4, 4));
    // The branch never answers with media: all four streams go caller → callee.
    let directions: Vec<_> = doc
        .streams
        .iter()
        .filter(|s| s.call_id.as_deref().is_some_and(|c| c.starts_with("oneway-")))
        .map(|s| serde_json::to_value(s.direction).unwrap())
        .collect();
    assert_eq!(directions, vec![serde_json::json!("caller_to_callee"); 4]);
    // one_way counts the diagnosis' `one_way_audio` reasons (added by the diagnosis stage): every
    // such reason on these calls must be counted, in its direction, and none in the other.
    let reported = doc
        .calls
        .iter()
        .filter(|c| c.call_id.starts_with("oneway-"))
        .filter(|c| c.verdict.reasons.iter().any(|r| r.code == "one_way_audio"))
        .count() as u64;
    assert_eq!(hb.one_way.callee_to_caller + hb.one_way.caller_to_callee, reported);
    assert_eq!(
        row(&sites, "branch", Some("hq")).one_way.caller_to_callee
            + row(&sites, "branch", Some("hq")).one_way.callee_to_caller,
        0
    );
    // branch expects DSCP 34 but sends EF (46): its 2 of 4 streams towards hq miss the target.
    assert_eq!(row(&sites, "branch", Some("hq")).dscp_expected_pct, Some(50.0));
    assert_eq!(row(&sites, "branch", None).dscp_expected_pct, Some(75.0));
    assert_eq!(row(&sites, "unknown", Some("hq")).calls, 1);
}

fn callscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_callscope"))
}

#[test]
fn bad_site_map_exits_1_naming_the_line() {
    let dir = out_dir("sites_badmap");
    let map = dir.join("bad.toml");
    std::fs::write(&map, "[[site]]\nname = \"hq\"\ncidrs = [\"10.1.0.0/16\",\n  \"10.300.0.0/16\"]\n").unwrap();
    let pcap = dir.join("empty.pcap");
    callscope::synth::Scenario::new("empty", 1).write_file(&pcap).unwrap();
    let out = callscope().args(["analyze", "--format", "json", "--sites"]).arg(&map).arg(&pcap).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:4: site \"hq\": \"10.300.0.0/16\" is not an IP address or CIDR"), "{err}");
}

#[cfg(not(feature = "polars"))]
#[test]
fn parquet_without_the_feature_is_a_clear_error() {
    let dir = out_dir("sites_noparquet");
    let pcap = dir.join("empty.pcap");
    callscope::synth::Scenario::new("empty", 1).write_file(&pcap).unwrap();
    let out = callscope().args(["analyze", "--format", "parquet", "--out"]).arg(&dir).arg(&pcap).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("polars"));
}

/// Runs a command with a deadline (a hung browser fails the test instead of hanging it). Output
/// is drained by threads, so a large DOM cannot fill the pipe and stall the child.
fn run_bounded(cmd: &mut Command, limit: Duration) -> (bool, String, String) {
    use std::io::Read;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawns");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let started = Instant::now();
    let mut status = None;
    for _ in 0..100_000 {
        status = child.try_wait().expect("waits");
        if status.is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let ok = status.is_some_and(|s| s.success());
    (ok, out.join().unwrap_or_default(), err.join().unwrap_or_default())
}

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"]
        .iter()
        .flat_map(|n| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(move |d| d.join(n))
                .collect::<Vec<_>>()
        })
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "chromium is missing but CI=true (.ci/run installs it)"
        );
        eprintln!("NOTICE: chromium not installed; the HTML report browser test is skipped");
    }
    found
}

fn headless(browser: &Path, profile: &Path) -> Command {
    let mut c = Command::new(browser);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

#[test]
fn report_renders_in_headless_chromium_with_the_expected_numbers() {
    let dir = out_dir("sites_report");
    let pcap = dir.join("three_sites.pcap");
    three_sites().write_file(&pcap).unwrap();
    let report = dir.join("report");
    let map = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/sites.toml");
    let out = callscope().args(["report", "--sites"]).arg(&map).arg("--out").arg(&report).arg(&pcap).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(!html.contains("<script"), "the report must not need JavaScript");
    assert!(
        !html.contains("http://") && !html.contains("https://") || !html.contains("src=\"http"),
        "no network resources"
    );
    for plot in ["busy_hour", "loss_vs_concurrency", "site_matrix", "loss_distribution", "mos_by_site"] {
        assert!(report.join(format!("plots/{plot}.png")).metadata().unwrap().len() > 1000, "{plot}.png");
        assert!(html.contains(&format!("id=\"chart-{plot}\"")), "{plot} inline");
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
    // 9 site and site-pair summaries; the one-way finding (branch never sends to hq) is a site
    // pair finding in `reasons` of branch's site row (diagnosis.md §2 `sites[].reasons`).
    assert_eq!(json["sites"].as_array().map(Vec::len), Some(9));
    let branch = json["sites"].as_array().unwrap().iter().find(|s| s["site"] == "branch" && s["peer_site"].is_null());
    let finding = &branch.expect("branch row")["reasons"][0];
    assert_eq!((finding["code"].as_str(), finding["from_site"].as_str()), (Some("inter_site_one_way"), Some("branch")));
    assert_eq!(finding["to_site"], "hq");
    assert_eq!(finding["calls"].as_array().map(Vec::len), Some(4));

    let Some(browser) = chromium() else { return };
    let profile = dir.join("chromium-profile");
    let _ = std::fs::remove_dir_all(&profile);
    let url = format!("file://{}", report.join("index.html").display());
    let (ok, dom_text, log) =
        run_bounded(headless(&browser, &profile).arg("--dump-dom").arg(&url), Duration::from_secs(90));
    assert!(ok, "chromium failed: {log}");
    assert!(!log.contains("CONSOLE"), "console messages: {log}");
    for expected in ["90.476", "95.238", "2024-03-01T08:15:00.000000Z", "routing / not_found (1)", "notfound@10.3.0.32"]
    {
        assert!(dom_text.contains(expected), "rendered page lacks {expected}");
    }
    let shot = dir.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let (ok, _, log) = run_bounded(
        headless(&browser, &profile)
            .arg(format!("--screenshot={}", shot.display()))
            .arg("--window-size=1400,2200")
            .arg(&url),
        Duration::from_secs(90),
    );
    assert!(ok, "{log}");
    assert!(shot.metadata().map(|m| m.len()).unwrap_or(0) > 20_000, "screenshot too small");

    // Layout on a narrow window: nothing widens the page past the viewport, even a 400-character
    // Call-ID without a break opportunity (wide tables scroll inside their own box). The page has
    // no script, so a test-only copy gets one that measures the laid-out page.
    let long_id = "x".repeat(400);
    let probe = html.replace("notfound@10.3.0.32", &long_id).replace(
        "</body>",
        "<script>const d=document.documentElement;const w=[...document.querySelectorAll('.scroll')]\
         .filter(e=>e.scrollWidth>e.clientWidth).length;document.body.setAttribute('data-layout',\
         'overflow='+(d.scrollWidth-d.clientWidth)+' scrolling='+w);</script></body>",
    );
    let probe_path = report.join("layout-probe.html");
    std::fs::write(&probe_path, probe).unwrap();
    let (ok, dom, log) = run_bounded(
        headless(&browser, &profile)
            .arg("--window-size=800,1000")
            .arg("--dump-dom")
            .arg(format!("file://{}", probe_path.display())),
        Duration::from_secs(90),
    );
    assert!(ok, "{log}");
    // The site and pair tables (25+ columns) scroll inside their boxes at 800 px.
    let layout = dom.split("data-layout=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("missing");
    assert!(layout.starts_with("overflow=0 scrolling="), "page wider than the window: {layout}");
    assert_ne!(layout, "overflow=0 scrolling=0", "the wide tables should scroll in their boxes: {layout}");
}

#[cfg(feature = "polars")]
#[test]
fn parquet_reads_back_with_the_same_rows_and_polars_equals_plain_rust() {
    use polars::prelude::{DataType, TimeUnit};
    use polars_io::prelude::{ParquetReader, SerReader};
    let (_, _, mut doc, sites) = analysed("sites_parquet");
    let dir = out_dir("sites_parquet").join("dataset");
    let written = callscope::report::parquet::write_dir(&doc, &sites, &dir).unwrap();
    assert_eq!(written.len(), 4);
    let read = |name: &str| {
        ParquetReader::new(std::fs::File::open(dir.join(format!("{name}.parquet"))).unwrap()).finish().unwrap()
    };
    let calls = read("calls");
    assert_eq!(calls.height(), doc.calls.len());
    // Microsecond timestamps (polars 0.55 reads the UTC-adjusted Parquet column back without its
    // zone, so the unit and the values are what is compared: µs since the epoch, UTC).
    let is_us = |d: &DataType| matches!(d, DataType::Datetime(TimeUnit::Microseconds, _));
    assert!(is_us(calls.column("start").unwrap().dtype()));
    let starts: Vec<Option<i64>> = calls
        .column("start")
        .unwrap()
        .as_materialized_series()
        .cast(&DataType::Int64)
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(starts, doc.calls.iter().map(|c| c.start.map(|t| t.0.div_euclid(1000))).collect::<Vec<_>>());
    let ids: Vec<String> =
        calls.column("call_id").unwrap().str().unwrap().iter().flatten().map(str::to_owned).collect();
    assert_eq!(ids, doc.calls.iter().map(|c| c.call_id.clone()).collect::<Vec<_>>());
    assert_eq!(read("streams").height(), doc.streams.len());
    assert_eq!(read("windows").height(), sites.windows.len());
    // Stable column names and types: what DuckDB/Spark/Trino users query.
    let names = |name: &str| -> Vec<String> { read(name).get_column_names().iter().map(|n| n.to_string()).collect() };
    assert_eq!(names("streams").len(), 17);
    assert_eq!(
        names("windows"),
        [
            "start",
            "site",
            "peer_site",
            "concurrent_peak",
            "attempts",
            "failures_signaling",
            "failures_media",
            "failures_routing",
            "mos_p5",
            "loss_p95_pct",
        ]
    );
    assert_eq!(names("calls")[..3], ["call_id", "from_user", "to_user"]);
    assert_eq!(names("sites").len(), 25);
    for (file, column) in
        [("streams", "first_time"), ("streams", "last_time"), ("windows", "start"), ("sites", "busy_hour_start")]
    {
        assert!(is_us(read(file).column(column).unwrap().dtype()), "{file}.{column}");
    }
    // The same rows as the JSON document's arrays.
    let json = serde_json::to_value(&doc).unwrap();
    assert_eq!(json["calls"].as_array().map(Vec::len), Some(calls.height()));
    assert_eq!(json["streams"].as_array().map(Vec::len), Some(read("streams").height()));
    assert_eq!(json["site_windows"].as_array().map(Vec::len), Some(read("windows").height()));
    let s = read("sites");
    assert_eq!(s.height(), sites.summaries.len());
    let asr: Vec<Option<f64>> = s.column("asr_pct").unwrap().f64().unwrap().iter().collect();
    assert_eq!(asr, sites.summaries.iter().map(|r| r.asr_pct).collect::<Vec<_>>());

    let map = SiteMap::parse(THREE_SITES_TOML, "sites.toml").unwrap();
    let (call_rows, stream_rows) = callscope::sites::rows::build_rows(&mut doc, &map);
    let lazy = callscope::sites::frames::pair_stats_polars(&call_rows, &stream_rows).unwrap();
    assert_eq!(lazy, callscope::sites::frames::pair_stats_plain(&sites));
}
