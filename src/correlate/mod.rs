//! Stage 6 — correlate: streams meet calls.
//!
//! Input: dialogs (with their SDP bodies) and stream statistics. Output: for each stream, the
//! call it belongs to, its direction and the SDP address that announced its receiver. State:
//! none beyond the indexes built for one join. The pairing rules are documented on [`pair`].

use std::borrow::Borrow;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use crate::rtp::StreamStats;
use crate::sdp::is_private_or_unspecified;
use crate::sip::Dialog;
use crate::time::Timestamp;

/// Direction of a stream within its call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamDirection {
    /// Sent by the caller (towards the address the callee's SDP announced).
    CallerToCallee,
    /// Sent by the callee.
    CalleeToCaller,
}

impl StreamDirection {
    /// The other direction.
    pub fn reverse(self) -> StreamDirection {
        match self {
            StreamDirection::CallerToCallee => StreamDirection::CalleeToCaller,
            StreamDirection::CalleeToCaller => StreamDirection::CallerToCallee,
        }
    }

    /// Direction of a stream *received* by the author of an SDP (an SDP describes what its
    /// author wants to receive, RFC 3264 §5): the caller receives callee→caller.
    fn towards(author_is_caller: bool) -> StreamDirection {
        if author_is_caller {
            StreamDirection::CalleeToCaller
        } else {
            StreamDirection::CallerToCallee
        }
    }

    /// Direction of a stream *sent* by the author of an SDP.
    fn from(author_is_caller: bool) -> StreamDirection {
        Self::towards(author_is_caller).reverse()
    }

    /// True when the caller receives this stream.
    fn received_by_caller(self) -> bool {
        self == StreamDirection::CalleeToCaller
    }
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
    /// The same SSRC as a paired stream, one hop further through a media relay.
    RelayLeg,
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

/// A stream may start this long before the SDP that announced its receiver and still be
/// "announced" by it: early media and the 200 OK race the first packets, and mirrored or
/// merged captures reorder SIP and RTP by a few hundred ms.
const ANNOUNCEMENT_SLACK: i64 = 2_000_000_000;

/// A stream may start this long after its call ended (BYE, or a final failure response) and
/// still belong to it: packets in flight when the BYE was sent.
const CALL_END_SLACK: i64 = 2_000_000_000;

/// One media section of one SDP, with who announced it and when.
#[derive(Clone, Copy, Debug)]
struct Announcement {
    dialog: usize,
    time: Timestamp,
    /// Global capture order of the SDP (dialog order, then order within the dialog): the
    /// tie-break between announcements made at the same instant.
    order: usize,
    /// The announced receive address (`c=` + `m=` port).
    addr: SocketAddr,
    /// Position of the `m=` line: offer and answer pair sections by position (RFC 3264 §6).
    media_index: usize,
    from_caller: bool,
    /// Source IP of the SIP message that carried the SDP.
    author_signalling_ip: IpAddr,
}

impl Announcement {
    /// The SDP address cannot be reached as written and the author signals from another
    /// address: the NAT case of diagnosis.md `sdp_private_address_behind_nat`.
    fn is_behind_nat(&self) -> bool {
        is_private_or_unspecified(self.addr.ip()) && self.addr.ip() != self.author_signalling_ip
    }
}

/// The time span of a call, for deciding whether a stream can belong to it.
#[derive(Clone, Copy, Debug)]
struct CallSpan {
    start: Timestamp,
    /// BYE, or a failure final response; `None` while the call is open at the capture's end.
    end: Option<Timestamp>,
}

impl CallSpan {
    fn of(dialog: &Dialog) -> CallSpan {
        let first_sdp = dialog.sdp.first().map(|e| e.at.time);
        let start = match (dialog.first_invite.map(|f| f.time), first_sdp) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(dialog.last_time),
        };
        let end = match (dialog.bye, dialog.final_response) {
            (Some((bye, _)), _) => Some(bye.time),
            (None, Some((status, at))) if status >= 300 => Some(at.time),
            _ => None,
        };
        CallSpan { start, end }
    }

