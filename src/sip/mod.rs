//! Stage 4a — SIP: payloads → parsed messages → dialogs, transactions and registrations.
//!
//! Input: UDP payloads and TCP segments classified as SIP (TCP is reassembled per connection
//! and framed by Content-Length). Output: [`Dialog`]s (one per Call-ID) with their timeline,
//! INVITE outcome, timings and SDP bodies, plus [`Registration`]s. State: the dialog table,
//! transaction keys for retransmission detection, TCP stream buffers (all bounded).

pub mod dialog;
pub mod facts;
pub mod register;
pub mod scan;
pub mod tcp;

#[cfg(test)]
mod capture_tests;

use std::net::SocketAddr;

use crate::capture::FrameRef;
use crate::decode::{Datagram, Transport};
use crate::warn::{WarningKind, Warnings};

use crate::sdp::SessionDescription;
use crate::time::Timestamp;
pub use dialog::{no_final_state, DialogCounters, DialogLimits, DialogTable, NoFinal, Wire};
pub use facts::{Correlation, NotifyFact, Refresher, ReplacesFact, SessionTimerFact, TransferFact};
pub use scan::{scan_datagram, scan_message, MalformedKind, ScanError, SipMessageRef};
pub use tcp::{TcpCounters, TcpLimits, TcpReassembler};

/// SIP method (open enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// OPTIONS
    Options,
    /// REGISTER
    Register,
    /// PRACK
    Prack,
    /// UPDATE
    Update,
    /// INFO
    Info,
    /// SUBSCRIBE
    Subscribe,
    /// NOTIFY
    Notify,
    /// MESSAGE
    Message,
    /// REFER
    Refer,
    /// PUBLISH
    Publish,
    /// Any other token.
    Other,
}

impl Method {
    /// Parses a method token (case-sensitive, as RFC 3261 says).
    pub fn from_token(t: &[u8]) -> Method {
        match t {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"OPTIONS" => Method::Options,
            b"REGISTER" => Method::Register,
            b"PRACK" => Method::Prack,
            b"UPDATE" => Method::Update,
            b"INFO" => Method::Info,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"MESSAGE" => Method::Message,
            b"REFER" => Method::Refer,
            b"PUBLISH" => Method::Publish,
            _ => Method::Other,
        }
    }

    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Message => "MESSAGE",
            Method::Refer => "REFER",
            Method::Publish => "PUBLISH",
            Method::Other => "OTHER",
        }
    }
}

/// Call outcome, mapped from the final response as diagnosis.md §4.6 says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx.
    Answered,
    /// 486, 600.
    Busy,
    /// 401/407 final, 403, 488, 606, 603.
    Rejected,
    /// 404, 410, 604.
    NotFound,
    /// 487 after CANCEL.
    Cancelled,
    /// 408/480 after ringing.
    NoAnswer,
    /// Any other failure, or no final response in a capture that ran long enough.
    Failed,
    /// No final response, capture ended first.
    Incomplete,
}

/// Who ended an answered call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// The caller sent BYE (or CANCEL).
    Caller,
    /// The callee sent BYE.
    Callee,
    /// Not seen.
    #[default]
    Unknown,
}

/// A Reason header (RFC 3326) of a final response, BYE or CANCEL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReasonInfo {
    /// `SIP;cause=` value.
    pub sip_cause: Option<u16>,
    /// `Q.850;cause=` value (ITU-T Q.850 release cause, e.g. 16 normal clearing, 34 no circuit).
    pub q850_cause: Option<u16>,
    /// `text=` of the Q.850 value, else of the SIP value.
    pub text: Option<String>,
}

/// One SIP message of a dialog, as a line of its timeline.
#[derive(Clone, Debug)]
pub struct MessageSummary {
    /// Frame that carried (or completed) the message.
    pub at: FrameRef,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Request method, or `None` for a response.
    pub method: Option<Method>,
    /// Status code for a response.
    pub status: Option<u16>,
    /// CSeq number and method.
    pub cseq: (u32, Method),
    /// True when this copy repeats an earlier one (same transaction key, quality-metrics.md §6).
    pub retransmission: bool,
    /// True when the message carried an SDP body.
    pub has_sdp: bool,
    /// True when this copy came less than 200 ms after the previous copy of the same message:
    /// the same packet captured twice (mirror/SPAN duplicate), not a retransmission. Such copies
    /// have `retransmission == false` and are not counted in [`Dialog::retransmissions`].
    pub mirror_duplicate: bool,
}

