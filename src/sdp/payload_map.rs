//! The payload-type map learned from SDP, keyed by the receive address each media section
//! announced (an SDP describes what its author wants to receive, RFC 3264 §5), so the RTP
//! stage can resolve a dynamic payload type's clock from a packet's destination.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::{MediaKind, RtpMap, SessionDescription};
use crate::rtp::payload::{PayloadCodec, PayloadType};

/// One announced receive address and the rtpmaps of the section that announced it.
#[derive(Clone, Debug)]
pub struct Announced {
    rtpmaps: Vec<RtpMap>,
    /// The rtpmaps resolved for the per-packet path, by payload type.
    types: ResolvedTypes,
    /// `a=fmtp` parameters by payload type (codec variant for the E-model: G.729 `annexb`,
    /// G.723.1 `bitrate`, iLBC `mode`, AMR `mode-set`).
    fmtp: Vec<(u8, String)>,
    /// `a=ptime`, ms (packetisation time of the delay budget, quality-metrics.md §5).
    ptime_ms: Option<u32>,
    /// The section in force is `m=image` (T.38 over UDPTL): packets there are fax, not RTP.
    t38: bool,
    /// Learning sequence number of the announcement now in force (for eviction order).
    generation: u64,
}

/// Resolved payload types kept inline in the map's entry.
const INLINE_TYPES: usize = 4;

/// An announcement's payload types resolved for the per-packet path, in rtpmap order: the
/// first [`INLINE_TYPES`] inside the map's entry, so that resolving an RTP packet's type reads
/// the entry the address lookup already brought into the cache, not a second allocation (an
/// RTP packet's lookup waits on memory: boxing the entries instead made a run 4 % slower).
#[derive(Clone, Debug)]
struct ResolvedTypes {
    inline: [(u8, PayloadType); INLINE_TYPES],
    inline_len: u8,
    more: Vec<(u8, PayloadType)>,
}

impl ResolvedTypes {
    fn new(types: impl Iterator<Item = (u8, PayloadType)>) -> ResolvedTypes {
        let unused = (0, PayloadType { clock_hz: 0, is_event: false, codec: PayloadCodec::Other });
        let mut resolved = ResolvedTypes { inline: [unused; INLINE_TYPES], inline_len: 0, more: Vec::new() };
        for entry in types {
            match resolved.inline.get_mut(usize::from(resolved.inline_len)) {
                Some(slot) => {
                    *slot = entry;
                    resolved.inline_len += 1;
                }
                None => resolved.more.push(entry),
            }
        }
        resolved
    }

    /// The first resolved entry for `pt`.
    fn get(&self, pt: u8) -> Option<PayloadType> {
        let inline = self.inline.get(..usize::from(self.inline_len)).unwrap_or_default();
        inline.iter().chain(&self.more).find(|(p, _)| *p == pt).map(|&(_, t)| t)
    }
}

/// An address as a hash key: an IPv4 address and port are hashed as one integer (the derived
/// `SocketAddr` hash feeds the enum tag, the address and the port separately; this map is
/// looked up for every RTP packet). Equality is the address's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PackedAddr(SocketAddr);

impl std::hash::Hash for PackedAddr {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self.0 {
            SocketAddr::V4(a) => state.write_u64((u64::from(u32::from(*a.ip())) << 16) | u64::from(a.port())),
            // Equal keys hash alike whatever the packing, so the rarer IPv6 keys keep the
            // derived hash.
            v6 => std::hash::Hash::hash(&v6, state),
        }
    }
}

/// Payload-type names and clocks learned from SDP, keyed by the address:port that announced
/// them (the receiver of the stream: an SDP describes what its author wants to receive).
///
/// Static payload types are not filled in here: `rtp::payload` holds the RFC 3551 table and the
/// caller falls back to it. Bounded: at most [`PayloadMap::CAPACITY`] addresses; the address
/// learned longest ago is evicted first and counted in [`PayloadMap::evicted`].
#[derive(Clone, Debug)]
pub struct PayloadMap {
    by_addr: crate::FastHashMap<PackedAddr, Announced>,
    /// (address, generation) in learning order; entries whose generation is no longer the
    /// address's current one are stale and skipped when evicting.
    order: VecDeque<(SocketAddr, u64)>,
    next_generation: u64,
    evicted: u64,
    capacity: usize,
}

