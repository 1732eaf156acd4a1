//! Captures with per-packet media control, for the quality tests (issue 4): one answered call
//! whose caller → callee RTP stream is an explicit list of packets, so loss patterns (random,
//! bursty, Gilbert), late packets and jitter spikes, DSCP re-marking, comfort noise,
//! telephone-events and VAD gaps are known exactly, packet by packet.
//!
//! The generic scenario generator ([`super::scenario`]) keeps arrival order equal to slot order
//! and G.711 framing; this one gives up its ground-truth bookkeeping for full control: the
//! caller of [`MediaCall::write`] knows every packet it put in.

use std::io::Write;
use std::net::SocketAddr;

use super::packet::{FrameBuilder, Link};
use super::pcap::{PcapWriter, TsResolution};
use super::sip::{branch, Sdp, SipDialog, SipParty, Transaction, ViaTransport};
use super::{splitmix64, SynthError};
use crate::time::Timestamp;

/// One RTP packet of the controlled stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaPacket {
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// Arrival time, µs after the media start.
    pub arrival_us: i64,
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub pt: u8,
    /// DSCP of the IP header.
    pub dscp: u8,
}

/// A regular stream: `count` packets every `ptime_ms`, seq from 1000, ts step
/// `ptime_ms · clock_khz`, marker on the first, DSCP 46.
pub fn regular(count: usize, ptime_ms: u32, pt: u8, clock_khz: u32) -> Vec<MediaPacket> {
    (0..count)
        .map(|i| {
            let k = u32::try_from(i).unwrap_or(u32::MAX);
            MediaPacket {
                seq: 1000u16.wrapping_add(k as u16),
                ts: 5000u32.wrapping_add(k.wrapping_mul(ptime_ms * clock_khz)),
                arrival_us: i64::from(k) * i64::from(ptime_ms) * 1000,
                marker: i == 0,
                pt,
                dscp: 46,
            }
        })
        .collect()
}

/// Random loss: packet `i` (never the first or last) is lost when a hash of (seed, i) falls
/// below `per_mille`/1000.
pub fn random_loss(count: usize, per_mille: u64, seed: u64) -> Vec<bool> {
    (0..count)
        .map(|i| i != 0 && i + 1 != count && splitmix64(seed ^ (i as u64).wrapping_mul(0x2545_f491)) % 1000 < per_mille)
        .collect()
}

/// Gilbert (2-state Markov) loss with P[good → lost] = `p` and P[lost → good] = `q`, both in
/// per mille; the first and last packets are kept.
pub fn gilbert_loss(count: usize, p_per_mille: u64, q_per_mille: u64, seed: u64) -> Vec<bool> {
    let mut lost = false;
    (0..count)
        .map(|i| {
            let draw = splitmix64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9)) % 1000;
            lost = if lost { draw >= q_per_mille } else { draw < p_per_mille };
            lost && i != 0 && i + 1 != count
        })
        .collect()
}

/// Keeps the packets whose flag is false.
pub fn apply_loss(packets: &[MediaPacket], lost: &[bool]) -> Vec<MediaPacket> {
    packets.iter().zip(lost.iter().chain(std::iter::repeat(&false))).filter(|(_, &l)| !l).map(|(p, _)| *p).collect()
}

/// Adds `extra_us` to the arrival of the packet with sequence number `seq` (a late packet or
/// the peak of a jitter spike); the capture is written in arrival order.
pub fn delay(packets: &mut [MediaPacket], seq: u16, extra_us: i64) {
    for p in packets.iter_mut().filter(|p| p.seq == seq) {
        p.arrival_us += extra_us;
    }
}

/// Adds bounded pseudo-random jitter of `0..=max_us` to every arrival.
pub fn add_jitter(packets: &mut [MediaPacket], max_us: u64, seed: u64) {
    if max_us == 0 {
        return;
    }
    for (i, p) in packets.iter_mut().enumerate() {
        let extra = splitmix64(seed ^ (i as u64).wrapping_mul(0x51_7cc1)) % (max_us + 1);
        p.arrival_us += i64::try_from(extra).unwrap_or(0);
    }
}

/// Re-marks the DSCP of every packet from index `from` on (a re-marking hop mid-stream).
pub fn remark_dscp(packets: &mut [MediaPacket], from: usize, dscp: u8) {
    for p in packets.iter_mut().skip(from) {
        p.dscp = dscp;
    }
}

