//! Where media goes and whether it follows the signalling (diagnosis.md §4.3):
//! `rtp_to_unannounced_address`, `rtp_port_mismatch`, `media_stops_after_resume`,
//! `media_stops_after_transfer`, `late_media_start`, `t38_not_flowing`; the UDPTL flows the
//! T.38 rule reads ([`UdptlTable`]); and the per-call capture [`Vantage`] (§6).
//!
//! Every rule here judges what *this capture point* saw, so every reason is capture-dependent
//! (§6) and words absence as "not seen at the capture point".

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use super::config::DiagnosisConfig;
use super::media::CallMedia;
use super::sdpstate::{announced, audio_of, completed, flow_expected, in_force, latest_audio, message_at};
use super::{arrow, ms_ns, secs, DiagnosisInput, InputIndex, Reason, ReasonClass, Severity};
use crate::capture::FrameRef;
use crate::correlate::{PairBasis, StreamDirection};
use crate::rtp::StreamStats;
use crate::sdp::{is_private_or_unspecified, MediaKind};
use crate::sip::{Dialog, Method};
use crate::time::Timestamp;

use StreamDirection::{CalleeToCaller, CallerToCallee};

fn media(code: &'static str, sev: Severity, dir: Option<StreamDirection>, detail: String, frames: Vec<u64>) -> Reason {
    Reason::new(code, ReasonClass::Media, sev, dir, detail, frames).cd()
}

fn party(is_caller: bool) -> &'static str {
    if is_caller {
        "caller"
    } else {
        "callee"
    }
}

fn end_words(d: &Dialog) -> &'static str {
    if d.bye.is_some() {
        "until the BYE"
    } else {
        "until the capture ends"
    }
}

// ---------------------------------------------------------------------------------------------
// UDPTL flows (T.38 fax, ITU-T T.38 annex, RFC 3362)
// ---------------------------------------------------------------------------------------------

/// One UDPTL flow: datagrams from `src` to an address an SDP negotiated for `m=image` (T.38).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdptlFlow {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver (a T.38 address in force when the packets came).
    pub dst: SocketAddr,
    /// First datagram.
    pub first: FrameRef,
    /// Last datagram.
    pub last: FrameRef,
    /// Datagrams seen.
    pub packets: u64,
}

/// The UDPTL flows of a run, keyed by (src, dst). Bounded by [`UdptlTable::CAPACITY`]: datagrams
/// of new flows beyond it are counted in [`UdptlTable::refused`] and not kept (the rule then
/// cannot see them, so the pipeline warns). Observing a datagram of a known flow allocates
/// nothing.
#[derive(Clone, Debug, Default)]
pub struct UdptlTable {
    flows: Vec<UdptlFlow>,
    index: HashMap<(SocketAddr, SocketAddr), usize>,
    refused: u64,
}

impl UdptlTable {
    /// Most flows kept (fax calls are few; 4096 is far above any office's fax traffic).
    pub const CAPACITY: usize = 4096;

    /// An empty table.
    pub fn new() -> Self {
        UdptlTable::default()
    }

    /// Records one UDPTL datagram.
    pub fn observe(&mut self, at: FrameRef, src: SocketAddr, dst: SocketAddr) {
        if let Some(f) = self.index.get(&(src, dst)).and_then(|&i| self.flows.get_mut(i)) {
            f.last = at;
            f.packets = f.packets.saturating_add(1);
            return;
        }
        if self.flows.len() >= Self::CAPACITY {
            self.refused = self.refused.saturating_add(1);
            return;
        }
        self.index.insert((src, dst), self.flows.len());
        self.flows.push(UdptlFlow { src, dst, first: at, last: at, packets: 1 });
    }

    /// The flows, in order of first datagram.
    pub fn flows(&self) -> &[UdptlFlow] {
        &self.flows
    }

    /// Datagrams of new flows not kept because the table was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Drops flows whose last datagram is older than `horizon` (incremental runs).
    pub fn retain_since(&mut self, horizon: Timestamp) {
        self.flows.retain(|f| f.last.time >= horizon);
        self.index = self.flows.iter().enumerate().map(|(i, f)| ((f.src, f.dst), i)).collect();
    }
}

// ---------------------------------------------------------------------------------------------
// The rules
// ---------------------------------------------------------------------------------------------

/// Runs the flow rules for one call. `silent` are the directions `one_way_audio` already
/// reported (§3 rule 1: such a direction gets no `late_media_start`).
pub(super) fn rules(
    input: &DiagnosisInput<'_>,
    cm: &CallMedia<'_>,
    cfg: &DiagnosisConfig,
    silent: &[StreamDirection],
    out: &mut Vec<Reason>,
) {
    misdirected(input, cm, cfg, out);
    // `media_not_captured` says the media rules were not evaluated (its RTP took a path this
    // capture point does not see): absence of RTP proves nothing about a resume or a transfer.
    if !out.iter().any(|r| r.code == "media_not_captured") {
        late_media_start(input, cm, cfg, silent, out);
        stops_after_resume(input, cm, cfg, out);
        stops_after_transfer(input, cm, cfg, out);
    }
    t38_not_flowing(input, cm, cfg, out);
}

/// RTP/RTCP multiplexed on one port: payload types 72–76 are RTCP packet types 200–204 read as
/// RTP (RFC 5761 §4); such a "stream" is RTCP, expected on the RTP or RTCP port.
fn is_muxed_rtcp(s: &StreamStats) -> bool {
    (72..=76).contains(&s.first_pt)
}

