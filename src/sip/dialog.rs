//! Dialogs, INVITE transactions and call attempts: scanned messages → [`Dialog`]s.
//!
//! Rules (quality-metrics.md §6, diagnosis.md §4.6):
//! - A dialog is everything sharing one Call-ID.
//! - A request copy repeats an earlier one when (top Via branch, CSeq number, CSeq method,
//!   source, destination) was seen; for pre-RFC 3261 branches (no `z9hG4bK`) the key is (Call-ID,
//!   From tag, CSeq, Request-URI, top Via sent-by). A response copy repeats when (branch, CSeq,
//!   status, To tag) was seen. Copies never move a timing: every delay uses first copies.
//! - A copy arriving less than [`MIRROR_WINDOW_NS`] after the previous copy is a *mirror
//!   duplicate* (the same packet captured twice, e.g. ndpi-FAX frames 24/26, 1.4 ms apart): no
//!   RFC 3261 timer re-sends that fast (T1 = 500 ms), so it is not a retransmission.
//! - One attempt = the initial INVITE (no To tag) plus later INVITEs of the same Call-ID with the
//!   same From tag and a new CSeq (after 401/407 or 3xx). The final response is the one to the
//!   last INVITE of the attempt; re-INVITEs (To tag present) and UPDATEs are not attempts.

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::SocketAddr;

use super::facts::{self, ReplacesFact, SessionTimerFact};
use super::register::RegistrationTable;
use super::scan::{ReasonRef, SipMessageRef, StartLine};
use super::{Dialog, EndedBy, MessageSummary, Method, Outcome, ReasonInfo, Registration, SdpEvent};
use crate::capture::FrameRef;
use crate::time::Timestamp;
use crate::warn::{WarningKind, Warnings};

/// Copies closer together than this are mirror duplicates, not retransmissions (T1 = 500 ms is
/// the shortest RFC 3261 retransmission interval; 200 ms leaves margin for capture jitter).
pub const MIRROR_WINDOW_NS: i64 = 200_000_000;

/// Timer B / Timer F (64·T1 = 32 s, RFC 3261 §17.1.1.2): an INVITE without a final response is
/// `failed` only when the capture runs this long past its last copy.
pub const TRANSACTION_TIMEOUT_NS: i64 = 32_000_000_000;

/// Timer C (RFC 3261 §16.6 step 11, "> 3 min"; diagnosis.md `sip.timer_c_s` = 180 s): an
/// INVITE that got a provisional response but no final one is `failed` only when the capture
/// runs this long past the later of its last copy and its last provisional response.
pub const TIMER_C_NS: i64 = 180_000_000_000;

/// What the capture shows about an INVITE attempt that has no final response (diagnosis.md
/// §4.6 last two rows, principle 2). The outcome (`failed` vs `incomplete`) and the codes
/// `invite_timeout` / `no_final_response` are both decided by [`no_final_state`], so they agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoFinal {
    /// The capture ended before the timer that applies ran out: `incomplete`, no code.
    Pending,
    /// No response at all, not even 100, for Timer B after `from` (the first copy of the last
    /// INVITE transaction).
    TimerB {
        /// Frame the timer runs from.
        from: FrameRef,
        /// How long the capture ran past it, ns.
        waited_ns: i64,
    },
    /// A provisional response but no final one for Timer C after `from` (the later of the last
    /// INVITE copy and the last provisional response: RFC 3261 §16.7 step 2 resets Timer C on
    /// provisional responses).
    TimerC {
        /// Frame the timer runs from.
        from: FrameRef,
        /// How long the capture ran past it, ns.
        waited_ns: i64,
    },
}

/// The state of an attempt without final response at `capture_end`, with the given Timer B
/// and Timer C; `None` when the dialog is no call or has a final response.
pub fn no_final_state(d: &Dialog, capture_end: Timestamp, timer_b_ns: i64, timer_c_ns: i64) -> Option<NoFinal> {
    let first = d.first_invite?;
    if d.final_response.is_some() {
        return None;
    }
    let last_copy = d.last_invite_copy.unwrap_or(first);
    Some(match d.last_provisional {
        Some(prov) => {
            let from = if prov.time > last_copy.time { prov } else { last_copy };
            let waited_ns = capture_end.0.saturating_sub(from.time.0);
            if waited_ns >= timer_c_ns {
                NoFinal::TimerC { from, waited_ns }
            } else {
                NoFinal::Pending
            }
        }
        None => {
            let sent = d.last_invite_first_copy.unwrap_or(first);
            let waited_ns = capture_end.0.saturating_sub(sent.time.0);
            if waited_ns >= timer_b_ns {
                NoFinal::TimerB { from: sent, waited_ns }
            } else {
                NoFinal::Pending
            }
        }
    })
}

/// Limits of the dialog table.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DialogLimits {
    /// Most dialogs tracked at once; beyond, the least recently active 10 % are closed early.
    pub max_dialogs: usize,
    /// Most messages kept in a dialog's timeline (the rest are counted).
    pub max_messages_per_dialog: usize,
    /// Most transaction keys remembered per dialog for retransmission detection.
    pub max_transactions_per_dialog: usize,
    /// Most INVITE CSeq numbers remembered per attempt.
    pub max_attempt_invites: usize,
    /// Most SDP bodies kept per dialog.
    pub max_sdp_per_dialog: usize,
    /// Most registration AORs tracked at once (least recently active 10 % evicted beyond).
    pub max_registrations: usize,
}

impl Default for DialogLimits {
    fn default() -> Self {
        DialogLimits {
            max_dialogs: 200_000,
            max_messages_per_dialog: 1_000,
            max_transactions_per_dialog: 2_048,
            max_attempt_invites: 32,
            max_sdp_per_dialog: 64,
            max_registrations: super::register::MAX_AORS,
        }
    }
}

/// Counters for the run summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DialogCounters {
    /// Messages processed (all copies).
    pub messages: u64,
    /// Messages without Call-ID (or with an empty one): counted as SIP messages, warned, part
    /// of no dialog.
    pub orphans: u64,
    /// Messages kept in their dialog without a readable CSeq (CSeq 0 assumed, warned).
    pub cseq_guessed: u64,
    /// Dialogs closed early because the table was full.
    pub evicted: u64,
    /// Times a per-dialog cap (messages, transactions, SDP bodies) refused an entry; each also
    /// gave a `StateEvicted` warning (kept per the warnings cap).
    pub per_dialog_capped: u64,
}

/// Where a message came from.
#[derive(Clone, Copy, Debug)]
pub struct Wire {
    /// Frame that carried (or completed) the message.
    pub at: FrameRef,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Outermost VLAN id of the frame (for the site map).
    pub vlan: Option<u16>,
    /// Capture interface of the frame (for the site map).
    pub interface: Option<u16>,
}