    /// The stream started before the call ended (with [`CALL_END_SLACK`]).
    fn admits_start(&self, first: Timestamp) -> bool {
        self.end.is_none_or(|end| first.0 <= end.0.saturating_add(CALL_END_SLACK))
    }

    /// The stream's span meets the call's span (with slack on both sides).
    fn overlaps(&self, stream: &StreamStats) -> bool {
        self.admits_start(stream.first.time) && stream.last.time.0 >= self.start.0.saturating_sub(ANNOUNCEMENT_SLACK)
    }
}

/// The announcements of all dialogs, indexed for the rules.
struct Index {
    announcements: Vec<Announcement>,
    spans: Vec<CallSpan>,
    by_addr: HashMap<SocketAddr, Vec<usize>>,
    /// Behind-NAT announcements by (author's signalling IP, announced port) (rules 3a, 3b).
    nat_by_author_port: HashMap<(IpAddr, u16), Vec<usize>>,
    /// Behind-NAT announcements by the author's signalling IP (rule 3b).
    nat_by_author_ip: HashMap<IpAddr, Vec<usize>>,
    by_dialog: Vec<Vec<usize>>,
}

impl Index {
    fn build<D: Borrow<Dialog>>(dialogs: &[D]) -> Index {
        let mut index = Index {
            announcements: Vec::new(),
            spans: dialogs.iter().map(|d| CallSpan::of(d.borrow())).collect(),
            by_addr: HashMap::new(),
            nat_by_author_port: HashMap::new(),
            nat_by_author_ip: HashMap::new(),
            by_dialog: vec![Vec::new(); dialogs.len()],
        };
        let mut order = 0usize;
        for (dialog, d) in dialogs.iter().map(Borrow::borrow).enumerate() {
            for event in &d.sdp {
                order = order.saturating_add(1);
                for (media_index, media) in event.session.media.iter().enumerate() {
                    let Some(addr) = media.rtp_addr() else {
                        continue; // rejected section (port 0) or no usable address
                    };
                    let a = Announcement {
                        dialog,
                        time: event.at.time,
                        order,
                        addr,
                        media_index,
                        from_caller: event.from_caller,
                        author_signalling_ip: event.sender.ip(),
                    };
                    let id = index.announcements.len();
                    index.announcements.push(a);
                    index.by_addr.entry(addr).or_default().push(id);
                    if a.is_behind_nat() {
                        index.nat_by_author_port.entry((a.author_signalling_ip, addr.port())).or_default().push(id);
                        index.nat_by_author_ip.entry(a.author_signalling_ip).or_default().push(id);
                    }
                    if let Some(list) = index.by_dialog.get_mut(dialog) {
                        list.push(id);
                    }
                }
            }
        }
        // Sort every list once for the binary searches of `choose`.
        index.sort_all();
        index
    }

    fn sort_all(&mut self) {
        let announcements = &self.announcements;
        let key = |id: &usize| announcements.get(*id).map(|a| (a.time, a.order));
        self.by_addr.values_mut().for_each(|l| l.sort_by_key(key));
        self.nat_by_author_port.values_mut().for_each(|l| l.sort_by_key(key));
        self.nat_by_author_ip.values_mut().for_each(|l| l.sort_by_key(key));
        self.by_dialog.iter_mut().for_each(|l| l.sort_by_key(key));
    }

    fn get(&self, id: usize) -> Option<&Announcement> {
        self.announcements.get(id)
    }

