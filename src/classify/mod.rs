//! Stage 3 — classify: what a UDP/TCP payload is, from cheap byte tests only.
//!
//! Input: a transport payload. Output: a [`PayloadKind`]. No state. Demultiplexing follows
//! RFC 7983 (first byte 0–3 STUN, 16–19 ZRTP, 20–63 DTLS, 64–79 TURN channel, 128–191 RTP/RTCP)
//! and RFC 5761 for RTP vs RTCP (second byte 192–223 is RTCP).

/// What a payload looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// Starts like a SIP request or response line.
    Sip,
    /// Version 2, not RTCP: candidate RTP.
    Rtp,
    /// Version 2 with an RTCP packet type (SR/RR/SDES/BYE/APP/RTPFB/PSFB/XR).
    Rtcp,
    /// STUN (RFC 5389), incl. ICE checks.
    Stun,
    /// DTLS record (DTLS-SRTP key exchange).
    Dtls,
    /// ZRTP.
    Zrtp,
    /// TURN ChannelData.
    TurnChannel,
    /// Anything else.
    Other,
}

/// Classifies a payload.
pub fn classify(payload: &[u8]) -> PayloadKind {
    let _ = payload;
    PayloadKind::Other
}
