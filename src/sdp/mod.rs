//! Stage 4b — SDP: message bodies → [`SessionDescription`]s, and the payload-type map the RTP
//! stage needs to know a dynamic payload type's clock.
//!
//! Input: SDP bodies (bytes). Output: owned descriptions holding only what correlation and
//! metrics need. State: none ([`PayloadMap`] is owned by the pipeline).

use std::net::{IpAddr, SocketAddr};

/// Media direction attribute (RFC 3264 §5.1 / RFC 4566 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// a=sendrecv (the default).
    #[default]
    SendRecv,
    /// a=sendonly
    SendOnly,
    /// a=recvonly
    RecvOnly,
    /// a=inactive
    Inactive,
}

/// Media type of an `m=` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// audio
    Audio,
    /// video
    Video,
    /// image (T.38 fax)
    Image,
    /// application, text, message, …
    Other,
}

/// One `a=rtpmap` entry (or a static payload type's defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type number.
    pub pt: u8,
    /// Encoding name as written (e.g. "PCMU", "telephone-event", "opus").
    pub name: String,
    /// Clock rate in Hz.
    pub clock_hz: u32,
    /// Channels, when given.
    pub channels: Option<u8>,
}

/// One `m=` section.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaDescription {
    /// Media type.
    pub kind: MediaKind,
    /// Port of the `m=` line (0 = rejected / disabled).
    pub port: u16,
    /// Transport protocol token (RTP/AVP, RTP/SAVP, udptl, …).
    pub proto: String,
    /// Formats listed on the `m=` line (payload types for RTP).
    pub formats: Vec<u8>,
    /// Connection address (media-level `c=`, else session-level).
    pub addr: Option<IpAddr>,
    /// rtpmap entries.
    pub rtpmaps: Vec<RtpMap>,
    /// fmtp lines as (pt, parameters).
    pub fmtp: Vec<(u8, String)>,
    /// Direction (media-level, else session-level, else sendrecv).
    pub direction: Direction,
    /// `a=rtcp:` port (RFC 3605), when given.
    pub rtcp_port: Option<u16>,
    /// `a=rtcp-mux` present.
    pub rtcp_mux: bool,
    /// `a=ptime` in ms.
    pub ptime_ms: Option<u32>,
}

impl MediaDescription {
    /// Where this media wants to receive RTP, when both address and a non-zero port are known.
    pub fn rtp_addr(&self) -> Option<SocketAddr> {
        match (self.addr, self.port) {
            (Some(ip), p) if p != 0 => Some(SocketAddr::new(ip, p)),
            _ => None,
        }
    }
}

/// A parsed SDP body.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SessionDescription {
    /// `o=` origin address, when present.
    pub origin_addr: Option<IpAddr>,
    /// Session-level connection address.
    pub session_addr: Option<IpAddr>,
    /// Media sections in order.
    pub media: Vec<MediaDescription>,
}

/// Why a body did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// No `v=0` first line.
    #[error("SDP body does not start with v=0")]
    NoVersion,
    /// An `m=` line that cannot be read.
    #[error("malformed m= line")]
    BadMedia,
    /// A `c=` line that cannot be read.
    #[error("malformed c= line")]
    BadConnection,
    /// Not UTF-8 / not text.
    #[error("SDP body is not text")]
    NotText,
}

/// Parses an SDP body.
pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
    let _ = body;
    Err(SdpError::NoVersion)
}

/// Payload-type names and clocks learned from SDP, keyed by the address:port that announced
/// them (the receiver of the stream: an SDP describes what its author wants to receive).
#[derive(Debug, Default)]
pub struct PayloadMap {
    _private: (),
}

impl PayloadMap {
    /// Learns every rtpmap of every media section with an address and port.
    pub fn learn(&mut self, session: &SessionDescription) {
        let _ = session;
    }

    /// Codec name and clock (Hz) for payload type `pt` of a stream sent to `dst`, from the
    /// latest SDP that announced `dst` with an rtpmap for `pt`; `None` when no SDP said so (the
    /// caller then falls back to the RFC 3551 static table in `rtp::payload`).
    pub fn lookup(&self, dst: SocketAddr, pt: u8) -> Option<(&str, u32)> {
        let _ = (dst, pt);
        None
    }

    /// True when some SDP announced `addr` as a media receive address.
    pub fn is_announced(&self, addr: SocketAddr) -> bool {
        let _ = addr;
        false
    }
}
