//! Media rules (diagnosis.md §4.3), the media codes of §4.4 (`negotiated_one_way`,
//! `media_not_captured`), rules on streams tied to no call, and the per-address-pair finding
//! that stands in for `inter_site_one_way` without a site map (§4.5).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::config::DiagnosisConfig;
use super::sdpstate::{announced, announced_kinds, first_audio, flow_expected, latest_audio, message_at};
use super::streams::CaptureLoss;
use super::{arrow, ms_ns, secs, DiagnosisInput, InputIndex, PairFinding, Reason, ReasonClass, Severity, Verdict};
use crate::capture::FrameRef;
use crate::correlate::StreamDirection;
use crate::rtp::StreamStats;
use crate::sdp::{is_private_or_unspecified, MediaKind};
use crate::sip::{Dialog, Method};
use crate::time::Timestamp;

use StreamDirection::{CalleeToCaller, CallerToCallee};

fn media(code: &'static str, sev: Severity, dir: Option<StreamDirection>, detail: String, frames: Vec<u64>) -> Reason {
    Reason::new(code, ReasonClass::Media, sev, dir, detail, frames)
}

/// Stream id as the records number them (index + 1).
fn stream_id(idx: usize) -> u32 {
    u32::try_from(idx + 1).unwrap_or(u32::MAX)
}

/// True for a stream the media rules judge: audio by the SDP that announced its ends, or,
/// without SDP, a static audio payload type; telephone-event-only streams and video are not
/// judged (diagnosis.md principle 6, §8 `rtpproxy-catch_dtmf`, `sipnab-h263`).
pub(super) fn judged_audio(input: &DiagnosisInput<'_>, kinds: &[(SocketAddr, MediaKind)], s: &StreamStats) -> bool {
    let kind = kinds.iter().find(|(a, _)| *a == s.key.dst || *a == s.key.src).map(|(_, k)| *k);
    let event_only = s.pts_seen.count_ones() == 1
        && input.payloads.lookup(s.key.dst, s.first_pt).is_some_and(|(n, _)| n.eq_ignore_ascii_case("telephone-event"));
    match kind {
        Some(MediaKind::Audio) => !event_only,
        Some(_) => false,
        // Without SDP only a static audio payload type says "audio" (RFC 3551 table 4).
        None => !event_only && s.first_pt < 35 && !matches!(s.first_pt, 13 | 19),
    }
}

/// Everything the media rules of one call share.
pub(super) struct CallMedia<'a> {
    pub(super) d: &'a Dialog,
    pub(super) index: usize,
    /// The run's streams and REFERs, indexed ([`InputIndex`]).
    pub(super) lookup: &'a InputIndex,
    pub(super) answered: Option<FrameRef>,
    /// End of the call: BYE, else the capture's end.
    pub(super) end: Timestamp,
    /// Streams of each direction (indices into `input.streams`): paired to this call, or
    /// running between addresses this call's SDP announced (a B2BUA's direct-media re-INVITE
    /// moves a flow to addresses the other leg also announced).
    c2e: Vec<usize>,
    e2c: Vec<usize>,
}

impl<'a> CallMedia<'a> {
    fn new(input: &DiagnosisInput<'a>, index: &'a InputIndex, i: usize, d: &'a Dialog) -> Self {
        let kinds = announced_kinds(d);
        let caller_addrs = announced(d, true);
        let callee_addrs = announced(d, false);
        let mut c2e = Vec::new();
        let mut e2c = Vec::new();
        let start = d.first_invite.map_or(d.last_time, |f| f.time);
        let end = d.bye.map_or(Timestamp(i64::MAX), |(b, _)| Timestamp(b.time.0.saturating_add(2_000 * super::MS_NS)));
        let private_receiver =
            |to_caller: bool| announced(d, to_caller).iter().any(|a| is_private_or_unspecified(a.ip()));
        // Only a flow to an announced address or paired with this call can get a direction.
        let receivers: Vec<SocketAddr> = caller_addrs.iter().chain(&callee_addrs).copied().collect();
        for k in index.sent_to_or_paired(&receivers, i) {
            let Some(s) = input.streams.get(k) else { continue };
            if s.first.time > end || s.last.time < start || !judged_audio(input, &kinds, s) {
                continue;
            }
            let paired = input.pairing.get(k).copied().flatten().filter(|p| p.dialog == i);
            // The receiver's announcement decides the direction (an SDP says where its author
            // receives, RFC 3264 §5); the pairing's direction only when no address decides.
            let to_callee = callee_addrs.contains(&s.key.dst);
            let to_caller = caller_addrs.contains(&s.key.dst);
            let dir = match (to_callee, to_caller) {
                (true, false) if paired.is_some() || caller_addrs.contains(&s.key.src) => Some(CallerToCallee),
                (false, true) if paired.is_some() || callee_addrs.contains(&s.key.src) => Some(CalleeToCaller),
                _ => paired.and_then(|p| p.direction),
            };
            // A flow to an address the receiver never announced reaches it only when that
            // address is where the receiver's own RTP comes from (symmetric RTP, RFC 4961) or
            // its NAT address (private SDP, public signalling); otherwise it went elsewhere and
            // is not counted for the direction (`one_way_audio` `sent_elsewhere`).
            let dir = dir.filter(|&dir| {
                let to_caller = dir == CalleeToCaller;
                let receiver_addrs = if to_caller { &caller_addrs } else { &callee_addrs };
                let receiver_sig = if to_caller { d.caller } else { d.callee };
                receiver_addrs.is_empty()
                    || receiver_addrs.contains(&s.key.dst)
                    || index.has_src(s.key.dst)
                    || private_receiver(to_caller) && receiver_sig.is_some_and(|r| r.ip() == s.key.dst.ip())
            });
            match dir {
                Some(CallerToCallee) => c2e.push(k),
                Some(CalleeToCaller) => e2c.push(k),
                None => {}
            }
        }
        let end = d.bye.map_or(Timestamp(0), |(b, _)| b.time);
        CallMedia { d, index: i, lookup: index, answered: d.answered, end, c2e, e2c }
    }

