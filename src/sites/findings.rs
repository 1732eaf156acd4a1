//! Site-level findings (diagnosis.md §4.5): the codes that no single call can prove, aggregated
//! over sites, site pairs and trunks from the finished records — `registration_churn`,
//! `unregistered_extensions`, `busy_hour_degradation`, `trunk_saturation`, `inter_site_one_way`
//! and `inter_site_qos_mismatch`. (`registration_failed` is registration-scoped and lives in
//! `report::registrations`.)
//!
//! With a site map the "places" are sites; without one every address is site `unknown`, so the
//! pair codes run per address pair instead (the findings then carry `from_addr`/`to_addr`) and
//! the registration codes treat the whole capture as the one site `unknown`.
//!
//! Every finding is a [`Reason`] with `direction` null (§4.5: `from_site`/`to_site` carry the
//! orientation), `frames` = the first frame of up to `diagnosis.max_frames` representative
//! calls (or AORs), and `calls` = all the Call-IDs behind it. Thresholds are
//! `diagnosis.<code>.*` of [`DiagnosisConfig`]; the values used are echoed in `metrics`.
//! Runs once per run on records, never on the packet path.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use super::map::{SiteMap, UNKNOWN_SITE};
use super::stats::{mean, peak_concurrent, percentile, round3};
use super::summary::SiteOptions;
use crate::correlate::StreamDirection;
use crate::diagnose::{DiagnosisConfig, Reason, ReasonClass, Severity};
use crate::report::records::{Call, Document, RegistrationRecord, Stream};
use crate::report::registrations::{same_user, uri_user};
use crate::sip::Outcome;
use crate::time::Timestamp;

/// Codes counted as "no audio that way" by `inter_site_one_way` (§4.5).
const ONE_WAY_CODES: [&str; 2] = ["one_way_audio", "no_media"];
/// The per-call code behind `trunk_saturation` (503, or 486/480 with a congestion cause, §4.2).
const SERVICE_UNAVAILABLE: &str = "service_unavailable";

/// One site-level finding (`sites[].reasons[]`, diagnosis.md §2 and §4.5).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SiteFinding {
    /// Code, class, detail, frames, severity, metrics.
    #[serde(flatten)]
    pub reason: Reason,
    /// Site the finding is filed under (the `site` of the `sites[]` row carrying it).
    #[serde(skip)]
    pub site: String,
    /// Sending / originating site (null for site-scoped codes).
    pub from_site: Option<String>,
    /// Receiving site (null for site-scoped codes).
    pub to_site: Option<String>,
    /// Without a site map: the sending address of the pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_addr: Option<String>,
    /// Without a site map: the receiving address of the pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_addr: Option<String>,
    /// `trunk_saturation`: the trunk host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk: Option<String>,
    /// Call-IDs of the calls behind it.
    pub calls: Vec<String>,
    /// Registration codes: the AORs behind it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aors: Vec<String>,
    /// `unregistered_extensions`: the extensions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<String>,
}

/// Sites (with a map) or addresses (without) of the pair codes.
struct Places<'a> {
    map: &'a SiteMap,
    by_site: bool,
}

impl Places<'_> {
    fn of(&self, ip: IpAddr) -> String {
        if self.by_site {
            self.map.name_of(Some(ip)).to_owned()
        } else {
            ip.to_string()
        }
    }

    /// A finding between two places, filed under the sending place's site.
    fn pair(&self, reason: Reason, from: &str, to: &str, calls: Vec<String>) -> SiteFinding {
        let (from_site, to_site, from_addr, to_addr) = if self.by_site {
            (from.to_owned(), to.to_owned(), None, None)
        } else {
            (UNKNOWN_SITE.to_owned(), UNKNOWN_SITE.to_owned(), Some(from.to_owned()), Some(to.to_owned()))
        };
        SiteFinding {
            reason,
            site: from_site.clone(),
            from_site: Some(from_site),
            to_site: Some(to_site),
            from_addr,
            to_addr,
            trunk: None,
            calls,
            aors: Vec::new(),
            extensions: Vec::new(),
        }
    }
}

fn site_scoped(reason: Reason, site: &str) -> SiteFinding {
    SiteFinding {
        reason,
        site: site.to_owned(),
        from_site: None,
        to_site: None,
        from_addr: None,
        to_addr: None,
        trunk: None,
        calls: Vec::new(),
        aors: Vec::new(),
        extensions: Vec::new(),
    }
}

/// A call reduced to what the rules need (times in ns since the epoch).
struct CallFacts<'a> {
    call: &'a Call,
    caller: IpAddr,
    callee: IpAddr,
    start: i64,
    /// Answer → end, for answered calls.
    talk: Option<(i64, i64)>,
}

