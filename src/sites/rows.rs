//! Flat per-call and per-stream rows: the records of output-contract.md reduced to what the site
//! aggregation needs, with sites resolved. Both aggregation paths start here (the polars path
//! turns these rows into frames), so they see the same inputs.

use std::net::IpAddr;

use crate::correlate::StreamDirection;
use crate::diagnose::{ReasonClass, VerdictClass};
use crate::report::records::{Call, Document, Stream};
use crate::sip::Outcome;

use super::map::{Endpoint, SiteMap};

/// Diagnosis code whose direction is counted in `one_way` (diagnosis.md).
pub const ONE_WAY_CODE: &str = "one_way_audio";

/// One call, ready for aggregation.
#[derive(Clone, Debug, PartialEq)]
pub struct CallRow {
    /// Index into `Document::calls`.
    pub index: usize,
    /// Caller's site.
    pub caller_site: String,
    /// Callee's site.
    pub callee_site: String,
    /// First INVITE, µs since the Unix epoch (UTC).
    pub start_us: i64,
    /// End of the call's line occupancy, µs: answer + duration for answered calls; the INVITE
    /// instant for the others (records carry no end time for failed attempts).
    pub end_us: i64,
    /// Post-dial delay, ms.
    pub pdd_ms: Option<f64>,
    /// Answered (2xx).
    pub answered: bool,
    /// Counts in ASR/NER (quality-metrics.md §6: not `incomplete`, not cancelled before any 18x).
    pub is_attempt: bool,
    /// In the NER numerator (quality-metrics.md §6).
    pub is_network_effective: bool,
    /// Verdict class (`ok`, `signaling`, `media`, `routing`).
    pub verdict_class: &'static str,
    /// Codes of the call's non-informational reasons.
    pub reason_codes: Vec<String>,
    /// One-way audio reported in the caller → callee direction.
    pub one_way_caller_to_callee: bool,
    /// One-way audio reported in the callee → caller direction.
    pub one_way_callee_to_caller: bool,
}

/// One stream, ready for aggregation.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamRow {
    /// Index into `Document::streams`.
    pub index: usize,
    /// Index into the call rows (None for RTP tied to no call).
    pub call: Option<usize>,
    /// Caller's site of the owning call (for calls-less streams: the sender's site).
    pub caller_site: String,
    /// Callee's site of the owning call (for calls-less streams: the receiver's site).
    pub callee_site: String,
    /// First packet, µs since the epoch.
    pub first_us: i64,
    /// Loss, %.
    pub lost_pct: f64,
    /// Mean RFC 3550 jitter, ms (None when the clock was unknown: tshark's −1).
    pub jitter_ms: Option<f64>,
    /// E-model MOS.
    pub mos: Option<f64>,
    /// The stream's DSCP equals the expected DSCP of the sender's site.
    pub dscp_ok: bool,
}

/// Nanoseconds → µs (the Parquet unit), flooring.
pub fn ns_to_us(ns: i64) -> i64 {
    ns.div_euclid(1000)
}

/// Fills `caller_site`/`callee_site` of every call from the map ([`party_ip`]) and returns the
/// rows.
pub fn build_rows(doc: &mut Document, map: &SiteMap) -> (Vec<CallRow>, Vec<StreamRow>) {
    let by_id: std::collections::HashMap<u32, &Stream> = doc.streams.iter().map(|s| (s.id, s)).collect();
    for call in &mut doc.calls {
        let caller = party_ip(call, &by_id, StreamDirection::CallerToCallee);
        let callee = party_ip(call, &by_id, StreamDirection::CalleeToCaller);
        // Both parties are matched with the VLAN / interface of the frame carrying the initial
        // INVITE (sites/map.rs: matching).
        let (vlan, interface) = (call.vlan, call.interface.as_deref());
        call.caller_site = map.name_for(&Endpoint { ip: caller, vlan, interface }).to_owned();
        call.callee_site = map.name_for(&Endpoint { ip: callee, vlan, interface }).to_owned();
    }
    let calls: Vec<CallRow> = doc.calls.iter().enumerate().filter_map(|(i, c)| call_row(i, c)).collect();
    // Call-IDs repeat only across rotated captures of one dialog; the first row wins.
    let mut by_call_id: std::collections::HashMap<&str, usize> = std::collections::HashMap::with_capacity(calls.len());
    for (row, r) in calls.iter().enumerate() {
        if let Some(c) = doc.calls.get(r.index) {
            by_call_id.entry(c.call_id.as_str()).or_insert(row);
        }
    }
    let streams = doc
        .streams
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let call = s.call_id.as_deref().and_then(|id| by_call_id.get(id).copied());
            stream_row(i, s, call, &calls, map)
        })
        .collect();
    (calls, streams)
}

