//! Every metric a criterion can name (output-contract.md "Criteria"), computed from the records
//! (calls, streams, registrations) and the site rows of `sites::rows`, with the percentile and
//! busy-hour definitions of `sites` — so a site-scoped value equals the `SiteSummary` field of
//! the same name. Each metric also says how many calls it rests on (for `min_calls`) and which
//! calls are worst, with the reason (the failing rows of the table name them).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::diagnose::{DiagnosisConfig, Reason, Severity};
use crate::report::records::{Call, Document, RegistrationRecord};
use crate::sip::Outcome;
use crate::sites::rows::{CallRow, StreamRow};
use crate::sites::stats::{mean, percentile, round3};
use crate::sites::summary::{busy_hour, BUSY_HOUR_US};
use crate::sites::{SiteMap, SiteOptions};

use super::criteria::ScopeKind;

/// How many worst calls a failing row names.
pub const WORST_CALLS: usize = 5;

/// Codes that mean a call did not have audio both ways (diagnosis.md §7 "Two-way audio").
/// Codes the diagnosis does not emit yet are listed so they count as soon as it does.
pub const TWO_WAY_FAIL_CODES: &[&str] = &[
    "one_way_audio",
    "no_media",
    "silent_payload",
    "media_stops_after_reinvite",
    "media_stops_after_resume",
    "media_stops_after_transfer",
    "rtp_to_unannounced_address",
    "rtp_port_mismatch",
];

/// Codes that take a call out of the two-way population: nothing to judge (no RTP captured on
/// its ports) or one-way by design (diagnosis.md §4.4 `negotiated_one_way`).
pub const TWO_WAY_UNJUDGEABLE: &[&str] = &["media_not_captured", "negotiated_one_way"];

/// Transfer codes of diagnosis.md §4.1/§4.2/§4.4. Today's diagnosis emits none of them; the
/// metric reports `insufficient` until it does.
pub const TRANSFER_CODES: &[&str] =
    &["transfer", "transfer_rejected", "transfer_target_failed", "media_stops_after_transfer"];

/// Codes that fail a transfer call besides the transfer codes (diagnosis.md §7 "Transfers").
pub const TRANSFER_ALSO_FAILING: &[&str] = &["glare", "call_leg_does_not_exist", "forbidden"];

/// A metric name of the contract (plus the additive feature metrics at the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Answered calls with audio both ways, % of answered calls whose media could be judged.
    TwoWayAudioPct,
    /// Calls with `one_way_audio` (either direction).
    OneWayCalls,
    /// 95th percentile of the streams' mean jitter, ms (`SiteSummary.jitter_p95_ms`).
    JitterP95Ms,
    /// 95th percentile of the streams' mean RTCP round trip (`streams[].rtcp.rtt_ms_mean`), ms.
    RttP95Ms,
    /// 95th percentile of stream loss, % (`SiteSummary.loss_p95_pct`).
    LossP95Pct,
    /// 5th percentile of stream MOS (`SiteSummary.mos_p5`).
    MosP5,
    /// Mean stream MOS (`SiteSummary.mos_mean`).
    MosMean,
    /// 95th percentile post-dial delay over calls, ms (`SiteSummary.pdd_p95_ms`).
    PddP95Ms,
    /// PDD p95 of calls started in the busy hour ÷ PDD p95 of the other calls.
    PddBusyHourRatio,
    /// ASR, % (quality-metrics.md §6, `SiteSummary.asr_pct`).
    AsrPct,
    /// NER, % (`SiteSummary.ner_pct`).
    NerPct,
    /// Calls with verdict `signaling`.
    SignalingFailures,
    /// Calls with verdict `routing`.
    RoutingFailures,
    /// Calls with verdict `media`.
    MediaFailures,
    /// Streams marked with the sender site's expected DSCP, % (`SiteSummary.dscp_expected_pct`).
    DscpExpectedPct,
    /// Calls to a configured trunk host without `caller_id_format`, %.
    CallerIdOkPct,
    /// Emergency calls (`emergency_call`) without `emergency_routing`, %.
    EmergencyOkPct,
    /// Fax calls switched to T.38 and completed, %.
    T38OkPct,
    /// Addresses of record registered at the capture's end, %.
    RegisteredPct,
    /// Additive: calls put on hold and resumed that kept two-way audio, %.
    HoldResumeOkPct,
    /// Additive: transfers that completed with two-way media, % (needs transfer codes).
    TransferOkPct,
    /// Additive: forwarded calls (`forwarded`) that reached a destination, %.
    ForwardedReachedPct,
    /// Additive: calls with `number_translation_mismatch` ("no calls with number-translation
    /// mismatch", issue 9 provisioning).
    TranslationMismatchCalls,
}

