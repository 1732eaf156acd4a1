//! Stage 4b — SDP: message bodies → [`SessionDescription`]s, and the payload-type map the RTP
//! stage needs to know a dynamic payload type's clock.
//!
//! Input: SDP bodies (bytes). Output: owned descriptions holding only what correlation and
//! metrics need. State: none ([`PayloadMap`] is owned by the pipeline).
//!
//! The parser is a lenient line scanner (`scan`); the reasons for not using an SDP crate are
//! written where it lives.

mod payload_map;
#[cfg(test)]
mod samples;
mod scan;

use std::net::{IpAddr, SocketAddr};

pub use payload_map::{Announced, PayloadMap};
pub use scan::parse;

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
    /// Port of the `m=` line (0 = rejected / disabled, RFC 3264 §6).
    pub port: u16,
    /// Transport protocol token as written (RTP/AVP, RTP/SAVP, UDP/TLS/RTP/SAVPF, udptl, …).
    pub proto: String,
    /// Numeric formats listed on the `m=` line (payload types for RTP). Non-numeric formats
    /// (`t38` on an `image … udptl` line) are not stored.
    pub formats: Vec<u8>,
    /// Connection address (media-level `c=`, else session-level).
    pub addr: Option<IpAddr>,
    /// rtpmap entries (a later rtpmap for the same payload type replaces the earlier one).
    pub rtpmaps: Vec<RtpMap>,
    /// fmtp lines as (pt, parameters).
    pub fmtp: Vec<(u8, String)>,
    /// Direction (media-level, else session-level, else sendrecv).
    pub direction: Direction,
    /// `a=rtcp:` port (RFC 3605), when given.
    pub rtcp_port: Option<u16>,
    /// `a=rtcp:` address (RFC 3605 `port nettype addrtype addr`), when given.
    pub rtcp_addr: Option<IpAddr>,
    /// `a=rtcp-mux` present (RFC 5761).
    pub rtcp_mux: bool,
    /// `a=ptime` in ms.
    pub ptime_ms: Option<u32>,
    /// `a=crypto` present (SDES-SRTP keying, RFC 4568).
    pub crypto: bool,
    /// `a=fingerprint` present at media or session level (DTLS-SRTP, RFC 5763 / RFC 8122).
    pub fingerprint: bool,
}

impl MediaDescription {
    /// Where this media wants to receive RTP, when both address and a non-zero port are known.
    pub fn rtp_addr(&self) -> Option<SocketAddr> {
        match (self.addr, self.port) {
            (Some(ip), p) if p != 0 => Some(SocketAddr::new(ip, p)),
            _ => None,
        }
    }

    /// True when the connection address is `0.0.0.0` (or `::`): the RFC 2543 way of putting
    /// a call on hold, still sent by old equipment (RFC 3264 §8.4 keeps it legal to receive).
    pub fn is_unspecified_addr(&self) -> bool {
        self.addr.is_some_and(|ip| ip.is_unspecified())
    }

    /// True when this section puts the media on hold as RFC 3264 §8.4 describes it: the author
    /// sends `sendonly` or `inactive`, or uses the old `c=0.0.0.0` style. (The held party's
    /// `recvonly` answer is not itself a hold request.) A rejected section (port 0) is not hold.
    pub fn is_hold(&self) -> bool {
        self.port != 0
            && (matches!(self.direction, Direction::SendOnly | Direction::Inactive) || self.is_unspecified_addr())
    }

    /// True when the media is SRTP or keyed for it: a SAVP/SAVPF profile (RFC 3711, RFC 5124),
    /// an `a=crypto` line, or a DTLS fingerprint. Payload of such streams cannot be inspected.
    pub fn is_srtp(&self) -> bool {
        self.crypto || self.fingerprint || self.proto.to_ascii_uppercase().contains("SAVP")
    }

    /// The rtpmap for payload type `pt`, when the section has one.
    pub fn rtpmap(&self, pt: u8) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|m| m.pt == pt)
    }
}

/// A parsed SDP body.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SessionDescription {
    /// `o=` origin address, when present and an IP literal (brackets tolerated).
    pub origin_addr: Option<IpAddr>,
    /// `o=` session version (RFC 4566 §5.2), when numeric: an unchanged version in a re-offer
    /// means "no change" (RFC 3264 §8).
    pub origin_version: Option<u64>,
    /// Session-level connection address.
    pub session_addr: Option<IpAddr>,
    /// Media sections in order (the order matters: offer and answer pair `m=` lines by
    /// position, RFC 3264 §6).
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// True when every active (non-rejected) audio or video section is on hold
    /// ([`MediaDescription::is_hold`]) and there is at least one.
    pub fn is_hold(&self) -> bool {
        let mut active = self
            .media
            .iter()
            .filter(|m| m.port != 0 && matches!(m.kind, MediaKind::Audio | MediaKind::Video))
            .peekable();
        active.peek().is_some() && active.all(MediaDescription::is_hold)
    }
}

/// Why a body did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// No `v=` first line.
    #[error("SDP body does not start with v=0")]
    NoVersion,
    /// An `m=` line that cannot be read.
    #[error("malformed m= line")]
    BadMedia,
    /// A `c=` line that cannot be read.
    #[error("malformed c= line")]
    BadConnection,
    /// Not text (control bytes where the `v=` line should be).
    #[error("SDP body is not text")]
    NotText,
}

/// True for addresses that cannot be reached from the public Internet, as diagnosis.md
/// (`sdp_private_address_behind_nat`) lists them: RFC 1918, RFC 6598 CGNAT 100.64/10,
/// link-local 169.254/16, IPv6 ULA fc00::/7 and link-local fe80::/10; plus the unspecified
/// address (`0.0.0.0` / `::`, the old hold style), which no packet can be sent to either.
pub fn is_private_or_unspecified(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_unspecified() || v4.is_private() || v4.is_link_local() || (a == 100 && (64..=127).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        let yes = [
            "10.1.2.3",
            "172.16.98.1",
            "192.168.1.2",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.1.1",
            "0.0.0.0",
            "fd17:625c:f037:2:a00:27ff:feb9:1521",
            "fe80::1",
            "::",
        ];
        let no = ["80.230.219.70", "100.63.255.255", "100.128.0.0", "172.32.0.1", "2001:db8::1", "127.0.0.1"];
        for s in yes {
            assert!(is_private_or_unspecified(s.parse().unwrap()), "{s}");
        }
        for s in no {
            assert!(!is_private_or_unspecified(s.parse().unwrap()), "{s}");
        }
    }
}