/// An SDP body seen in a dialog, with who sent it.
#[derive(Clone, Debug)]
pub struct SdpEvent {
    /// Frame of the message carrying it.
    pub at: FrameRef,
    /// Network source of that message.
    pub sender: SocketAddr,
    /// True when sent by the caller's side (the initial INVITE's From side).
    pub from_caller: bool,
    /// Request method or response code that carried it (e.g. "INVITE", "200").
    pub carried_by: String,
    /// The parsed body.
    pub session: SessionDescription,
}

/// A SIP dialog (everything sharing one Call-ID), with call-level facts when it has an INVITE.
#[derive(Clone, Debug, Default)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// From/To URIs and user parts of the initial INVITE (or first request, or first response
    /// when no request was captured).
    pub from_uri: Option<String>,
    /// To URI.
    pub to_uri: Option<String>,
    /// From user part.
    pub from_user: Option<String>,
    /// To user part.
    pub to_user: Option<String>,
    /// Source of the first INVITE copy on the wire.
    pub caller: Option<SocketAddr>,
    /// Destination of the first INVITE copy.
    pub callee: Option<SocketAddr>,
    /// Outermost VLAN id of the first INVITE copy's frame (the site map matches it).
    pub invite_vlan: Option<u16>,
    /// Capture interface of the first INVITE copy's frame (index into the file's
    /// `InputSummary::interfaces`).
    pub invite_interface: Option<u16>,
    /// First INVITE frame (None for non-INVITE dialogs: REGISTER, OPTIONS, …).
    pub first_invite: Option<FrameRef>,
    /// First copy of the first 18x (180–189) to any INVITE of the attempt (`setup_ms` end).
    pub first_provisional: Option<FrameRef>,
    /// First copy of the first 2xx to an INVITE of the attempt (`answer_ms` end).
    pub answered: Option<FrameRef>,
    /// Final response to the last INVITE of the attempt (challenges and 3xx followed by a new
    /// INVITE are folded in: a new INVITE resets it), first copy. Once a 2xx arrived it stays
    /// the 2xx. `None` when the last INVITE got no final response.
    pub final_response: Option<(u16, FrameRef)>,
    /// First BYE (first copy) and who sent it: `Caller` when its From tag equals the initial
    /// INVITE's From tag, else `Callee` (`Unknown` without an initial INVITE).
    pub bye: Option<(FrameRef, EndedBy)>,
    /// Outcome per diagnosis.md §4.6 (decided at [`DialogTable::finish`]); `None` for dialogs
    /// without an initial INVITE (REGISTER, OPTIONS, SUBSCRIBE…: not calls).
    pub outcome: Option<Outcome>,
    /// Messages in capture order (at most `DialogLimits::max_messages_per_dialog`).
    pub messages: Vec<MessageSummary>,
    /// SDP bodies that parsed, in capture order (first copies only; bounded).
    pub sdp: Vec<SdpEvent>,
    /// Count of retransmitted copies (mirror duplicates excluded).
    pub retransmissions: u32,
    /// Time of the last message.
    pub last_time: Timestamp,
    /// Frame of the first message of this Call-ID (request or response).
    pub first_message: Option<FrameRef>,
    /// From tag of the initial INVITE (identifies the caller side).
    pub from_tag: Option<String>,
    /// Display name of the From header (initial INVITE).
    pub from_display: Option<String>,
    /// Who ended the call (decided at finish): the BYE sender; `Caller` for a CANCEL of an
    /// unanswered call; else `Unknown`.
    pub ended_by: EndedBy,
    /// First CANCEL (first copy).
    pub cancel: Option<FrameRef>,
    /// Reason header of the CANCEL.
    pub cancel_reason: Option<ReasonInfo>,
    /// Reason header of the final response (`final_response`).
    pub final_reason: Option<ReasonInfo>,
    /// Reason header of the first BYE.
    pub bye_reason: Option<ReasonInfo>,
    /// Final response to the first BYE (first copy): `sdd_ms` = this − `bye`.
    pub bye_response: Option<(u16, FrameRef)>,
    /// First ACK for the answered INVITE (same CSeq number as the answered INVITE).
    pub ack: Option<FrameRef>,
    /// Last copy (retransmissions included) of any INVITE of the attempt: Timer B runs from it.
    pub last_invite_copy: Option<FrameRef>,
    /// First copy of the last INVITE transaction of the attempt: Timer B runs from its first
    /// transmission (RFC 3261 §17.1.1.2; UDP copies at 0, 0.5, … 31.5 s).
    pub last_invite_first_copy: Option<FrameRef>,
    /// Last provisional response (100–199, first copies) to an INVITE of the attempt: with one,
    /// the attempt waits on Timer C, not Timer B (see `dialog::no_final_state`).
    pub last_provisional: Option<FrameRef>,
    /// First response other than 100 to an INVITE of the attempt, challenges (401/407)
    /// excluded: `srd_ms` end (RFC 6076).
    pub first_response: Option<(u16, FrameRef)>,
    /// INVITE transactions of the attempt (1 + retries after a challenge or 3xx).
    pub invite_transactions: u32,
    /// 401/407 responses to INVITEs of the attempt (first copies).
    pub challenges: u32,
    /// In-dialog INVITEs (To tag present): re-INVITEs, not attempts.
    pub reinvites: u32,
    /// Copies that were mirror duplicates (see [`MessageSummary::mirror_duplicate`]).
    pub mirror_duplicates: u32,
    /// Messages not kept in `messages` because of the cap.
    pub messages_dropped: u32,
    /// User-Agent of the initial INVITE.
    pub user_agent: Option<String>,
    /// Server (else User-Agent) of the first response to the initial INVITE.
    pub callee_agent: Option<String>,
    /// Transport token of the initial INVITE's top Via (UDP, TCP, TLS, …).
    pub via_transport: Option<String>,
    /// `received` parameter of the top Via in the first response to the INVITE that had one
    /// (the caller's address as the server saw it: NAT evidence).
    pub via_received: Option<String>,
    /// P-Asserted-Identity user (else URI) of the initial INVITE.
    pub p_asserted_identity: Option<String>,
    /// The initial INVITE carried Diversion or History-Info (a forwarded call).
    pub diverted: bool,
    /// 2xx responses to INVITE/UPDATE that carried Session-Expires (RFC 4028), in order
    /// (at most `facts::MAX_SESSION_TIMERS`).
    pub session_timers: Vec<SessionTimerFact>,
    /// REFERs of this dialog with their answer and NOTIFYs (RFC 3515), in order (at most
    /// `facts::MAX_TRANSFERS`). See [`Dialog::transfer_point`].
    pub transfers: Vec<TransferFact>,
    /// The initial INVITE carried `Replaces` (RFC 3891): the dialog it replaces.
    pub replaces: Option<ReplacesFact>,
    /// Referred-By URI of the initial INVITE (RFC 3892): this call was started by a transfer.
    pub referred_by: Option<String>,
    /// Explicit leg identifiers of the initial INVITE (Session-ID, P-Charging-Vector icid,
    /// correlation headers; diagnosis.md §5 rule 2).
    pub correlation: Correlation,
    /// The initial INVITE conveyed a location (Geolocation header, RFC 6442, or PIDF-LO body,
    /// RFC 4119): for `emergency_routing`/`no_location`.
    pub location: bool,
}