impl Metric {
    /// Every metric, in contract order.
    pub const ALL: [Metric; 23] = [
        Metric::TwoWayAudioPct,
        Metric::OneWayCalls,
        Metric::JitterP95Ms,
        Metric::RttP95Ms,
        Metric::LossP95Pct,
        Metric::MosP5,
        Metric::MosMean,
        Metric::PddP95Ms,
        Metric::PddBusyHourRatio,
        Metric::AsrPct,
        Metric::NerPct,
        Metric::SignalingFailures,
        Metric::RoutingFailures,
        Metric::MediaFailures,
        Metric::DscpExpectedPct,
        Metric::CallerIdOkPct,
        Metric::EmergencyOkPct,
        Metric::T38OkPct,
        Metric::RegisteredPct,
        Metric::HoldResumeOkPct,
        Metric::TransferOkPct,
        Metric::ForwardedReachedPct,
        Metric::TranslationMismatchCalls,
    ];

    /// The contract name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::TwoWayAudioPct => "two_way_audio_pct",
            Metric::OneWayCalls => "one_way_calls",
            Metric::JitterP95Ms => "jitter_p95_ms",
            Metric::RttP95Ms => "rtt_p95_ms",
            Metric::LossP95Pct => "loss_p95_pct",
            Metric::MosP5 => "mos_p5",
            Metric::MosMean => "mos_mean",
            Metric::PddP95Ms => "pdd_p95_ms",
            Metric::PddBusyHourRatio => "pdd_busy_hour_ratio",
            Metric::AsrPct => "asr_pct",
            Metric::NerPct => "ner_pct",
            Metric::SignalingFailures => "signaling_failures",
            Metric::RoutingFailures => "routing_failures",
            Metric::MediaFailures => "media_failures",
            Metric::DscpExpectedPct => "dscp_expected_pct",
            Metric::CallerIdOkPct => "caller_id_ok_pct",
            Metric::EmergencyOkPct => "emergency_ok_pct",
            Metric::T38OkPct => "t38_ok_pct",
            Metric::RegisteredPct => "registered_pct",
            Metric::HoldResumeOkPct => "hold_resume_ok_pct",
            Metric::TransferOkPct => "transfer_ok_pct",
            Metric::ForwardedReachedPct => "forwarded_reached_pct",
            Metric::TranslationMismatchCalls => "translation_mismatch_calls",
        }
    }

    /// The metric of a name.
    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name.trim())
    }

    /// Larger is better (shares and MOS); otherwise smaller is better (delays, loss, counts).
    /// A regression is a move in the bad direction.
    pub fn higher_is_better(self) -> bool {
        matches!(
            self,
            Metric::TwoWayAudioPct
                | Metric::MosP5
                | Metric::MosMean
                | Metric::AsrPct
                | Metric::NerPct
                | Metric::DscpExpectedPct
                | Metric::CallerIdOkPct
                | Metric::EmergencyOkPct
                | Metric::T38OkPct
                | Metric::RegisteredPct
                | Metric::HoldResumeOkPct
                | Metric::TransferOkPct
                | Metric::ForwardedReachedPct
        )
    }
}

/// A call (or registration) that made a metric worse, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Worst {
    /// Call-ID (null for a registration).
    pub call_id: Option<String>,
    /// Address of record (registrations only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aor: Option<String>,
    /// Reason codes of the call that bear on the metric.
    pub reasons: Vec<String>,
    /// One sentence: the value and the evidence.
    pub why: String,
}

/// A metric measured over one population.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measured {
    /// The value; `None` when there is nothing to compute it from (then `note` says why).
    pub value: Option<f64>,
    /// Calls (or registrations) the value rests on, compared with `min_calls`.
    pub evidence: u64,
    /// Worst contributors, worst first, at most [`WORST_CALLS`].
    pub worst: Vec<Worst>,
    /// Why there is no value, or what the value cannot see.
    pub note: Option<String>,
}