/// The same SSRC enters the stream's source host on another stream: the source is a relay
/// forwarding media it received (one SSRC at two hops, §6 multi-point), not the party itself.
fn is_relay_hop(input: &DiagnosisInput<'_>, index: &InputIndex, s: &StreamStats) -> bool {
    index
        .sent_to_host(s.key.src.ip())
        .iter()
        .filter_map(|&k| input.streams.get(k))
        .any(|o| o.key.ssrc == s.key.ssrc && o.key != s.key)
}

/// Public addresses the receiver's traffic is known to come from while its SDP is private (its
/// NAT): its signalling source, and for the caller the Via `received=` (RFC 3581).
fn nat_ips(d: &Dialog, is_caller: bool) -> Vec<IpAddr> {
    let sig = if is_caller { d.caller } else { d.callee };
    let mut v: Vec<IpAddr> = sig.map(|a| a.ip()).into_iter().filter(|ip| !is_private_or_unspecified(*ip)).collect();
    if is_caller {
        v.extend(d.via_received.as_deref().and_then(|r| r.parse::<IpAddr>().ok()));
    }
    v
}

/// Verdict on where one flow went, against the receiver's SDP in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// An announced address, the receiver's NAT address on the announced port, or where the
    /// receiver's own RTP comes from (symmetric RTP, RFC 4961).
    Correct,
    /// The announced IP (or its NAT IP), another port.
    WrongPort,
    /// An IP the receiver did not announce.
    Unannounced,
    /// No SDP of the receiver in force yet: nothing to judge against.
    Unknown,
}

/// The receiver's SDP in force: its frame and the addresses it announced.
type InForce = (u64, Vec<SocketAddr>);

/// Judges where `s` (sent by the `sender_is_caller` side) went. Returns the verdict and the
/// receiver's SDP in force (frame, addresses).
fn judge_target(
    input: &DiagnosisInput<'_>,
    index: &InputIndex,
    d: &Dialog,
    s: &StreamStats,
    sender_is_caller: bool,
    grace: i64,
) -> (Target, Option<InForce>) {
    let receiver_is_caller = !sender_is_caller;
    // Packets in flight when the receiver moved are not stray: judge against the SDP in force
    // a grace period before the flow's last packet.
    let t_eval = Timestamp(s.last.time.0.saturating_sub(grace).max(s.first.time.0));
    let Some(ev) = in_force(d, receiver_is_caller, t_eval) else { return (Target::Unknown, None) };
    let addrs: Vec<SocketAddr> = ev.session.media.iter().filter_map(|m| m.rtp_addr()).collect();
    if addrs.is_empty() {
        return (Target::Unknown, None);
    }
    let sdp = Some((ev.at.number, addrs.clone()));
    let dst = s.key.dst;
    // The receiver's own RTP comes from there while this flow is judged (latching, RFC 4961).
    let from_dst_host = || index.sent_by_host(dst.ip()).iter().filter_map(|&k| input.streams.get(k));
    let symmetric = from_dst_host()
        .any(|o| o.key.src == dst && o.key.dst == s.key.src && o.last.time >= t_eval && o.first.time <= s.last.time);
    // The destination host itself sends to the receiver's announced address meanwhile: a media
    // relay in the path (e.g. a DECT base station or media proxy), and the receiver gets audio
    // (`sipnab-SIP_DTMF2.cap`: 192.168.105.110:4374 → .172:4376 while .172 → the announced
    // .110:4376).
    let relay_in_path =
        from_dst_host().any(|o| addrs.contains(&o.key.dst) && o.first.time <= s.last.time && o.last.time >= t_eval);
    if addrs.contains(&dst) || symmetric || relay_in_path {
        return (Target::Correct, sdp);
    }
    let private = addrs.iter().any(|a| is_private_or_unspecified(a.ip()));
    let nat = if private { nat_ips(d, receiver_is_caller) } else { Vec::new() };
    if nat.contains(&dst.ip()) {
        // A port-preserving NAT forwards the announced port (correlate rule 3a).
        return if addrs.iter().any(|a| a.port() == dst.port()) {
            (Target::Correct, sdp)
        } else {
            (Target::WrongPort, sdp)
        };
    }
    if addrs.iter().any(|a| a.ip() == dst.ip()) {
        (Target::WrongPort, sdp)
    } else {
        (Target::Unannounced, sdp)
    }
}