impl Dialog {
    /// Where a transfer happened in this dialog: the frame (and so the time) of the first REFER
    /// that was accepted with a 2xx (RFC 3515 §2.4.2), paired with that 2xx's frame. `None`
    /// when no REFER was accepted. For the media rules (`media_stops_after_transfer`): media
    /// after `.1.time` belongs to the transferred call.
    pub fn transfer_point(&self) -> Option<(FrameRef, FrameRef)> {
        self.transfers.iter().find_map(|t| t.accepted().map(|ok| (t.refer, ok)))
    }
}

/// Registration state of an AOR (contract `registrations[].status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStatus {
    /// Last final response 2xx with a non-zero expiry, still valid at the capture's end.
    Registered,
    /// Last attempt ended in a final ≥ 300 (not a challenge) or Timer F ran out.
    Failed,
    /// A granted binding lapsed unrefreshed while the capture continued.
    Expired,
    /// 2xx granting expiry 0 (de-registration).
    Unregistered,
    /// Last final response was 401/407.
    Challenged,
    /// No final response yet and the capture ended within Timer F (not in contract v1's list:
    /// the lead may map it).
    #[default]
    Pending,
}

/// Registration status of one address-of-record (contract `registrations[]`).
#[derive(Clone, Debug, Default)]
pub struct Registration {
    /// Address of record (To URI of the REGISTER).
    pub aor: String,
    /// Contact URI of the last REGISTER.
    pub contact: Option<String>,
    /// Source address of the last REGISTER.
    pub source: Option<SocketAddr>,
    /// User-Agent of the last REGISTER that had one.
    pub user_agent: Option<String>,
    /// First REGISTER seen.
    pub first_time: Timestamp,
    /// Last REGISTER or response seen.
    pub last_time: Timestamp,
    /// Expiry granted by the last 2xx (Contact `expires`, else Expires).
    pub expires_s: Option<u32>,
    /// Status at the capture's end.
    pub status: RegistrationStatus,
    /// Last final status code.
    pub last_code: Option<u16>,
    /// Attempts (a REGISTER plus its challenge retry is one attempt; refreshes are new ones).
    pub attempts: u32,
    /// Attempts that failed (final ≥ 300 not resolved by a challenge retry, or Timer F).
    pub failures: u32,
    /// Evidence frames: REGISTER first copies and final responses (first 32).
    pub frames: Vec<FrameRef>,
    /// Every attempt in time order (at most `register::MAX_ATTEMPTS_PER_AOR`), for the
    /// registration findings of diagnosis.md §4.5.
    pub history: Vec<register::RegisterAttempt>,
}