/// Turns packets `range` into comfort-noise packets (PT 13), as a VAD sender does in silence.
pub fn comfort_noise(packets: &mut [MediaPacket], range: std::ops::Range<usize>) {
    for p in packets.iter_mut().take(range.end).skip(range.start) {
        p.pt = 13;
    }
}

/// Turns packets `range` into one RFC 4733 event (payload type `event_pt`): same timestamp
/// (the event start), marker on the first.
pub fn telephone_event(packets: &mut [MediaPacket], range: std::ops::Range<usize>, event_pt: u8) {
    let Some(start_ts) = packets.get(range.start).map(|p| p.ts) else {
        return;
    };
    for (k, p) in packets.iter_mut().take(range.end).skip(range.start).enumerate() {
        p.pt = event_pt;
        p.ts = start_ts;
        p.marker = k == 0;
    }
}

/// Silence suppression: after packet index `after`, the sender pauses `gap_ms` (timestamps and
/// arrivals jump, sequence numbers stay contiguous) and marks the next packet (RFC 3551 §4.1).
pub fn vad_gap(packets: &mut [MediaPacket], after: usize, gap_ms: u32, clock_khz: u32) {
    for (k, p) in packets.iter_mut().enumerate().skip(after + 1) {
        p.ts = p.ts.wrapping_add(gap_ms * clock_khz);
        p.arrival_us += i64::from(gap_ms) * 1000;
        if k == after + 1 {
            p.marker = true;
        }
    }
}

/// One answered call carrying the controlled stream caller → callee.
#[derive(Clone, Debug)]
pub struct MediaCall {
    /// Payload types in both SDPs (0, 8, 9, 18, 101 get rtpmaps; static ones need none).
    pub payload_types: Vec<u8>,
    /// `a=ptime`.
    pub ptime_ms: u32,
    /// The caller → callee packets (any order; written in arrival order).
    pub packets: Vec<MediaPacket>,
    /// Media start after the INVITE, ms (the 200 OK comes 50 ms before it).
    pub media_start_ms: i64,
}

const CALLER_SIG: &str = "10.1.0.1:5060";
const CALLEE_SIG: &str = "10.2.0.1:5060";
/// Caller media address (the stream's source).
pub const CALLER_MEDIA: &str = "10.1.0.1:40000";
/// Callee media address (the stream's destination, announced in the 200 OK).
pub const CALLEE_MEDIA: &str = "10.2.0.1:50000";

fn addr(s: &str) -> Result<SocketAddr, SynthError> {
    s.parse().map_err(|_| SynthError::Invalid(format!("bad address {s}")))
}

impl MediaCall {
    /// A call with the given packets, G.711 µ-law + telephone-event 101, ptime 20.
    pub fn new(packets: Vec<MediaPacket>) -> Self {
        MediaCall { payload_types: vec![0, 101], ptime_ms: 20, packets, media_start_ms: 1000 }
    }