#[derive(Debug)]
struct DialogState {
    dialog: Dialog,
    /// Capture order of the first message (output order).
    order: u64,
    /// Transaction key hash → time of the last copy.
    seen: crate::FastHashMap<u64, Timestamp>,
    /// CSeq numbers of the attempt's INVITEs, in order.
    attempt_cseqs: Vec<u32>,
    /// CSeq number of the INVITE that was answered.
    answered_cseq: Option<u32>,
    /// CSeq number of the first BYE.
    bye_cseq: Option<u32>,
}

/// The dialog table (and the registration table, fed by the same messages).
#[derive(Debug, Default)]
pub struct DialogTable {
    active: crate::FastHashMap<String, DialogState>,
    closed: Vec<DialogState>,
    next_order: u64,
    registrations: RegistrationTable,
    /// Limits in force.
    pub limits: DialogLimits,
    /// Counters.
    pub counters: DialogCounters,
}

/// The Call-ID as text, and whether it had to be escaped. A valid UTF-8 Call-ID is taken as
/// is. Otherwise every byte that is not part of valid UTF-8 is written `\xNN` (upper-case hex):
/// unlike `String::from_utf8_lossy`, which maps every invalid byte to U+FFFD, two Call-IDs that
/// differ only in such bytes stay two dialogs (a damaged capture: tshark keeps them apart too).
pub fn call_id_text(bytes: &[u8]) -> (std::borrow::Cow<'_, str>, bool) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return (std::borrow::Cow::Borrowed(text), false);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    (std::borrow::Cow::Owned(out), true)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn reason_info(sip: Option<ReasonRef<'_>>, q850: Option<ReasonRef<'_>>) -> Option<ReasonInfo> {
    if sip.is_none() && q850.is_none() {
        return None;
    }
    Some(ReasonInfo {
        sip_cause: sip.and_then(|r| r.cause),
        q850_cause: q850.and_then(|r| r.cause),
        text: q850.and_then(|r| r.text).or_else(|| sip.and_then(|r| r.text)).map(lossy),
    })
}

/// Outcome of an attempt from its final response (diagnosis.md §4.6).
pub fn outcome_for(status: u16, rang: bool) -> Outcome {
    match status {
        200..=299 => Outcome::Answered,
        // 3xx reaching finish() was not followed by a new INVITE.
        300..=399 => Outcome::Failed,
        401 | 407 | 403 | 488 | 606 | 603 => Outcome::Rejected,
        404 | 410 | 604 => Outcome::NotFound,
        408 | 480 if rang => Outcome::NoAnswer,
        486 | 600 => Outcome::Busy,
        // diagnosis.md §4.6 says "487 after CANCEL"; a 487 without a captured CANCEL is still
        // the request being terminated (RFC 3261 §9.2), so it is `cancelled` too.
        487 => Outcome::Cancelled,
        _ => Outcome::Failed,
    }
}

/// Seed of [`key_hash`] (any fixed value).
const KEY_HASH_SEED: u64 = 0x5EED_CA11_5C0B_E000;

fn key_hash(parts: &[&[u8]], src: Option<(SocketAddr, SocketAddr)>) -> u64 {
    // A fixed seed: the same input hashes the same in every run. foldhash rather than SipHash
    // (`DefaultHasher`), which cost about 1.6 k instructions per SIP message (callgrind).
    let mut h = foldhash::fast::FixedState::with_seed(KEY_HASH_SEED).build_hasher();
    for p in parts {
        p.hash(&mut h);
    }
    src.hash(&mut h);
    h.finish()
}

impl DialogTable {
    /// A table with the given limits.
    pub fn new(limits: DialogLimits) -> Self {
        DialogTable {
            registrations: RegistrationTable::with_max_aors(limits.max_registrations),
            limits,
            ..DialogTable::default()
        }
    }