/// Limits of the SIP stage.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipLimits {
    /// Dialog table limits.
    pub dialogs: DialogLimits,
    /// TCP reassembly limits.
    pub tcp: TcpLimits,
    /// Size caps of one message (header count, header bytes, body bytes).
    pub scan: scan::ScanLimits,
}

/// The SIP stage: TCP framing, message scanning, dialog tracking.
#[derive(Debug, Default)]
pub struct SipStage {
    /// Dialogs and transactions.
    pub dialogs: DialogTable,
    /// TCP reassembly.
    pub tcp: TcpReassembler,
    /// UDP payloads that were not SIP messages (warned).
    pub malformed: u64,
    /// UDP messages rejected or cut by a `[limits.sip.scan]` size cap (warned; TCP ones are in
    /// `tcp.counters.oversized_messages`).
    pub oversized: u64,
    scan_limits: scan::ScanLimits,
    flushed: bool,
}

impl SipStage {
    /// A stage with the given limits.
    pub fn new(limits: SipLimits) -> Self {
        SipStage {
            dialogs: DialogTable::new(limits.dialogs),
            tcp: TcpReassembler::with_scan_limits(limits.tcp, limits.scan),
            malformed: 0,
            oversized: 0,
            scan_limits: limits.scan,
            flushed: false,
        }
    }

