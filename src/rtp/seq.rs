//! Sequence-number bookkeeping: RFC 3550 A.1 (callscope's `expected`/`lost`, duplicates,
//! out-of-order, restarts; quality-metrics.md §1.3) and tshark's own rules (Lost §1.4, sequence
//! errors §1.5).
//!
//! Seen-window choice: the A.1 procedure of §1.3 only ever asks "was `ext` seen?" for packets
//! in the late branch (at most `MAX_MISORDER − 1` = 99 behind the highest extended number) or for
//! `seq == max` (offset 0). A window of the 128 extended numbers ending at `max` therefore gives
//! exactly the answers of the ±32768 bitmap the reference describes, in 16 bytes instead of
//! 8 KiB. What it cannot see — and what §1.3 does not ask either — is a copy of a packet more than
//! 100 behind `max`: such a packet takes the "jump" branch (it is held as a possible restart),
//! never the duplicate check.

/// RFC 3550 A.1 `MAX_DROPOUT`.
pub const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1 `MAX_MISORDER`.
pub const MAX_MISORDER: u16 = 100;
/// RFC 3550 A.1 `RTP_SEQ_MOD`.
const SEQ_MOD: i64 = 1 << 16;
/// Width of the seen-window in extended sequence numbers (see the module docs).
const WINDOW_BITS: i64 = 128;

/// What the A.1 bookkeeping made of one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqOutcome {
    /// Counted in `received`.
    Accepted {
        /// Its extended number had been seen before.
        duplicate: bool,
        /// Not a duplicate, and below the highest number at arrival.
        out_of_order: bool,
    },
    /// A large jump, held until the next packet confirms a restart (not in `received`).
    Held,
    /// The second packet of a confirmed restart: a new segment began.
    Restarted,
}

/// RFC 3550 A.1 state without probation (quality-metrics.md §1.3).
#[derive(Clone, Debug)]
pub struct Rfc3550Seq {
    base: i64,
    max: u16,
    cycles: i64,
    received: u64,
    bad: Option<u16>,
    /// Bit `i` set ⇔ extended number `cycles + max − i` was seen (i < 128).
    seen: u128,
    closed_expected: i64,
    closed_received: u64,
    /// Extended number of the last packet accepted (or of the restart packet).
    last_ext: i64,
}

impl Rfc3550Seq {
    /// State after the first packet (§1.3 step 1).
    pub fn new(seq: u16) -> Self {
        Rfc3550Seq {
            base: i64::from(seq),
            max: seq,
            cycles: 0,
            received: 1,
            bad: None,
            seen: 1,
            closed_expected: 0,
            closed_received: 0,
            last_ext: i64::from(seq),
        }
    }

    /// Highest extended sequence number of the current segment.
    pub fn ext_max(&self) -> i64 {
        self.cycles + i64::from(self.max)
    }

    /// Extended number (`cycles + seq`, within the current segment) of the last packet that
    /// was accepted or restarted a segment; may be below 0 for a late packet of cycle 0.
    pub fn last_ext(&self) -> i64 {
        self.last_ext
    }

    /// Σ over segments of `(cycles + max) − base + 1`.
    pub fn expected(&self) -> i64 {
        self.closed_expected + self.ext_max() - self.base + 1
    }

    /// Packets counted as received (duplicates included, held jumps excluded).
    pub fn received(&self) -> u64 {
        self.closed_received + self.received
    }