/// `rtp_to_unannounced_address` and `rtp_port_mismatch`: RTP from a call party (its SDP
/// address:port, or its public NAT address when its SDP is private) during the call to an
/// IP:port the receiver's SDP in force did not announce.
fn misdirected(input: &DiagnosisInput<'_>, cm: &CallMedia<'_>, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let d = cm.d;
    let Some(start) = d.first_invite.map(|f| f.time) else { return };
    let end = cm.end;
    let grace = ms_ns(cfg.media.grace_ms);
    for sender_is_caller in [true, false] {
        let dir = if sender_is_caller { CallerToCallee } else { CalleeToCaller };
        let own = announced(d, sender_is_caller);
        // Only a party whose own SDP is private is known by its NAT address; otherwise its
        // exact SDP address:port identifies it (a B2BUA's signalling IP also sends every other
        // call's media).
        let nat = if own.iter().any(|a| is_private_or_unspecified(a.ip())) {
            nat_ips(d, sender_is_caller)
        } else {
            Vec::new()
        };
        let mut strays: [Vec<(&StreamStats, Option<InForce>)>; 2] = [Vec::new(), Vec::new()];
        let mut correct_flows: Vec<&StreamStats> = Vec::new();
        for k in cm.lookup.sent_by(&own, &nat) {
            let Some(s) = input.streams.get(k) else { continue };
            if s.last.time < start || s.first.time > end || is_muxed_rtcp(s) {
                continue;
            }
            // Another call's media (its SDP announced this destination), or a relay hop.
            let other_call = input
                .pairing
                .get(k)
                .copied()
                .flatten()
                .is_some_and(|p| p.dialog != cm.index || p.basis == PairBasis::RelayLeg);
            if other_call || is_relay_hop(input, cm.lookup, s) {
                continue;
            }
            let (target, sdp) = judge_target(input, cm.lookup, d, s, sender_is_caller, grace);
            match target {
                Target::Correct => correct_flows.push(s),
                Target::WrongPort | Target::Unannounced => {
                    let (slot, min) = if target == Target::WrongPort {
                        (0, cfg.diagnosis.rtp_port_mismatch.min_packets)
                    } else {
                        (1, cfg.diagnosis.rtp_to_unannounced_address.min_packets)
                    };
                    if s.packets >= min {
                        if let Some(v) = strays.get_mut(slot) {
                            v.push((s, sdp));
                        }
                    }
                }
                Target::Unknown => {}
            }
        }
        for (slot, list) in strays.iter().enumerate() {
            let Some((worst, sdp)) = list.iter().max_by_key(|(s, _)| s.packets) else { continue };
            let code = if slot == 0 { "rtp_port_mismatch" } else { "rtp_to_unannounced_address" };
            let receiver_announced = announced(d, !sender_is_caller);
            // A correct flow overlapping the stray one: the receiver does get audio (D).
            let also_correct = correct_flows
                .iter()
                .any(|c| c.packets >= 10 && c.first.time <= worst.last.time && c.last.time >= worst.first.time);
            let (sdp_frame, addrs) = sdp.clone().unwrap_or((0, Vec::new()));
            let told = addrs.iter().map(SocketAddr::to_string).collect::<Vec<_>>().join(", ");
            let dst = worst.key.dst;
            let stale = receiver_announced.contains(&dst)
                || d.sdp.iter().any(|e| {
                    e.from_caller != sender_is_caller && e.session.media.iter().any(|m| m.rtp_addr() == Some(dst))
                });
            let rtcp_port = slot == 0 && addrs.iter().any(|a| a.port().checked_add(1) == Some(dst.port()));
            let receiver_sig = if sender_is_caller { d.callee } else { d.caller };
            let private_dst =
                is_private_or_unspecified(dst.ip()) && receiver_sig.is_some_and(|r| !is_private_or_unspecified(r.ip()));
            let sub = match (slot, stale, rtcp_port, private_dst) {
                (_, true, _, _) if slot == 0 => Some("stale_port"),
                (_, true, _, _) => Some("stale_address"),
                (0, _, true, _) => Some("rtcp_port"),
                (1, _, _, true) => Some("private_address"),
                _ => None,
            };
            let why = match sub {
                Some("stale_port") => " (a port the receiver announced earlier and no longer uses)".to_owned(),
                Some("stale_address") => " (an address the receiver announced earlier and replaced)".to_owned(),
                Some("rtcp_port") => " (the RTCP port, announced port + 1)".to_owned(),
                Some("private_address") => " (a private address, unreachable from the public side)".to_owned(),
                _ => String::new(),
            };
            let mut frames: Vec<u64> = list.iter().map(|(s, _)| s.first.number).collect();
            frames.push(worst.last.number);
            frames.push(sdp_frame);
            let mut r = media(
                code,
                if also_correct { Severity::Degrade } else { Severity::Fail },
                Some(dir),
                format!(
                    "RTP {} from {} goes to {dst}{why}: {} packets from {} (frame {}) to {} (frame {}), while the {}'s SDP in \
                     force (frame {sdp_frame}) announced {told}; {}.",
                    arrow(dir),
                    worst.key.src,
                    worst.packets,
                    worst.first.time,
                    worst.first.number,
                    worst.last.time,
                    worst.last.number,
                    party(!sender_is_caller),
                    if also_correct {
                        "a flow to the announced address also exists, so the receiver still gets audio"
                    } else {
                        "no flow to the announced address was seen at the capture point"
                    }
                ),
                frames,
            )
            .metric("packets", worst.packets as f64)
            .metric("min_packets", if slot == 0 {
                cfg.diagnosis.rtp_port_mismatch.min_packets
            } else {
                cfg.diagnosis.rtp_to_unannounced_address.min_packets
            } as f64)
            .metric("stray_flows", list.len() as f64);
            if let Some(sub) = sub {
                r = r.with_subcode(sub);
            }
            out.push(r);
        }
    }
}

/// First packet at or after `t` among `streams`: a stream running across `t` counts as a packet
/// at `t` (it kept going); `None` when nothing is sent after `t`.
fn first_after(streams: &[&StreamStats], t: Timestamp) -> Option<(Timestamp, u64)> {
    streams
        .iter()
        .filter(|s| s.last.time > t)
        .map(|s| if s.first.time >= t { (s.first.time, s.first.number) } else { (t, s.first.number) })
        .min_by_key(|(time, _)| *time)
}

/// Last packet at or before `t` among `streams`.
fn last_before(streams: &[&StreamStats], t: Timestamp) -> Option<FrameRef> {
    streams
        .iter()
        .filter(|s| s.first.time <= t)
        .map(|s| if s.last.time <= t { s.last } else { s.first })
        .max_by_key(|f| f.time)
}