fn call_facts(doc: &Document) -> Vec<CallFacts<'_>> {
    doc.calls
        .iter()
        .filter_map(|c| {
            let start = c.start?.0;
            let talk = (c.outcome == Outcome::Answered).then(|| {
                let ans = start.saturating_add((c.answer_ms.unwrap_or(0.0) * 1e6).round() as i64);
                (ans, ans.saturating_add((c.duration_s.unwrap_or(0.0) * 1e9).round() as i64))
            });
            Some(CallFacts { call: c, caller: c.caller?.ip(), callee: c.callee?.ip(), start, talk })
        })
        .collect()
}

fn has(c: &Call, code: &str) -> bool {
    c.verdict.reasons.iter().any(|r| r.code == code)
}

fn pct(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        100.0 * num as f64 / den as f64
    }
}

/// First frames of the calls (ascending; `Reason::finish` keeps at most `max_frames`).
fn call_frames<'a>(calls: impl Iterator<Item = &'a Call>) -> Vec<u64> {
    calls.filter_map(|c| c.first_frame).collect()
}

fn call_ids<'a>(calls: impl Iterator<Item = &'a Call>) -> Vec<String> {
    let mut v: Vec<String> = calls.map(|c| c.call_id.clone()).collect();
    v.sort();
    v.dedup();
    v
}

fn time_of(ns: i64) -> Timestamp {
    Timestamp(ns)
}

/// Every site-level finding of a document, sorted by site, code and first frame.
pub fn site_findings(doc: &Document, map: &SiteMap, cfg: &DiagnosisConfig, opts: &SiteOptions) -> Vec<SiteFinding> {
    let places = Places { map, by_site: !map.sites.is_empty() };
    let calls = call_facts(doc);
    let max = cfg.diagnosis.max_frames;
    let mut out = Vec::new();
    out.extend(inter_site_one_way(doc, &calls, &places, cfg));
    out.extend(inter_site_qos_mismatch(doc, &places, cfg));
    out.extend(busy_hour_degradation(doc, &calls, &places, cfg, opts));
    out.extend(trunk_saturation(&calls, map, cfg, opts));
    out.extend(registration_churn(&doc.registrations, map, cfg));
    out.extend(unregistered_extensions(doc, &calls, map, cfg));
    for f in &mut out {
        f.reason = std::mem::replace(
            &mut f.reason,
            Reason::new("", ReasonClass::Info, Severity::Info, None, String::new(), Vec::new()),
        )
        .finish(max);
    }
    out.sort_by(|a, b| {
        (&a.site, a.reason.code, a.reason.frames.first(), &a.from_site, &a.to_site).cmp(&(
            &b.site,
            b.reason.code,
            b.reason.frames.first(),
            &b.from_site,
            &b.to_site,
        ))
    });
    out
}

/// Answered calls of a direction and those failing it.
type Tally<'c, 'd> = (Vec<&'c CallFacts<'d>>, Vec<&'c CallFacts<'d>>);

