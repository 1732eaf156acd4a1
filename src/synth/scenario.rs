//! Scenarios: a list of calls (signalling outcome, media, faults) turned into one time-ordered
//! capture plus its [`Truth`].
//!
//! Each call becomes a generator holding its few SIP frames (pre-built) and up to two lazy RTP
//! directions; a min-heap of calls keyed by their next packet time merges them, and calls are
//! only built when their first packet is due. Memory is proportional to the number of calls
//! in progress, never to the capture, so long benchmark captures stream straight to disk.
//!
//! SIP timeline of a call (offsets from its start; RFC 3261 timers, quality-metrics.md §6):
//! INVITE copies at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s (T1 = 500 ms doubling) as many as asked;
//! optional 401/407 challenge 15 ms after the last copy, its ACK 2 ms later and the
//! authenticated INVITE (same Call-ID and From tag, CSeq + 1, new branch) 20 ms after the
//! challenge; 100 Trying 10 ms after the INVITE being answered; then 18x, final, ACK, media,
//! re-INVITE, BYE/200 at the times the [`OutcomeSpec`] asks (never earlier than 5 ms after
//! the previous message). RTP starts 20 ms after the 200 OK (callee → caller) and after the
//! ACK (caller → callee), and stops at the BYE.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;

use super::packet::{FragmentOrder, FrameBuilder, Link, TcpConnection};
use super::pcap::{PcapWriter, TsResolution};
use super::rtp::{LegSpec, MediaFaults, RtpDirection};
use super::sip::{self, Sdp, SipDialog, SipParty, Transaction, ViaTransport};
use super::truth::{outcome_for_status, CallTruth, Direction, Outcome, Party, StreamTruth, Truth};
use super::{splitmix64, SynthError};
use crate::time::Timestamp;

const MS: i64 = 1_000_000;
/// RFC 3261 INVITE retransmission offsets (T1 = 500 ms, doubling; Timer B = 64·T1 = 32 s).
const INVITE_COPY_OFFSETS_MS: [i64; 7] = [0, 500, 1500, 3500, 7500, 15500, 31500];
/// Timer B: a caller gives up 32 s after the first INVITE copy.
const TIMER_B_MS: i64 = 32_000;

/// How the call's SIP travels.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum SipTransport {
    /// UDP datagrams (retransmissions apply).
    #[default]
    Udp,
    /// One TCP connection from the caller's address to the callee's.
    Tcp {
        /// Emit SYN, SYN-ACK, ACK 3, 2, 1 ms before the INVITE.
        handshake: bool,
        /// Segment sizes the initial INVITE is split into (rest in one last segment); every
        /// other message goes in one segment. Segments of one message share its timestamp.
        invite_segments: Vec<usize>,
    },
}

/// IP fragmentation of the initial INVITE (UDP only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragmenting {
    /// Largest datagram piece per fragment (rounded down to a multiple of 8).
    pub max_fragment_payload: usize,
    /// Emission order; fragments share the INVITE's timestamp.
    pub order: FragmentOrder,
}

/// The caller sits behind NAT: its SIP headers and SDP carry these private addresses while its
/// packets appear on the wire from the call's public `caller` / `caller_media`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nat {
    /// Address written in Via/Contact/From.
    pub private_sig: SocketAddr,
    /// Address written in the SDP `c=`/`m=`.
    pub private_media: SocketAddr,
}

/// What the callee side does with the INVITE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutcomeSpec {
    /// 200 OK with SDP `answer_ms` after the start, ACK, media, BYE `talk_ms` after the answer.
    Answered {
        /// Start → 200 OK.
        answer_ms: u64,
        /// 200 OK → BYE.
        talk_ms: u64,
        /// Who sends the BYE.
        ended_by: Party,
    },
    /// A final 4xx/5xx/6xx `at_ms` after the start, then the caller's ACK.
    Final {
        /// Status code.
        status: u16,
        /// Start → final response.
        at_ms: u64,
    },
    /// The caller sends CANCEL `at_ms` after the start; 200 (CANCEL), 487, ACK follow.
    Cancelled {
        /// Start → CANCEL.
        at_ms: u64,
    },
    /// Nothing answers: seven INVITE copies on the T1 schedule.
    NoResponse,
}