    /// Feeds one datagram: a UDP payload classified as SIP, or any TCP segment (the stage keeps
    /// per-connection buffers and recognises SIP by content, on any port; TLS is counted and
    /// warned about once per connection). For every SDP body parsed, `on_sdp` is called at once
    /// so that the pipeline can learn payload-type maps before the media arrives.
    pub fn on_datagram(&mut self, dg: &Datagram<'_>, warnings: &mut Warnings, on_sdp: &mut dyn FnMut(&SdpEvent)) {
        // A SIP message quoted inside an ICMP error was not delivered: not part of a dialog.
        if dg.icmp_error.is_some() {
            return;
        }
        let wire = Wire { at: dg.at, src: dg.src, dst: dg.dst, vlan: dg.vlan, interface: dg.interface };
        match dg.transport {
            Transport::Tcp { .. } => {
                let dialogs = &mut self.dialogs;
                self.tcp.on_segment(dg, warnings, &mut |msg, wire, warnings| {
                    dialogs.on_message(msg, wire, warnings, on_sdp);
                });
            }
            Transport::Udp => self.on_udp(dg.payload, wire, warnings, on_sdp),
        }
    }

    fn on_udp(&mut self, payload: &[u8], wire: Wire, warnings: &mut Warnings, on_sdp: &mut dyn FnMut(&SdpEvent)) {
        let at = wire.at;
        // Keep-alives ("\r\n\r\n", RFC 5626 §4.4.1) carry no message.
        if payload.iter().all(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return;
        }
        match scan::scan_datagram_limited(payload, &self.scan_limits) {
            Ok((msg, flaws)) => {
                if flaws.body_cut {
                    self.oversized += 1;
                    let max = self.scan_limits.max_body_bytes;
                    warnings.push(at.file, at.number, WarningKind::MalformedSip, || {
                        format!("SIP over UDP: body cut to {max} bytes (over limits.sip.scan.max_body_bytes)")
                    });
                }
                if flaws.content_length_too_large {
                    warnings.push(at.file, at.number, WarningKind::MalformedSip, || {
                        format!(
                            "Content-Length larger than the datagram ({} body bytes present): body truncated",
                            msg.body.len()
                        )
                    });
                }
                if flaws.content_length_invalid {
                    warnings.push(at.file, at.number, WarningKind::MalformedSip, || {
                        "Content-Length is not a number: body taken as the rest of the datagram".to_string()
                    });
                }
                if flaws.headers_unterminated {
                    warnings.push(at.file, at.number, WarningKind::MalformedSip, || {
                        "SIP header section not ended by an empty line (truncated datagram?)".to_string()
                    });
                }
                self.dialogs.on_message(&msg, wire, warnings, on_sdp);
            }
            Err(e) => {
                self.malformed += 1;
                if matches!(e, ScanError::Malformed(k) if k.limit_key().is_some()) {
                    self.oversized += 1;
                }
                let scan_limits = self.scan_limits;
                warnings.push(at.file, at.number, WarningKind::MalformedSip, || match e {
                    ScanError::Malformed(k) => format!("SIP over UDP: {}", k.describe_with(&scan_limits)),
                    ScanError::Incomplete => "SIP over UDP: truncated message".to_string(),
                });
            }
        }
    }

    /// SIP messages that had no Call-ID (or an empty one): counted as SIP messages (tshark
    /// counts them too) but part of no dialog. Each one was warned about with its frame.
    pub fn orphan_messages(&self) -> u64 {
        self.dialogs.counters.orphans
    }

    /// Ends TCP reassembly: streams still holding out-of-order data have their holes skipped
    /// (warned) and the messages after them processed. Call before [`SipStage::finish`] to get
    /// those warnings; `finish` calls it with a throw-away collector otherwise.
    pub fn flush(&mut self, warnings: &mut Warnings, on_sdp: &mut dyn FnMut(&SdpEvent)) {
        if self.flushed {
            return;
        }
        self.flushed = true;
        let dialogs = &mut self.dialogs;
        // A message completed at the end is dated by its stream's last segment.
        self.tcp.finish(warnings, &mut |msg, wire, warnings| {
            dialogs.on_message(msg, wire, warnings, on_sdp);
        });
    }

    /// Ends the input; see [`DialogTable::finish`].
    pub fn finish(mut self, capture_end: Timestamp) -> (Vec<Dialog>, Vec<Registration>) {
        let mut ignored = Warnings::default();
        self.flush(&mut ignored, &mut |_| {});
        self.dialogs.finish(capture_end)
    }
}