/// A quality measure of a stream (larger = worse) for the busy-hour rule.
type Measure = (&'static str, fn(&Stream) -> Option<f64>);

/// `inter_site_one_way` (§4.5): per sending → receiving place, answered calls whose media that
/// way is missing (`one_way_audio` in that direction, or `no_media`) at ≥ `rate_pct` over
/// ≥ `min_calls` calls, while the reverse way and every other pair involving either place stay
/// at or below `max_other_pct`: one policy for one direction, not a broken site.
fn inter_site_one_way(
    doc: &Document,
    calls: &[CallFacts<'_>],
    places: &Places<'_>,
    cfg: &DiagnosisConfig,
) -> Vec<SiteFinding> {
    let t = &cfg.diagnosis.inter_site_one_way;
    // (from, to) → (answered calls, failing calls)
    let mut tally: BTreeMap<(String, String), Tally<'_, '_>> = BTreeMap::new();
    for c in calls.iter().filter(|c| c.talk.is_some()) {
        let (pc, pe) = (places.of(c.caller), places.of(c.callee));
        for (from, to, dir) in
            [(pc.clone(), pe.clone(), StreamDirection::CallerToCallee), (pe, pc, StreamDirection::CalleeToCaller)]
        {
            let failing = c
                .call
                .verdict
                .reasons
                .iter()
                .any(|r| r.code == "no_media" || (r.code == ONE_WAY_CODES[0] && r.direction == Some(dir)));
            let e = tally.entry((from, to)).or_default();
            e.0.push(c);
            if failing {
                e.1.push(c);
            }
        }
    }
    let rate = |k: &(String, String)| tally.get(k).map_or(0.0, |(n, f)| pct(f.len(), n.len()));
    let mut out = Vec::new();
    for ((a, b), (answered, failing)) in &tally {
        if a == b || answered.len() < t.min_calls as usize {
            continue;
        }
        let r = pct(failing.len(), answered.len());
        if r < t.rate_pct {
            continue;
        }
        let back = rate(&(b.clone(), a.clone()));
        let other = tally
            .keys()
            .filter(|(x, y)| !((x == a && y == b) || (x == b && y == a)))
            .filter(|(x, y)| x == a || x == b || y == a || y == b)
            .map(&rate)
            .fold(0.0, f64::max);
        if back > t.max_other_pct || other > t.max_other_pct {
            continue;
        }
        let ports = |set: &[&CallFacts<'_>], failing: bool| -> Vec<u16> {
            set.iter().filter_map(|c| receive_port(doc, c, a, b, places, failing)).collect()
        };
        let working: Vec<&CallFacts<'_>> =
            answered.iter().copied().filter(|c| !failing.iter().any(|f| std::ptr::eq(*f, *c))).collect();
        let detail = format!(
            "{} of {} answered calls lost audio {a}→{b} ({:.0} %, threshold {:.0} %) while {b}→{a} lost it in {:.0} % \
             and other pairs of {a} or {b} in at most {:.0} %; RTP ports at {b}: failing calls {}, working calls {}.",
            failing.len(),
            answered.len(),
            r,
            t.rate_pct,
            back,
            other,
            port_range(&ports(failing, true)),
            port_range(&ports(&working, false)),
        );
        let reason = Reason::new(
            "inter_site_one_way",
            ReasonClass::Media,
            Severity::Fail,
            None,
            detail,
            call_frames(failing.iter().map(|c| c.call)),
        )
        .metric("rate_pct", r)
        .metric("reverse_rate_pct", back)
        .metric("other_pairs_max_pct", other)
        .metric("calls", answered.len() as f64)
        .metric("failing_calls", failing.len() as f64)
        .metric("min_calls", f64::from(t.min_calls))
        .metric("threshold_pct", t.rate_pct)
        .metric("max_other_pct", t.max_other_pct);
        out.push(places.pair(reason, a, b, call_ids(failing.iter().map(|c| c.call))));
    }
    out
}

/// The RTP port at the receiving place `b` of a call's `a`→`b` media: for a working call the
/// destination of that stream; for a failing one the source port of `b`'s own stream back
/// (symmetric RTP, RFC 4961), else the address the SDP announced.
fn receive_port(
    doc: &Document,
    c: &CallFacts<'_>,
    a: &str,
    b: &str,
    places: &Places<'_>,
    failing: bool,
) -> Option<u16> {
    let streams = || doc.streams.iter().filter(|s| s.call_id.as_deref() == Some(c.call.call_id.as_str()));
    let a_to_b = |s: &&Stream| places.of(s.src.ip()) == a && places.of(s.dst.ip()) == b;
    let b_to_a = |s: &&Stream| places.of(s.src.ip()) == b && places.of(s.dst.ip()) == a;
    if !failing {
        return streams().find(a_to_b).map(|s| s.dst.port());
    }
    streams()
        .find(b_to_a)
        .map(|s| s.src.port())
        .or_else(|| streams().find(a_to_b).and_then(|s| s.sdp_addr).map(|x| x.port()))
}

fn port_range(ports: &[u16]) -> String {
    match (ports.iter().min(), ports.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => format!("{lo}"),
        (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
        _ => "none seen".to_owned(),
    }
}

/// `inter_site_qos_mismatch` (§4.5), when QoS is configured (`qos.expect_media_dscp`, or a site
/// map, whose sites carry `expected_dscp`): between two places with ≥ `min_flows` streams each
/// way, ≥ `marked_pct` % of one way's streams carry the expected DSCP while ≤ `unmarked_pct` %
/// of the other way's do. Filed under the site whose traffic arrives unmarked. The second form
/// of the rule (marking differing between two capture points) is not implemented.
fn inter_site_qos_mismatch(doc: &Document, places: &Places<'_>, cfg: &DiagnosisConfig) -> Vec<SiteFinding> {
    let t = &cfg.diagnosis.inter_site_qos_mismatch;
    if cfg.qos.expect_media_dscp.is_none() && !places.by_site {
        return Vec::new();
    }
    let expected = |s: &Stream| {
        cfg.qos.expect_media_dscp.unwrap_or_else(|| places.map.expected_dscp(places.map.name_of(Some(s.src.ip()))))
    };
    let mut flows: BTreeMap<(String, String), Vec<&Stream>> = BTreeMap::new();
    for s in &doc.streams {
        flows.entry((places.of(s.src.ip()), places.of(s.dst.ip()))).or_default().push(s);
    }
    let marked = |v: &[&Stream]| pct(v.iter().filter(|s| s.dscp == expected(s)).count(), v.len());
    let mut out = Vec::new();
    for ((a, b), good) in &flows {
        let Some(bad) = flows.get(&(b.clone(), a.clone())) else { continue };
        if a == b || good.len() < t.min_flows || bad.len() < t.min_flows {
            continue;
        }
        let (m_good, m_bad) = (marked(good), marked(bad));
        if m_good < t.marked_pct || m_bad > t.unmarked_pct {
            continue;
        }
        let unmarked: Vec<&&Stream> = bad.iter().filter(|s| s.dscp != expected(s)).collect();
        let mut seen: BTreeMap<u8, usize> = BTreeMap::new();
        for s in &unmarked {
            *seen.entry(s.dscp).or_default() += 1;
        }
        let common = seen.iter().max_by_key(|(_, n)| **n).map_or(0, |(d, _)| *d);
        let detail = format!(
            "{:.0} % of {} RTP streams {b}→{a} carry the expected DSCP (mostly {common} instead) while {:.0} % of {} \
             streams {a}→{b} do (thresholds {:.0} % / {:.0} %): {b}'s traffic arrives unmarked.",
            m_bad,
            bad.len(),
            m_good,
            good.len(),
            t.unmarked_pct,
            t.marked_pct
        );
        let calls: Vec<&Call> = unmarked
            .iter()
            .filter_map(|s| s.call_id.as_deref())
            .filter_map(|id| doc.calls.iter().find(|c| c.call_id == id))
            .collect();
        let mut frames = call_frames(calls.iter().copied());
        if frames.is_empty() {
            frames = unmarked.iter().map(|s| s.first_frame).collect();
        }
        let reason =
            Reason::new("inter_site_qos_mismatch", ReasonClass::Media, Severity::Degrade, None, detail, frames)
                .metric("marked_pct", m_bad)
                .metric("reverse_marked_pct", m_good)
                .metric("streams", bad.len() as f64)
                .metric("reverse_streams", good.len() as f64)
                .metric("threshold_marked_pct", t.marked_pct)
                .metric("threshold_unmarked_pct", t.unmarked_pct);
        out.push(places.pair(reason, b, a, call_ids(calls.into_iter())));
    }
    out
}

/// Spearman's ρ: Pearson's r of the ranks (ties get their average rank). `None` with fewer than
/// 3 pairs or a constant side.
pub fn spearman(pairs: &[(f64, f64)]) -> Option<f64> {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v.get(i).copied().unwrap_or(0.0).total_cmp(&v.get(j).copied().unwrap_or(0.0)));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v.get(idx[j + 1]) == v.get(idx[i]) {
                j += 1;
            }
            let avg = (i + j) as f64 / 2.0 + 1.0;
            for k in idx.get(i..=j).unwrap_or(&[]) {
                if let Some(slot) = r.get_mut(*k) {
                    *slot = avg;
                }
            }
            i = j + 1;
        }
        r
    }
    let xs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    let ys: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let ranked: Vec<(f64, f64)> = ranks(&xs).into_iter().zip(ranks(&ys)).collect();
    super::stats::pearson(&ranked)
}