impl OutcomeSpec {
    /// 486 Busy Here.
    pub fn busy(at_ms: u64) -> Self {
        OutcomeSpec::Final { status: 486, at_ms }
    }
    /// 404 Not Found.
    pub fn not_found(at_ms: u64) -> Self {
        OutcomeSpec::Final { status: 404, at_ms }
    }
    /// 603 Decline.
    pub fn rejected(at_ms: u64) -> Self {
        OutcomeSpec::Final { status: 603, at_ms }
    }
}

/// A re-INVITE that moves one party's media to a new address (RFC 3264 §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReInvite {
    /// Answer → re-INVITE.
    pub after_answer_ms: u64,
    /// The party whose media moves (it sends the re-INVITE).
    pub by: Party,
    /// Its new media address (SDP and wire).
    pub new_media: SocketAddr,
}

/// Media of one direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectionSpec {
    /// False: this direction sends nothing (one-way audio).
    pub enabled: bool,
    /// DSCP of its packets.
    pub dscp: u8,
    /// Network faults.
    pub faults: MediaFaults,
    /// Slot index from which the sender uses a new SSRC (and new random seq/timestamp) on the
    /// same 5-tuple.
    pub ssrc_change_at: Option<usize>,
    /// First sequence number (default: from the seed).
    pub seq0: Option<u16>,
}

impl Default for DirectionSpec {
    fn default() -> Self {
        DirectionSpec { enabled: true, dscp: 46, faults: MediaFaults::default(), ssrc_change_at: None, seq0: None }
    }
}

/// Media of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaSpec {
    /// 0 (PCMU) or 8 (PCMA).
    pub payload_type: u8,
    /// Packetisation interval.
    pub ptime_ms: u32,
    /// Caller → callee.
    pub caller_to_callee: DirectionSpec,
    /// Callee → caller.
    pub callee_to_caller: DirectionSpec,
}

impl Default for MediaSpec {
    fn default() -> Self {
        MediaSpec {
            payload_type: 0,
            ptime_ms: 20,
            caller_to_callee: DirectionSpec::default(),
            callee_to_caller: DirectionSpec::default(),
        }
    }
}

/// One call of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallSpec {
    /// SIP Call-ID.
    pub call_id: String,
    /// User part of the caller (From).
    pub caller_user: String,
    /// User part of the callee (To, Request-URI).
    pub callee_user: String,
    /// Caller's SIP address on the wire.
    pub caller: SocketAddr,
    /// Callee's SIP address on the wire.
    pub callee: SocketAddr,
    /// Caller's RTP address on the wire.
    pub caller_media: SocketAddr,
    /// Callee's RTP address (SDP and wire).
    pub callee_media: SocketAddr,
    /// Caller behind NAT.
    pub caller_nat: Option<Nat>,
    /// Scenario start → first INVITE, ms.
    pub start_ms: u64,
    /// Start → 180 Ringing (None: no 18x).
    pub ringing_ms: Option<u64>,
    /// Send 183 Session Progress (with the answer SDP) instead of 180.
    pub progress_183: bool,
    /// 401 or 407 challenge before the INVITE is processed.
    pub challenge: Option<u16>,
    /// INVITE retransmissions before the 100 Trying (UDP only; 0–6).
    pub invite_retransmissions: u32,
    /// Outcome.
    pub outcome: OutcomeSpec,
    /// Media move during the call (answered calls only).
    pub reinvite: Option<ReInvite>,
    /// SIP transport.
    pub transport: SipTransport,
    /// Fragment the initial INVITE (UDP only).
    pub fragment_invite: Option<Fragmenting>,
    /// Approximate extra bytes of `a=` attributes in the offer SDP (to force fragmentation).
    pub sdp_padding: usize,
    /// DSCP of SIP packets.
    pub sip_dscp: u8,
    /// Media.
    pub media: MediaSpec,
}

impl CallSpec {
    /// An answered G.711 call: ringing at 800 ms, answer at 3 s, `talk_ms` of two-way media,
    /// caller hangs up. Media ports are the SIP hosts with ports 40000 (caller) / 50000 (callee).
    pub fn answered(call_id: &str, caller: SocketAddr, callee: SocketAddr, start_ms: u64, talk_ms: u64) -> Self {
        CallSpec {
            call_id: call_id.to_owned(),
            caller_user: "1001".into(),
            callee_user: "2002".into(),
            caller,
            callee,
            caller_media: SocketAddr::new(caller.ip(), 40000),
            callee_media: SocketAddr::new(callee.ip(), 50000),
            caller_nat: None,
            start_ms,
            ringing_ms: Some(800),
            progress_183: false,
            challenge: None,
            invite_retransmissions: 0,
            outcome: OutcomeSpec::Answered { answer_ms: 3000, talk_ms, ended_by: Party::Caller },
            reinvite: None,
            transport: SipTransport::Udp,
            fragment_invite: None,
            sdp_padding: 0,
            sip_dscp: 24,
            media: MediaSpec::default(),
        }
    }