/// The grace-and-silence rule of §4.3 (`media_stops_after_*`): after `t`, no packet within
/// `grace`, and the silence (to the next packet, else to `end`) lasts ≥ `min_silence_s`.
/// Returns the silence in seconds and the next packet's frame, when the rule holds.
fn silent_after(
    streams: &[&StreamStats],
    t: Timestamp,
    end: Timestamp,
    grace_ms: u64,
    min_silence_s: u64,
) -> Option<(f64, Option<u64>)> {
    let next = first_after(streams, t);
    let until = next.map_or(end, |(time, _)| time);
    if until.0 <= t.0.saturating_add(ms_ns(grace_ms)) {
        return None;
    }
    let silence = secs(t, until);
    (silence >= min_silence_s as f64).then_some((silence, next.map(|(_, f)| f)))
}

/// Streams of one direction of the call.
fn dir_streams<'a>(input: &DiagnosisInput<'a>, cm: &CallMedia<'_>, dir: StreamDirection) -> Vec<&'a StreamStats> {
    cm.streams(dir).iter().filter_map(|&k| input.streams.get(k)).collect()
}

/// `late_media_start`: the first RTP of a flow comes more than `max_ms` after the 2xx (the ACK
/// for a delayed offer, whose answer travels in the ACK) and no early media ran before.
fn late_media_start(
    input: &DiagnosisInput<'_>,
    cm: &CallMedia<'_>,
    cfg: &DiagnosisConfig,
    silent: &[StreamDirection],
    out: &mut Vec<Reason>,
) {
    let d = cm.d;
    let Some(ans) = cm.answered else { return };
    let Some(invite) = d.first_invite else { return };
    let delayed_offer = !d.sdp.iter().any(|e| e.at.number == invite.number || e.at.time < ans.time && e.from_caller);
    let (reference, ref_name) = match (delayed_offer, d.ack) {
        (true, Some(ack)) => (ack, "the ACK carrying the answer (delayed offer)"),
        (true, None) => return,
        (false, _) => (ans, "the 2xx"),
    };
    let max_ms = cfg.diagnosis.late_media_start.max_ms;
    for dir in [CallerToCallee, CalleeToCaller] {
        if silent.contains(&dir) {
            continue;
        }
        let sender_is_caller = dir == CallerToCallee;
        let (Some((_, sm)), Some((_, rm))) =
            (latest_audio(d, sender_is_caller, reference.time), latest_audio(d, !sender_is_caller, reference.time))
        else {
            continue;
        };
        if !flow_expected(sm, rm) {
            continue;
        }
        let streams = dir_streams(input, cm, dir);
        let Some(first) = streams.iter().map(|s| s.first).min_by_key(|f| f.time) else { continue };
        // Early media (RFC 3960) already flowing: the flow did not start late.
        if first.time < ans.time {
            continue;
        }
        let delay_ms = first.time.ms_since(reference.time);
        if delay_ms <= max_ms as f64 {
            continue;
        }
        // A hold or other re-offer before the first packet explains the silence (principle 4).
        let reoffer_before = d.sdp.iter().any(|e| e.at.time > reference.time && e.at.time < first.time);
        if reoffer_before || cm.end.0 < first.time.0 {
            continue;
        }
        out.push(
            media(
                "late_media_start",
                Severity::Degrade,
                Some(dir),
                format!(
                    "First RTP {} at {} (frame {}) comes {:.0} ms after {ref_name} (frame {}, {}), above the {max_ms} ms \
                     threshold, with no early media before: the start of the conversation was clipped (not seen at the \
                     capture point before then).",
                    arrow(dir),
                    first.time,
                    first.number,
                    delay_ms,
                    reference.number,
                    reference.time,
                ),
                vec![reference.number, first.number],
            )
            .metric("delay_ms", delay_ms)
            .metric("max_ms", max_ms as f64),
        );
    }
}

/// A hold (RFC 3264 §8.4) followed by a resume, both completed.
struct HoldCycle {
    hold_frame: u64,
    /// Held directions (those the hold stopped).
    held: Vec<StreamDirection>,
    resume_frame: u64,
    resume_ok: u64,
    resume_ack: Option<u64>,
    /// When the resume took effect: its ACK (INVITE) or 2xx (UPDATE).
    resumed_at: Timestamp,
    hold_at: Timestamp,
}

/// The completed hold → resume cycles of a call.
fn hold_cycles(d: &Dialog) -> Vec<HoldCycle> {
    let Some(ans) = d.answered else { return Vec::new() };
    let mut cycles = Vec::new();
    let mut hold: Option<(u64, Timestamp, Vec<StreamDirection>)> = None;
    let offers = d.sdp.iter().filter(|e| {
        e.at.time > ans.time
            && matches!(message_at(d, e.at.number).and_then(|m| m.method), Some(Method::Invite | Method::Update))
    });
    for e in offers {
        let Some(m) = audio_of(e) else { continue };
        let Some((ok, ack)) = completed(d, e.at.number) else { continue };
        if m.is_hold() {
            if hold.is_none() {
                // sendonly: the author still sends (music on hold), the peer's flow stops;
                // inactive or c=0.0.0.0: both stop.
                let towards_author = if e.from_caller { CalleeToCaller } else { CallerToCallee };
                let held = if m.direction == crate::sdp::Direction::SendOnly && !m.is_unspecified_addr() {
                    vec![towards_author]
                } else {
                    vec![CallerToCallee, CalleeToCaller]
                };
                hold = Some((e.at.number, e.at.time, held));
            }
        } else if let Some((hold_frame, hold_at, held)) = hold.take() {
            let resumed_at = ack.map_or(ok.at.time, |a| a.at.time);
            cycles.push(HoldCycle {
                hold_frame,
                held,
                resume_frame: e.at.number,
                resume_ok: ok.at.number,
                resume_ack: ack.map(|a| a.at.number),
                resumed_at,
                hold_at,
            });
        }
    }
    cycles
}