    pub(super) fn streams(&self, dir: StreamDirection) -> &[usize] {
        match dir {
            CallerToCallee => &self.c2e,
            CalleeToCaller => &self.e2c,
        }
    }
}

fn packets(input: &DiagnosisInput<'_>, idx: &[usize]) -> u64 {
    idx.iter().filter_map(|&k| input.streams.get(k)).map(|s| s.packets).sum()
}

fn party(dir_sender_is_caller: bool) -> &'static str {
    if dir_sender_is_caller {
        "caller"
    } else {
        "callee"
    }
}

/// Emits `capture_loss_suspected` for the given streams and demotes their loss-type reasons
/// (the evidence and the reason are built in [`super::streams`]).
fn apply_capture_loss(streams: &[usize], capture_loss: &[CaptureLoss], from: usize, out: &mut Vec<Reason>) {
    super::streams::apply_capture_loss(streams, capture_loss, from, out);
}

/// Runs the media rules for dialog `i`.
pub(crate) fn rules<'a>(
    input: &DiagnosisInput<'a>,
    index: &'a InputIndex,
    i: usize,
    cfg: &DiagnosisConfig,
    capture_loss: &[CaptureLoss],
    out: &mut Vec<Reason>,
) {
    let from = out.len();
    let Some(d) = input.dialogs.get(i) else { return };
    let mut cm = CallMedia::new(input, index, i, d);
    if d.bye.is_none() {
        cm.end = input.capture_end;
    }
    negotiated_one_way(d, out);
    let silent = presence(input, &cm, cfg, out);
    nat(input, &cm, out);
    unexpected_source(input, &cm, out);
    stops_after_reinvite(input, &cm, cfg, out);
    super::flows::rules(input, &cm, cfg, &silent, out);
    for dir in [CallerToCallee, CalleeToCaller] {
        if silent.contains(&dir) {
            continue;
        }
        for &k in cm.streams(dir) {
            let paired = input.pairing.get(k).copied().flatten().is_some_and(|p| p.dialog == cm.index);
            if !paired {
                continue;
            }
            stream_rules(input, k, Some(dir), cfg, out);
            super::streams::stream_rules(input, k, Some(dir), cfg, out);
            codec_mismatch(input, &cm, k, dir, cfg, out);
        }
        ssrc_change(input, &cm, dir, cfg, out);
    }
    icmp(input, &cm, out);
    super::streams::call_rules(input, i, &cm.c2e, &cm.e2c, &silent, cfg, out);
    let call_streams: Vec<usize> = cm.c2e.iter().chain(&cm.e2c).copied().collect();
    apply_capture_loss(&call_streams, capture_loss, from, out);
}

/// `negotiated_one_way` (info): the first offer/answer allows one direction only.
fn negotiated_one_way(d: &Dialog, out: &mut Vec<Reason>) {
    let (Some((ce, cm)), Some((ee, em))) = (first_audio(d, true), first_audio(d, false)) else { return };
    let c2e = flow_expected(cm, em);
    let e2c = flow_expected(em, cm);
    if c2e && e2c || cm.port == 0 || em.port == 0 && !c2e && !e2c {
        return;
    }
    let allowed = match (c2e, e2c) {
        (true, false) => Some(CallerToCallee),
        (false, true) => Some(CalleeToCaller),
        _ => None,
    };
    out.push(media(
        "negotiated_one_way",
        Severity::Info,
        allowed,
        format!(
            "Offer/answer (frames {} and {}) negotiated {:?}/{:?}: {}.",
            ce.at.number.min(ee.at.number),
            ce.at.number.max(ee.at.number),
            cm.direction,
            em.direction,
            match allowed {
                Some(dir) => format!("only {} audio is expected", arrow(dir)),
                None => "no audio is expected either way".to_owned(),
            }
        ),
        vec![ce.at.number, ee.at.number],
    ));
    if let Some(r) = out.last_mut() {
        r.class = ReasonClass::Info;
    }
}