    /// Processes one scanned message.
    pub fn on_message(
        &mut self,
        msg: &SipMessageRef<'_>,
        wire: Wire,
        warnings: &mut Warnings,
        on_sdp: &mut dyn FnMut(&SdpEvent),
    ) {
        self.counters.messages += 1;
        let at = wire.at;
        if msg.bad_header_lines > 0 {
            let skipped = msg.bad_header_lines;
            warnings.push(at.file, at.number, WarningKind::MalformedSip, || {
                format!("{skipped} SIP header line(s) without `name:` skipped; the rest of the message is used")
            });
        }
        // Matches tshark: a message without Call-ID is still a SIP message (counted), but it
        // belongs to no dialog (RFC 3261 §8.1.1.4: the Call-ID is what groups messages).
        let Some(call_id_bytes) = msg.call_id.filter(|c| !c.is_empty()) else {
            self.counters.orphans += 1;
            warnings.push(at.file, at.number, WarningKind::MalformedSip, || {
                "SIP message without Call-ID: counted, but not part of any dialog".to_string()
            });
            return;
        };
        let cseq = match msg.cseq {
            Some(cseq) => cseq,
            None => {
                // Keep the message in its dialog's timeline (a damaged capture still shows its
                // calls). The CSeq number is unknown: 0, as tshark shows it. Transaction
                // matching (answer to an INVITE, ACK of the 2xx, BYE response) compares CSeq
                // numbers, so a guessed 0 matches only another guessed 0 or a real CSeq 0 (legal
                // but rare, RFC 3261 §8.1.1.5). The method is the one written in the CSeq when
                // only the number is unreadable (tshark reads it so too), else the request
                // line's; a response without either gets `Other` and answers nothing.
                self.counters.cseq_guessed += 1;
                let (method, source) = match (msg.cseq_method_of_garbled(), msg.method()) {
                    (Some(m), _) => (m, "method as written in the CSeq"),
                    (None, Some(m)) => (m, "method of the request line"),
                    (None, None) => (Method::Other, "method unknown"),
                };
                warnings.push(at.file, at.number, WarningKind::MalformedSip, || {
                    format!("SIP message without a readable CSeq: kept with CSeq 0 {} ({source})", method.as_str())
                });
                (0, method)
            }
        };
        let (call_id, lossy_call_id) = call_id_text(call_id_bytes);
        if lossy_call_id {
            warnings.push(at.file, at.number, WarningKind::MalformedSip, || {
                format!("Call-ID is not UTF-8: kept as {call_id} (bytes that are not UTF-8 written as \\xNN)")
            });
        }
        if !self.active.contains_key(call_id.as_ref()) {
            self.make_room(at, warnings);
            let order = self.next_order;
            self.next_order += 1;
            self.active.insert(
                call_id.to_string(),
                DialogState {
                    dialog: Dialog { call_id: call_id.to_string(), first_message: Some(at), ..Dialog::default() },
                    order,
                    seen: crate::FastHashMap::default(),
                    attempt_cseqs: Vec::new(),
                    answered_cseq: None,
                    bye_cseq: None,
                },
            );
        }
        let Some(state) = self.active.get_mut(call_id.as_ref()) else {
            return;
        };
        let limits = &self.limits;

        // --- Copy detection (quality-metrics.md §6).
        let branch = msg.via.and_then(|v| v.branch).unwrap_or(&[]);
        let rfc3261_branch = branch.len() > 7 && branch[..7].eq_ignore_ascii_case(b"z9hG4bK");
        let cseq_num = cseq.0.to_be_bytes();
        let cseq_method = cseq.1.as_str().as_bytes();
        let key = match msg.start {
            StartLine::Request { method_token, uri, .. } => {
                if rfc3261_branch {
                    key_hash(&[b"rq", branch, &cseq_num, cseq_method, method_token], Some((wire.src, wire.dst)))
                } else {
                    key_hash(
                        &[
                            b"rq-old",
                            call_id_bytes,
                            msg.from_tag().unwrap_or(&[]),
                            &cseq_num,
                            cseq_method,
                            uri,
                            msg.via.map_or(&[][..], |v| v.sent_by),
                            method_token,
                        ],
                        Some((wire.src, wire.dst)),
                    )
                }
            }
            StartLine::Response { status, .. } => key_hash(
                &[b"rs", branch, &cseq_num, cseq_method, &status.to_be_bytes(), msg.to_tag().unwrap_or(&[])],
                None,
            ),
        };
        let (mut retransmission, mut mirror) = (false, false);
        match state.seen.get_mut(&key) {
            Some(last) => {
                if at.time.0.saturating_sub(last.0) < MIRROR_WINDOW_NS {
                    mirror = true;
                } else {
                    retransmission = true;
                }
                *last = at.time;
            }
            None => {
                if state.seen.len() < limits.max_transactions_per_dialog {
                    state.seen.insert(key, at.time);
                } else {
                    self.counters.per_dialog_capped += 1;
                    warnings.push(at.file, at.number, WarningKind::StateEvicted, || {
                        format!(
                            "dialog transaction table full ({} transactions): retransmissions of later ones are not recognised",
                            limits.max_transactions_per_dialog
                        )
                    });
                }
            }
        }
        let copy = retransmission || mirror;

        let sdp_body = msg.sdp_body();
        let d = &mut state.dialog;
        d.last_time = d.last_time.max(at.time);
        if d.messages.len() < limits.max_messages_per_dialog {
            d.messages.push(MessageSummary {
                at,
                src: wire.src,
                dst: wire.dst,
                method: msg.method(),
                status: msg.status(),
                cseq,
                retransmission,
                has_sdp: sdp_body.is_some(),
                mirror_duplicate: mirror,
            });
        } else {
            d.messages_dropped += 1;
            self.counters.per_dialog_capped += 1;
            warnings.push(at.file, at.number, WarningKind::StateEvicted, || {
                format!(
                    "dialog timeline full ({} messages): further messages are counted, not kept",
                    limits.max_messages_per_dialog
                )
            });
        }
        if retransmission {
            d.retransmissions += 1;
        }
        if mirror {
            d.mirror_duplicates += 1;
        }

        let initial_tag = d.from_tag.as_deref().map(str::as_bytes);
        let from_tag = msg.from_tag();
        let same_side_as_caller = initial_tag.is_some() && initial_tag == from_tag;

        if copy {
            // Copies never move a timing; only the last INVITE copy matters (Timer B).
            if msg.method() == Some(Method::Invite) && msg.to_tag().is_none() && same_side_as_caller {
                d.last_invite_copy = Some(at);
            }
            if msg.method() == Some(Method::Register) || cseq.1 == Method::Register {
                self.registrations.on_copy(at);
            }
            return;
        }

        match msg.start {
            StartLine::Request { method, .. } => {
                if d.from_uri.is_none() {
                    fill_parties(d, msg);
                }
                match method {
                    Method::Invite if msg.to_tag().is_none() => {
                        if d.first_invite.is_none() {
                            fill_parties(d, msg);
                            d.first_invite = Some(at);
                            d.caller = Some(wire.src);
                            d.callee = Some(wire.dst);
                            d.invite_vlan = wire.vlan;
                            d.invite_interface = wire.interface;
                            d.from_tag = msg.from_tag().map(lossy);
                            d.user_agent = msg.user_agent.map(lossy);
                            d.via_transport = msg.via.map(|v| lossy(v.transport));
                            d.p_asserted_identity = msg.p_asserted_identity.map(|p| lossy(p.user.unwrap_or(p.uri)));
                            d.diverted = msg.diversion.is_some() || msg.has_history_info;
                            d.invite_transactions = 1;
                            d.last_invite_copy = Some(at);
                            d.last_invite_first_copy = Some(at);
                            state.attempt_cseqs.push(cseq.0);
                        } else if same_side_as_caller || d.from_tag.is_none() && from_tag.is_none() {
                            d.last_invite_copy = Some(at);
                            if !state.attempt_cseqs.contains(&cseq.0)
                                && state.attempt_cseqs.len() < limits.max_attempt_invites
                            {
                                // A new INVITE of the attempt (after 401/407 or 3xx): the final
                                // response is now that of this INVITE.
                                state.attempt_cseqs.push(cseq.0);
                                d.invite_transactions += 1;
                                d.last_invite_first_copy = Some(at);
                                if state.answered_cseq.is_none() {
                                    d.final_response = None;
                                    d.final_reason = None;
                                    // Timer B/C of the new transaction: earlier 1xx do not count.
                                    d.last_provisional = None;
                                }
                            }
                        }
                    }
                    Method::Invite => d.reinvites += 1,
                    Method::Cancel if d.cancel.is_none() => {
                        d.cancel = Some(at);
                        d.cancel_reason = reason_info(msg.reason_sip, msg.reason_q850);
                    }
                    Method::Bye if d.bye.is_none() => {
                        let by = if same_side_as_caller {
                            EndedBy::Caller
                        } else if d.from_tag.is_some() {
                            EndedBy::Callee
                        } else {
                            EndedBy::Unknown
                        };
                        d.bye = Some((at, by));
                        d.bye_reason = reason_info(msg.reason_sip, msg.reason_q850);
                        state.bye_cseq = Some(cseq.0);
                    }
                    Method::Ack if d.ack.is_none() && state.answered_cseq == Some(cseq.0) => {
                        d.ack = Some(at);
                    }
                    Method::Register => {
                        if let Some(to) = msg.to {
                            self.registrations.on_request(msg, &to, call_id_bytes, wire, warnings);
                        }
                    }
                    _ => {}
                }
            }
            StartLine::Response { status, .. } => {
                if d.from_uri.is_none() {
                    fill_parties(d, msg);
                }
                match cseq.1 {
                    Method::Invite if state.attempt_cseqs.contains(&cseq.0) => {
                        if d.callee_agent.is_none() {
                            d.callee_agent = msg.server.or(msg.user_agent).map(lossy);
                        }
                        if d.via_received.is_none() {
                            d.via_received = msg.via.and_then(|v| v.received).map(lossy);
                        }
                        let challenge = status == 401 || status == 407;
                        if status > 100 && !challenge && d.first_response.is_none() {
                            d.first_response = Some((status, at));
                        }
                        if (100..200).contains(&status) {
                            d.last_provisional = Some(at);
                        }
                        match status {
                            180..=189 if d.first_provisional.is_none() => {
                                d.first_provisional = Some(at);
                            }
                            200..=299 if d.answered.is_none() => {
                                d.answered = Some(at);
                                state.answered_cseq = Some(cseq.0);
                                d.final_response = Some((status, at));
                                d.final_reason = reason_info(msg.reason_sip, msg.reason_q850);
                            }
                            300..=699 => {
                                if challenge {
                                    d.challenges += 1;
                                }
                                let last_invite = state.attempt_cseqs.last() == Some(&cseq.0);
                                // After a 2xx, other forks' failures do not change the outcome.
                                if d.answered.is_none() && last_invite && d.final_response.is_none() {
                                    d.final_response = Some((status, at));
                                    d.final_reason = reason_info(msg.reason_sip, msg.reason_q850);
                                }
                            }
                            _ => {}
                        }
                    }
                    Method::Bye if state.bye_cseq == Some(cseq.0) && status >= 200 && d.bye_response.is_none() => {
                        d.bye_response = Some((status, at));
                    }
                    Method::Register => {
                        if let Some(to) = msg.to {
                            self.registrations.on_response(msg, &to, call_id_bytes, status, wire);
                        }
                    }
                    _ => {}
                }
            }
        }

        // --- Facts read from headers on the few messages that need them (sip::facts).
        record_facts(d, msg, wire, cseq, same_side_as_caller, warnings);

        // --- SDP (offer/answer bodies), parsed once per first copy.
        if let Some(body) = sdp_body {
            let is_request = msg.method().is_some();
            let from_caller = match d.from_tag.as_deref() {
                Some(tag) => (from_tag == Some(tag.as_bytes())) == is_request,
                None => is_request,
            };
            match crate::sdp::parse(body) {
                Ok(session) => {
                    let carried_by = match msg.start {
                        StartLine::Request { method, method_token, .. } => {
                            if method == Method::Other {
                                lossy(method_token)
                            } else {
                                method.as_str().to_string()
                            }
                        }
                        StartLine::Response { status, .. } => status.to_string(),
                    };
                    let event = SdpEvent { at, sender: wire.src, from_caller, carried_by, session };
                    on_sdp(&event);
                    if d.sdp.len() < limits.max_sdp_per_dialog {
                        d.sdp.push(event);
                    } else {
                        self.counters.per_dialog_capped += 1;
                        warnings.push(at.file, at.number, WarningKind::StateEvicted, || {
                            format!(
                                "{} SDP bodies kept for this dialog: later ones are not kept",
                                limits.max_sdp_per_dialog
                            )
                        });
                    }
                }
                Err(e) => {
                    warnings.push(at.file, at.number, WarningKind::MalformedSdp, || {
                        format!("SDP body in Call-ID {}: {e}", d.call_id)
                    });
                }
            }
        }
    }