/// `media_stops_after_resume`: after a completed hold and resume, a held flow that ran before
/// the hold and is expected again does not restart within the grace period and stays silent.
fn stops_after_resume(input: &DiagnosisInput<'_>, cm: &CallMedia<'_>, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let d = cm.d;
    let c = &cfg.diagnosis.media_stops_after_resume;
    let (Some((_, cmd)), Some((_, emd))) = (latest_audio(d, true, cm.end), latest_audio(d, false, cm.end)) else {
        return;
    };
    let mut reported: Vec<StreamDirection> = Vec::new();
    for cycle in hold_cycles(d) {
        for &dir in &cycle.held {
            let (sender, receiver) = if dir == CallerToCallee { (cmd, emd) } else { (emd, cmd) };
            if reported.contains(&dir) || !flow_expected(sender, receiver) {
                continue;
            }
            let streams = dir_streams(input, cm, dir);
            // The flow ran before the hold (otherwise it is `one_way_audio`'s case).
            let Some(before) = last_before(&streams, cycle.hold_at) else { continue };
            let Some((silence, next)) = silent_after(&streams, cycle.resumed_at, cm.end, c.grace_ms, c.min_silence_s)
            else {
                continue;
            };
            reported.push(dir);
            let mut frames = vec![cycle.hold_frame, cycle.resume_frame, cycle.resume_ok, before.number];
            frames.extend(cycle.resume_ack);
            frames.extend(next);
            frames.extend(d.bye.map(|(b, _)| b.number));
            out.push(
                media(
                    "media_stops_after_resume",
                    Severity::Fail,
                    Some(dir),
                    format!(
                        "RTP {} does not restart after the resume (re-offer frame {}, completed at {}) that ended the hold \
                         of frame {}: silent {silence:.1} s {}, above {} s; last packet before the hold frame {}; not seen \
                         at the capture point.",
                        arrow(dir),
                        cycle.resume_frame,
                        cycle.resumed_at,
                        cycle.hold_frame,
                        if next.is_some() { "until it came back" } else { end_words(d) },
                        c.min_silence_s,
                        before.number
                    ),
                    frames,
                )
                .metric("silence_s", silence)
                .metric("grace_ms", c.grace_ms as f64)
                .metric("min_silence_s", c.min_silence_s as f64),
            );
        }
    }
}

/// The transfer that produced call `cm.d`, if any: a REFER (RFC 3515) in another dialog sent
/// to the party that originates this call's INVITE, shortly before it (the transferee's new
/// INVITE, with or without Replaces, RFC 3891). Returns the REFER dialog and the REFER.
fn refer_before<'a>(
    input: &DiagnosisInput<'a>,
    cm: &CallMedia<'_>,
    cfg: &DiagnosisConfig,
) -> Option<(&'a Dialog, &'a crate::sip::MessageSummary)> {
    let d = cm.d;
    let invite = d.first_invite?;
    let caller = d.caller?;
    let lag = ms_ns(cfg.diagnosis.media_stops_after_transfer.max_invite_lag_s.saturating_mul(1000));
    cm.lookup
        .refers()
        .iter()
        .filter(|&&(j, _)| j != cm.index)
        .filter_map(|&(j, m)| {
            let o = input.dialogs.get(j)?;
            Some((o, o.messages.get(m)?))
        })
        .filter(|(_, m)| {
            m.dst.ip() == caller.ip() && m.at.time <= invite.time && invite.time.0.saturating_sub(m.at.time.0) <= lag
        })
        .max_by_key(|(_, m)| m.at.time)
}

/// A B2BUA re-INVITE that bridges a new party: a completed re-offer after the answer whose
/// audio address was first announced by a call that began after this one was answered.
/// Returns (re-INVITE frame, new party's address, the re-offer's author is the caller).
fn b2bua_bridge(input: &DiagnosisInput<'_>, cm: &CallMedia<'_>) -> Option<(u64, SocketAddr, bool)> {
    let d = cm.d;
    let ans = d.answered?;
    let mut found = None;
    for e in d.sdp.iter().filter(|e| e.at.time > ans.time && !e.carried_by.bytes().all(|b| b.is_ascii_digit())) {
        let Some(addr) = audio_of(e).and_then(|m| m.rtp_addr()) else { continue };
        let seen_before = d
            .sdp
            .iter()
            .filter(|o| o.at.time < e.at.time)
            .flat_map(|o| o.session.media.iter())
            .any(|m| m.rtp_addr() == Some(addr));
        if seen_before || completed(d, e.at.number).is_none() {
            continue;
        }
        let new_party = input.dialogs.iter().enumerate().any(|(j, o)| {
            j != cm.index
                && o.first_invite.is_some_and(|f| f.time > ans.time && f.time <= e.at.time)
                && o.sdp.iter().any(|x| x.session.media.iter().any(|m| m.rtp_addr() == Some(addr)))
        });
        if new_party {
            found = Some((e.at.number, addr, e.from_caller));
        }
    }
    found
}