    /// Time of the first packet of this call relative to the scenario start (the TCP
    /// handshake precedes the INVITE by 3 ms).
    fn earliest_ns(&self) -> i64 {
        let start = ms_i64(self.start_ms);
        match self.transport {
            SipTransport::Tcp { handshake: true, .. } => start - 3 * MS,
            _ => start,
        }
    }
}

fn ms_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX / 4 / MS) * MS
}

/// A capture to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Name, used for fixture files and in the truth.
    pub name: String,
    /// Link layer of every frame.
    pub link: Link,
    /// Timestamp resolution of the file.
    pub resolution: TsResolution,
    /// Absolute time of offset 0.
    pub start: Timestamp,
    /// Seed of tags, branches, SSRCs, sequence numbers.
    pub seed: u64,
    /// Calls.
    pub calls: Vec<CallSpec>,
    /// If set, an OPTIONS/200 exchange (192.0.2.200 → 192.0.2.201, not a call) this many ms
    /// after the start, so the capture lasts at least that long (e.g. past Timer B).
    pub end_marker_ms: Option<u64>,
}

/// 2024-03-01T09:00:00Z, offset 0 of every scenario unless changed.
pub const DEFAULT_START: Timestamp = Timestamp(1_709_283_600 * 1_000_000_000);

impl Scenario {
    /// An empty Ethernet, µs-resolution scenario.
    pub fn new(name: &str, seed: u64) -> Self {
        Scenario {
            name: name.to_owned(),
            link: Link::Ethernet { vlans: Vec::new() },
            resolution: TsResolution::Micro,
            start: DEFAULT_START,
            seed,
            calls: Vec::new(),
            end_marker_ms: None,
        }
    }

    /// Adds a call.
    pub fn call(mut self, call: CallSpec) -> Self {
        self.calls.push(call);
        self
    }

    /// Writes `<path>` (pcap) and returns the truth.
    pub fn write_file(&self, path: &Path) -> Result<Truth, SynthError> {
        let f = BufWriter::new(crate::report::create_output_file(path)?);
        self.write(f)
    }

    /// Streams the capture to `out` in time order and returns its truth.
    pub fn write<W: Write>(&self, out: W) -> Result<Truth, SynthError> {
        let mut writer = PcapWriter::new(out, self.link.pcap_link_type(), self.resolution)?;
        let mut order: Vec<usize> = (0..self.calls.len()).collect();
        order.sort_by_key(|&i| (self.calls[i].earliest_ns(), i));
        let mut heap: BinaryHeap<Reverse<(Timestamp, usize)>> = BinaryHeap::new();
        let mut active: Vec<Option<Box<CallGen>>> = Vec::new();
        active.resize_with(order.len(), || None);
        let mut done: Vec<Option<FinishedCall>> = vec![None; order.len()];
        let mut next_pending = 0usize;
        let mut buf = Vec::with_capacity(2048);
        let mut last_time: Option<Timestamp> = None;
        loop {
            // Build every call whose first packet is due no later than the earliest pending one.
            while let Some(&ci) = order.get(next_pending) {
                let earliest = Timestamp(self.start.0 + self.calls[ci].earliest_ns());
                if heap.peek().is_some_and(|Reverse((t, _))| earliest > *t) {
                    break;
                }
                let pos = next_pending;
                next_pending += 1;
                let mut g = Box::new(CallGen::build(self, ci)?);
                match g.next_time() {
                    Some(t) => {
                        heap.push(Reverse((t, pos)));
                        active[pos] = Some(g);
                    }
                    None => done[pos] = Some(g.finish()),
                }
            }
            let Some(Reverse((t, pos))) = heap.pop() else {
                break;
            };
            let Some(g) = active.get_mut(pos).and_then(|g| g.as_mut()) else {
                return Err(SynthError::Invalid("heap entry without call".into()));
            };
            g.emit(&mut buf)?;
            writer.write_packet(t, &buf)?;
            last_time = Some(t);
            match g.next_time() {
                Some(n) => heap.push(Reverse((n, pos))),
                None => {
                    if let Some(g) = active[pos].take() {
                        done[pos] = Some(g.finish());
                    }
                }
            }
        }
        if let Some(ms) = self.end_marker_ms {
            let t = Timestamp(self.start.0 + ms_i64(ms)).max(last_time.unwrap_or(self.start));
            for frame in self.end_marker_frames()? {
                writer.write_packet(t, &frame)?;
            }
            last_time = Some(t);
        }
        let mut calls = Vec::with_capacity(done.len());
        let mut streams = Vec::new();
        for (mut call, call_streams, last_copy) in done.into_iter().flatten() {
            if let Some(copy) = last_copy {
                // quality-metrics.md §6: no final → `failed` if the capture extends ≥ 32 s past
                // the last INVITE copy, else `incomplete`.
                let end = last_time.unwrap_or(copy);
                call.outcome = if end.0 - copy.0 >= TIMER_B_MS * MS { Outcome::Failed } else { Outcome::Incomplete };
            }
            calls.push(call);
            streams.extend(call_streams);
        }
        let frames = writer.packets();
        writer.into_inner()?.flush()?;
        Ok(Truth {
            scenario: self.name.clone(),
            link_type: self.link.pcap_link_type().number(),
            frames,
            calls,
            streams,
        })
    }