/// `one_way_audio`, `no_media`, `media_not_captured`. Returns the silent directions.
fn presence(
    input: &DiagnosisInput<'_>,
    cm: &CallMedia<'_>,
    cfg: &DiagnosisConfig,
    out: &mut Vec<Reason>,
) -> Vec<StreamDirection> {
    let d = cm.d;
    let Some(ans) = cm.answered else { return Vec::new() };
    let start = Timestamp(ans.time.0.saturating_add(ms_ns(cfg.media.grace_ms)));
    let answered_s = secs(start, cm.end).max(0.0);
    // The SDP in force while media ran: a re-INVITE sent after the last packet (e.g. a B2BUA
    // taking media back just before hanging up) does not judge the call.
    let last_media = cm.c2e.iter().chain(&cm.e2c).filter_map(|&k| input.streams.get(k)).map(|s| s.last.time).max();
    let eval_t = last_media.map_or(cm.end, |t| t.min(cm.end));
    let (Some((ce, cmd)), Some((ee, emd))) = (latest_audio(d, true, eval_t), latest_audio(d, false, eval_t)) else {
        return Vec::new();
    };
    let mut base: Vec<u64> = vec![ans.number];
    base.extend(d.ack.map(|a| a.number));
    base.extend(d.bye.map(|(b, _)| b.number));
    let n_c2e = packets(input, &cm.c2e);
    let n_e2c = packets(input, &cm.e2c);
    if n_c2e == 0 && n_e2c == 0 {
        if cmd.port == 0 || emd.port == 0 {
            return Vec::new();
        }
        // No RTP of this call: `no_media` only when the capture does carry RTP of the call's
        // media hosts (so their media is on this capture point's path); otherwise the media of
        // this leg simply took a path not captured (a B2BUA's other side): `media_not_captured`.
        let hosts: Vec<IpAddr> = [cmd.addr, emd.addr].into_iter().flatten().collect();
        let hosts_seen =
            input.streams.iter().any(|s| hosts.contains(&s.key.src.ip()) || hosts.contains(&s.key.dst.ip()));
        if !hosts_seen {
            out.push(
                media(
                    "media_not_captured",
                    Severity::Info,
                    None,
                    if input.streams.is_empty() {
                        "The input holds no RTP at all: media rules were not evaluated for this answered call.".to_owned()
                    } else {
                        format!(
                            "No RTP to or from this call's media addresses ({}, {}) is in the input: media rules were not evaluated.",
                            opt_addr(cmd.rtp_addr()),
                            opt_addr(emd.rtp_addr())
                        )
                    },
                    base,
                )
                .cd(),
            );
            if let Some(r) = out.last_mut() {
                r.class = ReasonClass::Info;
            }
        } else if answered_s >= cfg.diagnosis.no_media.min_answered_s as f64 {
            out.push(
                media(
                    "no_media",
                    Severity::Fail,
                    None,
                    format!(
                        "No RTP either way during {answered_s:.1} s of answered time although audio was negotiated \
                         (caller at {}, callee at {}); not seen at the capture point.",
                        opt_addr(cmd.rtp_addr()),
                        opt_addr(emd.rtp_addr())
                    ),
                    base,
                )
                .metric("answered_s", answered_s)
                .metric("min_answered_s", cfg.diagnosis.no_media.min_answered_s as f64)
                .cd(),
            );
        }
        return Vec::new();
    }
    let mut silent = Vec::new();
    let ow = &cfg.diagnosis.one_way_audio;
    if answered_s < ow.min_answered_s as f64 {
        return silent;
    }
    for dir in [CallerToCallee, CalleeToCaller] {
        let (sender_ev, sender, receiver_ev, receiver) = match dir {
            CallerToCallee => (ce, cmd, ee, emd),
            CalleeToCaller => (ee, emd, ce, cmd),
        };
        if !flow_expected(sender, receiver) {
            continue;
        }
        let (n, other) = match dir {
            CallerToCallee => (n_c2e, n_e2c),
            CalleeToCaller => (n_e2c, n_c2e),
        };
        if n >= ow.min_packets || other < ow.min_other_packets {
            continue;
        }
        silent.push(dir);
        let sender_is_caller = dir == CallerToCallee;
        let who = party(sender_is_caller);
        let peer = party(!sender_is_caller);
        let sender_sig = if sender_is_caller { d.caller } else { d.callee };
        let receiver_sig = if sender_is_caller { d.callee } else { d.caller };
        let mut frames = base.clone();
        frames.push(sender_ev.at.number);
        frames.push(receiver_ev.at.number);
        let mut silent_frames = Vec::new();
        for &k in cm.streams(dir) {
            if let Some(s) = input.streams.get(k) {
                silent_frames.push(s.first.number);
                silent_frames.push(s.last.number);
            }
        }
        let flowing: Vec<&StreamStats> =
            cm.streams(dir.reverse()).iter().filter_map(|&k| input.streams.get(k)).collect();
        for s in &flowing {
            frames.push(s.first.number);
            frames.push(s.last.number);
        }
        frames.extend(silent_frames.iter().copied());
        // Where did the silent party's RTP go? A flow from its SDP or signalling address to
        // somewhere the peer never announced, during the call, that is not another call's
        // media (a gateway or PBX address sends every call's audio).
        let peer_addrs = announced(d, !sender_is_caller);
        let sender_ips: Vec<IpAddr> =
            sender.rtp_addr().map(|a| a.ip()).into_iter().chain(sender_sig.map(|a| a.ip())).collect();
        let call_start = d.first_invite.map_or(ans.time, |f| f.time);
        let another_calls = |k: usize| input.pairing.get(k).copied().flatten().is_some_and(|p| p.dialog != cm.index);
        let elsewhere = input
            .streams
            .iter()
            .enumerate()
            .filter(|&(k, _)| !another_calls(k))
            .map(|(_, s)| s)
            .filter(|s| sender_ips.contains(&s.key.src.ip()) && !peer_addrs.contains(&s.key.dst))
            .filter(|s| s.last.time >= call_start && s.first.time <= cm.end && s.packets >= ow.min_packets)
            .filter(|s| receiver_sig.is_none_or(|r| s.key.dst.ip() != r.ip() || s.key.dst.port() != r.port()))
            .max_by_key(|s| s.packets);
        // Symmetric RTP (RFC 4961): the silent party sends to where the flowing direction
        // comes from, i.e. the peer (or its relay) latched; the call has audio both ways.
        if elsewhere.is_some_and(|e| flowing.iter().any(|f| f.key.src == e.key.dst)) {
            silent.pop();
            continue;
        }
        let told = opt_addr(receiver.rtp_addr());
        let (sub, where_) = match elsewhere {
            Some(s) => {
                frames.push(s.first.number);
                frames.push(s.last.number);
                (
                    "sent_elsewhere",
                    format!(
                        "the {who}'s RTP went to {} instead ({} packets, frames {}–{}), an address the {peer} never announced",
                        s.key.dst, s.packets, s.first.number, s.last.number
                    ),
                )
            }
            None => (
                "undetermined",
                format!(
                    "nothing from the {who} (SDP {} in frame {}) reached any address at the capture point; \
                     whether it was sent is undetermined",
                    opt_addr(sender.rtp_addr()),
                    sender_ev.at.number
                ),
            ),
        };
        let receiver_private = receiver.addr.is_some_and(is_private_or_unspecified)
            && receiver_sig.is_some_and(|r| !is_private_or_unspecified(r.ip()));
        let sender_private = sender.addr.is_some_and(is_private_or_unspecified)
            && sender_sig.is_some_and(|r| !is_private_or_unspecified(r.ip()));
        let pattern = if receiver_private {
            format!(
                "NAT pattern: the {peer} announced the private address {told} while signalling from public {}",
                opt_addr(receiver_sig)
            )
        } else if sender_private {
            format!(
                "NAT pattern: the {who} announced the private address {} while signalling from public {}",
                opt_addr(sender.rtp_addr()),
                opt_addr(sender_sig)
            )
        } else {
            format!(
                "no private address is involved and {} flows, which points at filtering (firewall/pinhole) of {}",
                arrow(dir.reverse()),
                arrow(dir)
            )
        };
        let first_silent = silent_frames.first().map_or_else(String::new, |f| format!(" (frame {f})"));
        out.push(
            media(
                "one_way_audio",
                Severity::Fail,
                Some(dir),
                format!(
                    "{n} RTP packet(s) {}{first_silent} during {answered_s:.1} s of answered time against {other} {}; \
                     the {peer}'s SDP (frame {}) asked for media at {told}; {where_}; {pattern}.",
                    arrow(dir),
                    arrow(dir.reverse()),
                    receiver_ev.at.number
                ),
                frames,
            )
            .with_subcode(sub)
            .metric("answered_s", answered_s)
            .metric("packets", n as f64)
            .metric("packets_other_way", other as f64)
            .metric("min_answered_s", ow.min_answered_s as f64)
            .metric("min_packets", ow.min_packets as f64)
            .cd(),
        );
    }
    silent
}