/// What the metrics read: the records, their site rows, the site map and the diagnosis settings.
pub struct Context<'a> {
    /// The analysed document (sites attached).
    pub doc: &'a Document,
    /// Call rows (`sites::rows`).
    pub calls: &'a [CallRow],
    /// Stream rows.
    pub streams: &'a [StreamRow],
    /// Site map (registration sites).
    pub map: &'a SiteMap,
    /// Diagnosis settings (trunk hosts for caller-ID).
    pub diag: &'a DiagnosisConfig,
    /// Bucket width (busy hour).
    pub opts: SiteOptions,
}

/// The calls, streams and registrations of one scope key.
pub struct Population<'a> {
    /// Scope kind.
    pub kind: ScopeKind,
    /// The site or pair key (None for global).
    pub site: Option<String>,
    /// Calls.
    pub calls: Vec<&'a CallRow>,
    /// Streams.
    pub streams: Vec<&'a StreamRow>,
    /// Registrations.
    pub registrations: Vec<&'a RegistrationRecord>,
}

impl<'a> Context<'a> {
    /// The population of a scope key: global (`None`), a site, or a pair `a->b`. Membership is
    /// the sites stage's: a site holds calls and streams with the site at either end.
    pub fn population(&self, kind: ScopeKind, key: Option<&str>) -> Population<'a> {
        let (calls, streams, registrations): (Vec<&'a CallRow>, Vec<&'a StreamRow>, Vec<&'a RegistrationRecord>) =
            match (kind, key) {
                (ScopeKind::Site, Some(site)) => (
                    self.calls.iter().filter(|c| c.caller_site == site || c.callee_site == site).collect(),
                    self.streams.iter().filter(|s| s.caller_site == site || s.callee_site == site).collect(),
                    self.doc
                        .registrations
                        .iter()
                        .filter(|r| self.map.name_of(r.source.map(|a| a.ip())) == site)
                        .collect(),
                ),
                (ScopeKind::SitePair, Some(pair)) => {
                    let (a, b) = pair.split_once("->").unwrap_or((pair, ""));
                    (
                        self.calls.iter().filter(|c| c.caller_site == a && c.callee_site == b).collect(),
                        self.streams.iter().filter(|s| s.caller_site == a && s.callee_site == b).collect(),
                        Vec::new(),
                    )
                }
                _ => (
                    self.calls.iter().collect(),
                    self.streams.iter().collect(),
                    self.doc.registrations.iter().collect(),
                ),
            };
        Population { kind, site: key.map(str::to_owned), calls, streams, registrations }
    }

