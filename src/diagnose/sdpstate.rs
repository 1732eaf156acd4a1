//! The offer/answer state the media rules read (RFC 3264): which SDP of each side is in force,
//! whether a direction is expected to flow, and the addresses each side announced.

use std::net::SocketAddr;

use crate::correlate::StreamDirection;
use crate::rtp::payload::static_codec;
use crate::sdp::{Direction, MediaDescription, MediaKind};
use crate::sip::{Dialog, MessageSummary, Method, SdpEvent};
use crate::time::Timestamp;

/// The first audio section of an SDP.
pub fn audio_of(ev: &SdpEvent) -> Option<&MediaDescription> {
    ev.session.media.iter().find(|m| m.kind == MediaKind::Audio)
}

/// The latest SDP with an audio section from one side, at or before `at`.
pub fn latest_audio(d: &Dialog, from_caller: bool, at: Timestamp) -> Option<(&SdpEvent, &MediaDescription)> {
    d.sdp
        .iter()
        .filter(|e| e.from_caller == from_caller && e.at.time <= at)
        .filter_map(|e| audio_of(e).map(|m| (e, m)))
        .next_back()
}

/// The first SDP with an audio section from one side.
pub fn first_audio(d: &Dialog, from_caller: bool) -> Option<(&SdpEvent, &MediaDescription)> {
    d.sdp.iter().filter(|e| e.from_caller == from_caller).find_map(|e| audio_of(e).map(|m| (e, m)))
}

/// "Expected to flow" of diagnosis.md §4.3: the sender's SDP says sendrecv or sendonly, the
/// receiver's sendrecv or recvonly, the receiver's port ≠ 0 and c ≠ 0.0.0.0.
pub fn flow_expected(sender: &MediaDescription, receiver: &MediaDescription) -> bool {
    matches!(sender.direction, Direction::SendRecv | Direction::SendOnly)
        && matches!(receiver.direction, Direction::SendRecv | Direction::RecvOnly)
        && receiver.port != 0
        && sender.port != 0
        && !receiver.is_unspecified_addr()
}

/// True when the SDP author is the sender of `dir`.
pub fn sender_is_caller(dir: StreamDirection) -> bool {
    dir == StreamDirection::CallerToCallee
}

/// Every audio receive address a side announced in the call.
pub fn announced(d: &Dialog, from_caller: bool) -> Vec<SocketAddr> {
    let mut v: Vec<SocketAddr> = d
        .sdp
        .iter()
        .filter(|e| e.from_caller == from_caller)
        .flat_map(|e| e.session.media.iter())
        .filter(|m| m.kind == MediaKind::Audio)
        .filter_map(MediaDescription::rtp_addr)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Every receive address (any media kind) a side announced, with its kind.
pub fn announced_kinds(d: &Dialog) -> Vec<(SocketAddr, MediaKind)> {
    d.sdp.iter().flat_map(|e| e.session.media.iter()).filter_map(|m| m.rtp_addr().map(|a| (a, m.kind))).collect()
}

/// The message carried by `frame` (first match).
pub fn message_at(d: &Dialog, frame: u64) -> Option<&MessageSummary> {
    d.messages.iter().find(|m| m.at.number == frame)
}

/// Codec name of a payload type in a section (rtpmap, else the static table).
pub fn codec_name(m: &MediaDescription, pt: u8) -> Option<String> {
    m.rtpmap(pt).map(|r| r.name.clone()).or_else(|| static_codec(pt).map(|(n, _)| n.to_owned()))
}

/// Names of the codecs a section lists (upper case).
pub fn codec_names(m: &MediaDescription) -> Vec<String> {
    m.formats.iter().filter_map(|&pt| codec_name(m, pt)).map(|n| n.to_ascii_uppercase()).collect()
}

/// CSeq number of the initial INVITE.
pub fn initial_cseq(d: &Dialog) -> Option<u32> {
    let first = d.first_invite?;
    message_at(d, first.number).map(|m| m.cseq.0)
}

/// True when `m` is an in-dialog INVITE (a re-INVITE) of the answered call.
pub fn is_reinvite(d: &Dialog, m: &MessageSummary) -> bool {
    m.method == Some(Method::Invite) && d.answered.is_some_and(|a| m.at.time > a.time)
}

/// True when an SDP took effect: an SDP in a response or an ACK always does; one in a request
/// (INVITE, UPDATE, PRACK) does unless its transaction ended with a final response ≥ 300 (a
/// refused re-offer leaves the previous offer/answer in force, RFC 3264 §8, e.g. a T.38 offer
/// answered 488).
pub fn took_effect(d: &Dialog, ev: &SdpEvent) -> bool {
    if ev.carried_by.bytes().all(|b| b.is_ascii_digit()) || ev.carried_by.eq_ignore_ascii_case("ACK") {
        return true;
    }
    let Some(req) = message_at(d, ev.at.number) else { return true };
    !d.messages.iter().any(|m| m.cseq == req.cseq && m.status.is_some_and(|s| s >= 300) && m.at.time >= req.at.time)
}

/// The latest SDP of one side that took effect at or before `at` (any media kind): what that
/// side asked to receive at that instant.
pub fn in_force(d: &Dialog, from_caller: bool, at: Timestamp) -> Option<&SdpEvent> {
    d.sdp.iter().rfind(|e| e.from_caller == from_caller && e.at.time <= at && took_effect(d, e))
}

/// The 2xx answering the request carried by `frame`, and the ACK of that transaction (INVITE);
/// `None` when the request was not answered 2xx.
pub fn completed(d: &Dialog, frame: u64) -> Option<(&MessageSummary, Option<&MessageSummary>)> {
    let req = message_at(d, frame)?;
    let ok = d.messages.iter().find(|m| {
        m.cseq == req.cseq && m.status.is_some_and(|s| (200..300).contains(&s)) && m.at.time >= req.at.time
    })?;
    let ack = (req.method == Some(Method::Invite))
        .then(|| {
            d.messages
                .iter()
                .find(|m| m.method == Some(Method::Ack) && m.cseq.0 == req.cseq.0 && m.at.time >= ok.at.time)
        })
        .flatten();
    Some((ok, ack))
}