impl Default for PayloadMap {
    fn default() -> Self {
        Self::with_capacity_limit(Self::CAPACITY)
    }
}

impl PayloadMap {
    /// Default for the most announced addresses kept at once.
    pub const CAPACITY: usize = 100_000;

    /// A map that keeps at most `capacity` addresses (at least 1).
    pub fn with_capacity_limit(capacity: usize) -> Self {
        PayloadMap {
            by_addr: crate::FastHashMap::default(),
            order: VecDeque::new(),
            next_generation: 0,
            evicted: 0,
            capacity: capacity.max(1),
        }
    }

    /// The most addresses this map keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Learns every media section with an address and a non-zero port. A newer SDP for the same
    /// address replaces the older one entirely (matches tshark: a new SDP sets up a new RTP
    /// conversation with its own payload-type table). Sections announcing the unspecified
    /// address (`0.0.0.0`, hold) are not learned: no packet is ever sent there.
    ///
    /// T.38 follows offer/answer (RFC 3264: a change takes effect with the answer): an `m=image`
    /// section in an *answer* makes its address T.38 (packets there are UDPTL, not RTP); an
    /// `m=image` *offer* changes nothing until answered (a T.38 offer rejected with 488 leaves
    /// the audio flowing, `ndpi-FAX-Call-t38-CA-TDM-SIP-FB-1.pcap` frames 1394–1406), and an
    /// audio offer for an address that is T.38 leaves it T.38 until an answer moves it back.
    /// Known limit: the offerer's own address is not switched by the answer (only the
    /// answerer's). tshark differs on that fax capture for another reason: it also reads SDP
    /// inside H.248/MEGACO (frames 1434/1435 announce `image 16756`) and decodes the 27 RTP
    /// packets that follow as T.38; callscope does not parse MEGACO and counts them as RTP.
    pub fn learn(&mut self, session: &SessionDescription, is_answer: bool) {
        for media in &session.media {
            let Some(addr) = media.rtp_addr() else {
                continue;
            };
            if addr.ip().is_unspecified() {
                continue;
            }
            let t38 = media.kind == MediaKind::Image;
            if !is_answer && (t38 || self.is_t38(addr)) {
                continue;
            }
            self.insert(addr, media.rtpmaps.clone(), t38);
            if let Some(entry) = self.by_addr.get_mut(&PackedAddr(addr)) {
                entry.fmtp.clone_from(&media.fmtp);
                entry.ptime_ms = media.ptime_ms;
            }
        }
    }

    /// The announcement in force for `addr`, if any (one lookup for the per-packet path).
    #[inline]
    pub fn get(&self, addr: SocketAddr) -> Option<&Announced> {
        self.by_addr.get(&PackedAddr(addr))
    }

    /// True when the SDP in force for `addr` announced T.38 (`m=image`).
    pub fn is_t38(&self, addr: SocketAddr) -> bool {
        self.by_addr.get(&PackedAddr(addr)).is_some_and(|a| a.t38)
    }

    fn insert(&mut self, addr: SocketAddr, rtpmaps: Vec<RtpMap>, t38: bool) {
        let types = ResolvedTypes::new(rtpmaps.iter().map(|m| (m.pt, PayloadType::from_rtpmap(&m.name, m.clock_hz))));
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let is_new = self
            .by_addr
            .insert(PackedAddr(addr), Announced { types, rtpmaps, fmtp: Vec::new(), ptime_ms: None, t38, generation })
            .is_none();
        self.order.push_back((addr, generation));
        if is_new && self.by_addr.len() > self.capacity {
            self.evict_oldest();
        }
        // Re-learned addresses leave stale entries in `order`; compact before it grows past
        // twice the live size so that the queue stays bounded too.
        if self.order.len() > 2 * self.capacity.max(self.by_addr.len()) {
            self.drop_stale_order();
        }
    }

    /// Keeps only the announcements of the addresses `keep` accepts (an incremental run
    /// forgets those of the calls it has let go).
    pub fn retain_addrs(&mut self, keep: &mut dyn FnMut(SocketAddr) -> bool) {
        self.by_addr.retain(|addr, _| keep(addr.0));
        self.drop_stale_order();
    }

    /// Drops the entries of `order` whose announcement is no longer the one in force.
    fn drop_stale_order(&mut self) {
        let by_addr = &self.by_addr;
        self.order.retain(|(a, g)| by_addr.get(&PackedAddr(*a)).is_some_and(|e| e.generation == *g));
    }

