//! The second pass over the inputs: picks exactly one call's frames and copies them.
//!
//! The first pass (the normal analysis) tells which frames carried the call's SIP messages and
//! which 5-tuples/SSRCs carried its media. This pass re-reads the same files with the same
//! reader and decoder ([`crate::capture`], [`crate::decode`]) and keeps a frame when one of its
//! datagrams is:
//! - a SIP message of a selected dialog (by file and frame number), or, for SIP over TCP, any
//!   segment between the same two endpoints within the dialog's time span (a message may span
//!   several segments; the message's frame number is only the one that completed it);
//! - RTP of a selected stream: same source, destination and SSRC, within its first..last time;
//! - RTCP next to a selected stream (both ports + 1, RFC 3550 §11), or T.38/UDPTL to an address
//!   an `m=image` section of the dialog announced, within the call's span;
//! - quoted in an ICMP error about any of those 5-tuples.
//!
//! IPv4 fragments that precede the fragment completing a kept datagram are held (bounded) and
//! kept with it, so the written capture reassembles as the original did. IPv6 fragments are not
//! tracked (documented limitation). Frames are copied with their original timestamp, captured
//! length, original length and link type.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};

use crate::capture::{CaptureError, CaptureSet, FrameRef, LinkType};
use crate::decode::{Datagram, DecodeLimits, Decoder, Transport};
use crate::sdp::MediaKind;
use crate::sip::Dialog;
use crate::time::Timestamp;
use crate::warn::Warnings;

use super::packet;

/// Caps of the second pass (`[limits.bundle]` in the `--config` file). Hitting one drops the
/// oldest state (or the frame) and counts it; the counts are written into the bundle's summary
/// notes (`Extracted::{fragment_sets_evicted, fragments_dropped, over_budget}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BundleLimits {
    /// Most pending (not yet completed) IPv4 fragment sets remembered; the oldest is dropped.
    pub max_pending_fragment_sets: usize,
    /// Most fragments remembered per pending set; further ones are dropped.
    pub max_fragments_per_set: usize,
    /// Most bytes of frames copied into one bundle's `call.pcap`; further frames are counted.
    pub max_bundle_bytes: usize,
}

impl Default for BundleLimits {
    fn default() -> Self {
        BundleLimits { max_pending_fragment_sets: 1024, max_fragments_per_set: 64, max_bundle_bytes: 512 << 20 }
    }
}
/// TCP segments of a SIP connection this long before the dialog's first message are kept too
/// (the first segments of a message that the last segment completed).
const TCP_LEAD_NS: i64 = 5_000_000_000;

/// One copied frame.
#[derive(Clone, Debug)]
pub struct KeptFrame {
    /// Original file, number and time.
    pub at: FrameRef,
    /// Link type of the frame.
    pub link: LinkType,
    /// Length on the wire.
    pub orig_len: u32,
    /// Captured bytes.
    pub data: Vec<u8>,
    /// The frame carried a SIP message of the call (its start line is in `sip_first_line`).
    pub sip: bool,
}

/// Which frames belong to one bundle.
#[derive(Clone, Debug, Default)]
pub struct FrameFilter {
    /// Frames that carried (completed) a SIP message of a selected dialog.
    pub sip_frames: HashSet<(u16, u64)>,
    /// SIP endpoint pairs (unordered) with the dialog span: for TCP segments.
    pub sip_pairs: Vec<(SocketAddr, SocketAddr, Timestamp, Timestamp)>,
    /// RTP streams: src, dst, SSRC, first, last.
    pub rtp: Vec<(SocketAddr, SocketAddr, u32, Timestamp, Timestamp)>,
    /// UDP flows (unordered pairs) kept within `span`: RTCP next to the streams, T.38.
    pub side_flows: Vec<(SocketAddr, SocketAddr)>,
    /// UDP destinations kept within `span` (T.38 addresses announced in SDP).
    pub side_addrs: Vec<SocketAddr>,
    /// First and last time of the call (SIP and media).
    pub span: (Timestamp, Timestamp),
    /// Byte budget for the copied frames.
    pub max_bytes: usize,
}

fn same_pair(a: SocketAddr, b: SocketAddr, x: SocketAddr, y: SocketAddr) -> bool {
    (a == x && b == y) || (a == y && b == x)
}

fn plus_one(a: SocketAddr) -> Option<SocketAddr> {
    Some(SocketAddr::new(a.ip(), a.port().checked_add(1)?))
}