    fn end_marker_frames(&self) -> Result<Vec<Vec<u8>>, SynthError> {
        let a: SocketAddr = "192.0.2.200:5060".parse().map_err(|_| SynthError::Invalid("marker address".into()))?;
        let b: SocketAddr = "192.0.2.201:5060".parse().map_err(|_| SynthError::Invalid("marker address".into()))?;
        let party = |user: &str, sig| SipParty {
            display: user.to_owned(),
            user: user.to_owned(),
            sig,
            tag: format!("{:08x}", splitmix64(self.seed ^ 0xe0d) as u32),
        };
        let d = SipDialog {
            call_id: format!("end-marker-{:x}@synth", self.seed),
            caller: party("monitor", a),
            callee: party("peer", b),
            transport: ViaTransport::Udp,
        };
        let tx = Transaction {
            method: "OPTIONS",
            from_caller: true,
            branch: sip::branch(self.seed, 0xe0d),
            cseq: 1,
            to_tagged: false,
            uri_is_contact: false,
        };
        let mut fb = FrameBuilder::new(self.link.clone(), 1);
        let mut req = Vec::new();
        fb.udp(a, b, 24, d.request(&tx, &[], None).as_bytes(), &mut req)?;
        let mut resp = Vec::new();
        fb.udp(b, a, 24, d.response(&tx, 200, &[], None).as_bytes(), &mut resp)?;
        Ok(vec![req, resp])
    }
}

/// A finished call's truth, its streams, and (no final response) its last INVITE copy time.
type FinishedCall = (CallTruth, Vec<StreamTruth>, Option<Timestamp>);

/// One SIP message before framing.
struct SipEvent {
    at: i64,
    from_caller: bool,
    text: String,
    initial_invite: bool,
}

/// Generator of one call's frames.
struct CallGen {
    fb: FrameBuilder,
    sip: VecDeque<(Timestamp, Vec<u8>)>,
    rtp: Vec<(Direction, RtpDirection)>,
    truth: CallTruth,
    /// Set for calls without a final response: time of the last INVITE copy.
    last_invite_copy: Option<Timestamp>,
}