    /// Keeps the table under its cap by closing the least recently active 10 % of dialogs.
    fn make_room(&mut self, at: FrameRef, warnings: &mut Warnings) {
        if self.active.len() < self.limits.max_dialogs {
            return;
        }
        let mut by_age: Vec<(Timestamp, u64, String)> =
            self.active.iter().map(|(k, s)| (s.dialog.last_time, s.order, k.clone())).collect();
        let n = (self.limits.max_dialogs / 10).max(1).min(by_age.len());
        if n < by_age.len() {
            by_age.select_nth_unstable(n);
        }
        for (_, _, k) in by_age.into_iter().take(n) {
            if let Some(mut s) = self.active.remove(&k) {
                s.seen = crate::FastHashMap::default();
                self.closed.push(s);
            }
        }
        self.counters.evicted += n as u64;
        warnings.push(at.file, at.number, WarningKind::StateEvicted, || {
            format!("dialog table full: {n} least recently active dialogs closed early")
        });
    }

    /// Dialogs currently held (open and closed early), in no particular order. For incremental
    /// runs (`pipeline::Analyzer::take_finished`), which look at them without taking them.
    pub fn dialogs(&self) -> impl Iterator<Item = &Dialog> {
        self.active.values().chain(self.closed.iter()).map(|s| &s.dialog)
    }

    /// The registrations so far, as if the input ended at `now` ([`RegistrationTable::snapshot`]).
    pub fn registrations_at(&self, now: Timestamp) -> Vec<Registration> {
        self.registrations.snapshot(now)
    }

    /// Dialogs currently held.
    pub fn len(&self) -> usize {
        self.active.len() + self.closed.len()
    }

    /// True when no dialog is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes the dialogs for which `take` is true and returns them in order of their first
    /// message, with outcomes decided as [`DialogTable::finish`] would at `now` (incremental
    /// runs: finished calls leave memory). Their transaction state goes with them, so a late
    /// copy of one of their messages starts a new dialog.
    pub fn take_where(&mut self, now: Timestamp, take: &mut dyn FnMut(&Dialog) -> bool) -> Vec<Dialog> {
        let keys: Vec<String> = self.active.iter().filter(|(_, s)| take(&s.dialog)).map(|(k, _)| k.clone()).collect();
        let mut taken: Vec<DialogState> = keys.iter().filter_map(|k| self.active.remove(k)).collect();
        let mut kept = Vec::with_capacity(self.closed.len());
        for s in std::mem::take(&mut self.closed) {
            if take(&s.dialog) {
                taken.push(s);
            } else {
                kept.push(s);
            }
        }
        self.closed = kept;
        decided_in_order(taken, now)
    }

    /// Ends the input: decides outcomes and returns dialogs in order of their first message,
    /// and registrations in order of their first REGISTER.
    pub fn finish(self, capture_end: Timestamp) -> (Vec<Dialog>, Vec<Registration>) {
        let mut all: Vec<DialogState> = self.closed;
        all.extend(self.active.into_values());
        (decided_in_order(all, capture_end), self.registrations.finish(capture_end))
    }
}

/// The dialogs of `states` in order of their first message, with outcomes decided at `now`.
/// Sorted by index, not in place: a dialog state is over a kilobyte, and moving the states
/// through a sort cost about 8 k instructions per dialog (callgrind); here each moves once.
/// Orders are unique, so the result is the stable sort's.
fn decided_in_order(states: Vec<DialogState>, now: Timestamp) -> Vec<Dialog> {
    let mut order: Vec<(u64, usize)> = states.iter().enumerate().map(|(i, s)| (s.order, i)).collect();
    order.sort_unstable();
    let mut slots: Vec<Option<DialogState>> = states.into_iter().map(Some).collect();
    order
        .iter()
        .filter_map(|&(_, i)| slots.get_mut(i).and_then(Option::take))
        .map(|s| {
            let mut d = s.dialog;
            decide(&mut d, now);
            // Kept to the end of the run: the room left by the vectors' growth goes back to
            // the allocator for the records built next.
            d.messages.shrink_to_fit();
            d.sdp.shrink_to_fit();
            d
        })
        .collect()
}