impl FrameFilter {
    /// A filter for the given dialogs and streams (src, dst, ssrc, first, last).
    pub fn new(dialogs: &[&Dialog], streams: &[(SocketAddr, SocketAddr, u32, Timestamp, Timestamp)]) -> Self {
        let mut f = FrameFilter { max_bytes: BundleLimits::default().max_bundle_bytes, ..FrameFilter::default() };
        let mut span: Option<(Timestamp, Timestamp)> = None;
        let mut widen = |t: Timestamp| {
            span = Some(span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
        };
        for d in dialogs {
            let (Some(first), Some(last)) = (d.messages.first(), d.messages.last()) else { continue };
            widen(first.at.time);
            widen(last.at.time.max(d.last_time));
            for m in &d.messages {
                f.sip_frames.insert((m.at.file, m.at.number));
                if !f.sip_pairs.iter().any(|p| same_pair(p.0, p.1, m.src, m.dst)) {
                    f.sip_pairs.push((m.src, m.dst, first.at.time, d.last_time.max(last.at.time)));
                }
            }
            for ev in &d.sdp {
                for media in ev.session.media.iter().filter(|m| m.kind == MediaKind::Image) {
                    if let Some(addr) = media.rtp_addr() {
                        f.side_addrs.push(addr);
                    }
                }
            }
        }
        for &(src, dst, ssrc, first, last) in streams {
            widen(first);
            widen(last);
            f.rtp.push((src, dst, ssrc, first, last));
            if let (Some(a), Some(b)) = (plus_one(src), plus_one(dst)) {
                f.side_flows.push((a, b));
            }
        }
        f.span = span.unwrap_or_default();
        f
    }

    fn in_span(&self, t: Timestamp) -> bool {
        t >= self.span.0 && t <= self.span.1
    }

    /// Whether a datagram belongs to the call.
    pub fn wants(&self, dg: &Datagram<'_>) -> bool {
        let t = dg.at.time;
        if let Some(_err) = dg.icmp_error {
            // The quoted datagram's 5-tuple is one of ours: the error is evidence about the call.
            return self.in_span(t)
                && (self.sip_pairs.iter().any(|p| same_pair(p.0, p.1, dg.src, dg.dst))
                    || self.rtp.iter().any(|r| same_pair(r.0, r.1, dg.src, dg.dst))
                    || self.side_flows.iter().any(|p| same_pair(p.0, p.1, dg.src, dg.dst)));
        }
        if self.sip_frames.contains(&(dg.at.file, dg.at.number)) {
            return true;
        }
        match dg.transport {
            Transport::Tcp { .. } => self.sip_pairs.iter().any(|&(a, b, first, last)| {
                same_pair(a, b, dg.src, dg.dst) && t.0 >= first.0.saturating_sub(TCP_LEAD_NS) && t <= last
            }),
            Transport::Udp => {
                let ssrc = crate::rtp::parse_fixed_header(dg.payload).map(|h| h.ssrc);
                if self.rtp.iter().any(|&(src, dst, s, first, last)| {
                    src == dg.src && dst == dg.dst && ssrc == Some(s) && t >= first && t <= last
                }) {
                    return true;
                }
                self.in_span(t)
                    && (self.side_flows.iter().any(|p| same_pair(p.0, p.1, dg.src, dg.dst))
                        || self.side_addrs.iter().any(|&a| a == dg.dst || a == dg.src))
            }
        }
    }
}

/// Start lines and selected header lines of the kept SIP frames, for the summary.
#[derive(Clone, Debug, Default)]
pub struct SipTexts {
    /// Frame → first line of the SIP message (UDP, or a TCP segment starting a message).
    pub first_lines: HashMap<(u16, u64), String>,
    /// Frame → `Diversion`, `History-Info`, `P-Asserted-Identity`, `Reason` header lines.
    pub headers: HashMap<(u16, u64), Vec<String>>,
}

/// Headers the summary quotes verbatim (compact forms have none for these).
const QUOTED_HEADERS: &[&str] = &["diversion", "history-info", "p-asserted-identity", "reason", "user-agent", "server"];
/// Longest quoted line.
const MAX_QUOTED_LINE: usize = 300;

fn note_sip_text(texts: &mut SipTexts, key: (u16, u64), payload: &[u8]) {
    let text = String::from_utf8_lossy(payload.get(..payload.len().min(8192)).unwrap_or_default());
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    if let Some(first) = lines.next() {
        if first.ends_with("SIP/2.0") || first.starts_with("SIP/2.0 ") {
            texts.first_lines.entry(key).or_insert_with(|| first.chars().take(MAX_QUOTED_LINE).collect());
        }
    }
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, _)) = line.split_once(':') else { continue };
        let name = name.trim().to_ascii_lowercase();
        if QUOTED_HEADERS.contains(&name.as_str()) {
            let entry = texts.headers.entry(key).or_default();
            if entry.len() < 16 {
                entry.push(line.chars().take(MAX_QUOTED_LINE).collect());
            }
        }
    }
}