    /// Among candidate announcements (sorted by time, then capture order), the one a stream
    /// belongs to:
    /// - in effect at the stream's first packet: announced no later than first packet +
    ///   [`ANNOUNCEMENT_SLACK`], and the stream started before that call ended (+
    ///   [`CALL_END_SLACK`]); the latest such announcement wins, so an address reused by
    ///   consecutive calls goes to the call that announced it last before the stream began;
    /// - else the nearest later announcement made while the stream was still running (a stream
    ///   seen before its SDP: early media, or SIP delayed on another path).
    ///
    /// Binary search, because load generators announce one address in thousands of calls.
    fn choose(&self, sorted: &[usize], stream: &StreamStats) -> Option<usize> {
        let bound = stream.first.time.0.saturating_add(ANNOUNCEMENT_SLACK);
        let split = sorted.partition_point(|&id| self.get(id).is_some_and(|a| a.time.0 <= bound));
        let (earlier, later) = sorted.split_at(split);
        let in_effect = earlier.iter().rev().copied().find(|&id| {
            self.get(id).and_then(|a| self.spans.get(a.dialog)).is_some_and(|span| span.admits_start(stream.first.time))
        });
        in_effect.or_else(|| {
            // Times only grow from here: if the first later one came after the stream ended,
            // every other did too.
            let &id = later.first()?;
            let a = self.get(id)?;
            (stream.last.time.0.saturating_add(ANNOUNCEMENT_SLACK) >= a.time.0).then_some(id)
        })
    }

    /// The address the `receiver_is_caller` side of `dialog` announced for media section
    /// `media_index`, as in effect for `stream` (same choice as [`Index::choose`]).
    fn announced_by_side(
        &self,
        dialog: usize,
        receiver_is_caller: bool,
        media_index: usize,
        stream: &StreamStats,
    ) -> Option<SocketAddr> {
        // by_dialog lists are sorted, so the filtered list is too.
        let ids: Vec<usize> = self
            .by_dialog
            .get(dialog)?
            .iter()
            .copied()
            .filter(|&id| {
                self.get(id).is_some_and(|a| a.from_caller == receiver_is_caller && a.media_index == media_index)
            })
            .collect();
        let id = self.choose(&ids, stream)?;
        self.get(id).map(|a| a.addr)
    }
}

/// Internal result: the public pairing plus the media section it was tied to.
#[derive(Clone, Copy, Debug)]
struct Match {
    pairing: StreamPairing,
    media_index: usize,
}

/// Pairs every stream with at most one dialog; `result[i]` belongs to `streams[i]`.
///
/// Rules, tried in this order for each stream (the first that matches decides):
///
/// 1. **SDP destination** ([`PairBasis::SdpDestination`]): the stream's destination equals an
///    address:port announced by any `m=` line of any SDP of the call (INVITE, 18x, 2xx,
///    re-INVITE, UPDATE, PRACK: media moves are followed because every announcement counts).
///    An SDP describes what its author wants to receive (RFC 3264 §5), so a stream to the
///    caller's announcement goes callee→caller, and vice versa. `sdp_addr` = that address.
/// 2. **SDP source** ([`PairBasis::SdpSource`]): the stream's source equals an announced
///    address:port: its author sending (symmetric RTP, RFC 4961). Direction = author → peer;
///    `sdp_addr` = the peer's announcement for the same `m=` position, if any.
/// 3. **NAT** ([`PairBasis::NatPort`]), for announcements of a private, CGNAT, link-local or
///    unspecified address (diagnosis.md `sdp_private_address_behind_nat`) whose author signals
///    from another address: (a) the stream's destination port is the announced port and its
///    destination IP is the author's signalling IP (a port-preserving NAT), direction towards
///    the author; else (b) the stream's source IP is the author's signalling IP (its outgoing
///    stream through the NAT; an announcement with the same port is preferred), direction
///    author → peer. `sdp_addr` is the private address as announced for (a), the peer's for (b).
/// 4. **Symmetric return** ([`PairBasis::SymmetricReturn`]): the stream's (src, dst) is the
///    reverse of a stream already paired by rules 1–3 that overlaps it in time → the same call,
///    opposite direction (latching SBCs and NATs send back to where packets came from).
///
/// 5. **Relay leg** ([`PairBasis::RelayLeg`]): the same SSRC as a paired stream, forwarded
///    one hop further by the host that stream enters or leaves (see `relay_legs`).
///
/// Time decides between candidates (`Index::choose`): the announcement in effect at the
/// stream's first packet (made before it, or at most 2 s after it), the latest one first, and
/// only for a call that had not ended 2 s before the stream began; failing that the nearest
/// later announcement made while the stream still ran. So an address:port reused by
/// consecutive calls goes to the right call. Each stream is judged on its own 5-tuple and
/// SSRC: a B2BUA or relay forwarding one SSRC on two legs gives two streams, each paired on
/// its own. A stream that matches no rule is `None`.
pub fn pair<D: Borrow<Dialog>, S: Borrow<StreamStats>>(dialogs: &[D], streams: &[S]) -> Vec<Option<StreamPairing>> {
    let index = Index::build(dialogs);
    let mut matches: Vec<Option<Match>> = streams
        .iter()
        .map(Borrow::borrow)
        .map(|s| by_destination(&index, s).or_else(|| by_source(&index, s)).or_else(|| by_nat(&index, s)))
        .collect();
    symmetric_returns(&index, streams, &mut matches);
    relay_legs(&index, streams, &mut matches);
    matches.into_iter().map(|m| m.map(|m| m.pairing)).collect()
}

