//! RTP streams of one media direction, generated lazily in arrival order with faults whose
//! effect on the quality-metrics.md §1.3 counters is known by construction.
//!
//! A direction is a run of packet *slots* every `ptime` from its start; it is cut into *legs*
//! (a new leg when the SSRC changes or a re-INVITE moves the media): each leg is one stream
//! (src, dst, SSRC). Fault rules that keep the truth exact:
//! * the first and last packet of every leg are never lost, duplicated or swapped, so the
//!   stream's `expected` is exactly the number of sequence numbers the leg used;
//! * a swapped pair (i, i+1) stays inside one leg, is neither lost nor duplicated, and swap
//!   entries closer than 2 apart are dropped: each swap yields exactly one out-of-order packet;
//! * a duplicate arrives 1 ms after its original; jitter is at most `ptime/2 − 1 ms`, so
//!   arrival times never cross and the arrival order is the slot order.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::packet::FrameBuilder;
use super::splitmix64;
use super::truth::{Direction, StreamTruth};
use super::SynthError;
use crate::time::Timestamp;

/// Which packets of a direction are dropped (indexes count slots from the direction's start).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Loss {
    /// Nothing dropped.
    #[default]
    None,
    /// These slot indexes are dropped.
    Indexes(Vec<usize>),
    /// Each slot dropped with probability `per_mille`/1000, decided by a hash of (seed, index).
    Random {
        /// Loss probability in thousandths.
        per_mille: u32,
        /// Seed of the decision hash.
        seed: u64,
    },
}

/// Network faults applied to one direction.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MediaFaults {
    /// Dropped packets.
    pub loss: Loss,
    /// Slot indexes whose packet arrives twice (the copy 1 ms later).
    pub duplicates: Vec<usize>,
    /// Slot indexes `i` whose packet arrives after packet `i + 1` (they swap arrival slots).
    pub swaps: Vec<usize>,
    /// Maximum extra arrival delay in µs (uniform, hashed per slot); clamped to ptime/2 − 1 ms.
    pub jitter_max_us: u32,
    /// Seed of the jitter hash.
    pub jitter_seed: u64,
}

/// One stream of a direction: `count` consecutive slots sharing (src, dst, SSRC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegSpec {
    /// Slots in this leg.
    pub count: usize,
    /// Source on the wire.
    pub src: SocketAddr,
    /// Destination on the wire.
    pub dst: SocketAddr,
    /// SSRC.
    pub ssrc: u32,
    /// Sequence number of the leg's first slot (wraps at 65535).
    pub seq0: u16,
    /// RTP timestamp of the leg's first slot.
    pub ts0: u32,
}

#[derive(Clone, Debug)]
struct Leg {
    spec: LegSpec,
    first_slot: usize,
    packets: u64,
    lost: u64,
    duplicates: u64,
    out_of_order: u64,
    first_time: Option<Timestamp>,
    last_time: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    time: Timestamp,
    slot: usize,
}

/// Lazily generated RTP packets of one direction.
#[derive(Debug)]
pub struct RtpDirection {
    legs: Vec<Leg>,
    total_slots: usize,
    start: Timestamp,
    ptime_ns: i64,
    samples_per_packet: u32,
    payload_type: u8,
    dscp: u8,
    faults: MediaFaults,
    jitter_max_us: u32,
    next_slot: usize,
    pending: VecDeque<Pending>,
    scratch: Vec<u8>,
}

impl RtpDirection {
    /// A direction starting at `start`, one packet per `ptime_ms` (8 kHz clock: G.711 20 ms =
    /// 160 samples), made of the given legs in order.
    pub fn new(
        start: Timestamp,
        ptime_ms: u32,
        payload_type: u8,
        dscp: u8,
        legs: Vec<LegSpec>,
        mut faults: MediaFaults,
    ) -> Result<Self, SynthError> {
        if ptime_ms < 4 {
            return Err(SynthError::Invalid("ptime below 4 ms".into()));
        }
        let mut first_slot = 0usize;
        let legs: Vec<Leg> = legs
            .into_iter()
            .map(|spec| {
                let leg = Leg {
                    first_slot,
                    packets: 0,
                    lost: 0,
                    duplicates: 0,
                    out_of_order: 0,
                    first_time: None,
                    last_time: None,
                    spec,
                };
                first_slot += leg.spec.count;
                leg
            })
            .collect();
        if let Loss::Indexes(v) = &mut faults.loss {
            v.sort_unstable();
        }
        faults.duplicates.sort_unstable();
        faults.swaps.sort_unstable();
        faults.swaps.dedup();
        let mut kept: Vec<usize> = Vec::with_capacity(faults.swaps.len());
        for &s in &faults.swaps {
            if kept.last().is_none_or(|&k| s >= k + 2) {
                kept.push(s);
            }
        }
        faults.swaps = kept;
        let jitter_max_us = faults.jitter_max_us.min(ptime_ms * 500 - 1000);
        Ok(RtpDirection {
            legs,
            total_slots: first_slot,
            start,
            ptime_ns: i64::from(ptime_ms) * 1_000_000,
            samples_per_packet: ptime_ms * 8,
            payload_type,
            dscp,
            faults,
            jitter_max_us,
            next_slot: 0,
            pending: VecDeque::with_capacity(2),
            scratch: Vec::with_capacity(256),
        })
    }