/// One time bucket of a pair and direction.
struct Bucket<'a> {
    concurrency: f64,
    streams: Vec<&'a Stream>,
}

/// `busy_hour_degradation` (§4.5): per sending → receiving place, time buckets (`bucket_min`)
/// of the streams that way; each bucket's concurrency is the peak of answered calls between the
/// two places (either caller side: they share the link) and its quality the mean loss %, mean
/// jitter, mean late-discard % and −mean MOS of the streams starting in it. Fires with
/// ≥ `min_buckets` buckets and ≥ `min_calls` answered calls when Spearman's ρ between
/// concurrency and any quality measure is ≥ `min_rho`, and the top-quartile-concurrency
/// buckets' median MOS is ≥ `mos_drop` below the bottom quartile's (or their loss is
/// ≥ `loss_factor` × and ≥ `loss_points` above).
fn busy_hour_degradation(
    doc: &Document,
    calls: &[CallFacts<'_>],
    places: &Places<'_>,
    cfg: &DiagnosisConfig,
    opts: &SiteOptions,
) -> Vec<SiteFinding> {
    let t = &cfg.diagnosis.busy_hour_degradation;
    let width = opts.bucket_us().saturating_mul(1000);
    let answered: BTreeMap<&str, &CallFacts<'_>> =
        calls.iter().filter(|c| c.talk.is_some()).map(|c| (c.call.call_id.as_str(), c)).collect();
    let mut by_dir: BTreeMap<(String, String), Vec<&Stream>> = BTreeMap::new();
    for s in &doc.streams {
        if s.call_id.as_deref().is_some_and(|id| answered.contains_key(id)) {
            by_dir.entry((places.of(s.src.ip()), places.of(s.dst.ip()))).or_default().push(s);
        }
    }
    // Talk spans per unordered pair of places, resolved once (not once per pair: O(calls)).
    let mut spans_by_pair: BTreeMap<(String, String), Vec<(i64, i64)>> = BTreeMap::new();
    for c in answered.values() {
        let (pc, pe) = (places.of(c.caller), places.of(c.callee));
        let key = if pc <= pe { (pc, pe) } else { (pe, pc) };
        spans_by_pair.entry(key).or_default().extend(c.talk);
    }
    let mut out = Vec::new();
    for ((a, b), streams) in &by_dir {
        let key = if a <= b { (a.clone(), b.clone()) } else { (b.clone(), a.clone()) };
        let spans: &[(i64, i64)] = spans_by_pair.get(&key).map_or(&[], Vec::as_slice);
        let mut buckets: BTreeMap<i64, Bucket<'_>> = BTreeMap::new();
        for s in streams {
            let start = s.first_time.0.div_euclid(width.max(1)) * width;
            buckets
                .entry(start)
                .or_insert_with(|| Bucket {
                    concurrency: f64::from(peak_concurrent(spans, start, start.saturating_add(width))),
                    streams: Vec::new(),
                })
                .streams
                .push(s);
        }
        let call_set: BTreeSet<&str> = streams.iter().filter_map(|s| s.call_id.as_deref()).collect();
        if buckets.len() < t.min_buckets || call_set.len() < t.min_calls {
            continue;
        }
        let measures: [Measure; 4] = [
            ("loss", |s| Some(s.lost_pct)),
            ("jitter", |s| (s.mean_jitter_ms >= 0.0).then_some(s.mean_jitter_ms)),
            ("late", |s| {
                let q = s.quality.as_ref()?;
                (s.expected > 0).then(|| 100.0 * q.discarded.adaptive as f64 / s.expected as f64)
            }),
            ("1 − MOS", |s| s.mos.map(|m| -m)),
        ];
        let mut best: Option<(&str, f64)> = None;
        for (name, f) in measures {
            let pairs: Vec<(f64, f64)> = buckets
                .values()
                .filter_map(|bk| {
                    let v: Vec<f64> = bk.streams.iter().filter_map(|s| f(s)).collect();
                    Some((bk.concurrency, mean(&v)?))
                })
                .collect();
            if let Some(rho) = spearman(&pairs) {
                if best.is_none_or(|(_, r)| rho > r) {
                    best = Some((name, rho));
                }
            }
        }
        let Some((measure, rho)) = best.filter(|(_, r)| *r >= t.min_rho) else { continue };
        let conc: Vec<f64> = buckets.values().map(|b| b.concurrency).collect();
        let (Some(q25), Some(q75)) = (percentile(&conc, 0.25), percentile(&conc, 0.75)) else { continue };
        if q75 <= q25 {
            continue;
        }
        let pick = |top: bool| -> Vec<&Stream> {
            buckets
                .values()
                .filter(|b| if top { b.concurrency >= q75 } else { b.concurrency <= q25 })
                .flat_map(|b| b.streams.iter().copied())
                .collect()
        };
        let (top, bottom) = (pick(true), pick(false));
        let mos = |v: &[&Stream]| percentile(&v.iter().filter_map(|s| s.mos).collect::<Vec<f64>>(), 0.5);
        let loss = |v: &[&Stream]| mean(&v.iter().map(|s| s.lost_pct).collect::<Vec<f64>>()).unwrap_or(0.0);
        let (mos_top, mos_bottom) = (mos(&top), mos(&bottom));
        let (loss_top, loss_bottom) = (loss(&top), loss(&bottom));
        let mos_fell = matches!((mos_top, mos_bottom), (Some(x), Some(y)) if y - x >= t.mos_drop);
        let loss_rose = loss_top >= t.loss_factor * loss_bottom && loss_top - loss_bottom >= t.loss_points;
        if !(mos_fell || loss_rose) {
            continue;
        }
        let show = |m: Option<f64>| m.map_or_else(|| "n/a".to_owned(), |x| format!("{x:.2}"));
        let top_calls: Vec<&Call> = {
            let ids: BTreeSet<&str> = top.iter().filter_map(|s| s.call_id.as_deref()).collect();
            doc.calls.iter().filter(|c| ids.contains(c.call_id.as_str())).collect()
        };
        let all_calls: Vec<&Call> = doc.calls.iter().filter(|c| call_set.contains(c.call_id.as_str())).collect();
        let detail = format!(
            "Quality of {a}→{b} RTP falls with load: over {} buckets of {} min ({} answered calls) Spearman ρ {rho:.2} \
             between concurrent calls and {measure} (threshold {:.1}); buckets with ≥ {q75} calls up had median MOS {} \
             and loss {loss_top:.2} % against {} and {loss_bottom:.2} % with ≤ {q25} calls up.",
            buckets.len(),
            opts.bucket_minutes.max(1),
            call_set.len(),
            t.min_rho,
            show(mos_top),
            show(mos_bottom),
        );
        let mut reason = Reason::new(
            "busy_hour_degradation",
            ReasonClass::Media,
            Severity::Degrade,
            None,
            detail,
            call_frames(top_calls.iter().copied()),
        )
        .metric("rho", rho)
        .metric("buckets", buckets.len() as f64)
        .metric("calls", call_set.len() as f64)
        .metric("top_quartile_concurrent", q75)
        .metric("bottom_quartile_concurrent", q25)
        .metric("loss_top_pct", loss_top)
        .metric("loss_bottom_pct", loss_bottom)
        .metric("min_rho", t.min_rho)
        .metric("mos_drop", t.mos_drop);
        if let (Some(x), Some(y)) = (mos_top, mos_bottom) {
            reason = reason.metric("mos_top", x).metric("mos_bottom", y);
        }
        out.push(places.pair(reason, a, b, call_ids(all_calls.into_iter())));
    }
    out
}

/// `trunk_saturation` (§4.5): per trunk (the hosts of `caller_id.trunk_hosts` and
/// `diagnosis.trunk_saturation.channels`; with neither, every callee address), a bucket with
/// ≥ `min_failures` `service_unavailable` calls to it while its concurrency (answered calls to
/// it up at a time) reached ≥ `near_limit_pct` % of its channel limit (configured, else the
/// observed maximum) and at least one call.
fn trunk_saturation(
    calls: &[CallFacts<'_>],
    map: &SiteMap,
    cfg: &DiagnosisConfig,
    opts: &SiteOptions,
) -> Vec<SiteFinding> {
    let t = &cfg.diagnosis.trunk_saturation;
    let width = opts.bucket_us().saturating_mul(1000);
    let mut trunks: BTreeSet<IpAddr> = cfg.caller_id.trunk_hosts.iter().filter_map(|h| h.trim().parse().ok()).collect();
    trunks.extend(t.channels.keys().filter_map(|h| h.trim().parse::<IpAddr>().ok()));
    if trunks.is_empty() {
        trunks = calls.iter().filter(|c| has(c.call, SERVICE_UNAVAILABLE)).map(|c| c.callee).collect();
    }
    let mut out = Vec::new();
    for trunk in trunks {
        let to_trunk: Vec<&CallFacts<'_>> = calls.iter().filter(|c| c.callee == trunk).collect();
        let spans: Vec<(i64, i64)> = to_trunk.iter().filter_map(|c| c.talk).collect();
        let configured =
            t.channels.iter().find(|(h, _)| h.trim().parse::<IpAddr>().ok() == Some(trunk)).map(|(_, n)| *n);
        let limit = configured.unwrap_or_else(|| peak_concurrent(&spans, i64::MIN, i64::MAX));
        let mut by_bucket: BTreeMap<i64, Vec<&CallFacts<'_>>> = BTreeMap::new();
        for c in to_trunk.iter().filter(|c| has(c.call, SERVICE_UNAVAILABLE)) {
            by_bucket.entry(c.start.div_euclid(width.max(1)) * width).or_default().push(c);
        }
        let mut hit: Vec<(i64, usize, u32)> = Vec::new();
        let mut failing: Vec<&Call> = Vec::new();
        for (start, fails) in &by_bucket {
            if fails.len() < t.min_failures as usize {
                continue;
            }
            let up = peak_concurrent(&spans, *start, start.saturating_add(width));
            if up == 0 || f64::from(up) < t.near_limit_pct / 100.0 * f64::from(limit) {
                continue;
            }
            hit.push((*start, fails.len(), up));
            failing.extend(fails.iter().map(|c| c.call));
        }
        let Some(&(first_start, first_fails, first_up)) = hit.first() else { continue };
        let detail = format!(
            "{} calls to trunk {trunk} were refused for lack of capacity (503 or a congestion cause) in {} bucket(s) of \
             {} min while it carried up to {first_up} calls against a limit of {limit} ({}); first: {first_fails} \
             refusals in the bucket from {}.",
            failing.len(),
            hit.len(),
            opts.bucket_minutes.max(1),
            if configured.is_some() { "configured" } else { "the observed maximum" },
            time_of(first_start),
        );
        let reason = Reason::new(
            "trunk_saturation",
            ReasonClass::Routing,
            Severity::Fail,
            None,
            detail,
            call_frames(failing.iter().copied()),
        )
        .metric("refused_calls", failing.len() as f64)
        .metric("peak_concurrent", f64::from(hit.iter().map(|h| h.2).max().unwrap_or(0)))
        .metric("channel_limit", f64::from(limit))
        .metric("min_failures", f64::from(t.min_failures))
        .metric("near_limit_pct", t.near_limit_pct);
        let site = map.name_of(Some(trunk)).to_owned();
        let mut f = site_scoped(reason, &site);
        f.trunk = Some(trunk.to_string());
        f.calls = call_ids(failing.into_iter());
        out.push(f);
    }
    out
}

/// The site of a registration: its last REGISTER's source.
fn registration_site<'a>(r: &RegistrationRecord, map: &'a SiteMap) -> &'a str {
    map.name_of(r.source.map(|s| s.ip()))
}