/// Rule 5: the other hop of a media relay. An unpaired stream carrying the same SSRC as a paired
/// stream, overlapping it in time and touching the same relay host (it leaves the host the
/// paired stream enters, or enters the host the paired stream leaves), is the same media
/// forwarded one hop further: same call, same direction, no SDP address of its own. In
/// `sipnab-SIP_CALL_RTP_G711.pcap` the relay 200.57.7.196 forwards SSRC 0x58F33DEA and
/// 0xD2BD4E3E between the SDP-announced legs and 200.57.7.199 (diagnosis.md §8).
fn relay_legs<S: Borrow<StreamStats>>(index: &Index, streams: &[S], matches: &mut [Option<Match>]) {
    let mut paired_by_ssrc: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, (s, m)) in streams.iter().map(Borrow::borrow).zip(matches.iter()).enumerate() {
        if m.is_some() {
            paired_by_ssrc.entry(s.key.ssrc).or_default().push(i);
        }
    }
    let mut found: Vec<(usize, Match)> = Vec::new();
    for (i, s) in streams.iter().map(Borrow::borrow).enumerate() {
        if matches.get(i).is_some_and(Option::is_some) {
            continue;
        }
        let Some(candidates) = paired_by_ssrc.get(&s.key.ssrc) else { continue };
        let hop = candidates.iter().find_map(|&j| {
            let other = streams.get(j)?.borrow();
            let m = matches.get(j).copied().flatten()?;
            let same_host = other.key.dst.ip() == s.key.src.ip() || other.key.src.ip() == s.key.dst.ip();
            let overlaps = time_gap(s, other) == 0 && index.spans.get(m.pairing.dialog)?.overlaps(s);
            (same_host && overlaps).then_some(m)
        });
        if let Some(m) = hop {
            let pairing = StreamPairing { sdp_addr: None, basis: PairBasis::RelayLeg, ..m.pairing };
            found.push((i, Match { pairing, media_index: m.media_index }));
        }
    }
    for (i, m) in found {
        if let Some(slot) = matches.get_mut(i) {
            *slot = Some(m);
        }
    }
}

/// Rule 1.
fn by_destination(index: &Index, stream: &StreamStats) -> Option<Match> {
    let ids = index.by_addr.get(&stream.key.dst)?;
    let a = index.get(index.choose(ids, stream)?)?;
    Some(towards_author(a, PairBasis::SdpDestination))
}

/// Rule 2.
fn by_source(index: &Index, stream: &StreamStats) -> Option<Match> {
    let ids = index.by_addr.get(&stream.key.src)?;
    let a = index.get(index.choose(ids, stream)?)?;
    Some(from_author(index, a, stream, PairBasis::SdpSource))
}