impl CallGen {
    fn build(sc: &Scenario, ci: usize) -> Result<Self, SynthError> {
        let spec = sc.calls.get(ci).ok_or_else(|| SynthError::Invalid("call index".into()))?;
        let seed = splitmix64(sc.seed ^ (ci as u64).wrapping_mul(0x1000_0001) ^ 0xca11);
        let t0 = Timestamp(sc.start.0 + ms_i64(spec.start_ms));
        let caller_sig = spec.caller_nat.map_or(spec.caller, |n| n.private_sig);
        let caller_sdp_media = spec.caller_nat.map_or(spec.caller_media, |n| n.private_media);
        let dialog = SipDialog {
            call_id: spec.call_id.clone(),
            caller: SipParty {
                display: format!("Caller {}", spec.caller_user),
                user: spec.caller_user.clone(),
                sig: caller_sig,
                tag: format!("{:08x}", splitmix64(seed ^ 1) as u32),
            },
            callee: SipParty {
                display: format!("Callee {}", spec.callee_user),
                user: spec.callee_user.clone(),
                sig: spec.callee,
                tag: format!("{:08x}", splitmix64(seed ^ 2) as u32),
            },
            transport: match spec.transport {
                SipTransport::Udp => ViaTransport::Udp,
                SipTransport::Tcp { .. } => ViaTransport::Tcp,
            },
        };
        let mut branch_n = 0u64;
        let mut next_branch = || {
            branch_n += 1;
            sip::branch(seed, branch_n)
        };
        let pt = spec.media.payload_type;
        let other_g711 = if pt == 8 { 0 } else { 8 };
        let mut extra_attributes = Vec::new();
        let mut padded = 0usize;
        let mut k = 0u64;
        while padded < spec.sdp_padding {
            let a = format!(
                "x-synth-pad:{k:04} {:016x}{:016x}{:016x}",
                splitmix64(seed ^ k),
                splitmix64(seed ^ k ^ 7),
                splitmix64(seed ^ k ^ 9)
            );
            padded += a.len() + 4;
            extra_attributes.push(a);
            k += 1;
        }
        let offer = Sdp {
            owner: spec.caller_user.clone(),
            session_id: splitmix64(seed ^ 3) % 1_000_000_000,
            version: 1,
            addr: caller_sdp_media.ip(),
            port: caller_sdp_media.port(),
            payload_types: vec![pt, other_g711, 101],
            ptime_ms: spec.media.ptime_ms,
            direction: "sendrecv",
            extra_attributes,
        };
        let answer = Sdp {
            owner: spec.callee_user.clone(),
            session_id: splitmix64(seed ^ 4) % 1_000_000_000,
            version: 1,
            addr: spec.callee_media.ip(),
            port: spec.callee_media.port(),
            payload_types: vec![pt, 101],
            ptime_ms: spec.media.ptime_ms,
            direction: "sendrecv",
            extra_attributes: Vec::new(),
        };
        let offer_text = offer.render();
        let answer_text = answer.render();
        const SDP: &str = "application/sdp";

        let mut ev: Vec<SipEvent> = Vec::new();
        let mut push = |at: i64, from_caller: bool, text: String, initial_invite: bool| {
            ev.push(SipEvent { at, from_caller, text, initial_invite })
        };
        let mut caller_cseq = 1u32;
        let mut callee_cseq = 101u32;
        let mut invite_tx = Transaction {
            method: "INVITE",
            from_caller: true,
            branch: next_branch(),
            cseq: caller_cseq,
            to_tagged: false,
            uri_is_contact: false,
        };
        let invite_text = dialog.request(&invite_tx, &[], Some((SDP, &offer_text)));
        let udp = spec.transport == SipTransport::Udp;
        let copies = match (&spec.outcome, udp) {
            (OutcomeSpec::NoResponse, true) => INVITE_COPY_OFFSETS_MS.len(),
            (OutcomeSpec::NoResponse, false) => 1,
            (_, true) => (spec.invite_retransmissions as usize + 1).min(INVITE_COPY_OFFSETS_MS.len()),
            (_, false) => 1,
        };
        let mut invite_copies = 0u32;
        for off in INVITE_COPY_OFFSETS_MS.iter().take(copies) {
            push(off * MS, true, invite_text.clone(), true);
            invite_copies += 1;
        }
        let mut t = INVITE_COPY_OFFSETS_MS.get(copies.saturating_sub(1)).copied().unwrap_or(0) * MS;
        let mut truth = CallTruth {
            call_id: spec.call_id.clone(),
            caller: spec.caller.to_string(),
            callee: spec.callee.to_string(),
            start: t0.rfc3339(),
            outcome: Outcome::Incomplete,
            final_status: None,
            setup_ms: None,
            answer_ms: None,
            duration_s: None,
            ended_by: None,
            invite_copies: 0,
        };
        let mut last_invite_copy = None;
        let mut rtp = Vec::new();
        if spec.outcome == OutcomeSpec::NoResponse {
            last_invite_copy = Some(Timestamp(t0.0 + t));
        } else {
            if let Some(code) = spec.challenge {
                let realm = "synth.example";
                let nonce = format!("{:016x}", splitmix64(seed ^ 5));
                t += 15 * MS;
                push(
                    t,
                    false,
                    dialog.response(&invite_tx, code, &[sip::challenge_header(code, realm, &nonce)], None),
                    false,
                );
                let ack = Transaction { method: "ACK", to_tagged: true, ..invite_tx.clone() };
                push(t + 2 * MS, true, dialog.request(&ack, &[], None), false);
                t += 20 * MS;
                caller_cseq += 1;
                invite_tx = Transaction { branch: next_branch(), cseq: caller_cseq, ..invite_tx };
                let auth =
                    sip::authorization_header(code, &spec.caller_user, realm, &nonce, &dialog.callee.aor(), seed ^ 6);
                push(t, true, dialog.request(&invite_tx, &[auth], Some((SDP, &offer_text))), false);
                invite_copies += 1;
            }
            t += 10 * MS;
            push(t, false, dialog.response(&invite_tx, 100, &[], None), false);
            let mut ringing_at = None;
            if let Some(r) = spec.ringing_ms {
                t = (ms_i64(r)).max(t + 5 * MS);
                let text = if spec.progress_183 {
                    dialog.response(&invite_tx, 183, &[], Some((SDP, &answer_text)))
                } else {
                    dialog.response(&invite_tx, 180, &[], None)
                };
                push(t, false, text, false);
                ringing_at = Some(t);
                truth.setup_ms = Some(Timestamp(t0.0 + t).ms_since(t0));
            }
            let ack_non2xx = Transaction { method: "ACK", to_tagged: true, ..invite_tx.clone() };
            match &spec.outcome {
                OutcomeSpec::NoResponse => {}
                OutcomeSpec::Final { status, at_ms } => {
                    t = ms_i64(*at_ms).max(t + 5 * MS);
                    push(t, false, dialog.response(&invite_tx, *status, &[], None), false);
                    push(t + 5 * MS, true, dialog.request(&ack_non2xx, &[], None), false);
                    truth.final_status = Some(*status);
                    truth.outcome = outcome_for_status(*status, ringing_at.is_some());
                }
                OutcomeSpec::Cancelled { at_ms } => {
                    t = ms_i64(*at_ms).max(t + 5 * MS);
                    let cancel = Transaction { method: "CANCEL", ..invite_tx.clone() };
                    push(t, true, dialog.request(&cancel, &[], None), false);
                    push(t + 10 * MS, false, dialog.response(&cancel, 200, &[], None), false);
                    push(t + 12 * MS, false, dialog.response(&invite_tx, 487, &[], None), false);
                    push(t + 15 * MS, true, dialog.request(&ack_non2xx, &[], None), false);
                    truth.final_status = Some(487);
                    truth.outcome = Outcome::Cancelled;
                    truth.ended_by = Some(Party::Caller);
                }
                OutcomeSpec::Answered { answer_ms, talk_ms, ended_by } => {
                    t = ms_i64(*answer_ms).max(t + 5 * MS);
                    let t_answer = t;
                    push(t, false, dialog.response(&invite_tx, 200, &[], Some((SDP, &answer_text))), false);
                    let ack = Transaction {
                        method: "ACK",
                        branch: next_branch(),
                        to_tagged: true,
                        uri_is_contact: true,
                        ..invite_tx.clone()
                    };
                    let t_ack = t + 10 * MS;
                    push(t_ack, true, dialog.request(&ack, &[], None), false);
                    let t_bye = (t_answer + ms_i64(*talk_ms)).max(t_ack + 5 * MS);
                    // Re-INVITE moving one party's media.
                    let mut media_move: Option<(i64, Party, SocketAddr)> = None;
                    if let Some(re) = spec.reinvite {
                        let t_re = (t_answer + ms_i64(re.after_answer_ms)).max(t_ack + 5 * MS);
                        if t_re + 40 * MS < t_bye {
                            let by_caller = re.by == Party::Caller;
                            let cseq = if by_caller {
                                caller_cseq += 1;
                                caller_cseq
                            } else {
                                callee_cseq += 1;
                                callee_cseq
                            };
                            let re_tx = Transaction {
                                method: "INVITE",
                                from_caller: by_caller,
                                branch: next_branch(),
                                cseq,
                                to_tagged: true,
                                uri_is_contact: true,
                            };
                            let moved = |s: &Sdp| Sdp {
                                addr: re.new_media.ip(),
                                port: re.new_media.port(),
                                version: s.version + 1,
                                ..s.clone()
                            };
                            let bumped =
                                |s: &Sdp| Sdp { version: s.version + 1, extra_attributes: Vec::new(), ..s.clone() };
                            let (new_offer, new_answer) = if by_caller {
                                (moved(&offer), bumped(&answer))
                            } else {
                                (moved(&answer), bumped(&offer))
                            };
                            let (o, a) = (new_offer.render(), new_answer.render());
                            push(t_re, by_caller, dialog.request(&re_tx, &[], Some((SDP, &o))), false);
                            push(t_re + 20 * MS, !by_caller, dialog.response(&re_tx, 200, &[], Some((SDP, &a))), false);
                            let re_ack = Transaction { method: "ACK", branch: next_branch(), ..re_tx.clone() };
                            push(t_re + 30 * MS, by_caller, dialog.request(&re_ack, &[], None), false);
                            media_move = Some((t_re + 30 * MS, re.by, re.new_media));
                        }
                    }
                    let bye_by_caller = *ended_by == Party::Caller;
                    let bye_cseq = if bye_by_caller {
                        caller_cseq += 1;
                        caller_cseq
                    } else {
                        callee_cseq += 1;
                        callee_cseq
                    };
                    let bye = Transaction {
                        method: "BYE",
                        from_caller: bye_by_caller,
                        branch: next_branch(),
                        cseq: bye_cseq,
                        to_tagged: true,
                        uri_is_contact: true,
                    };
                    push(t_bye, bye_by_caller, dialog.request(&bye, &[], None), false);
                    push(t_bye + 15 * MS, !bye_by_caller, dialog.response(&bye, 200, &[], None), false);
                    truth.final_status = Some(200);
                    truth.outcome = Outcome::Answered;
                    truth.answer_ms = Some(Timestamp(t0.0 + t_answer).ms_since(t0));
                    truth.duration_s = Some(Timestamp(t0.0 + t_bye).ms_since(Timestamp(t0.0 + t_answer)) / 1000.0);
                    truth.ended_by = Some(*ended_by);

                    let ptime = i64::from(spec.media.ptime_ms) * MS;
                    let dirs = [
                        (
                            Direction::CallerToCallee,
                            &spec.media.caller_to_callee,
                            t_ack + 20 * MS,
                            (spec.caller_media, spec.callee_media),
                            Party::Caller,
                        ),
                        (
                            Direction::CalleeToCaller,
                            &spec.media.callee_to_caller,
                            t_answer + 20 * MS,
                            (spec.callee_media, spec.caller_media),
                            Party::Callee,
                        ),
                    ];
                    for (di, (dir, dspec, start, (src, dst), sender)) in dirs.into_iter().enumerate() {
                        if !dspec.enabled || start >= t_bye || ptime <= 0 {
                            continue;
                        }
                        let total = usize::try_from((t_bye - start) / ptime).unwrap_or(0);
                        if total == 0 {
                            continue;
                        }
                        let dseed = splitmix64(seed ^ (0xd1 + di as u64));
                        let move_cut = media_move.map(|(tm, by, addr)| {
                            let slots = (tm - start + ptime - 1).max(0) / ptime;
                            (usize::try_from(slots).unwrap_or(total).min(total), by, addr)
                        });
                        let legs = build_legs(total, src, dst, sender, dspec, move_cut, dseed, spec.media.ptime_ms * 8);
                        let d = RtpDirection::new(
                            Timestamp(t0.0 + start),
                            spec.media.ptime_ms,
                            pt,
                            dspec.dscp,
                            legs,
                            dspec.faults.clone(),
                        )?;
                        rtp.push((dir, d));
                    }
                }
            }
        }
        truth.invite_copies = invite_copies;

        // Frame the SIP messages in time order (stable: equal times keep build order).
        ev.sort_by_key(|e| e.at);
        let mut fb = FrameBuilder::new(sc.link.clone(), (seed as u16) | 1);
        let mut sip_frames = VecDeque::with_capacity(ev.len() + 3);
        match &spec.transport {
            SipTransport::Udp => {
                for e in &ev {
                    let (s, d) = if e.from_caller { (spec.caller, spec.callee) } else { (spec.callee, spec.caller) };
                    let at = Timestamp(t0.0 + e.at);
                    match (e.initial_invite, spec.fragment_invite) {
                        (true, Some(fr)) => {
                            for f in fb.udp_fragments(
                                s,
                                d,
                                spec.sip_dscp,
                                e.text.as_bytes(),
                                fr.max_fragment_payload,
                                fr.order,
                            )? {
                                sip_frames.push_back((at, f));
                            }
                        }
                        _ => {
                            let mut f = Vec::new();
                            fb.udp(s, d, spec.sip_dscp, e.text.as_bytes(), &mut f)?;
                            sip_frames.push_back((at, f));
                        }
                    }
                }
            }
            SipTransport::Tcp { handshake, invite_segments } => {
                let mut conn = TcpConnection::new(
                    spec.caller,
                    spec.callee,
                    spec.sip_dscp,
                    splitmix64(seed ^ 0x7c) as u32,
                    splitmix64(seed ^ 0x7d) as u32,
                );
                if *handshake {
                    for (k, f) in conn.handshake(&mut fb)?.into_iter().enumerate() {
                        sip_frames.push_back((Timestamp(t0.0 - (3 - k as i64) * MS), f));
                    }
                }
                for e in &ev {
                    let sizes: &[usize] = if e.initial_invite { invite_segments } else { &[] };
                    let at = Timestamp(t0.0 + e.at);
                    for f in conn.send(&mut fb, e.from_caller, e.text.as_bytes(), sizes)? {
                        sip_frames.push_back((at, f));
                    }
                }
            }
        }
        Ok(CallGen { fb, sip: sip_frames, rtp, truth, last_invite_copy })
    }