/// The address a call party is at, for its site. `caller`/`callee` are where the first INVITE
/// came from and went to on the wire: through a proxy the callee there is the proxy, not the
/// phone. So the party's own addresses come first: the source of the RTP it sends (`sends`:
/// the party's direction, the earliest such stream of the call), else the connection address
/// of its SDP (the caller's offer, the callee's answer), else the INVITE's source/destination.
pub fn party_ip(
    call: &Call,
    streams: &std::collections::HashMap<u32, &Stream>,
    sends: StreamDirection,
) -> Option<IpAddr> {
    let rtp = call
        .streams
        .iter()
        .filter_map(|id| streams.get(id))
        .filter(|s| s.direction == Some(sends) && s.call_id.as_deref() == Some(call.call_id.as_str()))
        .min_by_key(|s| (s.first_time, s.id))
        .map(|s| s.src.ip());
    let (sdp, invite) = match sends {
        StreamDirection::CallerToCallee => (call.caller_sdp_ip, call.caller),
        StreamDirection::CalleeToCaller => (call.callee_sdp_ip, call.callee),
    };
    rtp.or(sdp).or(invite.map(|a| a.ip()))
}

fn call_row(index: usize, c: &Call) -> Option<CallRow> {
    let start_us = ns_to_us(c.start?.0);
    let answered = c.outcome == Outcome::Answered;
    let talk_ms = c.answer_ms.unwrap_or(0.0) + c.duration_s.unwrap_or(0.0) * 1000.0;
    let end_us = if answered { start_us.saturating_add((talk_ms * 1000.0).round() as i64) } else { start_us };
    let status = c.final_status.unwrap_or(0);
    let ringing = c.setup_ms.is_some();
    // quality-metrics.md §6: 487 before any 18x is an abandoned attempt, excluded from ASR and NER.
    let abandoned = c.outcome == Outcome::Cancelled && !ringing;
    let is_attempt = c.outcome != Outcome::Incomplete && !abandoned;
    let is_network_effective = is_attempt
        && (answered || matches!(status, 480 | 486 | 600 | 603) || (c.outcome == Outcome::Cancelled && ringing));
    let reasons = c.verdict.reasons.iter();
    let one_way = |d: StreamDirection| reasons.clone().any(|r| r.code == ONE_WAY_CODE && r.direction == Some(d));
    Some(CallRow {
        index,
        caller_site: c.caller_site.clone(),
        callee_site: c.callee_site.clone(),
        start_us,
        end_us: end_us.max(start_us),
        pdd_ms: c.setup_ms,
        answered,
        is_attempt,
        is_network_effective,
        verdict_class: verdict_name(c.verdict.class),
        reason_codes: reasons.clone().filter(|r| r.class != ReasonClass::Info).map(|r| r.code.to_owned()).collect(),
        one_way_caller_to_callee: one_way(StreamDirection::CallerToCallee),
        one_way_callee_to_caller: one_way(StreamDirection::CalleeToCaller),
    })
}

/// The contract name of a verdict class.
pub fn verdict_name(class: VerdictClass) -> &'static str {
    match class {
        VerdictClass::Ok => "ok",
        VerdictClass::Signaling => "signaling",
        VerdictClass::Media => "media",
        VerdictClass::Routing => "routing",
    }
}

fn stream_row(index: usize, s: &Stream, call: Option<usize>, rows: &[CallRow], map: &SiteMap) -> StreamRow {
    let (vlan, interface) = (s.vlan, s.interface.as_deref());
    let sender_site = map.name_for(&Endpoint { ip: Some(s.src.ip()), vlan, interface });
    let (caller_site, callee_site) = match call.and_then(|i| rows.get(i)) {
        Some(r) => (r.caller_site.clone(), r.callee_site.clone()),
        None => (sender_site.to_owned(), map.name_for(&Endpoint { ip: Some(s.dst.ip()), vlan, interface }).to_owned()),
    };
    StreamRow {
        index,
        call,
        caller_site,
        callee_site,
        first_us: ns_to_us(s.first_time.0),
        lost_pct: s.lost_pct,
        jitter_ms: (s.mean_jitter_ms >= 0.0).then_some(s.mean_jitter_ms),
        mos: s.mos,
        // quality-metrics.md §7: the sender marks the packets, so the sender's site sets the target.
        dscp_ok: s.dscp == map.expected_dscp(sender_site),
    }
}