fn opt_addr(a: Option<SocketAddr>) -> String {
    a.map_or_else(|| "?".to_owned(), |a| a.to_string())
}

/// `sdp_private_address_behind_nat`: a private SDP address sent to a public peer.
fn nat(input: &DiagnosisInput<'_>, cm: &CallMedia<'_>, out: &mut Vec<Reason>) {
    let d = cm.d;
    for author_is_caller in [true, false] {
        let Some(ev) = d.sdp.iter().find(|e| {
            e.from_caller == author_is_caller
                && e.session.media.iter().any(|m| {
                    m.kind == MediaKind::Audio
                        && m.port != 0
                        && m.addr.is_some_and(|ip| is_private_or_unspecified(ip) && !ip.is_unspecified())
                })
        }) else {
            continue;
        };
        let Some(msg) = message_at(d, ev.at.number) else { continue };
        if is_private_or_unspecified(msg.dst.ip()) || msg.dst.ip().is_loopback() {
            continue;
        }
        let Some(private) = ev.session.media.iter().find(|m| m.kind == MediaKind::Audio).and_then(|m| m.addr) else {
            continue;
        };
        let own_dir = if author_is_caller { CallerToCallee } else { CalleeToCaller };
        let mut frames = vec![ev.at.number];
        let received: Option<IpAddr> = if author_is_caller {
            d.via_received.as_deref().and_then(|r| r.parse().ok()).filter(|ip| !is_private_or_unspecified(*ip))
        } else {
            None
        };
        let public_rtp = cm
            .streams(own_dir)
            .iter()
            .filter_map(|&k| input.streams.get(k))
            .find(|s| !is_private_or_unspecified(s.key.src.ip()));
        let sub = if let Some(ip) = received {
            let resp = d
                .messages
                .iter()
                .find(|m| m.status.is_some() && m.cseq.1 == Method::Invite && m.at.time >= ev.at.time)
                .map(|m| m.at.number);
            frames.extend(resp);
            Some(("nat_confirmed", format!("its Via shows received={ip}")))
        } else {
            public_rtp.map(|s| {
                frames.push(s.first.number);
                ("nat_confirmed", format!("its RTP arrives from public {}", s.key.src))
            })
        };
        let (sub, evidence) = sub.unwrap_or(("suspected", "no public address of it was seen".to_owned()));
        let both_flow = packets(input, &cm.c2e) >= 10 && packets(input, &cm.e2c) >= 10;
        let who = party(author_is_caller);
        out.push(
            media(
                "sdp_private_address_behind_nat",
                if both_flow { Severity::Info } else { Severity::Degrade },
                Some(own_dir.reverse()),
                format!(
                    "The {who}'s SDP (frame {}) announces the private address {private}, sent to the public peer {}; {evidence}{}.",
                    ev.at.number,
                    msg.dst.ip(),
                    if both_flow { "; RTP flows both ways (latching or an SBC fixed it)" } else { "" }
                ),
                frames,
            )
            .with_subcode(sub)
            .cd(),
        );
    }
}