    /// Which source has the earliest next packet: `None` = SIP, `Some(i)` = RTP direction i.
    fn next_source(&mut self) -> Option<(Timestamp, Option<usize>)> {
        let mut best: Option<(Timestamp, Option<usize>)> = self.sip.front().map(|f| (f.0, None));
        for (i, (_, d)) in self.rtp.iter_mut().enumerate() {
            if let Some(t) = d.peek_time() {
                if best.is_none_or(|(b, _)| t < b) {
                    best = Some((t, Some(i)));
                }
            }
        }
        best
    }

    fn next_time(&mut self) -> Option<Timestamp> {
        self.next_source().map(|(t, _)| t)
    }

    fn emit(&mut self, out: &mut Vec<u8>) -> Result<(), SynthError> {
        match self.next_source() {
            Some((_, None)) => {
                if let Some((_, f)) = self.sip.pop_front() {
                    *out = f;
                }
                Ok(())
            }
            Some((_, Some(i))) => {
                if let Some((_, d)) = self.rtp.get_mut(i) {
                    d.emit(&mut self.fb, out)?;
                }
                Ok(())
            }
            None => Err(SynthError::Invalid("emit on a finished call".into())),
        }
    }

    fn finish(self) -> FinishedCall {
        let id = self.truth.call_id.clone();
        let mut streams = Vec::new();
        for (dir, d) in &self.rtp {
            streams.extend(d.finish(Some(&id), *dir));
        }
        (self.truth, streams, self.last_invite_copy)
    }
}

