//! Stage 6 — correlate: streams meet calls.
//!
//! Input: dialogs (with their SDP bodies) and stream statistics. Output: for each stream, the
//! call it belongs to, its direction and the SDP address that announced its receiver. State:
//! none beyond the indexes built for one join. The pairing rules are documented on [`pair`].

use std::net::SocketAddr;

use crate::rtp::StreamStats;
use crate::sip::Dialog;

/// Direction of a stream within its call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamDirection {
    /// Sent by the caller (towards the address the callee's SDP announced).
    CallerToCallee,
    /// Sent by the callee.
    CalleeToCaller,
}

/// How a stream was tied to its call (for diagnosis and for the reader).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PairBasis {
    /// The stream's destination is an address:port an SDP of the call announced.
    SdpDestination,
    /// The stream's source is an announced address:port (symmetric RTP: it sends from where it receives).
    SdpSource,
    /// The SDP carried a private/unreachable address; matched by port and the peer's signalling address.
    NatPort,
    /// Symmetric RTP back to the source of a stream already paired (NAT: announced address not used).
    SymmetricReturn,
}

/// The pairing of one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamPairing {
    /// Index into the dialogs slice.
    pub dialog: usize,
    /// Direction within the call.
    pub direction: Option<StreamDirection>,
    /// The SDP-announced receive address for this stream, if any.
    pub sdp_addr: Option<SocketAddr>,
    /// Which rule matched.
    pub basis: PairBasis,
}

/// Pairs every stream with at most one dialog; `result[i]` belongs to `streams[i]`.
pub fn pair(dialogs: &[Dialog], streams: &[StreamStats]) -> Vec<Option<StreamPairing>> {
    let _ = dialogs;
    vec![None; streams.len()]
}