/// `rtp_from_unexpected_source`: RTP to a party's announced address from a source that is
/// neither the peer's announced address, its signalling address nor its known NAT address.
fn unexpected_source(input: &DiagnosisInput<'_>, cm: &CallMedia<'_>, out: &mut Vec<Reason>) {
    let d = cm.d;
    for receiver_is_caller in [true, false] {
        let own = announced(d, receiver_is_caller);
        let peer_sdp = announced(d, !receiver_is_caller);
        if own.is_empty() || peer_sdp.is_empty() {
            continue;
        }
        // A peer announcing a private address is expected to appear from its NAT address.
        if peer_sdp.iter().any(|a| is_private_or_unspecified(a.ip())) {
            continue;
        }
        let mut ok_ips: Vec<IpAddr> = peer_sdp.iter().map(SocketAddr::ip).collect();
        let peer_sig = if receiver_is_caller { d.callee } else { d.caller };
        ok_ips.extend(peer_sig.map(|a| a.ip()));
        if !receiver_is_caller {
            ok_ips.extend(d.via_received.as_deref().and_then(|r| r.parse::<IpAddr>().ok()));
        }
        let call_start = d.first_invite.map_or(Timestamp(0), |f| f.time);
        let strays: Vec<&StreamStats> = input
            .streams
            .iter()
            .filter(|s| own.contains(&s.key.dst) && !ok_ips.contains(&s.key.src.ip()))
            .filter(|s| s.packets >= 10 && s.last.time >= call_start && s.first.time <= cm.end)
            .collect();
        let Some(first) = strays.first() else { continue };
        let dir = if receiver_is_caller { CalleeToCaller } else { CallerToCallee };
        out.push(
            media(
                "rtp_from_unexpected_source",
                Severity::Degrade,
                Some(dir),
                format!(
                    "RTP to the {}'s announced {} comes from {} ({} packets from frame {}), which the {} never announced.",
                    party(receiver_is_caller),
                    first.key.dst,
                    first.key.src,
                    first.packets,
                    first.first.number,
                    party(!receiver_is_caller)
                ),
                strays.iter().map(|s| s.first.number).collect(),
            )
            .cd(),
        );
    }
}

/// `media_stops_after_reinvite`: after a completed re-INVITE, a flow that was running stops
/// and stays silent to the BYE. Returns the directions that stopped.
fn stops_after_reinvite(
    input: &DiagnosisInput<'_>,
    cm: &CallMedia<'_>,
    cfg: &DiagnosisConfig,
    out: &mut Vec<Reason>,
) -> Vec<StreamDirection> {
    let d = cm.d;
    let mut stopped = Vec::new();
    let Some(ans) = cm.answered else { return stopped };
    let c = &cfg.diagnosis.media_stops_after_reinvite;
    // Completed re-offers: an INVITE/UPDATE with SDP after the answer, answered 2xx.
    let mut points: Vec<(u64, u64, Option<u64>, Timestamp)> = Vec::new();
    for e in d.sdp.iter().filter(|e| e.at.time > ans.time && (e.carried_by == "INVITE" || e.carried_by == "UPDATE")) {
        let Some(req) = message_at(d, e.at.number) else { continue };
        let ok = d.messages.iter().find(|m| m.cseq == req.cseq && m.status.is_some_and(|s| (200..300).contains(&s)));
        let Some(ok) = ok else { continue };
        let ack = d.messages.iter().find(|m| m.method == Some(Method::Ack) && m.cseq.0 == req.cseq.0);
        let t = ack.map_or(ok.at.time, |a| a.at.time);
        points.push((e.at.number, ok.at.number, ack.map(|a| a.at.number), t));
    }
    let Some(&(reinvite, ok, ack, t)) = points.last() else { return stopped };
    // A switch to T.38 accepted (2xx with m=image port ≠ 0 and no audio): the audio is meant to
    // stop (principle 4); `t38_not_flowing` judges the fax media.
    let switched_to_fax = d.sdp.iter().filter(|e| e.at.number == ok).any(|e| {
        e.session.media.iter().any(|m| m.kind == MediaKind::Image && m.port != 0)
            && !e.session.media.iter().any(|m| m.kind == MediaKind::Audio && m.port != 0)
    });
    if switched_to_fax {
        return stopped;
    }
    let (Some((_, cmd)), Some((_, emd))) = (latest_audio(d, true, cm.end), latest_audio(d, false, cm.end)) else {
        return stopped;
    };
    for dir in [CallerToCallee, CalleeToCaller] {
        let (sender, receiver) = if dir == CallerToCallee { (cmd, emd) } else { (emd, cmd) };
        if !flow_expected(sender, receiver) {
            continue;
        }
        let streams: Vec<&StreamStats> = cm.streams(dir).iter().filter_map(|&k| input.streams.get(k)).collect();
        let before = streams.iter().any(|s| s.first.time <= t && s.last.time.0 >= t.0 - 5_000 * super::MS_NS);
        let Some(last) = streams.iter().map(|s| s.last).max_by_key(|f| f.time) else { continue };
        let silence_s = secs(last.time, cm.end);
        let stops_soon = last.time.0 <= t.0.saturating_add(ms_ns(c.stop_window_s.saturating_mul(1000)));
        if !before || !stops_soon || silence_s < c.min_silence_s as f64 {
            continue;
        }
        stopped.push(dir);
        let mut frames = vec![reinvite, ok, last.number];
        frames.extend(ack);
        frames.extend(d.bye.map(|(b, _)| b.number));
        out.push(
            media(
                "media_stops_after_reinvite",
                Severity::Fail,
                Some(dir),
                format!(
                    "RTP {} stops at {} (frame {}), {:.1} s after the re-INVITE (frame {}) completed, and stays silent {:.1} s {}.",
                    arrow(dir),
                    last.time,
                    last.number,
                    secs(t, last.time),
                    reinvite,
                    silence_s,
                    if d.bye.is_some() { "until the BYE" } else { "until the capture ends" }
                ),
                frames,
            )
            .metric("silence_s", silence_s)
            .metric("min_silence_s", c.min_silence_s as f64)
            .cd(),
        );
    }
    stopped
}