    fn evict_oldest(&mut self) {
        while let Some((addr, generation)) = self.order.pop_front() {
            if self.by_addr.get(&PackedAddr(addr)).is_some_and(|e| e.generation == generation) {
                self.by_addr.remove(&PackedAddr(addr));
                self.evicted = self.evicted.saturating_add(1);
                return;
            }
        }
    }

    /// Codec name and clock (Hz) for payload type `pt` of a stream sent to `dst`, from the
    /// latest SDP that announced `dst` with an rtpmap for `pt`; `None` when no SDP said so (the
    /// caller then falls back to the RFC 3551 static table in `rtp::payload`).
    pub fn lookup(&self, dst: SocketAddr, pt: u8) -> Option<(&str, u32)> {
        self.by_addr.get(&PackedAddr(dst))?.rtpmap(pt)
    }

    /// The `a=fmtp` parameters (text after the payload number) for `pt` in the SDP in force
    /// for `dst`.
    pub fn fmtp(&self, dst: SocketAddr, pt: u8) -> Option<&str> {
        self.by_addr.get(&PackedAddr(dst))?.fmtp.iter().find(|(p, _)| *p == pt).map(|(_, f)| f.as_str())
    }

    /// The `a=ptime` of the SDP in force for `dst`, ms.
    pub fn ptime_ms(&self, dst: SocketAddr) -> Option<u32> {
        self.by_addr.get(&PackedAddr(dst))?.ptime_ms
    }

    /// True when some SDP announced `addr` as a media receive address.
    #[inline]
    pub fn is_announced(&self, addr: SocketAddr) -> bool {
        self.by_addr.contains_key(&PackedAddr(addr))
    }

    /// Number of announced addresses currently kept.
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    /// True when nothing was learned (or everything was evicted).
    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }

    /// How many addresses were evicted because the map was full (the pipeline reports it as a
    /// `state_evicted` warning).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

impl Announced {
    /// The section in force is `m=image` (T.38): packets there are UDPTL, not RTP.
    pub fn is_t38(&self) -> bool {
        self.t38
    }

    /// Codec name and clock for `pt` from this announcement's rtpmaps.
    pub fn rtpmap(&self, pt: u8) -> Option<(&str, u32)> {
        self.rtpmaps.iter().find(|m| m.pt == pt).map(|m| (m.name.as_str(), m.clock_hz))
    }