/// `registration_churn` (§4.5): per site, the AORs whose activity churns (more REGISTER
/// transactions in an hour than max(`min_per_hour`, `expiry_factor` × the refresh rate the
/// granted Expires implies), ≥ `max_address_changes` Contact/source changes in an hour, or
/// ≥ `max_consecutive_failures` failures in a row; see `report::registrations::activity`);
/// flagged when they are ≥ `site_aor_pct` % of the site's AORs.
fn registration_churn(regs: &[RegistrationRecord], map: &SiteMap, cfg: &DiagnosisConfig) -> Vec<SiteFinding> {
    let t = &cfg.diagnosis.registration_churn;
    let mut by_site: BTreeMap<&str, Vec<&RegistrationRecord>> = BTreeMap::new();
    for r in regs.iter().filter(|r| r.activity.is_some()) {
        by_site.entry(registration_site(r, map)).or_default().push(r);
    }
    let mut out = Vec::new();
    for (site, aors) in by_site {
        let churning: Vec<&RegistrationRecord> =
            aors.iter().copied().filter(|r| r.activity.as_ref().is_some_and(|a| a.churning)).collect();
        let share = pct(churning.len(), aors.len());
        if churning.is_empty() || share < t.site_aor_pct {
            continue;
        }
        let example = churning.iter().find_map(|r| Some((r, r.activity.as_ref()?)));
        let example = example.map_or_else(String::new, |(r, a)| {
            format!(
                " {}: {} REGISTER transactions in an hour (limit {}), {} Contact/source changes in an hour, {} failures in a row.",
                r.aor,
                a.max_attempts_per_hour,
                a.attempts_limit_per_hour,
                a.max_address_changes_per_hour,
                a.max_consecutive_failures
            )
        });
        let detail = format!(
            "{} of {} AORs at site {site} churn ({share:.0} %, threshold {:.0} %): NAT/firewall timeouts, keep-alives or credentials.{example}",
            churning.len(),
            aors.len(),
            t.site_aor_pct
        );
        let frames = churning.iter().filter_map(|r| r.activity.as_ref().map(|a| a.first_frame)).collect();
        let reason = Reason::new("registration_churn", ReasonClass::Signaling, Severity::Degrade, None, detail, frames)
            .metric("churning_aors", churning.len() as f64)
            .metric("aors", aors.len() as f64)
            .metric("share_pct", share)
            .metric("site_aor_pct", t.site_aor_pct)
            .metric("min_per_hour", f64::from(t.min_per_hour))
            .metric("max_address_changes", f64::from(t.max_address_changes))
            .metric("max_consecutive_failures", f64::from(t.max_consecutive_failures));
        let mut f = site_scoped(reason, site);
        f.aors = churning.iter().map(|r| r.aor.clone()).collect();
        out.push(f);
    }
    out
}