/// Stream-scoped quality rules: `media_gap` (`lost`), `high_loss`, `high_jitter`, `low_mos`,
/// `late_packets`, `dscp_*`.
fn stream_rules(
    input: &DiagnosisInput<'_>,
    k: usize,
    dir: Option<StreamDirection>,
    cfg: &DiagnosisConfig,
    out: &mut Vec<Reason>,
) {
    let Some(s) = input.streams.get(k) else { return };
    let id = stream_id(k);
    let flow = format!("{}→{}", s.key.src, s.key.dst);
    let th = &cfg.diagnosis;
    // media_gap `lost`: outages with sequence numbers missing (the silence-suppression shape,
    // continuous sequence, is never an outage: quality-metrics.md §1.3 step 4).
    let gaps: Vec<&crate::rtp::MediaGap> =
        s.media_gaps.iter().filter(|g| g.end.time.ms_since(g.start.time) >= th.media_gap.threshold_ms as f64).collect();
    let gap_missing: u64 = gaps.iter().map(|g| u64::from(g.missing)).sum();
    if let Some(worst) = gaps.iter().max_by_key(|g| g.end.time.0 - g.start.time.0) {
        let dur = secs(worst.start.time, worst.end.time);
        out.push(
            media(
                "media_gap",
                Severity::Degrade,
                dir,
                format!(
                    "{} gap(s) of RTP on {flow}; the longest {dur:.1} s (frames {}–{}) with {} sequence numbers never seen here: \
                     sent, not received at the capture point.",
                    gaps.len(),
                    worst.start.number,
                    worst.end.number,
                    worst.missing
                ),
                gaps.iter().flat_map(|g| [g.start.number, g.end.number]).collect(),
            )
            .with_subcode("lost")
            .metric("gap_s", dur)
            .metric("missing", f64::from(worst.missing))
            .metric("threshold_ms", th.media_gap.threshold_ms as f64)
            .on_stream(id)
            .cd(),
        );
    }
    // high_loss: unique loss (RFC 3550 A.3, duplicates never offset loss) outside the gaps.
    let unique_received = s.received.saturating_sub(s.duplicates);
    let lost_unique = s.expected.saturating_sub(unique_received);
    let lost_spread = lost_unique.saturating_sub(gap_missing);
    if s.expected >= th.high_loss.min_expected {
        let pct = 100.0 * lost_spread as f64 / s.expected as f64;
        if pct > th.high_loss.pct {
            out.push(
                media(
                    "high_loss",
                    Severity::Degrade,
                    dir,
                    format!(
                        "Loss {pct:.1} % on {flow} ({lost_spread} of {} packets, outside media gaps) over {:.0} s, above the {} % \
                         threshold; lost before the capture point.",
                        s.expected,
                        secs(s.first.time, s.last.time),
                        th.high_loss.pct
                    ),
                    vec![s.first.number, s.last.number],
                )
                .metric("lost_pct", pct)
                .metric("lost_unique", lost_unique as f64)
                .metric("threshold_pct", th.high_loss.pct)
                .on_stream(id)
                .cd(),
            );
        }
    }
    // high_jitter: the tshark-equal jitter (only when the clock is known).
    if s.min_jitter_ms.is_some()
        && (s.mean_jitter_ms > th.high_jitter.mean_ms || s.max_jitter_ms > th.high_jitter.max_ms)
    {
        out.push(
            media(
                "high_jitter",
                Severity::Degrade,
                dir,
                format!(
                    "Jitter on {flow} mean {:.1} ms / max {:.1} ms measured at the capture point, above {} / {} ms.",
                    s.mean_jitter_ms, s.max_jitter_ms, th.high_jitter.mean_ms, th.high_jitter.max_ms
                ),
                vec![s.first.number, s.last.number],
            )
            .metric("mean_jitter_ms", s.mean_jitter_ms)
            .metric("max_jitter_ms", s.max_jitter_ms)
            .on_stream(id)
            .cd(),
        );
    }
    // low_mos / late_packets: only from figures the quality stage computed (none yet: these
    // rules are pending the quality metrics and emit nothing without them).
    if let Some(q) = input.quality.get(k).copied().flatten() {
        if let Some(mos) = q.mos.filter(|&m| m < th.low_mos.threshold) {
            out.push(
                media(
                    "low_mos",
                    Severity::Degrade,
                    dir,
                    format!("E-model MOS {mos:.2} on {flow}, below {}.", th.low_mos.threshold),
                    vec![s.first.number, s.last.number],
                )
                .metric("mos", mos)
                .on_stream(id)
                .cd(),
            );
        }
        if let Some(late) = q.late_discard_pct.filter(|&p| p > th.late_packets.pct) {
            out.push(
                media(
                    "late_packets",
                    Severity::Degrade,
                    dir,
                    format!(
                        "{late:.1} % of packets on {flow} arrive too late for the simulated {} jitter buffer, above {} %.",
                        th.late_packets.buffer, th.late_packets.pct
                    ),
                    vec![s.first.number, s.last.number],
                )
                .metric("late_pct", late)
                .on_stream(id)
                .cd(),
            );
        }
    }
    // DSCP, only when an expected marking is configured (RFC 4594): per site with a site map.
    if let Some((expect, site)) = expected_media_dscp(input, cfg, s.key.src.ip()) {
        let expect_text = match site {
            Some(name) => format!("{expect}, site {name}"),
            None => expect.to_string(),
        };
        let total: u64 = s.dscp_counts.iter().map(|&c| u64::from(c)).sum();
        let modal = (0..64usize).max_by_key(|&i| (s.dscp_counts[i], std::cmp::Reverse(i))).unwrap_or(0);
        let significant = s.dscp_counts.iter().filter(|&&c| total > 0 && u64::from(c) * 20 >= total).count();
        let (code, text) = if modal == 0 {
            ("dscp_missing", format!("RTP on {flow} marked DSCP 0 at this hop (expected {expect_text})"))
        } else if modal != usize::from(expect) {
            ("dscp_remarked", format!("RTP on {flow} marked DSCP {modal} at this hop (expected {expect_text})"))
        } else if significant > 1 {
            ("dscp_remarked", format!("RTP on {flow} changes DSCP mid-flow at this hop (expected {expect_text})"))
        } else {
            ("", String::new())
        };
        if !code.is_empty() {
            out.push(
                media(code, Severity::Degrade, dir, format!("{text}."), vec![s.first.number, s.last.number])
                    .metric("dscp", modal as f64)
                    .metric("expected", f64::from(expect))
                    .on_stream(id)
                    .cd(),
            );
        }
    }
}