    /// §1.3 step 2 and 3 for one later packet.
    pub fn update(&mut self, seq: u16) -> SeqOutcome {
        let udelta = seq.wrapping_sub(self.max);
        let old_ext_max = self.ext_max();
        let ext = if udelta < MAX_DROPOUT {
            // In order, with a permissible gap.
            if seq < self.max {
                self.cycles += SEQ_MOD;
            }
            self.max = seq;
            let shift = self.ext_max() - old_ext_max;
            self.seen = if shift >= WINDOW_BITS {
                0
            } else {
                // 0 ≤ shift < 128.
                self.seen << u32::try_from(shift).unwrap_or(0)
            };
            self.ext_max()
        } else if udelta <= u16::MAX - MAX_MISORDER + 1 {
            // A jump: udelta ≤ MOD − MAX_MISORDER.
            if self.bad == Some(seq) {
                self.restart(seq);
                return SeqOutcome::Restarted;
            }
            self.bad = Some(seq.wrapping_add(1));
            return SeqOutcome::Held;
        } else {
            // Late or duplicate; belongs to the previous cycle when above max.
            let mut ext = self.cycles + i64::from(seq);
            if seq > self.max {
                ext -= SEQ_MOD;
            }
            ext
        };
        self.received += 1;
        self.last_ext = ext;
        let offset = self.ext_max() - ext;
        let bit = if (0..WINDOW_BITS).contains(&offset) { 1u128 << u32::try_from(offset).unwrap_or(0) } else { 0 };
        let duplicate = bit != 0 && self.seen & bit != 0;
        self.seen |= bit;
        SeqOutcome::Accepted { duplicate, out_of_order: !duplicate && ext < old_ext_max }
    }

    /// Confirmed restart: close the segment, open a new one holding this packet and the one
    /// that set `bad` (§1.3 step 2).
    fn restart(&mut self, seq: u16) {
        self.closed_expected += self.ext_max() - self.base + 1;
        self.closed_received += self.received;
        self.base = i64::from(seq) - 1;
        self.max = seq;
        self.cycles = 0;
        self.received = 2;
        self.bad = None;
        self.seen = 0b11;
        self.last_ext = i64::from(seq);
    }
}

/// tshark's Lost (§1.4) and sequence errors (§1.5).
#[derive(Clone, Debug)]
pub struct TsharkSeq {
    start: u16,
    stop: u16,
    last: u16,
    cycles: u32,
    under: bool,
}

impl TsharkSeq {
    /// State after the first packet.
    pub fn new(seq: u16) -> Self {
        TsharkSeq { start: seq, stop: seq, last: seq, cycles: 0, under: false }
    }

    /// One later packet; returns true when it is a sequence error (§1.5).
    pub fn update(&mut self, seq: u16, in_time_sequence: bool) -> bool {
        if in_time_sequence {
            // §1.4 wrap detection, against the first packet's number.
            let wrapped = seq < self.start || (seq == 0 && self.stop == u16::MAX);
            if wrapped && !self.under {
                self.cycles = self.cycles.wrapping_add(1);
                self.under = true;
            } else if seq > self.start && self.under {
                self.under = false;
            }
        }
        // §1.5 in i32, as C promotes guint16 to int: 65535 + 1 must not wrap.
        let s = i32::from(seq);
        let last = i32::from(self.last);
        let next = s == last + 1 || (last == 65535 && s == 0);
        let error = if in_time_sequence && next {
            self.last = seq;
            false
        } else if in_time_sequence && (s > last + 1 || last - s > 0xFF00) {
            self.last = seq;
            true
        } else {
            s < last + 1
        };
        self.stop = seq;
        error
    }

    /// tshark's expected, unsigned 32-bit with wrapping.
    pub fn expected(&self) -> u32 {
        u32::from(self.stop)
            .wrapping_add(self.cycles.wrapping_mul(65536))
            .wrapping_sub(u32::from(self.start))
            .wrapping_add(1)
    }