    fn leg_index(&self, slot: usize) -> Option<usize> {
        self.legs.iter().position(|l| slot >= l.first_slot && slot < l.first_slot + l.spec.count)
    }

    /// First or last slot of its leg (never faulted).
    fn is_edge(&self, slot: usize) -> bool {
        match self.leg_index(slot) {
            Some(i) => {
                let l = &self.legs[i];
                slot == l.first_slot || slot + 1 == l.first_slot + l.spec.count
            }
            None => true,
        }
    }

    fn lost(&self, slot: usize) -> bool {
        let raw = match &self.faults.loss {
            Loss::None => false,
            Loss::Indexes(v) => v.binary_search(&slot).is_ok(),
            Loss::Random { per_mille, seed } => {
                splitmix64(seed ^ (slot as u64).wrapping_mul(0x2545_f491)) % 1000 < u64::from(*per_mille)
            }
        };
        raw && !self.is_edge(slot)
    }

    fn raw_dup(&self, slot: usize) -> bool {
        self.faults.duplicates.binary_search(&slot).is_ok()
    }

    /// A valid swap of `slot` and `slot + 1` (see the module rules).
    fn swap_at(&self, slot: usize) -> bool {
        self.faults.swaps.binary_search(&slot).is_ok()
            && self.leg_index(slot) == self.leg_index(slot + 1)
            && !self.is_edge(slot)
            && !self.is_edge(slot + 1)
            && !self.lost(slot)
            && !self.lost(slot + 1)
            && !self.raw_dup(slot)
            && !self.raw_dup(slot + 1)
    }

    fn dup(&self, slot: usize) -> bool {
        let second_of_swap = slot > 0 && self.swap_at(slot - 1);
        self.raw_dup(slot) && !self.is_edge(slot) && !self.lost(slot) && !self.swap_at(slot) && !second_of_swap
    }

    fn slot_time(&self, slot: usize) -> Timestamp {
        let jitter_us = if self.jitter_max_us == 0 {
            0
        } else {
            splitmix64(self.faults.jitter_seed ^ (slot as u64).wrapping_mul(0x9e37_79b9))
                % (u64::from(self.jitter_max_us) + 1)
        };
        Timestamp(self.start.0 + self.ptime_ns * slot as i64 + i64::try_from(jitter_us).unwrap_or(0) * 1000)
    }

    /// Fills `pending` from the next slots until a packet is due or the direction ends.
    fn refill(&mut self) {
        while self.pending.is_empty() && self.next_slot < self.total_slots {
            let slot = self.next_slot;
            self.next_slot += 1;
            let t = self.slot_time(slot);
            if self.swap_at(slot) {
                self.pending.push_back(Pending { time: t, slot: slot + 1 });
                if let Some(li) = self.leg_index(slot) {
                    self.legs[li].out_of_order += 1;
                }
            } else if slot > 0 && self.swap_at(slot - 1) {
                self.pending.push_back(Pending { time: t, slot: slot - 1 });
            } else if self.lost(slot) {
                if let Some(li) = self.leg_index(slot) {
                    self.legs[li].lost += 1;
                }
            } else {
                self.pending.push_back(Pending { time: t, slot });
                if self.dup(slot) {
                    self.pending.push_back(Pending { time: Timestamp(t.0 + 1_000_000), slot });
                    if let Some(li) = self.leg_index(slot) {
                        self.legs[li].duplicates += 1;
                    }
                }
            }
        }
    }

    /// Arrival time of the next packet, or `None` when the direction is finished.
    pub fn peek_time(&mut self) -> Option<Timestamp> {
        self.refill();
        self.pending.front().map(|p| p.time)
    }