/// Cuts a direction's `total` slots into legs at the media move and the SSRC change.
#[allow(clippy::too_many_arguments)]
fn build_legs(
    total: usize,
    src: SocketAddr,
    dst: SocketAddr,
    sender: Party,
    dspec: &DirectionSpec,
    move_cut: Option<(usize, Party, SocketAddr)>,
    seed: u64,
    samples_per_packet: u32,
) -> Vec<LegSpec> {
    let mut cuts = vec![0, total];
    if let Some((m, _, _)) = move_cut {
        cuts.push(m);
    }
    if let Some(k) = dspec.ssrc_change_at {
        cuts.push(k.min(total));
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut ssrc = splitmix64(seed) as u32;
    let mut seq_base = dspec.seq0.unwrap_or((splitmix64(seed ^ 1) % 30_000) as u16);
    let mut ts_base = splitmix64(seed ^ 2) as u32;
    let mut ssrc_start = 0usize;
    let mut legs = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a == b {
            continue;
        }
        if dspec.ssrc_change_at == Some(a) && a > 0 {
            ssrc = splitmix64(seed ^ 3) as u32;
            seq_base = (splitmix64(seed ^ 4) % 30_000) as u16;
            ts_base = splitmix64(seed ^ 5) as u32;
            ssrc_start = a;
        }
        let (mut s, mut d) = (src, dst);
        if let Some((m, by, addr)) = move_cut {
            if a >= m {
                if by == sender {
                    s = addr;
                } else {
                    d = addr;
                }
            }
        }
        let local = a - ssrc_start;
        legs.push(LegSpec {
            count: b - a,
            src: s,
            dst: d,
            ssrc,
            seq0: seq_base.wrapping_add(local as u16),
            ts0: ts_base.wrapping_add(samples_per_packet.wrapping_mul(local as u32)),
        });
    }
    legs
}