    /// Writes the capture (classic pcap, Ethernet, µs): INVITE, 180, 200, ACK, the stream, BYE
    /// 200 ms after the last packet, 200 OK 30 ms later. The INVITE is at the 2024-03-01 10:00
    /// epoch used by the other scenarios (a multiple of 10 s, so quality windows start on it).
    pub fn write<W: Write>(&self, out: W) -> Result<(), SynthError> {
        let start = super::scenario::DEFAULT_START;
        let (caller_sig, callee_sig) = (addr(CALLER_SIG)?, addr(CALLEE_SIG)?);
        let (caller_media, callee_media) = (addr(CALLER_MEDIA)?, addr(CALLEE_MEDIA)?);
        let dialog = SipDialog {
            call_id: "quality-call@callscope".into(),
            caller: SipParty { display: "Alice".into(), user: "alice".into(), sig: caller_sig, tag: "a1".into() },
            callee: SipParty { display: "Bob".into(), user: "bob".into(), sig: callee_sig, tag: "b1".into() },
            transport: ViaTransport::Udp,
        };
        let sdp = |owner: &str, media: SocketAddr| Sdp {
            owner: owner.into(),
            session_id: 1,
            version: 1,
            addr: media.ip(),
            port: media.port(),
            payload_types: self.payload_types.clone(),
            ptime_ms: self.ptime_ms,
            direction: "sendrecv",
            extra_attributes: Vec::new(),
        };
        let tx = |method: &'static str, cseq: u32, n: u64, in_dialog: bool| Transaction {
            method,
            from_caller: true,
            branch: branch(7, n),
            cseq,
            to_tagged: in_dialog,
            uri_is_contact: in_dialog,
        };
        let invite = tx("INVITE", 1, 1, false);
        let (offer, answer) = (sdp("alice", caller_media).render(), sdp("bob", callee_media).render());
        let media_ms = self.media_start_ms;
        let last_arrival_ms = self.packets.iter().map(|p| p.arrival_us).max().unwrap_or(0) / 1000;
        let bye_ms = media_ms + last_arrival_ms + 200;
        let ack = tx("ACK", 1, 2, true);
        let bye = tx("BYE", 2, 3, true);
        // (time ms after start, from caller, text)
        let sip: Vec<(i64, bool, String)> = vec![
            (0, true, dialog.request(&invite, &[], Some(("application/sdp", &offer)))),
            (40, false, dialog.response(&invite, 180, &[], None)),
            (media_ms - 50, false, dialog.response(&invite, 200, &[], Some(("application/sdp", &answer)))),
            (media_ms - 40, true, dialog.request(&ack, &[], None)),
            (bye_ms, true, dialog.request(&bye, &[], None)),
            (bye_ms + 30, false, dialog.response(&bye, 200, &[], None)),
        ];
        enum Item<'a> {
            Sip(bool, &'a str),
            Rtp(&'a MediaPacket),
        }
        let mut items: Vec<(i64, Item<'_>)> =
            sip.iter().map(|(ms, from_caller, text)| (ms * 1_000_000, Item::Sip(*from_caller, text))).collect();
        items.extend(self.packets.iter().map(|p| ((media_ms * 1000 + p.arrival_us) * 1000, Item::Rtp(p))));
        items.sort_by_key(|(t, _)| *t);
        let mut fb = FrameBuilder::new(Link::Ethernet { vlans: Vec::new() }, 1);
        let mut writer =
            PcapWriter::new(out, Link::Ethernet { vlans: Vec::new() }.pcap_link_type(), TsResolution::Micro)?;
        let mut frame = Vec::with_capacity(512);
        let mut rtp = Vec::with_capacity(200);
        for (t_ns, item) in items {
            match item {
                Item::Sip(from_caller, text) => {
                    let (src, dst) = if from_caller { (caller_sig, callee_sig) } else { (callee_sig, caller_sig) };
                    fb.udp(src, dst, 24, text.as_bytes(), &mut frame)?;
                }
                Item::Rtp(p) => {
                    rtp.clear();
                    rtp.push(0x80);
                    rtp.push(if p.marker { 0x80 } else { 0 } | (p.pt & 0x7f));
                    rtp.extend_from_slice(&p.seq.to_be_bytes());
                    rtp.extend_from_slice(&p.ts.to_be_bytes());
                    rtp.extend_from_slice(&0x5157_0001u32.to_be_bytes());
                    let len = if p.pt == 13 {
                        1
                    } else if p.pt >= 96 {
                        4
                    } else {
                        160
                    };
                    rtp.extend((0..len).map(|k| 0xFFu8 ^ (k % 7) as u8));
                    fb.udp(caller_media, callee_media, p.dscp, &rtp, &mut frame)?;
                }
            }
            writer.write_packet(Timestamp(start.0 + t_ns), &frame)?;
        }
        writer.into_inner()?.flush()?;
        Ok(())
    }

    /// Writes the capture to a file.
    pub fn write_file(&self, path: &std::path::Path) -> Result<(), SynthError> {
        self.write(std::io::BufWriter::new(crate::report::create_output_file(path)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_do_what_they_say() {
        let pkts = regular(100, 20, 0, 8);
        assert_eq!((pkts[1].seq, pkts[1].ts, pkts[1].arrival_us), (1001, 5160, 20_000));
        let lost = random_loss(1000, 50, 1);
        let n = lost.iter().filter(|&&l| l).count();
        assert!((30..70).contains(&n), "{n}");
        assert!(!lost[0] && !lost[999]);
        let g = gilbert_loss(1000, 10, 200, 1);
        assert!(g.iter().filter(|&&l| l).count() > 0);
        let mut p = regular(10, 20, 0, 8);
        telephone_event(&mut p, 2..5, 101);
        assert_eq!((p[2].pt, p[2].marker, p[3].ts, p[4].marker), (101, true, p[2].ts, false));
        vad_gap(&mut p, 6, 1000, 8);
        assert_eq!((p[7].seq, p[7].marker, p[7].ts - p[6].ts), (1007, true, 8160));
        let mut out = Vec::new();
        MediaCall::new(p).write(&mut out).unwrap();
        assert!(out.len() > 24 + 10 * 200);
    }
}