    /// Builds the next packet's frame into `out`; returns its arrival time.
    pub fn emit(&mut self, fb: &mut FrameBuilder, out: &mut Vec<u8>) -> Result<Option<Timestamp>, SynthError> {
        self.refill();
        let Some(p) = self.pending.pop_front() else {
            return Ok(None);
        };
        let li = self.leg_index(p.slot).ok_or_else(|| SynthError::Invalid("slot outside every leg".into()))?;
        let leg = &mut self.legs[li];
        let local = p.slot - leg.first_slot;
        // Sequence numbers and timestamps wrap (RFC 3550 §5.1): truncation is the intent.
        let seq = leg.spec.seq0.wrapping_add(local as u16);
        let ts = leg.spec.ts0.wrapping_add(self.samples_per_packet.wrapping_mul(local as u32));
        let marker = local == 0;
        let b = &mut self.scratch;
        b.clear();
        b.push(0x80); // V=2, no padding, no extension, no CSRC
        b.push(if marker { 0x80 } else { 0 } | (self.payload_type & 0x7f));
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&ts.to_be_bytes());
        b.extend_from_slice(&leg.spec.ssrc.to_be_bytes());
        // G.711 samples near silence with a little variation (0xFF / 0xD5 are μ-law / A-law zero),
        // so payload checks do not see an all-constant "silent" payload.
        let zero = if self.payload_type == 8 { 0xD5u8 } else { 0xFF };
        let samples = self.samples_per_packet as usize;
        b.extend((0..samples).map(|k| zero ^ (((k + local) % 7) as u8)));
        fb.udp(leg.spec.src, leg.spec.dst, self.dscp, b, out)?;
        leg.packets += 1;
        leg.first_time.get_or_insert(p.time);
        leg.last_time = Some(p.time);
        Ok(Some(p.time))
    }

    /// Truth for each leg that emitted packets, after the direction is exhausted.
    pub fn finish(&self, call_id: Option<&str>, direction: Direction) -> Vec<StreamTruth> {
        self.legs
            .iter()
            .filter_map(|l| {
                let (first, last) = (l.first_time?, l.last_time?);
                let expected = l.spec.count as u64;
                Some(StreamTruth {
                    call_id: call_id.map(str::to_owned),
                    direction: Some(direction),
                    src: l.spec.src.to_string(),
                    dst: l.spec.dst.to_string(),
                    ssrc: format!("0x{:08X}", l.spec.ssrc),
                    payload_type: self.payload_type,
                    dscp: self.dscp,
                    first_time: first.rfc3339(),
                    last_time: last.rfc3339(),
                    packets: l.packets,
                    expected,
                    lost: expected as i64 - l.packets as i64,
                    duplicates: l.duplicates,
                    out_of_order: l.out_of_order,
                    seq_restarts: 0,
                })
            })
            .collect()
    }

    /// Packets dropped so far, summed over legs (a cross-check of `lost` without duplicates).
    pub fn dropped(&self) -> u64 {
        self.legs.iter().map(|l| l.lost).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::packet::Link;

    fn leg(count: usize, seq0: u16, ssrc: u32) -> LegSpec {
        LegSpec {
            count,
            src: "10.0.0.1:4000".parse().unwrap(),
            dst: "10.0.0.2:5000".parse().unwrap(),
            ssrc,
            seq0,
            ts0: 1000,
        }
    }

    /// Runs a direction and returns (arrival times, seqs) plus its truth.
    fn run(mut d: RtpDirection) -> (Vec<(i64, u16)>, Vec<StreamTruth>) {
        let mut fb = FrameBuilder::new(Link::RawIp, 1);
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for _ in 0..100_000 {
            let Some(t) = d.emit(&mut fb, &mut out).unwrap() else {
                break;
            };
            let seq = u16::from_be_bytes([out[30], out[31]]);
            seen.push((t.0, seq));
        }
        let truth = d.finish(Some("c"), Direction::CallerToCallee);
        (seen, truth)
    }

    #[test]
    fn faults_give_exact_counters() {
        let faults = MediaFaults {
            loss: Loss::Indexes(vec![0, 5, 6, 9]), // 0 is an edge: ignored
            duplicates: vec![3, 5],                // 5 is lost: ignored
            swaps: vec![7, 8, 12],                 // 8 too close to 7: dropped
            jitter_max_us: 0,
            jitter_seed: 0,
        };
        let d = RtpDirection::new(Timestamp(0), 20, 0, 46, vec![leg(20, 65530, 7)], faults).unwrap();
        let (seen, truth) = run(d);
        let seqs: Vec<u16> = seen.iter().map(|s| s.1).collect();
        assert_eq!(seqs, [65530, 65531, 65532, 65533, 65533, 65534, 2, 1, 4, 5, 7, 6, 8, 9, 10, 11, 12, 13]);
        let t = &truth[0];
        assert_eq!((t.packets, t.expected, t.lost, t.duplicates, t.out_of_order), (18, 20, 2, 1, 2));
        // arrival times are non-decreasing
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn legs_make_separate_streams_and_jitter_keeps_order() {
        let faults = MediaFaults {
            loss: Loss::Random { per_mille: 100, seed: 3 },
            jitter_max_us: 50_000, // clamped to 9 ms
            jitter_seed: 9,
            duplicates: (0..500).step_by(37).collect(),
            swaps: (0..500).step_by(23).collect(),
        };
        let d = RtpDirection::new(Timestamp(0), 20, 8, 46, vec![leg(250, 100, 1), leg(250, 9000, 2)], faults).unwrap();
        let (seen, truth) = run(d);
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(truth.len(), 2);
        let total: u64 = truth.iter().map(|t| t.packets).sum();
        assert_eq!(total as usize, seen.len());
        for t in &truth {
            assert_eq!(t.expected, 250);
            assert_eq!(t.expected as i64 - t.packets as i64, t.lost);
            assert!(t.lost > 0 && t.duplicates > 0 && t.out_of_order > 0);
        }
    }
}