    /// tshark's Lost = expected − Pkts as signed 32-bit.
    pub fn lost(&self, packets: u64) -> i32 {
        // Truncation to 32 bits is tshark's arithmetic (guint32 counters).
        self.expected().wrapping_sub(packets as u32) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run_rfc(seqs: &[u16]) -> (Rfc3550Seq, u64, u64, u64) {
        let mut s = Rfc3550Seq::new(seqs[0]);
        let (mut dup, mut ooo, mut restarts) = (0, 0, 0);
        for &q in &seqs[1..] {
            match s.update(q) {
                SeqOutcome::Accepted { duplicate, out_of_order } => {
                    dup += u64::from(duplicate);
                    ooo += u64::from(out_of_order);
                }
                SeqOutcome::Restarted => restarts += 1,
                SeqOutcome::Held => {}
            }
        }
        (s, dup, ooo, restarts)
    }

    #[test]
    fn restart_after_two_consecutive_jumps() {
        let (s, dup, ooo, restarts) = run_rfc(&[10, 11, 12, 40000, 40001, 40002]);
        assert_eq!(restarts, 1);
        assert_eq!((dup, ooo), (0, 0));
        // Segment 1: 10..12 → 3 expected, 3 received. Segment 2 opens at 40001 with
        // base = 40000 (the held packet that set `bad`), received = 2; 40002 makes it 3/3.
        assert_eq!(s.expected(), 3 + 3);
        assert_eq!(s.received(), 3 + 3);
    }

    #[test]
    fn single_jump_is_held() {
        let (s, _, _, restarts) = run_rfc(&[10, 11, 40000, 12, 13]);
        assert_eq!(restarts, 0);
        assert_eq!(s.expected(), 4);
        assert_eq!(s.received(), 4);
    }

    #[test]
    fn tshark_wrap_and_error() {
        let mut t = TsharkSeq::new(65533);
        let errors: Vec<bool> = [65534u16, 0, 1, 2, 3].iter().map(|&q| t.update(q, true)).collect();
        // 65534 → 0 skips 65535: last − seq = 65534 > 0xFF00, an error (vector S2).
        assert_eq!(errors, vec![false, true, false, false, false]);
        assert_eq!(t.expected(), 7);
        assert_eq!(t.lost(6), 1);
    }

    proptest! {
        /// Extended numbers follow a wrapping sequence exactly.
        #[test]
        fn extended_seq_across_wraps(start in any::<u16>(), steps in proptest::collection::vec(1u16..MAX_DROPOUT, 1..200)) {
            let mut s = Rfc3550Seq::new(start);
            let mut ext = i64::from(start);
            let mut seq = start;
            for step in steps {
                seq = seq.wrapping_add(step);
                ext += i64::from(step);
                let out = s.update(seq);
                prop_assert_eq!(out, SeqOutcome::Accepted { duplicate: false, out_of_order: false });
                prop_assert_eq!(s.ext_max(), ext);
                prop_assert_eq!(s.expected(), ext - i64::from(start) + 1);
            }
        }

        /// Any reordering (within MAX_MISORDER) and duplication of a contiguous range keeps
        /// lost = expected − received, with duplicates counted exactly.
        #[test]
        fn lost_is_expected_minus_received(
            start in any::<u16>(),
            len in 2usize..300,
            swaps in proptest::collection::vec((0usize..300, 1usize..50), 0..40),
            dups in proptest::collection::vec((0usize..300, 1usize..40), 0..20),
        ) {
            let mut order: Vec<u16> = (0..len).map(|i| start.wrapping_add(i as u16)).collect();
            for (i, d) in swaps {
                let a = i % len;
                let b = (a + d).min(len - 1);
                if a != 0 && b != 0 {
                    order.swap(a, b);
                }
            }
            let mut dup_count = 0u64;
            for (i, back) in dups {
                let at = 1 + i % (order.len() - 1);
                // A copy of a packet already sent, at most `back` positions earlier.
                let src = at.saturating_sub(back % at);
                let copy = order[src];
                order.insert(at, copy);
                dup_count += 1;
            }
            // Oracle, on offsets from `start`: every late packet within MAX_MISORDER of the
            // highest offset seen so far (else A.1 rightly treats it as a jump).
            let mut seen = vec![false; len];
            let (mut hi, mut want_dup, mut want_ooo) = (0usize, 0u64, 0u64);
            for &q in &order {
                let off = usize::from(q.wrapping_sub(start));
                prop_assume!(off + usize::from(MAX_MISORDER) > hi);
                if seen[off] {
                    want_dup += 1;
                } else if off < hi {
                    want_ooo += 1;
                }
                seen[off] = true;
                hi = hi.max(off);
            }
            let (s, dup, ooo, restarts) = run_rfc(&order);
            prop_assert_eq!(restarts, 0);
            prop_assert_eq!(s.expected(), len as i64);
            prop_assert_eq!(s.received(), order.len() as u64);
            prop_assert_eq!(s.expected() - s.received() as i64, -(dup_count as i64));
            prop_assert_eq!(dup, want_dup);
            prop_assert_eq!(dup, dup_count);
            prop_assert_eq!(ooo, want_ooo);
        }
    }
}