/// The DSCP the media from `src` should carry (diagnosis.md §4.3 `dscp_*`, "per site") and the
/// site that expects it: with a site map, the `expected_dscp` of the site holding `src`; an
/// address in no site (or no map) falls back to `qos.expect_media_dscp`; `None`: rules off.
fn expected_media_dscp<'a>(
    input: &DiagnosisInput<'a>,
    cfg: &DiagnosisConfig,
    src: IpAddr,
) -> Option<(u8, Option<&'a str>)> {
    match input.sites.and_then(|map| map.site_of(src)) {
        Some(site) => Some((site.expected_dscp, Some(site.name.as_str()))),
        None => cfg.qos.expect_media_dscp.map(|d| (d, None)),
    }
}

/// `codec_mismatch`: payload types absent from the receiver's SDP (PT 72–76 are RTCP on a
/// muxed port, RFC 5761 §4; CN 13/19 allowed when configured).
fn codec_mismatch(
    input: &DiagnosisInput<'_>,
    cm: &CallMedia<'_>,
    k: usize,
    dir: StreamDirection,
    cfg: &DiagnosisConfig,
    out: &mut Vec<Reason>,
) {
    let Some(s) = input.streams.get(k) else { return };
    let receiver_is_caller = dir == CalleeToCaller;
    let mut allowed: u128 = 0;
    let mut found = false;
    let mut sdp_frame = 0;
    for e in cm.d.sdp.iter().filter(|e| e.from_caller == receiver_is_caller) {
        for m in e.session.media.iter().filter(|m| m.rtp_addr() == Some(s.key.dst)) {
            found = true;
            sdp_frame = e.at.number;
            for &pt in &m.formats {
                allowed |= 1u128 << (pt & 0x7F);
            }
        }
    }
    if !found {
        return;
    }
    let mut foreign = Vec::new();
    for pt in 0..128u8 {
        let seen = s.pts_seen & (1u128 << pt) != 0;
        let cn = matches!(pt, 13 | 19) && cfg.diagnosis.codec_mismatch.allow_unnegotiated_cn;
        if seen && allowed & (1u128 << pt) == 0 && !(72..=76).contains(&pt) && !cn {
            foreign.push(pt);
        }
    }
    if foreign.is_empty() {
        return;
    }
    let main_foreign = foreign.contains(&s.first_pt);
    out.push(
        media(
            "codec_mismatch",
            if main_foreign { Severity::Fail } else { Severity::Degrade },
            Some(dir),
            format!(
                "RTP {}→{} carries payload type(s) {:?} that the receiver's SDP (frame {sdp_frame}) does not list.",
                s.key.src, s.key.dst, foreign
            ),
            vec![s.first.number, sdp_frame],
        )
        .on_stream(stream_id(k)),
    );
}

/// `ssrc_change`: a new SSRC on the same 5-tuple with no offer/answer or REFER within the window.
fn ssrc_change(
    input: &DiagnosisInput<'_>,
    cm: &CallMedia<'_>,
    dir: StreamDirection,
    cfg: &DiagnosisConfig,
    out: &mut Vec<Reason>,
) {
    let mut by_tuple: BTreeMap<(SocketAddr, SocketAddr), Vec<&StreamStats>> = BTreeMap::new();
    for &k in cm.streams(dir) {
        if let Some(s) = input.streams.get(k) {
            by_tuple.entry((s.key.src, s.key.dst)).or_default().push(s);
        }
    }
    let window = ms_ns(cfg.diagnosis.ssrc_change.window_ms);
    for ((src, dst), mut list) in by_tuple {
        if list.len() < 2 {
            continue;
        }
        list.sort_by_key(|s| s.first.time);
        for pair in list.windows(2) {
            let [old, new] = pair else { continue };
            let t = new.first.time;
            let signalled = cm.d.messages.iter().any(|m| {
                matches!(m.method, Some(Method::Invite | Method::Update | Method::Refer))
                    && (m.at.time.0 - t.0).abs() <= window
            }) || cm.d.sdp.iter().any(|e| (e.at.time.0 - t.0).abs() <= window);
            if signalled {
                continue;
            }
            out.push(
                media(
                    "ssrc_change",
                    Severity::Degrade,
                    Some(dir),
                    format!(
                        "SSRC on {src}→{dst} changes from 0x{:08X} (last frame {}) to 0x{:08X} (frame {}) with no signalling within {} ms.",
                        old.key.ssrc, old.last.number, new.key.ssrc, new.first.number, cfg.diagnosis.ssrc_change.window_ms
                    ),
                    vec![old.last.number, new.first.number],
                )
                .cd(),
            );
        }
    }
}