    fn record(&self, row: &CallRow) -> Option<&'a Call> {
        self.doc.calls.get(row.index)
    }

    /// Measures one metric over a population.
    pub fn measure(&self, pop: &Population<'_>, metric: Metric) -> Measured {
        match metric {
            Metric::TwoWayAudioPct => self.two_way(pop),
            Metric::OneWayCalls => self.one_way(pop),
            Metric::JitterP95Ms => self.stream_metric(pop, metric, |s, _| s.jitter_ms, 0.95, "mean jitter", "ms"),
            Metric::LossP95Pct => self.stream_metric(pop, metric, |s, _| Some(s.lost_pct), 0.95, "loss", "%"),
            Metric::MosP5 | Metric::MosMean => self.stream_metric(pop, metric, |s, _| s.mos, 0.05, "MOS", ""),
            Metric::RttP95Ms => self.stream_metric(
                pop,
                metric,
                |s, doc| doc.streams.get(s.index).and_then(|r| r.rtcp.as_ref()).and_then(|r| r.rtt_ms_mean),
                0.95,
                "RTCP round trip",
                "ms",
            ),
            Metric::PddP95Ms => self.pdd(pop),
            Metric::PddBusyHourRatio => self.pdd_busy_hour(pop),
            Metric::AsrPct => self.completion(pop, false),
            Metric::NerPct => self.completion(pop, true),
            Metric::SignalingFailures => self.failures(pop, "signaling"),
            Metric::RoutingFailures => self.failures(pop, "routing"),
            Metric::MediaFailures => self.failures(pop, "media"),
            Metric::DscpExpectedPct => self.dscp(pop),
            Metric::CallerIdOkPct => self.caller_id(pop),
            Metric::EmergencyOkPct => self.share_of_calls(
                pop,
                |c| has(c, "emergency_call") || has(c, "emergency_routing"),
                |c| !has(c, "emergency_routing"),
                &["emergency_routing"],
                "no emergency calls (emergency_call) in this scope",
                Some("judged by emergency_routing (failed, abandoned, wrong_egress, no_location, translated) as the diagnosis emits it"),
            ),
            Metric::T38OkPct => self.share_of_calls(
                pop,
                |c| has(c, "t38_fax") || has(c, "t38_rejected") || has(c, "t38_not_flowing"),
                |c| {
                    has(c, "t38_fax")
                        && !has(c, "t38_rejected")
                        && !has(c, "t38_not_flowing")
                        && c.outcome == Outcome::Answered
                        && !c.verdict.reasons.iter().any(|r| r.severity == Severity::Fail)
                },
                &["t38_rejected", "t38_not_flowing"],
                "no fax calls (T.38 offered) in this scope",
                Some("UDPTL is not measured: a pass means T.38 was accepted and the call completed without a failing reason"),
            ),
            Metric::RegisteredPct => self.registered(pop),
            Metric::HoldResumeOkPct => self.share_of_calls(
                pop,
                |c| c.verdict.reasons.iter().any(resumed_hold) || has(c, "media_stops_after_resume"),
                |c| !c.verdict.reasons.iter().any(|r| TWO_WAY_FAIL_CODES.contains(&r.code)),
                TWO_WAY_FAIL_CODES,
                "no call was put on hold and resumed (hold) in this scope",
                None,
            ),
            Metric::TransferOkPct => self.share_of_calls(
                pop,
                |c| c.verdict.reasons.iter().any(|r| TRANSFER_CODES.contains(&r.code)),
                // Completes with two-way media (diagnosis.md §7 "Transfers").
                |c| {
                    has(c, "transfer")
                        && !c.verdict.reasons.iter().any(|r| {
                            (r.code != "transfer" && TRANSFER_CODES.contains(&r.code))
                                || TRANSFER_ALSO_FAILING.contains(&r.code)
                                || TWO_WAY_FAIL_CODES.contains(&r.code)
                        })
                },
                &["transfer_rejected", "transfer_target_failed", "media_stops_after_transfer", "glare", "call_leg_does_not_exist"],
                "no transfer (transfer, transfer_rejected, transfer_target_failed, media_stops_after_transfer) in this scope",
                None,
            ),
            Metric::TranslationMismatchCalls => self.translation(pop),
            Metric::ForwardedReachedPct => self.share_of_calls(
                pop,
                |c| has(c, "forwarded"),
                // Reached a destination: a device answered or gave a user's answer (busy, declined).
                |c| matches!(c.outcome, Outcome::Answered | Outcome::Busy) || c.final_status == Some(603),
                &["moved", "routing_loop", "unanswered_ringing", "not_found", "temporarily_unavailable"],
                "no forwarded calls (181, Diversion, History-Info) in this scope",
                Some("a followed 3xx shows as a separate INVITE; voicemail targets are not configured, so any answer counts as reached"),
            ),
        }
    }

    fn two_way(&self, pop: &Population<'_>) -> Measured {
        let judged: Vec<(&CallRow, &Call)> = pop
            .calls
            .iter()
            .filter(|c| c.answered)
            .filter_map(|c| Some((*c, self.record(c)?)))
            .filter(|(_, c)| !c.verdict.reasons.iter().any(|r| TWO_WAY_UNJUDGEABLE.contains(&r.code)))
            .collect();
        let failing: Vec<(&CallRow, &Call)> = judged
            .iter()
            .copied()
            .filter(|(_, c)| c.verdict.reasons.iter().any(|r| TWO_WAY_FAIL_CODES.contains(&r.code)))
            .collect();
        Measured {
            value: ratio(judged.len() - failing.len(), judged.len()),
            evidence: judged.len() as u64,
            worst: worst_by_reasons(&failing, TWO_WAY_FAIL_CODES),
            note: judged.is_empty().then(|| "no answered call with captured media in this scope".to_owned()),
        }
    }

    fn translation(&self, pop: &Population<'_>) -> Measured {
        let all: Vec<(&CallRow, &Call)> = pop.calls.iter().filter_map(|c| Some((*c, self.record(c)?))).collect();
        let failing: Vec<(&CallRow, &Call)> =
            all.iter().copied().filter(|(_, c)| has(c, "number_translation_mismatch")).collect();
        Measured {
            value: Some(failing.len() as f64),
            evidence: all.len() as u64,
            worst: worst_by_reasons(&failing, &["number_translation_mismatch"]),
            note: Some(
                "judged on paired legs only (diagnosis.md §5): a call seen on one leg cannot show a mismatch".into(),
            ),
        }
    }

    fn one_way(&self, pop: &Population<'_>) -> Measured {
        let answered: Vec<(&CallRow, &Call)> =
            pop.calls.iter().filter(|c| c.answered).filter_map(|c| Some((*c, self.record(c)?))).collect();
        let failing: Vec<(&CallRow, &Call)> =
            answered.iter().copied().filter(|(_, c)| has(c, "one_way_audio")).collect();
        Measured {
            value: Some(failing.len() as f64),
            evidence: answered.len() as u64,
            worst: worst_by_reasons(&failing, &["one_way_audio"]),
            note: None,
        }
    }

    /// A percentile (or the mean for `mos_mean`) over stream values; worst calls by their
    /// worst stream.
    fn stream_metric(
        &self,
        pop: &Population<'_>,
        metric: Metric,
        value_of: impl Fn(&StreamRow, &Document) -> Option<f64>,
        p: f64,
        label: &str,
        unit: &str,
    ) -> Measured {
        let values: Vec<(&StreamRow, f64)> =
            pop.streams.iter().filter_map(|s| Some((*s, value_of(s, self.doc)?))).collect();
        let plain: Vec<f64> = values.iter().map(|v| v.1).collect();
        let value = if metric == Metric::MosMean { mean(&plain) } else { percentile(&plain, p) };
        let calls: BTreeSet<usize> = values.iter().filter_map(|(s, _)| s.call).collect();
        let low_is_bad = metric.higher_is_better();
        // Worst stream per call, then the worst calls.
        let mut per_call: Vec<(usize, &StreamRow, f64)> = Vec::new();
        for &(s, v) in &values {
            let Some(call) = s.call else { continue };
            match per_call.iter_mut().find(|(c, _, _)| *c == call) {
                Some(entry) if (low_is_bad && v < entry.2) || (!low_is_bad && v > entry.2) => *entry = (call, s, v),
                Some(_) => {}
                None => per_call.push((call, s, v)),
            }
        }
        per_call.sort_by(|a, b| if low_is_bad { a.2.total_cmp(&b.2) } else { b.2.total_cmp(&a.2) });
        let worst = per_call
            .iter()
            .filter_map(|&(call, s, v)| {
                let record = self.calls.get(call).and_then(|r| self.record(r))?;
                let stream_id = self.doc.streams.get(s.index).map_or(0, |r| r.id);
                let reasons = codes(record, |r| {
                    r.stream == Some(stream_id) || r.stream.is_none() && r.class != crate::diagnose::ReasonClass::Info
                });
                Some(Worst {
                    call_id: Some(record.call_id.clone()),
                    aor: None,
                    why: format!("stream {stream_id}: {label} {}{unit}{}", round3(v), reasons_suffix(&reasons)),
                    reasons,
                })
            })
            .take(WORST_CALLS)
            .collect();
        let note = value.is_none().then(|| match metric {
            Metric::RttP95Ms => {
                "no RTCP round-trip samples (an SR answered by the receiver's report block) in this scope".to_owned()
            }
            Metric::MosP5 | Metric::MosMean => "no stream with a scored codec (MOS) in this scope".to_owned(),
            _ => format!("no stream with a {label} value in this scope"),
        });
        Measured { value, evidence: calls.len() as u64, worst, note }
    }

    fn pdd(&self, pop: &Population<'_>) -> Measured {
        let with: Vec<&CallRow> = pop.calls.iter().copied().filter(|c| c.pdd_ms.is_some()).collect();
        let pdd: Vec<f64> = with.iter().filter_map(|c| c.pdd_ms).collect();
        Measured {
            value: percentile(&pdd, 0.95),
            evidence: with.len() as u64,
            worst: self.worst_pdd(&with),
            note: pdd.is_empty().then(|| "no call with a provisional response (18x) in this scope".to_owned()),
        }
    }

    fn worst_pdd(&self, calls: &[&CallRow]) -> Vec<Worst> {
        let mut v: Vec<&CallRow> = calls.to_vec();
        v.sort_by(|a, b| b.pdd_ms.unwrap_or(0.0).total_cmp(&a.pdd_ms.unwrap_or(0.0)));
        v.iter()
            .filter_map(|c| {
                let record = self.record(c)?;
                let reasons = codes(record, |r| r.class != crate::diagnose::ReasonClass::Info);
                Some(Worst {
                    call_id: Some(record.call_id.clone()),
                    aor: None,
                    why: format!("post-dial delay {} ms{}", round3(c.pdd_ms.unwrap_or(0.0)), reasons_suffix(&reasons)),
                    reasons,
                })
            })
            .take(WORST_CALLS)
            .collect()
    }

    fn pdd_busy_hour(&self, pop: &Population<'_>) -> Measured {
        let spans: Vec<(i64, i64)> = pop.calls.iter().map(|c| (c.start_us, c.end_us)).collect();
        let Some((start, _)) = busy_hour(&spans, &self.opts) else {
            return Measured { note: Some("no calls in this scope".into()), ..Measured::default() };
        };
        let inside = |c: &&CallRow| c.start_us >= start && c.start_us < start.saturating_add(BUSY_HOUR_US);
        let busy: Vec<&CallRow> = pop.calls.iter().copied().filter(|c| c.pdd_ms.is_some()).filter(inside).collect();
        let off: Vec<&CallRow> =
            pop.calls.iter().copied().filter(|c| c.pdd_ms.is_some()).filter(|c| !inside(c)).collect();
        let p95 = |cs: &[&CallRow]| percentile(&cs.iter().filter_map(|c| c.pdd_ms).collect::<Vec<f64>>(), 0.95);
        let (b, o) = (p95(&busy), p95(&off));
        let evidence = busy.len().min(off.len()) as u64;
        let when = crate::time::Timestamp(start.saturating_mul(1000));
        let (value, note) = match (b, o) {
            (Some(b), Some(o)) if o > 0.0 => (
                Some(round3(b / o)),
                Some(format!("busy hour from {when}: PDD p95 {b} ms over {} calls, off-peak {o} ms over {} calls", busy.len(), off.len())),
            ),
            (_, None) => (None, Some(format!("every call with a post-dial delay falls in the busy hour (from {when}): no off-peak calls to compare"))),
            _ => (None, Some("no busy-hour call with a post-dial delay".to_owned())),
        };
        Measured { value, evidence, worst: self.worst_pdd(&busy), note }
    }

    fn completion(&self, pop: &Population<'_>, ner: bool) -> Measured {
        let attempts: Vec<&CallRow> = pop.calls.iter().copied().filter(|c| c.is_attempt).collect();
        let good = |c: &CallRow| if ner { c.is_network_effective } else { c.answered };
        let ok = attempts.iter().filter(|c| good(c)).count();
        let failing: Vec<(&CallRow, &Call)> =
            attempts.iter().filter(|c| !good(c)).filter_map(|c| Some((*c, self.record(c)?))).collect();
        Measured {
            value: ratio(ok, attempts.len()),
            evidence: attempts.len() as u64,
            worst: worst_by_verdict(&failing),
            note: attempts.is_empty().then(|| "no call attempts in this scope".to_owned()),
        }
    }

    fn failures(&self, pop: &Population<'_>, class: &str) -> Measured {
        let failing: Vec<(&CallRow, &Call)> =
            pop.calls.iter().filter(|c| c.verdict_class == class).filter_map(|c| Some((*c, self.record(c)?))).collect();
        Measured {
            value: Some(failing.len() as f64),
            evidence: pop.calls.len() as u64,
            worst: worst_by_verdict(&failing),
            note: None,
        }
    }

    fn dscp(&self, pop: &Population<'_>) -> Measured {
        let ok = pop.streams.iter().filter(|s| s.dscp_ok).count();
        let calls: BTreeSet<usize> = pop.streams.iter().filter_map(|s| s.call).collect();
        let mut worst = Vec::new();
        let mut seen = BTreeSet::new();
        for s in pop.streams.iter().filter(|s| !s.dscp_ok) {
            let Some(call) = s.call else { continue };
            if !seen.insert(call) || worst.len() >= WORST_CALLS {
                continue;
            }
            let (Some(record), Some(stream)) =
                (self.calls.get(call).and_then(|r| self.record(r)), self.doc.streams.get(s.index))
            else {
                continue;
            };
            let sender = self.map.name_of(Some(stream.src.ip()));
            worst.push(Worst {
                call_id: Some(record.call_id.clone()),
                aor: None,
                reasons: codes(record, |r| r.code.starts_with("dscp_")),
                why: format!(
                    "stream {} from {} marked DSCP {}, site {sender} expects {}",
                    stream.id,
                    stream.src,
                    stream.dscp,
                    self.map.expected_dscp(sender)
                ),
            });
        }
        Measured {
            value: ratio(ok, pop.streams.len()),
            evidence: calls.len() as u64,
            worst,
            note: pop.streams.is_empty().then(|| "no RTP streams in this scope".to_owned()),
        }
    }

    fn caller_id(&self, pop: &Population<'_>) -> Measured {
        let trunks: Vec<std::net::IpAddr> =
            self.diag.caller_id.trunk_hosts.iter().filter_map(|h| h.parse().ok()).collect();
        if trunks.is_empty() {
            return Measured {
                note: Some(
                    "caller-ID cannot be judged: no trunk hosts configured ([caller_id] trunk_hosts in --config)"
                        .into(),
                ),
                ..Measured::default()
            };
        }
        self.share_of_calls(
            pop,
            |c| c.callee.is_some_and(|a| trunks.contains(&a.ip())),
            |c| !has(c, "caller_id_format"),
            &["caller_id_format"],
            "no calls to a configured trunk host in this scope",
            None,
        )
    }

    /// Registration health (diagnosis.md §7): the AORs of the scope plus the extensions the site
    /// findings name (`unregistered_extensions`: listed for a site, or callees of 404/480) that
    /// have no record; an AOR counts as registered when its status at the end is `registered`,
    /// it does not churn (`registration_churn` inputs) and no failing `registration_failed`
    /// stands on it.
    fn registered(&self, pop: &Population<'_>) -> Measured {
        if pop.kind == ScopeKind::SitePair {
            return Measured {
                note: Some("registrations belong to a site, not to a site pair".into()),
                ..Measured::default()
            };
        }
        let regs = &pop.registrations;
        let healthy = |r: &RegistrationRecord| {
            r.status == "registered"
                && !r.activity.as_ref().is_some_and(|a| a.churning)
                && !r.reasons.iter().any(|x| x.code == "registration_failed" && x.severity == Severity::Fail)
        };
        let ok = regs.iter().filter(|r| healthy(r)).count();
        let mut worst: Vec<Worst> = regs
            .iter()
            .filter(|r| !healthy(r))
            .map(|r| {
                let mut reasons: Vec<String> = r.reasons.iter().map(|x| x.code.to_owned()).collect();
                if r.activity.as_ref().is_some_and(|a| a.churning) {
                    reasons.push("registration_churn".into());
                }
                if reasons.is_empty() {
                    reasons.push(format!("registration_{}", r.status));
                }
                reasons.dedup();
                Worst {
                    call_id: r.missed_calls.first().cloned(),
                    aor: Some(r.aor.clone()),
                    reasons,
                    why: format!(
                        "{} is {} (last response {}){}",
                        r.aor,
                        r.status,
                        r.last_code.map_or_else(|| "none".to_owned(), |c| c.to_string()),
                        if r.missed_calls.is_empty() {
                            String::new()
                        } else {
                            format!("; {} calls to it failed while unregistered", r.missed_calls.len())
                        }
                    ),
                }
            })
            .collect();
        // Extensions the site findings name that no registration record covers.
        let mut missing = 0usize;
        for row in &self.doc.sites {
            let site = row.get("site").and_then(|v| v.as_str()).unwrap_or("");
            let in_scope = match pop.kind {
                ScopeKind::Site => pop.site.as_deref() == Some(site),
                _ => true,
            };
            if !in_scope || !row.get("peer_site").is_some_and(serde_json::Value::is_null) {
                continue;
            }
            let findings = row.get("reasons").and_then(|v| v.as_array()).map_or(&[][..], Vec::as_slice);
            for f in
                findings.iter().filter(|f| f.get("code").and_then(|c| c.as_str()) == Some("unregistered_extensions"))
            {
                let calls: Vec<String> = f
                    .get("calls")
                    .and_then(|c| c.as_array())
                    .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                for ext in
                    f.get("extensions").and_then(|e| e.as_array()).into_iter().flatten().filter_map(|e| e.as_str())
                {
                    let covered = self.doc.registrations.iter().any(|r| {
                        crate::report::registrations::same_user(crate::report::registrations::uri_user(&r.aor), ext)
                    });
                    if covered {
                        continue;
                    }
                    missing += 1;
                    worst.push(Worst {
                        call_id: calls.first().cloned(),
                        aor: Some(ext.to_owned()),
                        reasons: vec!["unregistered_extensions".into()],
                        why: format!("extension {ext} at site {site} had no binding in the capture (no REGISTER seen)"),
                    });
                }
            }
        }
        worst.truncate(WORST_CALLS);
        let total = regs.len() + missing;
        Measured {
            value: ratio(ok, total),
            evidence: total as u64,
            worst,
            note: (total == 0).then(|| "no REGISTER transactions or listed extensions in this scope".to_owned()),
        }
    }

    /// Share of the calls `in_population` that are `ok`, %.
    fn share_of_calls(
        &self,
        pop: &Population<'_>,
        in_population: impl Fn(&Call) -> bool,
        ok: impl Fn(&Call) -> bool,
        failing_codes: &[&str],
        empty_note: &str,
        caveat: Option<&str>,
    ) -> Measured {
        let judged: Vec<(&CallRow, &Call)> =
            pop.calls.iter().filter_map(|c| Some((*c, self.record(c)?))).filter(|(_, c)| in_population(c)).collect();
        let failing: Vec<(&CallRow, &Call)> = judged.iter().copied().filter(|(_, c)| !ok(c)).collect();
        let mut worst = worst_by_reasons(&failing, failing_codes);
        if worst.is_empty() {
            worst = worst_by_verdict(&failing);
        }
        Measured {
            value: ratio(judged.len() - failing.len(), judged.len()),
            evidence: judged.len() as u64,
            worst,
            note: if judged.is_empty() { Some(empty_note.to_owned()) } else { caveat.map(str::to_owned) },
        }
    }
}