/// `media_stops_after_transfer`: after a transfer, the transferee↔target media lacks a flow
/// within the grace-and-silence rule.
fn stops_after_transfer(input: &DiagnosisInput<'_>, cm: &CallMedia<'_>, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let d = cm.d;
    let c = &cfg.diagnosis.media_stops_after_transfer;
    let Some(ans) = cm.answered else { return };
    if let Some((refer_dialog, refer)) = refer_before(input, cm, cfg) {
        // The transferred call itself: from its 2xx/ACK, both flows the SDP expects.
        let t = d.ack.unwrap_or(ans);
        let (Some((_, cmd)), Some((_, emd))) = (latest_audio(d, true, cm.end), latest_audio(d, false, cm.end)) else {
            return;
        };
        let mut refer_frames: Vec<u64> = vec![refer.at.number];
        refer_frames.extend(
            refer_dialog
                .messages
                .iter()
                .filter(|m| {
                    m.at.time >= refer.at.time
                        && (m.method == Some(Method::Notify) || m.status.is_some() && m.cseq == refer.cseq)
                })
                .map(|m| m.at.number),
        );
        for dir in [CallerToCallee, CalleeToCaller] {
            let (sender, receiver) = if dir == CallerToCallee { (cmd, emd) } else { (emd, cmd) };
            if !flow_expected(sender, receiver) {
                continue;
            }
            let streams = dir_streams(input, cm, dir);
            let Some((silence, next)) = silent_after(&streams, t.time, cm.end, c.grace_ms, c.min_silence_s) else {
                continue;
            };
            let mut frames = refer_frames.clone();
            frames.extend(d.first_invite.map(|f| f.number));
            frames.push(ans.number);
            frames.extend(d.ack.map(|a| a.number));
            frames.extend(next);
            frames.extend(d.bye.map(|(b, _)| b.number));
            out.push(
                media(
                    "media_stops_after_transfer",
                    Severity::Fail,
                    Some(dir),
                    format!(
                        "After the transfer (REFER frame {} in call {} at {}), the transferee's new call has no RTP {} \
                         ({} → {}) for {silence:.1} s after its answer (frame {}) {}, above {} s; not seen at the capture \
                         point.",
                        refer.at.number,
                        refer_dialog.call_id,
                        refer.at.time,
                        arrow(dir),
                        party(dir == CallerToCallee),
                        party(dir != CallerToCallee),
                        ans.number,
                        if next.is_some() { "until it started" } else { end_words(d) },
                        c.min_silence_s
                    ),
                    frames,
                )
                .with_subcode("refer")
                .metric("silence_s", silence)
                .metric("grace_ms", c.grace_ms as f64)
                .metric("min_silence_s", c.min_silence_s as f64),
            );
        }
        return;
    }
    let Some((reinvite, new_addr, author_is_caller)) = b2bua_bridge(input, cm) else { return };
    let Some((ok, ack)) = completed(d, reinvite) else { return };
    let t = ack.map_or(ok.at.time, |a| a.at.time);
    // Our party is the one that received the re-INVITE; its address in force after it.
    let Some(ours) = latest_audio(d, !author_is_caller, cm.end).and_then(|(_, m)| m.rtp_addr()) else { return };
    let to_new = if author_is_caller { CalleeToCaller } else { CallerToCallee };
    for dir in [to_new, to_new.reverse()] {
        let streams: Vec<&StreamStats> = input
            .streams
            .iter()
            .filter(|s| {
                if dir == to_new {
                    s.key.dst == new_addr && (s.key.src == ours || s.key.src.ip() == ours.ip())
                } else {
                    s.key.src == new_addr && (s.key.dst == ours || s.key.dst.ip() == ours.ip())
                }
            })
            .collect();
        let Some((silence, next)) = silent_after(&streams, t, cm.end, c.grace_ms, c.min_silence_s) else { continue };
        let mut frames = vec![reinvite, ok.at.number];
        frames.extend(ack.map(|a| a.at.number));
        frames.extend(next);
        frames.extend(d.bye.map(|(b, _)| b.number));
        let (from, to) = if dir == to_new { (ours, new_addr) } else { (new_addr, ours) };
        out.push(
            media(
                "media_stops_after_transfer",
                Severity::Fail,
                Some(dir),
                format!(
                    "The re-INVITE of frame {reinvite} bridged a new party at {new_addr} (completed at {t}); no RTP {from} → {to} \
                     for {silence:.1} s {}, above {} s; not seen at the capture point.",
                    if next.is_some() { "until it started" } else { end_words(d) },
                    c.min_silence_s
                ),
                frames,
            )
            .with_subcode("b2bua_reinvite")
            .metric("silence_s", silence)
            .metric("grace_ms", c.grace_ms as f64)
            .metric("min_silence_s", c.min_silence_s as f64),
        );
    }
}