/// `media_icmp_unreachable` for a call's flows. Errors after the BYE are the teardown race (the
/// party that hung up closed its port while the other's last packets were in flight) and do not
/// count: seen on every clean call of the real-client lab (tests/lab, scenario `clean`).
fn icmp(input: &DiagnosisInput<'_>, cm: &CallMedia<'_>, out: &mut Vec<Reason>) {
    let before_bye = cm.d.bye.map_or(Timestamp(i64::MAX), |(bye, _)| bye.time);
    for dir in [CallerToCallee, CalleeToCaller] {
        for &k in cm.streams(dir) {
            if let Some(r) = icmp_for_stream(input, k, Some(dir), cm.answered, before_bye) {
                out.push(r);
            }
        }
    }
}

fn icmp_for_stream(
    input: &DiagnosisInput<'_>,
    k: usize,
    dir: Option<StreamDirection>,
    answered: Option<FrameRef>,
    until: Timestamp,
) -> Option<Reason> {
    let s = input.streams.get(k)?;
    let hits: Vec<&super::IcmpSeen> = input
        .icmp
        .iter()
        .filter(|e| e.quoted_dst == s.key.dst && e.quoted_src == s.key.src && e.at.time < until)
        .collect();
    let (first, last) = (hits.first()?, hits.last()?);
    let span_s = secs(first.at.time, last.at.time);
    let long = span_s > 2.0 && answered.is_some();
    let mut frames: Vec<u64> = hits.iter().map(|e| e.at.number).collect();
    frames.push(s.last.number);
    Some(
        media(
            "media_icmp_unreachable",
            if long { Severity::Fail } else { Severity::Degrade },
            dir,
            format!(
                "{} ICMP destination-unreachable error(s) (frames {}–{}) quote RTP {}→{}: the receiver's port is closed or filtered.",
                hits.len(),
                first.at.number,
                last.at.number,
                s.key.src,
                s.key.dst
            ),
            frames,
        )
        .on_stream(stream_id(k)),
    )
}

/// Reasons for streams tied to no call (`streams[].reasons`): loss, gaps, jitter, ICMP.
pub fn orphan_stream_rules(
    input: &DiagnosisInput<'_>,
    cfg: &DiagnosisConfig,
    capture_loss: &[CaptureLoss],
) -> Vec<Vec<Reason>> {
    let mut all = Vec::with_capacity(input.streams.len());
    for (k, s) in input.streams.iter().enumerate() {
        let mut out = Vec::new();
        let orphan = input.pairing.get(k).copied().flatten().is_none();
        if orphan && judged_audio(input, &[], s) {
            stream_rules(input, k, None, cfg, &mut out);
            super::streams::stream_rules(input, k, None, cfg, &mut out);
        }
        if orphan {
            super::streams::orphan_rules(input, k, &mut out);
            out.extend(icmp_for_stream(input, k, None, None, Timestamp(i64::MAX)));
            apply_capture_loss(&[k], capture_loss, 0, &mut out);
        }
        all.push(out);
    }
    all
}

/// Per address pair (sender IP → receiver IP of the silent flow): one-way audio concentrated
/// on one pair and direction, the per-pair form of `inter_site_one_way` (§4.5: rate on A→B
/// ≥ 20 % over ≥ 3 calls while B→A ≤ 5 %).
pub fn pair_findings(
    input: &DiagnosisInput<'_>,
    verdicts: &[Option<Verdict>],
    _cfg: &DiagnosisConfig,
) -> Vec<PairFinding> {
    // (from, to) → (answered calls, failing call ids, frames)
    type PairTally = (u32, Vec<String>, Vec<u64>);
    let mut pairs: BTreeMap<(IpAddr, IpAddr), PairTally> = BTreeMap::new();
    for (d, v) in input.dialogs.iter().zip(verdicts) {
        let (Some(v), Some(caller), Some(callee), Some(ans)) = (v, d.caller, d.callee, d.answered) else { continue };
        for (from, to, dir) in [(caller.ip(), callee.ip(), CallerToCallee), (callee.ip(), caller.ip(), CalleeToCaller)]
        {
            let e = pairs.entry((from, to)).or_default();
            e.0 += 1;
            let failing = v
                .reasons
                .iter()
                .any(|r| r.code == "no_media" || (r.code == "one_way_audio" && r.direction == Some(dir)));
            if failing {
                e.1.push(d.call_id.clone());
                e.2.push(ans.number);
            }
        }
    }
    let mut out = Vec::new();
    for ((from, to), (n, calls, frames)) in &pairs {
        let bad = calls.len() as f64;
        let rate = bad / f64::from((*n).max(1));
        if *n < 3 || rate < 0.2 {
            continue;
        }
        let back = pairs.get(&(*to, *from)).map_or(0.0, |(m, c, _)| c.len() as f64 / f64::from((*m).max(1)));
        if back > 0.05 {
            continue;
        }
        let reason = media(
            "inter_site_one_way",
            Severity::Fail,
            None,
            format!(
                "{} of {n} answered calls lost audio {from}→{to} ({:.0} %) while {to}→{from} lost it in {:.0} %: \
                 an inconsistent firewall/NAT policy for that direction.",
                calls.len(),
                rate * 100.0,
                back * 100.0
            ),
            frames.iter().copied().take(32).collect(),
        )
        .metric("rate_pct", rate * 100.0)
        .metric("reverse_rate_pct", back * 100.0)
        .finish(32);
        out.push(PairFinding { reason, from_addr: from.to_string(), to_addr: to.to_string(), calls: calls.clone() });
    }
    out
}