    /// What this announcement's rtpmap for `pt` resolves to ([`PayloadType::from_rtpmap`]).
    #[inline]
    pub fn payload_type(&self, pt: u8) -> Option<PayloadType> {
        self.types.get(pt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::payload::PayloadCodec;
    use crate::sdp::{parse, samples};

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn resolved_types_keep_rtpmap_order_past_the_inline_ones() {
        let event = PayloadType::from_rtpmap("telephone-event", 8000);
        let pcmu = PayloadType::from_rtpmap("PCMU", 8000);
        let wide = PayloadType::from_rtpmap("G722", 8000);
        // Seven entries, a repeated type on each side of the inline boundary: the first wins.
        let types = [(0, pcmu), (101, event), (9, wide), (0, wide), (96, wide), (101, pcmu), (97, event)];
        let resolved = ResolvedTypes::new(types.into_iter());
        assert_eq!((usize::from(resolved.inline_len), resolved.more.len()), (INLINE_TYPES, 3));
        for pt in 0..=127u8 {
            let first = types.iter().find(|(p, _)| *p == pt).map(|&(_, t)| t);
            assert_eq!(resolved.get(pt), first, "pt {pt}");
        }
        assert_eq!(ResolvedTypes::new(std::iter::empty()).get(0), None);
    }

    #[test]
    fn learns_dynamic_types_by_announced_address() {
        let mut map = PayloadMap::default();
        map.learn(&parse(samples::SNGREP_IPV6_INVITE.as_bytes()).unwrap(), false);
        let dst = sa("[fd17:625c:f037:2:a00:27ff:feb9:1521]:15062");
        assert!(map.is_announced(dst));
        assert_eq!(map.lookup(dst, 100), Some(("AMR-WB", 16000)));
        assert_eq!(map.lookup(dst, 121), Some(("telephone-event", 16000)));
        assert_eq!(map.lookup(dst, 96), None);
        assert_eq!(map.lookup(sa("[fd17::1]:15062"), 100), None);
        assert!(!map.is_announced(sa("[fd17:625c:f037:2:a00:27ff:feb9:1521]:15063")));
        // The per-packet view of the same rtpmaps: telephone-event has no clock for jitter.
        let announced = map.get(dst).unwrap();
        let amr = announced.payload_type(100).unwrap();
        assert_eq!((amr.clock_hz, amr.is_event, amr.codec), (16000, false, PayloadCodec::Other));
        let event = announced.payload_type(121).unwrap();
        assert_eq!((event.clock_hz, event.is_event), (0, true));
        assert_eq!(announced.payload_type(96), None);
    }

    #[test]
    fn newer_sdp_for_same_address_wins() {
        // sipnab-register-invite-reinvite-bye: PCMU first, then a re-INVITE to opus/48000 on
        // the same address.
        let first = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 5094 RTP/AVP 0 96\r\n\
                     a=rtpmap:0 PCMU/8000\r\na=rtpmap:96 speex/8000\r\n";
        let second = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 5094 RTP/AVP 96\r\n\
                      a=rtpmap:96 opus/48000\r\n";
        let mut map = PayloadMap::default();
        map.learn(&parse(first.as_bytes()).unwrap(), false);
        assert_eq!(map.lookup(sa("127.0.0.1:5094"), 96), Some(("speex", 8000)));
        map.learn(&parse(second.as_bytes()).unwrap(), false);
        assert_eq!(map.lookup(sa("127.0.0.1:5094"), 96), Some(("opus", 48000)));
        assert_eq!(map.lookup(sa("127.0.0.1:5094"), 0), None, "replaced entirely");
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn rejected_hold_and_t38_sections() {
        let mut map = PayloadMap::default();
        map.learn(&parse(samples::NDPI_TWO_DESCRIPTIONS.as_bytes()).unwrap(), false);
        // The audio section is announced; the rejected image section (port 0) is not a
        // separate address (same address, port 0).
        assert!(map.is_announced(sa("10.23.1.52:16756")));
        assert_eq!(map.lookup(sa("10.23.1.52:16756"), 103), Some(("G726-32", 8000)));
        assert_eq!(map.len(), 1);
        let mut map = PayloadMap::default();
        map.learn(&parse(b"v=0\nc=IN IP4 0.0.0.0\nm=audio 4000 RTP/AVP 0\n").unwrap(), false);
        assert!(map.is_empty());
        // A T.38 offer changes nothing until it is answered (frame 1394, answered 488).
        let t38 = parse(samples::NDPI_T38_IMAGE.as_bytes()).unwrap();
        map.learn(&t38, false);
        assert!(!map.is_announced(sa("10.23.1.52:16756")));
        // Answered with m=image: packets there are UDPTL from now on, until an audio answer.
        map.learn(&t38, true);
        assert!(map.is_t38(sa("10.23.1.52:16756")));
        let audio = parse(b"v=0\nc=IN IP4 10.23.1.52\nm=audio 16756 RTP/AVP 8\n").unwrap();
        map.learn(&audio, false);
        assert!(map.is_t38(sa("10.23.1.52:16756")), "an audio offer alone does not switch back");
        map.learn(&audio, true);
        assert!(!map.is_t38(sa("10.23.1.52:16756")));
        assert!(map.is_announced(sa("10.23.1.52:16756")));
    }

    #[test]
    fn bounded_with_oldest_evicted() {
        let mut map = PayloadMap::default();
        let total = PayloadMap::CAPACITY + 10;
        for i in 0..total {
            let port = u16::try_from(i % 60_000).unwrap() + 1;
            let host = u8::try_from(i / 60_000).unwrap();
            map.insert(SocketAddr::from(([10, 0, 0, host], port)), Vec::new(), false);
            // Re-learning one address again and again must not grow the order queue forever.
            map.insert(sa("192.0.2.1:4000"), Vec::new(), false);
        }
        assert_eq!(map.len(), PayloadMap::CAPACITY);
        assert!(map.evicted() >= 10);
        assert!(map.order.len() <= 2 * PayloadMap::CAPACITY + 1);
        assert!(!map.is_announced(SocketAddr::from(([10, 0, 0, 0], 1))), "oldest evicted");
        assert!(map.is_announced(sa("192.0.2.1:4000")), "recently re-learned kept");
    }
}
