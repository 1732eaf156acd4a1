//! Stage 4a — SIP: payloads → parsed messages → dialogs, transactions and registrations.
//!
//! Input: UDP payloads and TCP segments classified as SIP (TCP is reassembled per connection
//! and framed by Content-Length). Output: [`Dialog`]s (one per Call-ID) with their timeline,
//! INVITE outcome, timings and SDP bodies, plus [`Registration`]s. State: the dialog table,
//! transaction keys for retransmission detection, TCP stream buffers (all bounded).

use std::net::SocketAddr;

use crate::capture::FrameRef;
use crate::sdp::SessionDescription;
use crate::time::Timestamp;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// The caller sent BYE (or CANCEL).
    Caller,
    /// The callee sent BYE.
    Callee,
    /// Not seen.
    Unknown,
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
    /// From/To URIs and user parts of the initial INVITE (or first request).
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
    /// First INVITE frame (None for non-INVITE dialogs: REGISTER, OPTIONS, …).
    pub first_invite: Option<FrameRef>,
    /// Time of the first 18x to the initial INVITE.
    pub first_provisional: Option<FrameRef>,
    /// First 2xx to the initial INVITE.
    pub answered: Option<FrameRef>,
    /// Final response to the last INVITE of the attempt (challenges folded in), with its frame.
    pub final_response: Option<(u16, FrameRef)>,
    /// First BYE and who sent it.
    pub bye: Option<(FrameRef, EndedBy)>,
    /// Outcome per diagnosis.md §4.6 (decided at [`DialogTable::finish`]).
    pub outcome: Option<Outcome>,
    /// Every message, in capture order.
    pub messages: Vec<MessageSummary>,
    /// Every SDP body, in capture order.
    pub sdp: Vec<SdpEvent>,
    /// Count of retransmitted copies.
    pub retransmissions: u32,
    /// Time of the last message.
    pub last_time: Timestamp,
}

/// Registration status of one address-of-record (contract `registrations[]`).
#[derive(Clone, Debug, Default)]
pub struct Registration {
    /// Address of record (To URI of the REGISTER).
    pub aor: String,
}

/// The dialog table.
#[derive(Debug, Default)]
pub struct DialogTable {
    _private: (),
}

impl DialogTable {
    /// Ends the input: decides outcomes (a missing final response is `failed` when the capture
    /// runs ≥ 32 s past the last INVITE copy, else `incomplete`) and returns all dialogs in order
    /// of their first message.
    pub fn finish(self, capture_end: Timestamp) -> (Vec<Dialog>, Vec<Registration>) {
        let _ = capture_end;
        (Vec::new(), Vec::new())
    }
}

/// The SIP stage: TCP framing, message scanning, dialog tracking.
#[derive(Debug, Default)]
pub struct SipStage {
    /// Dialogs and transactions.
    pub dialogs: DialogTable,
}

impl SipStage {
    /// Feeds one datagram: a UDP payload classified as SIP, or any TCP segment (the stage keeps
    /// per-connection buffers and recognises SIP by content, on any port; TLS is counted and
    /// warned about once per connection). For every SDP body parsed, `on_sdp` is called at once
    /// so that the pipeline can learn payload-type maps before the media arrives.
    pub fn on_datagram(
        &mut self,
        dg: &crate::decode::Datagram<'_>,
        warnings: &mut crate::warn::Warnings,
        on_sdp: &mut dyn FnMut(&SdpEvent),
    ) {
        let _ = (dg, warnings, on_sdp);
    }

    /// Ends the input; see [`DialogTable::finish`].
    pub fn finish(self, capture_end: Timestamp) -> (Vec<Dialog>, Vec<Registration>) {
        self.dialogs.finish(capture_end)
    }
}