/// Rule 3.
fn by_nat(index: &Index, stream: &StreamStats) -> Option<Match> {
    let dst = stream.key.dst;
    if let Some(ids) = index.nat_by_author_port.get(&(dst.ip(), dst.port())) {
        if let Some(a) = index.choose(ids, stream).and_then(|id| index.get(id)) {
            return Some(towards_author(a, PairBasis::NatPort));
        }
    }
    let src = stream.key.src;
    let same_port = index.nat_by_author_port.get(&(src.ip(), src.port())).and_then(|ids| index.choose(ids, stream));
    let id = same_port.or_else(|| {
        let ids = index.nat_by_author_ip.get(&src.ip())?;
        index.choose(ids, stream)
    })?;
    let a = index.get(id)?;
    Some(from_author(index, a, stream, PairBasis::NatPort))
}

/// Rule 4: one pass over the unpaired streams after rules 1–3 (the reverse of a stream paired
/// here is the stream it was paired from, so a second pass would find nothing new).
fn symmetric_returns<S: Borrow<StreamStats>>(index: &Index, streams: &[S], matches: &mut [Option<Match>]) {
    let mut paired_by_tuple: HashMap<(SocketAddr, SocketAddr), Vec<usize>> = HashMap::new();
    for (i, (s, m)) in streams.iter().map(Borrow::borrow).zip(matches.iter()).enumerate() {
        if m.is_some() {
            paired_by_tuple.entry((s.key.src, s.key.dst)).or_default().push(i);
        }
    }
    let mut found: Vec<(usize, Match)> = Vec::new();
    for (i, s) in streams.iter().map(Borrow::borrow).enumerate() {
        if matches.get(i).is_some_and(Option::is_some) {
            continue;
        }
        let Some(reverse) = paired_by_tuple.get(&(s.key.dst, s.key.src)) else {
            continue;
        };
        // The reverse stream nearest in time, among those whose call the stream overlaps.
        let best = reverse
            .iter()
            .filter_map(|&j| {
                let other = streams.get(j)?.borrow();
                let m = matches.get(j).copied().flatten()?;
                let span = index.spans.get(m.pairing.dialog)?;
                span.overlaps(s).then_some((time_gap(s, other), m))
            })
            .min_by_key(|(gap, _)| *gap);
        let Some((_, other)) = best else { continue };
        let direction = other.pairing.direction.map(StreamDirection::reverse);
        let sdp_addr = direction
            .and_then(|d| index.announced_by_side(other.pairing.dialog, d.received_by_caller(), other.media_index, s));
        found.push((
            i,
            Match {
                pairing: StreamPairing {
                    dialog: other.pairing.dialog,
                    direction,
                    sdp_addr,
                    basis: PairBasis::SymmetricReturn,
                },
                media_index: other.media_index,
            },
        ));
    }
    for (i, m) in found {
        if let Some(slot) = matches.get_mut(i) {
            *slot = Some(m);
        }
    }
}

/// Nanoseconds between two streams' spans (0 when they overlap).
fn time_gap(a: &StreamStats, b: &StreamStats) -> i64 {
    let start = a.first.time.0.max(b.first.time.0);
    let end = a.last.time.0.min(b.last.time.0);
    start.saturating_sub(end).max(0)
}

/// The stream is received by the author of `a`.
fn towards_author(a: &Announcement, basis: PairBasis) -> Match {
    Match {
        pairing: StreamPairing {
            dialog: a.dialog,
            direction: Some(StreamDirection::towards(a.from_caller)),
            sdp_addr: Some(a.addr),
            basis,
        },
        media_index: a.media_index,
    }
}

/// The stream is sent by the author of `a`; its receiver's address is the peer's announcement
/// for the same `m=` position.
fn from_author(index: &Index, a: &Announcement, stream: &StreamStats, basis: PairBasis) -> Match {
    Match {
        pairing: StreamPairing {
            dialog: a.dialog,
            direction: Some(StreamDirection::from(a.from_caller)),
            sdp_addr: index.announced_by_side(a.dialog, !a.from_caller, a.media_index, stream),
            basis,
        },
        media_index: a.media_index,
    }
}

#[cfg(test)]
mod tests;