/// Keeps the session-timer, transfer, correlation and location facts of a first copy.
fn record_facts(
    d: &mut Dialog,
    msg: &SipMessageRef<'_>,
    wire: Wire,
    cseq: (u32, Method),
    by_caller: bool,
    warnings: &mut Warnings,
) {
    let at = wire.at;
    match msg.start {
        StartLine::Request { method: Method::Invite, .. } if d.first_invite == Some(at) => {
            d.correlation = facts::correlation_of(msg);
            d.replaces = facts::replaces_of(msg).map(|call_id| ReplacesFact { at, call_id });
            d.referred_by = facts::header(msg.head, "Referred-By", Some(b'b')).map(|v| facts::text(facts::uri_of(v)));
            d.location = facts::has_location(msg);
        }
        StartLine::Request { method: Method::Refer, .. } => {
            if d.transfers.len() < facts::MAX_TRANSFERS {
                d.transfers.push(facts::transfer_of(msg, at, wire.src, wire.dst, by_caller, cseq.0));
            } else {
                warnings.push(at.file, at.number, WarningKind::StateEvicted, || {
                    format!("{} REFERs kept for this dialog: later ones are not kept", facts::MAX_TRANSFERS)
                });
            }
        }
        StartLine::Request { method: Method::Notify, .. } => {
            if let Some((id, notify)) = facts::refer_notify(msg, at) {
                // RFC 3515 §2.4.6: `id` is the CSeq number of the REFER; without it the
                // latest REFER before the NOTIFY.
                let t = match id {
                    Some(id) => d.transfers.iter_mut().rev().find(|t| t.cseq == id),
                    None => d.transfers.iter_mut().rev().find(|t| t.refer.time <= at.time),
                };
                if let Some(t) = t.filter(|t| t.notifies.len() < facts::MAX_NOTIFIES) {
                    t.notifies.push(notify);
                }
            }
        }
        StartLine::Response { status, .. } => {
            if cseq.1 == Method::Refer && status >= 200 {
                if let Some(t) = d.transfers.iter_mut().rev().find(|t| t.cseq == cseq.0 && t.response.is_none()) {
                    t.response = Some((status, at));
                }
            }
            if (200..300).contains(&status)
                && matches!(cseq.1, Method::Invite | Method::Update)
                && d.session_timers.len() < facts::MAX_SESSION_TIMERS
            {
                if let Some(expires_s) = msg.session_expires {
                    d.session_timers.push(SessionTimerFact {
                        at,
                        cseq,
                        expires_s,
                        refresher: facts::refresher_of(msg),
                        request_by_caller: by_caller,
                    });
                }
            }
        }
        _ => {}
    }
}

/// Decides `outcome` and `ended_by` (diagnosis.md §4.6, quality-metrics.md §6 "Attempts").
fn decide(d: &mut Dialog, capture_end: Timestamp) {
    d.ended_by = match (d.bye, d.cancel) {
        (Some((_, by)), _) => by,
        (None, Some(_)) if d.answered.is_none() => EndedBy::Caller,
        _ => EndedBy::Unknown,
    };
    if d.first_invite.is_none() {
        return;
    }
    d.outcome = Some(match d.final_response {
        Some((status, _)) => outcome_for(status, d.first_provisional.is_some()),
        None => match no_final_state(d, capture_end, TRANSACTION_TIMEOUT_NS, TIMER_C_NS) {
            Some(NoFinal::TimerB { .. } | NoFinal::TimerC { .. }) => Outcome::Failed,
            _ => Outcome::Incomplete,
        },
    });
}

fn fill_parties(d: &mut Dialog, msg: &SipMessageRef<'_>) {
    if let Some(f) = msg.from {
        d.from_uri = Some(lossy(f.uri));
        d.from_user = f.user.map(lossy);
        d.from_display = f.display.map(lossy);
    }
    if let Some(t) = msg.to {
        d.to_uri = Some(lossy(t.uri));
        d.to_user = t.user.map(lossy);
    }
}

#[cfg(test)]
mod tests {
    use super::super::SipStage;
    use super::*;
    use crate::decode::{Datagram, Transport};

    const A: ([u8; 4], u16) = ([10, 0, 0, 1], 5060);
    const B: ([u8; 4], u16) = ([10, 0, 0, 2], 5060);

    /// Feeds synthetic SIP texts over UDP at given times (ms) and frame numbers 1, 2, …
    struct Call {
        stage: SipStage,
        warnings: Warnings,
        frame: u64,
        sdp_callbacks: usize,
    }

    impl Call {
        fn new() -> Self {
            Call { stage: SipStage::default(), warnings: Warnings::default(), frame: 0, sdp_callbacks: 0 }
        }

        fn send(&mut self, ms: i64, from: ([u8; 4], u16), to: ([u8; 4], u16), text: &str) {
            self.frame += 1;
            let dg = Datagram {
                at: FrameRef { file: 0, number: self.frame, time: Timestamp(1_000_000_000_000 + ms * 1_000_000) },
                src: SocketAddr::from(from),
                dst: SocketAddr::from(to),
                transport: Transport::Udp,
                vlan: None,
                interface: None,
                dscp: 0,
                icmp_error: None,
                payload: text.as_bytes(),
            };
            let n = &mut self.sdp_callbacks;
            self.stage.on_datagram(&dg, &mut self.warnings, &mut |_| *n += 1);
        }

        fn finish(self, end_ms: i64) -> Dialog {
            let (mut d, _) = self.stage.finish(Timestamp(1_000_000_000_000 + end_ms * 1_000_000));
            assert_eq!(d.len(), 1);
            d.remove(0)
        }
    }

    /// A request from the caller (From tag "ft"); `to_tag` for in-dialog requests.
    fn req(method: &str, cseq: u32, branch: &str, to_tag: Option<&str>, sdp: bool) -> String {
        req_from(method, cseq, branch, "ft", to_tag, sdp)
    }