/// A registration record that held a binding at some time in the capture.
fn ever_bound(r: &RegistrationRecord) -> bool {
    r.activity.as_ref().is_some_and(|a| a.ever_granted) || matches!(r.status, "registered" | "expired" | "unregistered")
}

/// `unregistered_extensions` (§4.5), per site. With `extensions` listed for a site: each listed
/// extension with no binding during the capture (REGISTERs seen but never granted, or none at
/// all while the capture ran ≥ `min_capture_s`), or with INVITEs to it failing 404/480 while it
/// was not registered. Without a list: the callees of 404/480 never seen registering, filed
/// under the callee address's site.
fn unregistered_extensions(
    doc: &Document,
    calls: &[CallFacts<'_>],
    map: &SiteMap,
    cfg: &DiagnosisConfig,
) -> Vec<SiteFinding> {
    let t = &cfg.diagnosis.unregistered_extensions;
    let span_s = {
        let first = doc.inputs.iter().filter_map(|i| i.first_time).min();
        let last = doc.inputs.iter().filter_map(|i| i.last_time).max();
        match (first, last) {
            (Some(a), Some(b)) => b.ms_since(a) / 1000.0,
            _ => 0.0,
        }
    };
    let reg_of = |user: &str| doc.registrations.iter().find(|r| same_user(uri_user(&r.aor), user));
    let missed = |c: &CallFacts<'_>| matches!(c.call.final_status, Some(404 | 480));
    // site → (extension → calls)
    let mut found: BTreeMap<String, BTreeMap<String, Vec<&Call>>> = BTreeMap::new();
    let mut why: BTreeMap<(String, String), &'static str> = BTreeMap::new();
    for site in &map.sites {
        for ext in &site.extensions {
            let reg = reg_of(ext);
            let calls_to: Vec<&Call> = calls
                .iter()
                .filter(|c| missed(c) && c.call.to_user.as_deref().is_some_and(|u| same_user(u, ext)))
                .filter(|c| reg.is_none_or(|r| !ever_bound(r) || r.missed_calls.contains(&c.call.call_id)))
                .map(|c| c.call)
                .collect();
            let reason = match reg {
                Some(r) if !ever_bound(r) => Some("its REGISTERs were never granted"),
                None if span_s >= t.min_capture_s as f64 => Some("no REGISTER seen"),
                _ if !calls_to.is_empty() => Some("calls to it failed 404/480 while it had no binding"),
                _ => None,
            };
            if let Some(w) = reason {
                why.insert((site.name.clone(), ext.clone()), w);
                found.entry(site.name.clone()).or_default().insert(ext.clone(), calls_to);
            }
        }
    }
    let listed = |site: &str| map.sites.iter().any(|s| s.name == site && !s.extensions.is_empty());
    for c in calls.iter().filter(|c| missed(c)) {
        let site = map.name_of(Some(c.callee));
        let Some(user) = c.call.to_user.as_deref() else { continue };
        if listed(site) || reg_of(user).is_some_and(ever_bound) {
            continue;
        }
        why.entry((site.to_owned(), user.to_owned())).or_insert("never seen registering");
        found.entry(site.to_owned()).or_default().entry(user.to_owned()).or_default().push(c.call);
    }
    let mut out = Vec::new();
    for (site, exts) in found {
        let all_calls: Vec<&Call> = exts.values().flatten().copied().collect();
        let listing: Vec<String> = exts
            .iter()
            .map(|(e, cs)| {
                let w = why.get(&(site.clone(), e.clone())).copied().unwrap_or("unregistered");
                if cs.is_empty() {
                    format!("{e} ({w})")
                } else {
                    format!("{e} ({w}; {} failed calls)", cs.len())
                }
            })
            .collect();
        let detail = format!(
            "{} extension(s) at site {site} had no active binding during the capture: {}.",
            exts.len(),
            listing.join(", ")
        );
        let mut frames = call_frames(all_calls.iter().copied());
        if frames.is_empty() {
            frames = exts
                .keys()
                .filter_map(|e| reg_of(e).and_then(|r| r.activity.as_ref()).map(|a| a.first_frame))
                .collect();
        }
        let reason = Reason::new("unregistered_extensions", ReasonClass::Routing, Severity::Fail, None, detail, frames)
            .metric("extensions", exts.len() as f64)
            .metric("failed_calls", all_calls.len() as f64)
            .metric("min_capture_s", t.min_capture_s as f64)
            .metric("capture_s", round3(span_s));
        let mut f = site_scoped(reason, &site);
        f.extensions = exts.keys().cloned().collect();
        f.calls = call_ids(all_calls.into_iter());
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_ranks_with_ties() {
        assert_eq!(spearman(&[(1.0, 10.0), (2.0, 20.0), (3.0, 15.0), (4.0, 40.0)]), Some(0.8));
        assert_eq!(spearman(&[(1.0, 1.0), (1.0, 2.0), (2.0, 3.0)]), Some(0.866));
        assert_eq!(spearman(&[(1.0, 5.0), (2.0, 5.0), (3.0, 5.0)]), None);
        assert_eq!(spearman(&[(1.0, 5.0), (2.0, 6.0)]), None);
    }

    #[test]
    fn port_ranges_read_well() {
        assert_eq!(port_range(&[20000, 20010, 20004]), "20000–20010");
        assert_eq!(port_range(&[7]), "7");
        assert_eq!(port_range(&[]), "none seen");
    }
}