/// `t38_not_flowing`: a T.38 offer accepted (2xx with `m=image` port ≠ 0, ACKed), then no UDPTL
/// on a flow within `start_s`, or RTP going on to the old audio address instead.
fn t38_not_flowing(input: &DiagnosisInput<'_>, cm: &CallMedia<'_>, cfg: &DiagnosisConfig, out: &mut Vec<Reason>) {
    let d = cm.d;
    let start_s = cfg.diagnosis.t38_not_flowing.start_s;
    let image = |e: &crate::sip::SdpEvent| {
        e.session.media.iter().find(|m| m.kind == MediaKind::Image && m.port != 0).and_then(|m| m.rtp_addr())
    };
    // The T.38 offer (a request) and its 2xx answer with an image port.
    for offer in d.sdp.iter().filter(|e| !e.carried_by.bytes().all(|b| b.is_ascii_digit())) {
        let Some(offer_addr) = image(offer) else { continue };
        let Some((ok, ack)) = completed(d, offer.at.number) else { continue };
        let Some(answer) = d.sdp.iter().find(|e| e.at.number == ok.at.number && e.from_caller != offer.from_caller)
        else {
            continue;
        };
        let Some(answer_addr) = image(answer) else { continue };
        let Some(ack) = ack else { continue }; // "accepted … ACKed"
        let t = ack.at.time;
        let window_end = Timestamp(t.0.saturating_add(ms_ns(start_s.saturating_mul(1000))));
        // The T.38 session lasts until the next completed offer or the end of the call; the
        // rule needs the whole start window inside it (principle 2).
        let next_offer = d
            .sdp
            .iter()
            .filter(|e| e.at.time > t && !e.carried_by.bytes().all(|b| b.is_ascii_digit()))
            .find(|e| completed(d, e.at.number).is_some())
            .map(|e| e.at.time);
        let session_end = next_offer.map_or(cm.end, |n| n.min(cm.end));
        if session_end < window_end {
            continue;
        }
        let offerer_dir = if offer.from_caller { CallerToCallee } else { CalleeToCaller };
        // Old audio addresses of each side before the switch.
        for (dir, receiver_addr, receiver_is_caller) in
            [(offerer_dir, answer_addr, !offer.from_caller), (offerer_dir.reverse(), offer_addr, offer.from_caller)]
        {
            let udptl: Vec<&UdptlFlow> = input.udptl.iter().filter(|f| f.dst == receiver_addr).collect();
            let started = udptl
                .iter()
                .any(|f| f.first.time <= window_end && f.last.time >= Timestamp(t.0.saturating_sub(ms_ns(2000))));
            if started {
                continue;
            }
            // RTP still going to the receiver's old audio address after the switch.
            let old_audio = in_force(d, receiver_is_caller, offer.at.time)
                .and_then(|e| e.session.media.iter().find(|m| m.kind == MediaKind::Audio).and_then(|m| m.rtp_addr()));
            let rtp_old = old_audio.and_then(|old| {
                input
                    .streams
                    .iter()
                    .filter(|s| s.key.dst == old && s.last.time > window_end && s.first.time <= session_end)
                    .max_by_key(|s| s.packets)
            });
            let mut frames = vec![offer.at.number, ok.at.number, ack.at.number];
            let (sub, what) = match rtp_old {
                Some(s) => {
                    frames.push(s.last.number);
                    (
                        "rtp_on_old_port",
                        format!(
                            "RTP goes on to the old audio address {} instead (last packet frame {} at {})",
                            s.key.dst, s.last.number, s.last.time
                        ),
                    )
                }
                None => ("no_udptl", "nothing was seen at the capture point".to_owned()),
            };
            // The last RTP of that direction before the switch.
            frames.extend(
                dir_streams(input, cm, dir)
                    .iter()
                    .filter(|s| s.last.time <= t)
                    .map(|s| s.last)
                    .max_by_key(|f| f.time)
                    .map(|f| f.number),
            );
            out.push(
                media(
                    "t38_not_flowing",
                    Severity::Fail,
                    Some(dir),
                    format!(
                        "T.38 was accepted (offer frame {}, 2xx frame {}, ACK frame {} at {}) but no UDPTL {} reached {} \
                         within {start_s} s; {what}.",
                        offer.at.number,
                        ok.at.number,
                        ack.at.number,
                        t,
                        arrow(dir),
                        receiver_addr
                    ),
                    frames,
                )
                .with_subcode(sub)
                .metric("start_s", start_s as f64),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Vantage (§6)
// ---------------------------------------------------------------------------------------------

/// One hop on which the initial INVITE was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SipHop {
    /// Sender of that copy.
    pub src: SocketAddr,
    /// Receiver of that copy.
    pub dst: SocketAddr,
}

/// RTP flows (streams) of the call seen per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FlowsSeen {
    /// Streams caller → callee.
    pub caller_to_callee: u32,
    /// Streams callee → caller.
    pub callee_to_caller: u32,
}

/// Where this capture saw the call from (diagnosis.md §6; additive `calls[].vantage`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Vantage {
    /// Hops on which the initial INVITE was seen (hop copies: same CSeq, other src → dst), at
    /// most [`MAX_HOPS`].
    pub sip_hops: Vec<SipHop>,
    /// RTP flows seen per direction.
    pub rtp_flows: FlowsSeen,
    /// Inferred capture side: `caller_site`, `callee_site`, `transit`, `multi_point` or `unknown`.
    pub capture_side: &'static str,
    /// Why, in one sentence.
    pub basis: String,
}

/// Hops listed in [`Vantage::sip_hops`] at most.
pub const MAX_HOPS: usize = 16;

/// The vantage of dialog `i` (a call).
pub(crate) fn vantage(input: &DiagnosisInput<'_>, index: &InputIndex, i: usize) -> Option<Vantage> {
    let d = input.dialogs.get(i)?;
    let invite = d.first_invite?;
    let cseq = message_at(d, invite.number).map(|m| m.cseq);
    let mut sip_hops: Vec<SipHop> = Vec::new();
    for m in d.messages.iter().filter(|m| m.method == Some(Method::Invite) && Some(m.cseq) == cseq) {
        let hop = SipHop { src: m.src, dst: m.dst };
        if !sip_hops.contains(&hop) && sip_hops.len() < MAX_HOPS {
            sip_hops.push(hop);
        }
    }
    let mut flows = FlowsSeen::default();
    let mut call_streams: Vec<(&StreamStats, Option<StreamDirection>)> = Vec::new();
    for &k in index.paired_with(i) {
        let (Some(s), Some(Some(p))) = (input.streams.get(k), input.pairing.get(k)) else { continue };
        match p.direction {
            Some(CallerToCallee) => flows.caller_to_callee = flows.caller_to_callee.saturating_add(1),
            Some(CalleeToCaller) => flows.callee_to_caller = flows.callee_to_caller.saturating_add(1),
            None => {}
        }
        call_streams.push((s, p.direction));
    }
    // One SSRC on two 5-tuples of the call: the same media at two hops (multi-point capture).
    let multi_ssrc = call_streams
        .iter()
        .enumerate()
        .find(|(x, (s, _))| call_streams.iter().skip(x + 1).any(|(o, _)| o.key.ssrc == s.key.ssrc && o.key != s.key));
    let (capture_side, basis) = if let Some((_, (s, _))) = multi_ssrc {
        ("multi_point", format!("SSRC 0x{:08X} is seen at two hops of the media path", s.key.ssrc))
    } else {
        // A party's private source seen here puts the capture inside its NAT.
        let private_source = |is_caller: bool| -> Option<IpAddr> {
            let sig = if is_caller { d.caller } else { d.callee };
            let dir = if is_caller { CallerToCallee } else { CalleeToCaller };
            call_streams
                .iter()
                .filter(|(_, sd)| *sd == Some(dir))
                .map(|(s, _)| s.key.src.ip())
                .chain(sig.map(|a| a.ip()))
                .find(|ip| is_private_or_unspecified(*ip))
        };
        let announced_private =
            |is_caller: bool| announced(d, is_caller).iter().any(|a| is_private_or_unspecified(a.ip()));
        match (private_source(true), private_source(false)) {
            (Some(ip), None) => ("caller_site", format!("the caller's private address {ip} is seen, so the capture is inside its network")),
            (None, Some(ip)) => ("callee_site", format!("the callee's private address {ip} is seen, so the capture is inside its network")),
            (Some(_), Some(_)) => ("unknown", "both parties are seen from private addresses (one private network, or a capture between two NATs)".to_owned()),
            (None, None) if announced_private(true) || announced_private(false) => (
                "transit",
                "a party announces a private SDP address but is seen here from a public one: the capture is outside its NAT, between the sites".to_owned(),
            ),
            (None, None) => ("unknown", "every address seen is public: the capture position cannot be inferred".to_owned()),
        }
    };
    let basis = if sip_hops.len() > 1 {
        format!("{basis}; the initial INVITE is seen on {} hops", sip_hops.len())
    } else {
        basis
    };
    Some(Vantage { sip_hops, rtp_flows: flows, capture_side, basis })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(number: u64, ms: i64) -> FrameRef {
        FrameRef { file: 0, number, time: Timestamp(ms * 1_000_000) }
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn udptl_table_counts_flows_and_is_bounded() {
        let mut t = UdptlTable::new();
        let (a, b) = (sa("10.0.0.1:4000"), sa("10.0.0.2:5000"));
        t.observe(at(1, 0), a, b);
        t.observe(at(2, 40), a, b);
        t.observe(at(3, 50), b, a);
        assert_eq!(t.flows().len(), 2);
        assert_eq!(t.flows()[0].packets, 2);
        assert_eq!(t.flows()[0].last.number, 2);
        // Fill to the cap: further new flows are refused and counted.
        for port in 0..UdptlTable::CAPACITY as u16 {
            t.observe(at(10, 100), SocketAddr::new(a.ip(), port), b);
        }
        assert_eq!(t.flows().len(), UdptlTable::CAPACITY);
        // 4095 new flows (port 4000 is the known one) for 4094 free slots.
        assert_eq!(t.refused(), 1);
        // Only b→a (last at 50 ms) is older than 60 ms (a→b was refreshed at 100 ms).
        t.retain_since(Timestamp(60_000_000));
        assert_eq!(t.flows().len(), UdptlTable::CAPACITY - 1);
        t.observe(at(11, 200), b, a);
        assert_eq!(t.flows().last().map(|f| f.first.number), Some(11));
    }

    fn stream(first_ms: i64, last_ms: i64) -> StreamStats {
        crate::rtp::clean_test_stream(
            crate::rtp::StreamKey { src: sa("10.0.0.1:4000"), dst: sa("10.0.0.2:5000"), ssrc: 1 },
            at(first_ms as u64, first_ms),
            at(last_ms as u64, last_ms),
        )
    }

    #[test]
    fn grace_and_silence_rule() {
        let t = Timestamp(10_000_000_000);
        let end = Timestamp(30_000_000_000);
        // Restarts 1.5 s after t: within the 2 s grace.
        let restart = stream(11_500, 20_000);
        assert_eq!(silent_after(&[&restart], t, end, 2000, 5), None);
        // Restarts 3 s after t: past the grace but silence below 5 s.
        let late = stream(13_000, 20_000);
        assert_eq!(silent_after(&[&late], t, end, 2000, 5), None);
        // Restarts 7 s after t.
        let very_late = stream(17_000, 20_000);
        assert_eq!(silent_after(&[&very_late], t, end, 2000, 5), Some((7.0, Some(17_000))));
        // A stream running across t never stopped.
        let across = stream(5_000, 20_000);
        assert_eq!(silent_after(&[&across], t, end, 2000, 5), None);
        // Nothing after t: silent to the end (20 s), but not when the capture ends within 5 s.
        let before = stream(1_000, 9_000);
        assert_eq!(silent_after(&[&before], t, end, 2000, 5), Some((20.0, None)));
        assert_eq!(silent_after(&[&before], t, Timestamp(14_000_000_000), 2000, 5), None);
    }
}