    fn req_from(method: &str, cseq: u32, branch: &str, from_tag: &str, to_tag: Option<&str>, sdp: bool) -> String {
        let to_tag = to_tag.map_or(String::new(), |t| format!(";tag={t}"));
        let body = if sdp { "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\n" } else { "" };
        let ct = if sdp { "Content-Type: application/sdp\r\n" } else { "" };
        let cseq_method = if method == "ACK" && cseq == 0 { "ACK" } else { method };
        format!(
            "{method} sip:bob@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{branch}\r\n\
From: \"Alice\" <sip:alice@10.0.0.1>;tag={from_tag}\r\nTo: <sip:bob@10.0.0.2>{to_tag}\r\n\
Call-ID: call-1\r\nCSeq: {cseq} {cseq_method}\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    /// A response with the given To tag (callee side).
    fn resp(status: u16, cseq: u32, method: &str, branch: &str, to_tag: Option<&str>) -> String {
        let to_tag = to_tag.map_or(String::new(), |t| format!(";tag={t}"));
        format!(
            "SIP/2.0 {status} Whatever\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{branch}\r\n\
From: \"Alice\" <sip:alice@10.0.0.1>;tag=ft\r\nTo: <sip:bob@10.0.0.2>{to_tag}\r\n\
Call-ID: call-1\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
        )
    }

    /// A BYE from the callee (From/To swapped).
    fn callee_bye(cseq: u32) -> String {
        "BYE sip:alice@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKcb\r\n\
From: <sip:bob@10.0.0.2>;tag=tt\r\nTo: \"Alice\" <sip:alice@10.0.0.1>;tag=ft\r\n\
Call-ID: call-1\r\nCSeq: CSEQ BYE\r\nContent-Length: 0\r\n\r\n"
            .replace("CSEQ", &cseq.to_string())
    }

    #[test]
    fn answered_call_with_setup_answer_and_bye() {
        let mut c = Call::new();
        c.send(0, A, B, &req("INVITE", 1, "i1", None, true));
        c.send(10, B, A, &resp(100, 1, "INVITE", "i1", None));
        c.send(200, B, A, &resp(180, 1, "INVITE", "i1", Some("tt")));
        c.send(3000, B, A, &resp(200, 1, "INVITE", "i1", Some("tt")));
        c.send(3010, A, B, &req("ACK", 1, "a1", Some("tt"), false));
        c.send(60000, A, B, &req("BYE", 2, "b1", Some("tt"), false));
        c.send(60020, B, A, &resp(200, 2, "BYE", "b1", Some("tt")));
        let d = c.finish(61000);
        assert_eq!(d.outcome, Some(Outcome::Answered));
        assert_eq!(d.first_invite.map(|f| f.number), Some(1));
        assert_eq!(d.first_provisional.map(|f| f.number), Some(3));
        assert_eq!(d.answered.map(|f| f.number), Some(4));
        assert_eq!(d.first_response.map(|(s, f)| (s, f.number)), Some((180, 3)));
        assert_eq!(d.final_response.map(|(s, f)| (s, f.number)), Some((200, 4)));
        assert_eq!(d.ack.map(|f| f.number), Some(5));
        assert_eq!(d.bye.map(|(f, by)| (f.number, by)), Some((6, EndedBy::Caller)));
        assert_eq!(d.bye_response.map(|(s, f)| (s, f.number)), Some((200, 7)));
        assert_eq!(d.ended_by, EndedBy::Caller);
        assert_eq!(d.caller, Some(SocketAddr::from(A)));
        assert_eq!(d.callee, Some(SocketAddr::from(B)));
        assert_eq!(d.from_user.as_deref(), Some("alice"));
        assert_eq!(d.from_display.as_deref(), Some("Alice"));
        assert_eq!(d.to_user.as_deref(), Some("bob"));
        assert_eq!(d.messages.len(), 7);
        assert!(d.messages[0].has_sdp);
        assert_eq!(sdp_messages(&d), 1);
    }

    fn sdp_messages(d: &Dialog) -> usize {
        d.messages.iter().filter(|m| m.has_sdp).count()
    }

    fn sdp_outcomes(c: &Call) -> usize {
        // sdp::parse may not work yet: each parsed body is either an event or a warning.
        let warned = c.warnings.kept().iter().filter(|w| w.kind == WarningKind::MalformedSdp).count();
        warned + c.sdp_callbacks
    }

    #[test]
    fn callee_bye_ends_by_callee() {
        let mut c = Call::new();
        c.send(0, A, B, &req("INVITE", 1, "i1", None, false));
        c.send(100, B, A, &resp(200, 1, "INVITE", "i1", Some("tt")));
        c.send(5000, B, A, &callee_bye(9));
        let d = c.finish(6000);
        assert_eq!(d.bye.map(|(_, by)| by), Some(EndedBy::Callee));
        assert_eq!(d.ended_by, EndedBy::Callee);
    }

    #[test]
    fn challenge_then_200_is_one_answered_call() {
        let mut c = Call::new();
        c.send(0, A, B, &req("INVITE", 1, "i1", None, false));
        c.send(20, B, A, &resp(401, 1, "INVITE", "i1", Some("x1")));
        c.send(30, A, B, &req("ACK", 1, "i1", Some("x1"), false));
        c.send(40, A, B, &req("INVITE", 2, "i2", None, false));
        c.send(500, B, A, &resp(183, 2, "INVITE", "i2", Some("tt")));
        c.send(900, B, A, &resp(200, 2, "INVITE", "i2", Some("tt")));
        let d = c.finish(1000);
        assert_eq!(d.outcome, Some(Outcome::Answered));
        assert_eq!(d.invite_transactions, 2);
        assert_eq!(d.challenges, 1);
        assert_eq!(d.first_invite.map(|f| f.number), Some(1));
        assert_eq!(d.first_response.map(|(s, _)| s), Some(183));
        assert_eq!(d.first_provisional.map(|f| f.number), Some(5));
    }

    #[test]
    fn final_status_outcomes() {
        let cases: [(u16, bool, Outcome); 9] = [
            (486, false, Outcome::Busy),
            (404, false, Outcome::NotFound),
            (480, true, Outcome::NoAnswer),
            (408, true, Outcome::NoAnswer),
            (408, false, Outcome::Failed),
            (603, false, Outcome::Rejected),
            (407, false, Outcome::Rejected),
            (302, false, Outcome::Failed),
            (484, false, Outcome::Failed),
        ];
        for (status, ring, want) in cases {
            let mut c = Call::new();
            c.send(0, A, B, &req("INVITE", 1, "i1", None, false));
            if ring {
                c.send(100, B, A, &resp(180, 1, "INVITE", "i1", Some("tt")));
            }
            c.send(9000, B, A, &resp(status, 1, "INVITE", "i1", Some("tt")));
            let d = c.finish(10_000);
            assert_eq!(d.outcome, Some(want), "{status} ring={ring}");
            assert_eq!(d.final_response.map(|(s, _)| s), Some(status));
        }
    }

    #[test]
    fn cancel_then_487_is_cancelled_by_caller() {
        let mut c = Call::new();
        c.send(0, A, B, &req("INVITE", 1, "i1", None, false));
        c.send(100, B, A, &resp(180, 1, "INVITE", "i1", Some("tt")));
        c.send(4000, A, B, &req("CANCEL", 1, "i1", None, false));
        c.send(4010, B, A, &resp(200, 1, "CANCEL", "i1", Some("tt")));
        c.send(4020, B, A, &resp(487, 1, "INVITE", "i1", Some("tt")));
        let d = c.finish(5000);
        assert_eq!(d.outcome, Some(Outcome::Cancelled));
        assert_eq!(d.cancel.map(|f| f.number), Some(3));
        assert_eq!(d.ended_by, EndedBy::Caller);
        assert_eq!(d.answered, None);
    }

    #[test]
    fn no_response_short_capture_is_incomplete_long_is_failed() {
        let mut c = Call::new();
        c.send(0, A, B, &req("INVITE", 1, "i1", None, false));
        assert_eq!(c.finish(31_999).outcome, Some(Outcome::Incomplete));
        let mut c = Call::new();
        c.send(0, A, B, &req("INVITE", 1, "i1", None, false));
        // Timer B runs from the first transmission (RFC 3261 §17.1.1.2), not from a
        // retransmission: copies up to 3.5 s, failed from 32 s.
        c.send(500, A, B, &req("INVITE", 1, "i1", None, false));
        c.send(1500, A, B, &req("INVITE", 1, "i1", None, false));
        c.send(3500, A, B, &req("INVITE", 1, "i1", None, false));
        let d = c.finish(32_000);
        assert_eq!(d.outcome, Some(Outcome::Failed));
        assert_eq!(d.last_invite_copy.map(|f| f.number), Some(4));
        assert_eq!(d.last_invite_first_copy.map(|f| f.number), Some(1));
        let mut c = Call::new();
        c.send(0, A, B, &req("INVITE", 1, "i1", None, false));
        c.send(3500, A, B, &req("INVITE", 1, "i1", None, false));
        assert_eq!(c.finish(31_900).outcome, Some(Outcome::Incomplete));
    }

    #[test]
    fn invite_retransmissions_counted_once_and_mirrors_apart() {
        let mut c = Call::new();
        c.send(0, A, B, &req("INVITE", 1, "i1", None, true));
        c.send(1, A, B, &req("INVITE", 1, "i1", None, true)); // mirror copy, 1 ms later
        c.send(500, A, B, &req("INVITE", 1, "i1", None, true));
        c.send(1500, A, B, &req("INVITE", 1, "i1", None, true));
        c.send(1600, B, A, &resp(180, 1, "INVITE", "i1", Some("tt")));
        c.send(2100, B, A, &resp(180, 1, "INVITE", "i1", Some("tt")));
        c.send(3000, B, A, &resp(200, 1, "INVITE", "i1", Some("tt")));
        let d = c.finish(4000);
        assert_eq!(d.retransmissions, 3);
        assert_eq!(d.mirror_duplicates, 1);
        assert_eq!(d.first_invite.map(|f| f.number), Some(1));
        assert_eq!(d.first_provisional.map(|f| f.number), Some(5));
        assert!(d.messages[1].mirror_duplicate && !d.messages[1].retransmission);
        assert!(d.messages[2].retransmission);
        assert_eq!(d.invite_transactions, 1);
        assert_eq!(sdp_messages(&d), 4);
    }

    #[test]
    fn sdp_of_copies_is_parsed_once() {
        let mut c = Call::new();
        c.send(0, A, B, &req("INVITE", 1, "i1", None, true));
        c.send(500, A, B, &req("INVITE", 1, "i1", None, true));
        assert_eq!(sdp_outcomes(&c), 1);
    }

    #[test]
    fn reinvite_is_not_a_new_attempt() {
        let mut c = Call::new();
        c.send(0, A, B, &req("INVITE", 1, "i1", None, false));
        c.send(100, B, A, &resp(200, 1, "INVITE", "i1", Some("tt")));
        c.send(110, A, B, &req("ACK", 1, "a1", Some("tt"), false));
        c.send(5000, A, B, &req("INVITE", 2, "r1", Some("tt"), true));
        c.send(5100, B, A, &resp(488, 2, "INVITE", "r1", Some("tt")));
        let d = c.finish(6000);
        assert_eq!(d.outcome, Some(Outcome::Answered));
        assert_eq!(d.reinvites, 1);
        assert_eq!(d.invite_transactions, 1);
        assert_eq!(d.final_response.map(|(s, _)| s), Some(200));
    }

    #[test]
    fn sdp_parse_failure_is_a_warning_with_frame() {
        let mut c = Call::new();
        c.send(0, A, B, &req("INVITE", 1, "i1", None, true));
        assert_eq!(sdp_outcomes(&c), 1);
        if c.sdp_callbacks == 0 {
            assert_eq!(c.warnings.kept()[0].frame, 1);
        }
    }

    #[test]
    fn register_challenge_then_ok_is_one_attempt() {
        let reg = |cseq: u32, branch: &str| {
            format!(
                "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{branch}\r\n\
From: <sip:alice@example.com>;tag=r\r\nTo: <sip:alice@example.com>\r\nCall-ID: reg-1\r\n\
CSeq: {cseq} REGISTER\r\nContact: <sip:alice@10.0.0.1:5060>\r\nUser-Agent: phone/1.0\r\nContent-Length: 0\r\n\r\n"
            )
        };
        let ok = |cseq: u32, branch: &str, status: u16| {
            format!(
                "SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{branch}\r\n\
From: <sip:alice@example.com>;tag=r\r\nTo: <sip:alice@example.com>;tag=s\r\nCall-ID: reg-1\r\n\
CSeq: {cseq} REGISTER\r\nContact: <sip:alice@10.0.0.1:5060>;expires=3600\r\nContent-Length: 0\r\n\r\n"
            )
        };
        let mut c = Call::new();
        c.send(0, A, B, &reg(1, "r1"));
        c.send(10, B, A, &ok(1, "r1", 401));
        c.send(20, A, B, &reg(2, "r2"));
        c.send(30, B, A, &ok(2, "r2", 200));
        let (dialogs, regs) = c.stage.finish(Timestamp(1_000_000_000_000 + 60_000_000_000));
        assert_eq!(dialogs.len(), 1);
        assert_eq!(dialogs[0].outcome, None);
        assert_eq!(regs.len(), 1);
        let r = &regs[0];
        assert_eq!(r.aor, "sip:alice@example.com");
        assert_eq!(r.attempts, 1);
        assert_eq!(r.failures, 0);
        assert_eq!(r.status, super::super::RegistrationStatus::Registered);
        assert_eq!(r.expires_s, Some(3600));
        assert_eq!(r.last_code, Some(200));
        assert_eq!(r.user_agent.as_deref(), Some("phone/1.0"));
        assert_eq!(r.contact.as_deref(), Some("sip:alice@10.0.0.1:5060"));
    }

    #[test]
    fn dialog_table_cap_closes_oldest_with_warning() {
        let mut t = DialogTable::new(DialogLimits { max_dialogs: 10, ..DialogLimits::default() });
        let mut w = Warnings::default();
        for i in 0..25u64 {
            let text = format!(
                "OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKo{i}\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:x@y>\r\nCall-ID: c{i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            );
            let (m, _) = super::super::scan::scan_datagram(text.as_bytes()).expect("scan");
            let wire = Wire {
                at: FrameRef { file: 0, number: i + 1, time: Timestamp(i as i64) },
                src: SocketAddr::from(A),
                dst: SocketAddr::from(B),
                vlan: None,
                interface: None,
            };
            t.on_message(&m, wire, &mut w, &mut |_| {});
        }
        assert!(t.counters.evicted > 0);
        assert!(w.counts().contains_key(&(0, WarningKind::StateEvicted)));
        let (d, _) = t.finish(Timestamp(100));
        // Closed dialogs are still reported, in order of first message.
        assert_eq!(d.len(), 25);
        assert_eq!(d[0].call_id, "c0");
        assert_eq!(d[24].call_id, "c24");
    }

    /// Runs raw SIP texts through a stage (frames 1, 2, …, 1 s apart) and returns the dialogs,
    /// the orphan count and the warnings.
    fn run_texts(texts: &[&[u8]]) -> (Vec<Dialog>, u64, Warnings) {
        let mut stage = SipStage::default();
        let mut warnings = Warnings::default();
        for (i, text) in texts.iter().enumerate() {
            let n = i as u64 + 1;
            let dg = Datagram {
                at: FrameRef { file: 0, number: n, time: Timestamp(n as i64 * 1_000_000_000) },
                src: SocketAddr::from(A),
                dst: SocketAddr::from(B),
                transport: Transport::Udp,
                vlan: None,
                interface: None,
                dscp: 0,
                icmp_error: None,
                payload: text,
            };
            stage.on_datagram(&dg, &mut warnings, &mut |_| {});
        }
        let orphans = stage.orphan_messages();
        let (dialogs, _) = stage.finish(Timestamp(100_000_000_000));
        (dialogs, orphans, warnings)
    }

    fn details_of_frame(w: &Warnings, frame: u64) -> Vec<String> {
        w.kept()
            .iter()
            .filter(|x| x.frame == frame && x.kind == WarningKind::MalformedSip)
            .map(|x| x.detail.clone())
            .collect()
    }

    #[test]
    fn bad_header_line_is_skipped_and_the_message_kept() {
        // Shaped like ndpi-fuzz-2006-06-26-2594.pcap frame 31: a flipped byte made one line a
        // header without colon; the Call-ID and CSeq around it still count.
        let text = b"SIP/2.0 100 Trying\r\nVia SIP/2.0/UDP 10.0.0.1\r\nCall-ID: skip-1\r\nCSeq: 7 INVITE\r\n\r\n";
        let (d, orphans, w) = run_texts(&[text]);
        assert_eq!((d.len(), orphans), (1, 0));
        assert_eq!(d[0].call_id, "skip-1");
        assert_eq!(d[0].messages.len(), 1);
        assert_eq!(d[0].messages[0].cseq, (7, Method::Invite));
        assert_eq!(
            details_of_frame(&w, 1),
            vec!["1 SIP header line(s) without `name:` skipped; the rest of the message is used".to_string()]
        );
    }

    #[test]
    fn garbled_or_missing_cseq_keeps_the_message_with_cseq_0() {
        let invite = b"INVITE sip:b@h SIP/2.0\r\nCall-ID: cs-1\r\nCSeq: x1 INVITE\r\n\r\n";
        // Frame 550 of the fuzzed capture: a control byte instead of the number.
        let challenge = b"SIP/2.0 407 Proxy Auth\r\nCall-ID: cs-1\r\nCSeq: \x11 INVITE\r\n\r\n";
        let bye = b"BYE sip:b@h SIP/2.0\r\nCall-ID: cs-1\r\n\r\n";
        let ok = b"SIP/2.0 200 OK\r\nCall-ID: cs-1\r\nCSeq: ???\r\n\r\n";
        let (d, orphans, w) = run_texts(&[invite, challenge, bye, ok]);
        assert_eq!((d.len(), orphans), (1, 0));
        let cseqs: Vec<(u32, Method)> = d[0].messages.iter().map(|m| m.cseq).collect();
        assert_eq!(cseqs, vec![(0, Method::Invite), (0, Method::Invite), (0, Method::Bye), (0, Method::Other)]);
        assert_eq!(d[0].first_invite.map(|f| f.number), Some(1));
        assert_eq!(
            details_of_frame(&w, 1),
            vec!["SIP message without a readable CSeq: kept with CSeq 0 INVITE (method as written in the CSeq)"]
        );
        assert_eq!(
            details_of_frame(&w, 3),
            vec!["SIP message without a readable CSeq: kept with CSeq 0 BYE (method of the request line)"]
        );
        assert_eq!(
            details_of_frame(&w, 4),
            vec!["SIP message without a readable CSeq: kept with CSeq 0 OTHER (method unknown)"]
        );
    }

    #[test]
    fn non_utf8_call_ids_stay_distinct_dialogs() {
        // Two Call-IDs that differ only in bytes that are not UTF-8 (from_utf8_lossy would
        // make both "a\u{FFFD}b" and merge them).
        let one = b"OPTIONS sip:x@y SIP/2.0\r\nCall-ID: a\xA3b\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let two = b"OPTIONS sip:x@y SIP/2.0\r\nCall-ID: a\xAAb\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let again = b"SIP/2.0 200 OK\r\nCall-ID: a\xA3b\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let (d, _, w) = run_texts(&[one, two, again]);
        let ids: Vec<&str> = d.iter().map(|x| x.call_id.as_str()).collect();
        assert_eq!(ids, vec!["a\\xA3b", "a\\xAAb"]);
        assert_eq!(d[0].messages.len(), 2);
        assert_eq!(
            details_of_frame(&w, 2),
            vec!["Call-ID is not UTF-8: kept as a\\xAAb (bytes that are not UTF-8 written as \\xNN)"]
        );
        assert_eq!(call_id_text(b"plain@host"), (std::borrow::Cow::Borrowed("plain@host"), false));
        assert_eq!(call_id_text("é@h".as_bytes()).0, "é@h");
    }

    #[test]
    fn messages_without_call_id_are_orphans() {
        let no_id = b"REGISTER sip:h SIP/2.0\r\nCSeq: 1 REGISTER\r\n\r\n";
        let empty_id = b"SIP/2.0 401 Unauthorized\r\nCall-ID: \r\nCSeq: 1 REGISTER\r\n\r\n";
        let (d, orphans, w) = run_texts(&[no_id, empty_id]);
        assert!(d.is_empty());
        assert_eq!(orphans, 2);
        for frame in 1..=2 {
            assert_eq!(
                details_of_frame(&w, frame),
                vec!["SIP message without Call-ID: counted, but not part of any dialog"]
            );
        }
    }
}