/// A `hold` reason that names its resume (info.rs puts the hold and the resume frame in it).
fn resumed_hold(r: &Reason) -> bool {
    r.code == "hold" && r.frames.len() >= 2
}

fn has(c: &Call, code: &str) -> bool {
    c.verdict.reasons.iter().any(|r| r.code == code)
}

fn codes(c: &Call, keep: impl Fn(&Reason) -> bool) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for r in c.verdict.reasons.iter().filter(|r| keep(r)) {
        if !v.iter().any(|x| x == r.code) {
            v.push(r.code.to_owned());
        }
    }
    v
}

fn reasons_suffix(reasons: &[String]) -> String {
    if reasons.is_empty() {
        String::new()
    } else {
        format!(" ({})", reasons.join(", "))
    }
}

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| round3(100.0 * num as f64 / den as f64))
}

/// Failing calls in time order, each with its first reason among `codes` (detail quoted).
fn worst_by_reasons(failing: &[(&CallRow, &Call)], wanted: &[&str]) -> Vec<Worst> {
    let mut v: Vec<&(&CallRow, &Call)> = failing.iter().collect();
    v.sort_by(|a, b| (a.0.start_us, &a.1.call_id).cmp(&(b.0.start_us, &b.1.call_id)));
    v.iter()
        .filter_map(|(_, c)| {
            let r = c.verdict.reasons.iter().find(|r| wanted.contains(&r.code))?;
            Some(Worst {
                call_id: Some(c.call_id.clone()),
                aor: None,
                reasons: codes(c, |r| wanted.contains(&r.code)),
                why: format!("{}: {}", r.code, r.detail),
            })
        })
        .take(WORST_CALLS)
        .collect()
}

/// Failing calls, failures before degradations, then in time order, with their deciding reason.
fn worst_by_verdict(failing: &[(&CallRow, &Call)]) -> Vec<Worst> {
    let mut v: Vec<&(&CallRow, &Call)> = failing.iter().collect();
    let tier = |c: &Call| c.verdict.reasons.first().map_or(Severity::Info, |r| r.severity);
    v.sort_by(|a, b| (tier(a.1), a.0.start_us, &a.1.call_id).cmp(&(tier(b.1), b.0.start_us, &b.1.call_id)));
    v.iter()
        .take(WORST_CALLS)
        .map(|(_, c)| {
            let first = c.verdict.reasons.iter().find(|r| r.class != crate::diagnose::ReasonClass::Info);
            Worst {
                call_id: Some(c.call_id.clone()),
                aor: None,
                reasons: codes(c, |r| r.class != crate::diagnose::ReasonClass::Info),
                why: match first {
                    Some(r) => format!("{}: {}", r.code, r.detail),
                    None => format!(
                        "{} (final {})",
                        serde_json::to_value(c.outcome)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        c.final_status.map_or_else(|| "none".to_owned(), |s| s.to_string())
                    ),
                },
            }
        })
        .collect()
}