/// Result of the second pass, one entry per filter.
#[derive(Debug, Default)]
pub struct Extracted {
    /// Kept frames in capture (merge) order.
    pub frames: Vec<KeptFrame>,
    /// SIP text of the kept SIP frames.
    pub sip: SipTexts,
    /// Frames not kept because the byte budget ran out.
    pub over_budget: u64,
    /// Pending fragment sets dropped because `max_pending_fragment_sets` was reached (same for
    /// every bundle of one pass: the pending table is shared).
    pub fragment_sets_evicted: u64,
    /// Fragments not remembered because their set had `max_fragments_per_set` already.
    pub fragments_dropped: u64,
    bytes: usize,
}

impl Extracted {
    fn keep(&mut self, frame: KeptFrame, max_bytes: usize) {
        if self.bytes.saturating_add(frame.data.len()) > max_bytes {
            self.over_budget += 1;
            return;
        }
        self.bytes += frame.data.len();
        self.frames.push(frame);
    }
}

type FragKey = (usize, IpAddr, IpAddr, u16, u8);

/// Reads `paths` again and returns, per filter, the frames that belong to it. `decode` should
/// be the limits of the first pass, so that fragments reassemble the same way.
pub fn extract(
    paths: &[String],
    filters: &[FrameFilter],
    limits: &BundleLimits,
    decode: &DecodeLimits,
) -> Result<Vec<Extracted>, CaptureError> {
    let mut capture = CaptureSet::open(paths)?;
    let mut warnings = Warnings::default();
    let mut decoder = Decoder::new(decode.clone());
    let (mut sets_evicted, mut fragments_dropped) = (0u64, 0u64);
    let mut out: Vec<Extracted> = filters.iter().map(|_| Extracted::default()).collect();
    // Fragments seen but not yet completed, per (file, src, dst, id, protocol).
    let mut pending: HashMap<FragKey, Vec<KeptFrame>> = HashMap::new();
    let mut pending_order: VecDeque<FragKey> = VecDeque::new();
    let mut hits: Vec<(usize, bool)> = Vec::with_capacity(filters.len());
    while let Some(frame) = capture.next_frame(&mut warnings) {
        hits.clear();
        decoder.decode(&frame, &mut warnings, &mut |dg, _| {
            for (i, f) in filters.iter().enumerate() {
                if f.wants(dg) {
                    let is_sip = f.sip_frames.contains(&(dg.at.file, dg.at.number));
                    if is_sip {
                        if let Some(ex) = out.get_mut(i) {
                            note_sip_text(&mut ex.sip, (dg.at.file, dg.at.number), dg.payload);
                        }
                    }
                    if !hits.iter().any(|h| h.0 == i) {
                        hits.push((i, is_sip));
                    }
                }
            }
        });
        let frag = packet::ipv4_fragment_key(frame.link, frame.data)
            .map(|(s, d, id, p, _last)| (usize::from(frame.at.file), IpAddr::V4(s), IpAddr::V4(d), id, p));
        let copy = || KeptFrame {
            at: frame.at,
            link: frame.link,
            orig_len: frame.orig_len,
            data: frame.data.to_vec(),
            sip: false,
        };
        if hits.is_empty() {
            if let Some(key) = frag {
                // Possibly the first pieces of a datagram a later frame completes.
                if !pending.contains_key(&key) {
                    // Bounded by the cap: each pass removes one entry (completed sets leave
                    // `pending` but stay in the order queue until they reach its front).
                    while pending_order.len() >= limits.max_pending_fragment_sets.max(1) {
                        let Some(old) = pending_order.pop_front() else { break };
                        if pending.remove(&old).is_some() {
                            sets_evicted += 1;
                        }
                    }
                    pending_order.push_back(key);
                }
                let set = pending.entry(key).or_default();
                if set.len() < limits.max_fragments_per_set {
                    set.push(copy());
                } else {
                    fragments_dropped += 1;
                }
            }
            continue;
        }
        let earlier = frag.and_then(|key| pending.remove(&key)).unwrap_or_default();
        for &(i, is_sip) in &hits {
            let (Some(ex), Some(f)) = (out.get_mut(i), filters.get(i)) else { continue };
            for piece in &earlier {
                ex.keep(piece.clone(), f.max_bytes);
            }
            ex.keep(KeptFrame { sip: is_sip, ..copy() }, f.max_bytes);
        }
    }
    for ex in &mut out {
        ex.fragment_sets_evicted = sets_evicted;
        ex.fragments_dropped = fragments_dropped;
    }
    Ok(out)
}
