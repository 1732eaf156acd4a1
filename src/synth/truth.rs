//! Ground truth of a synthetic capture: what the analyzer's records must say, computed from
//! what the generator emitted (never from an analyzer).
//!
//! Field names and enum strings follow output-contract.md (Call, Stream). Only fields that are
//! true by construction appear; anything the generator cannot settle (jitter, MOS) is absent.

use serde::{Deserialize, Serialize};

/// SIP outcome of a call (output-contract.md `outcome`, quality-metrics.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx to the INVITE.
    Answered,
    /// 486 or 600.
    Busy,
    /// 603, 403, 401/407 as final, 488/606.
    Rejected,
    /// 404, 410, 604.
    NotFound,
    /// 487 after CANCEL.
    Cancelled,
    /// 408/480 after a ringing phase.
    NoAnswer,
    /// Every other final, or no final while the capture lasted ≥ 32 s past the last INVITE copy.
    Failed,
    /// No final response and the capture ended first.
    Incomplete,
}

/// Which party ended the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The party that sent the initial INVITE.
    Caller,
    /// The party it was sent to.
    Callee,
}

/// Media direction relative to the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Caller → callee.
    CallerToCallee,
    /// Callee → caller.
    CalleeToCaller,
}

/// Outcome for a final status to the (last) INVITE of an attempt, per diagnosis.md §4.6 and
/// quality-metrics.md §6. `after_ringing`: an 18x preceded it (408/480 become `no_answer`).
pub fn outcome_for_status(status: u16, after_ringing: bool) -> Outcome {
    match status {
        200..=299 => Outcome::Answered,
        486 | 600 => Outcome::Busy,
        404 | 410 | 604 => Outcome::NotFound,
        487 => Outcome::Cancelled,
        408 | 480 if after_ringing => Outcome::NoAnswer,
        401 | 403 | 407 | 488 | 603 | 606 => Outcome::Rejected,
        _ => Outcome::Failed,
    }
}

/// Truth for one call (one Call-ID).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallTruth {
    /// SIP Call-ID.
    pub call_id: String,
    /// `ip:port` of the initial INVITE's source as seen on the wire.
    pub caller: String,
    /// `ip:port` of its destination.
    pub callee: String,
    /// Time of the first INVITE, RFC 3339 UTC with microseconds.
    pub start: String,
    /// Outcome string of the contract.
    pub outcome: Outcome,
    /// Final response code to the (last) INVITE of the attempt; null if none was sent.
    pub final_status: Option<u16>,
    /// First INVITE → first 18x, ms.
    pub setup_ms: Option<f64>,
    /// First INVITE → 2xx, ms.
    pub answer_ms: Option<f64>,
    /// 2xx → BYE, seconds.
    pub duration_s: Option<f64>,
    /// BYE sender for answered calls, the caller for cancelled calls, null otherwise (the
    /// contract does not settle who "ended" a rejected or unanswered attempt).
    pub ended_by: Option<Party>,
    /// Number of INVITE requests sent with the initial CSeq or its challenge retry (copies
    /// included), a cross-check for retransmission detection.
    pub invite_copies: u32,
}

/// Truth for one RTP stream (src, dst, SSRC).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamTruth {
    /// Owning Call-ID (every synthetic stream belongs to a call's SDP).
    pub call_id: Option<String>,
    /// Media direction.
    pub direction: Option<Direction>,
    /// Source `ip:port` on the wire (IPv6 as `[addr]:port`).
    pub src: String,
    /// Destination `ip:port`.
    pub dst: String,
    /// `"0x%08X"`.
    pub ssrc: String,
    /// Payload type of every packet.
    pub payload_type: u8,
    /// DSCP of every packet.
    pub dscp: u8,
    /// First packet's arrival, RFC 3339.
    pub first_time: String,
    /// Last packet's arrival, RFC 3339.
    pub last_time: String,
    /// RTP packets on the wire, duplicates included.
    pub packets: u64,
    /// Highest seq − base seq + 1 (the first and last packet are never dropped, so this is
    /// the number of sequence numbers the sender used).
    pub expected: u64,
    /// expected − received, duplicates counted as received (RFC 3550 A.3; negative possible).
    pub lost: i64,
    /// Extra copies of a sequence number.
    pub duplicates: u64,
    /// Packets arriving after a higher sequence number (one per swapped pair).
    pub out_of_order: u64,
    /// Source restarts (quality-metrics.md §1.3); always 0 here: an SSRC change makes a new stream.
    pub seq_restarts: u64,
}

/// Ground truth for one synthetic capture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// Scenario name.
    pub scenario: String,
    /// LINKTYPE_ number of the file.
    pub link_type: u32,
    /// Records written to the pcap.
    pub frames: u64,
    /// Calls, in start order.
    pub calls: Vec<CallTruth>,
    /// Streams, grouped by call, caller → callee first, in the order they started.
    pub streams: Vec<StreamTruth>,
}

impl Truth {
    /// Checks the internal arithmetic (expected − received = lost, and so on); returns the
    /// first inconsistency found.
    pub fn check_consistency(&self) -> Result<(), String> {
        for s in &self.streams {
            let received = i64::try_from(s.packets).map_err(|e| e.to_string())?;
            let expected = i64::try_from(s.expected).map_err(|e| e.to_string())?;
            if expected - received != s.lost {
                return Err(format!("{}->{} {}: lost mismatch", s.src, s.dst, s.ssrc));
            }
            if s.duplicates > s.packets || s.out_of_order > s.packets {
                return Err(format!("{}->{}: counts exceed packets", s.src, s.dst));
            }
            if s.first_time > s.last_time {
                return Err(format!("{}->{}: first after last", s.src, s.dst));
            }
        }
        for c in &self.calls {
            let answered = c.outcome == Outcome::Answered;
            if answered != c.answer_ms.is_some() || answered != c.duration_s.is_some() {
                return Err(format!("{}: answer fields disagree with outcome", c.call_id));
            }
            if let (Some(s), Some(a)) = (c.setup_ms, c.answer_ms) {
                if s > a {
                    return Err(format!("{}: setup after answer", c.call_id));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_table_matches_section_4_6() {
        assert_eq!(outcome_for_status(200, false), Outcome::Answered);
        assert_eq!(outcome_for_status(486, false), Outcome::Busy);
        assert_eq!(outcome_for_status(600, true), Outcome::Busy);
        assert_eq!(outcome_for_status(404, false), Outcome::NotFound);
        assert_eq!(outcome_for_status(604, false), Outcome::NotFound);
        assert_eq!(outcome_for_status(487, true), Outcome::Cancelled);
        assert_eq!(outcome_for_status(408, true), Outcome::NoAnswer);
        assert_eq!(outcome_for_status(408, false), Outcome::Failed);
        assert_eq!(outcome_for_status(480, true), Outcome::NoAnswer);
        assert_eq!(outcome_for_status(603, false), Outcome::Rejected);
        assert_eq!(outcome_for_status(403, false), Outcome::Rejected);
        assert_eq!(outcome_for_status(503, false), Outcome::Failed);
        assert_eq!(outcome_for_status(484, false), Outcome::Failed);
    }

    #[test]
    fn serde_names_are_snake_case() {
        assert_eq!(serde_json::to_string(&Outcome::NotFound).unwrap(), "\"not_found\"");
        assert_eq!(serde_json::to_string(&Direction::CalleeToCaller).unwrap(), "\"callee_to_caller\"");
    }
}
