//! Ready-made scenarios with known truth (one fault or outcome each), the [`mixed`] benchmark
//! generator, and [`write_all_fixtures`] which writes them as `<name>.pcap` +
//! `<name>.truth.json`.
//!
//! Addresses come from private ranges (RFC 1918), documentation ranges (RFC 5737 203.0.113.0/24
//! as the "public" NAT side) and 2001:db8::/32 for IPv6 (RFC 3849).

use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::packet::{FragmentOrder, Link};
use super::rtp::Loss;
use super::scenario::{CallSpec, Fragmenting, Nat, OutcomeSpec, ReInvite, Scenario, SipTransport};
use super::truth::{Party, Truth};
use super::{SynthError, XorShift64};

fn sa(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)
}

const CALLER: [u8; 4] = [10, 1, 0, 10];
const CALLEE: [u8; 4] = [10, 2, 0, 20];

/// The base call of the named scenarios: 10.1.0.10 → 10.2.0.20, answered after 3 s (180 at
/// 0.8 s), 10 s of two-way G.711 µ-law, caller hangs up.
fn base_call(name: &str) -> CallSpec {
    CallSpec::answered(&format!("{name}-1@10.1.0.10"), sa(CALLER, 5060), sa(CALLEE, 5060), 100, 10_000)
}

fn one_call(name: &str, seed: u64, edit: impl FnOnce(&mut CallSpec)) -> Scenario {
    let mut c = base_call(name);
    edit(&mut c);
    Scenario::new(name, seed).call(c)
}

/// Answered call, two-way media without faults.
pub fn clean_call() -> Scenario {
    one_call("clean_call", 1, |_| {})
}

/// Callee → caller loses slots 50–52, 100, 200, 300 (6 packets); caller → callee is clean.
pub fn loss_one_direction() -> Scenario {
    one_call("loss_one_direction", 2, |c| {
        c.media.callee_to_caller.faults.loss = Loss::Indexes(vec![50, 51, 52, 100, 200, 300]);
    })
}

/// The callee never sends RTP.
pub fn one_way_audio() -> Scenario {
    one_call("one_way_audio", 3, |c| c.media.callee_to_caller.enabled = false)
}

/// Caller behind NAT: SIP and SDP say 192.168.1.10, packets come from 203.0.113.10 (SIP port
/// 5060, RTP port 61000) and the callee sends its RTP there.
pub fn nat_private_sdp() -> Scenario {
    one_call("nat_private_sdp", 4, |c| {
        c.caller = sa([203, 0, 113, 10], 5060);
        c.caller_media = sa([203, 0, 113, 10], 61000);
        c.caller_nat =
            Some(Nat { private_sig: sa([192, 168, 1, 10], 5060), private_media: sa([192, 168, 1, 10], 40000) });
        c.call_id = "nat_private_sdp-1@192.168.1.10".into();
    })
}

/// 486 Busy Here 200 ms after the INVITE, no ringing.
pub fn busy_486() -> Scenario {
    one_call("busy_486", 5, |c| {
        c.ringing_ms = None;
        c.outcome = OutcomeSpec::busy(200);
    })
}

/// 404 Not Found 100 ms after the INVITE.
pub fn not_found_404() -> Scenario {
    one_call("not_found_404", 6, |c| {
        c.ringing_ms = None;
        c.outcome = OutcomeSpec::not_found(100);
    })
}

/// 603 Decline after 2 s of ringing.
pub fn rejected_603() -> Scenario {
    one_call("rejected_603", 17, |c| c.outcome = OutcomeSpec::rejected(2800))
}

/// 180 at 0.8 s, CANCEL at 6 s, 200 (CANCEL), 487, ACK.
pub fn cancel_487() -> Scenario {
    one_call("cancel_487", 7, |c| c.outcome = OutcomeSpec::Cancelled { at_ms: 6000 })
}

/// 180 at 0.8 s, then 408 Request Timeout at 30 s (outcome `no_answer`).
pub fn ringing_then_408() -> Scenario {
    one_call("ringing_then_408", 8, |c| c.outcome = OutcomeSpec::Final { status: 408, at_ms: 30_000 })
}

/// 20 s call; at 8 s after answer the callee re-INVITEs and moves its media to
/// 10.2.0.21:52000: four streams (two per direction).
pub fn reinvite_moves_media() -> Scenario {
    one_call("reinvite_moves_media", 9, |c| {
        c.outcome = OutcomeSpec::Answered { answer_ms: 3000, talk_ms: 20_000, ended_by: Party::Callee };
        c.reinvite = Some(ReInvite { after_answer_ms: 8000, by: Party::Callee, new_media: sa([10, 2, 0, 21], 52000) });
    })
}

/// SIP over TCP with a handshake; the INVITE is split into segments of 200, 300 and the rest.
pub fn sip_over_tcp_split() -> Scenario {
    one_call("sip_over_tcp_split", 10, |c| {
        c.caller = sa(CALLER, 49152);
        c.transport = SipTransport::Tcp { handshake: true, invite_segments: vec![200, 300] };
    })
}

/// The clean call over IPv6.
pub fn ipv6_call() -> Scenario {
    one_call("ipv6_call", 11, |c| {
        let a: IpAddr = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10));
        let b: IpAddr = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x20));
        c.caller = SocketAddr::new(a, 5060);
        c.callee = SocketAddr::new(b, 5060);
        c.caller_media = SocketAddr::new(a, 40000);
        c.callee_media = SocketAddr::new(b, 50000);
        c.call_id = "ipv6_call-1@2001:db8:1::10".into();
    })
}

/// The clean call on QinQ: outer VLAN 100 (TPID 0x88A8), inner VLAN 200.
pub fn vlan_call() -> Scenario {
    let mut s = one_call("vlan_call", 12, |_| {});
    s.link = Link::Ethernet { vlans: vec![100, 200] };
    s
}

/// The INVITE's SDP is padded by ~1.5 kB (INVITE ≈ 2.3 kB), so it travels in two IPv4 fragments (1480 bytes of
/// datagram each at most, the Ethernet MTU).
pub fn ipv4_fragmented_invite() -> Scenario {
    one_call("ipv4_fragmented_invite", 13, |c| {
        c.sdp_padding = 1500;
        c.fragment_invite = Some(Fragmenting { max_fragment_payload: 1480, order: FragmentOrder::InOrder });
    })
}

/// Both directions start at sequence number 65400 and wrap past 65535.
pub fn seq_wrap() -> Scenario {
    one_call("seq_wrap", 14, |c| {
        c.media.caller_to_callee.seq0 = Some(65400);
        c.media.callee_to_caller.seq0 = Some(65400);
    })
}

/// Caller → callee duplicates slots 10, 20, 30, 40, 50 (lost = −5).
pub fn duplicates() -> Scenario {
    one_call("duplicates", 15, |c| {
        c.media.caller_to_callee.faults.duplicates = vec![10, 20, 30, 40, 50];
    })
}

/// Caller → callee swaps slots (10,11), (30,31), (50,51), (70,71): 4 out-of-order packets.
pub fn reordering() -> Scenario {
    one_call("reordering", 16, |c| {
        c.media.caller_to_callee.faults.swaps = vec![10, 30, 50, 70];
    })
}

/// Caller → callee changes SSRC (and seq/timestamp base) at slot 250 on the same 5-tuple.
pub fn ssrc_change() -> Scenario {
    one_call("ssrc_change", 18, |c| {
        c.media.caller_to_callee.ssrc_change_at = Some(250);
    })
}

/// 407 challenge, ACK, authenticated INVITE (CSeq 2, same From tag), then answered.
pub fn challenge_then_answer() -> Scenario {
    one_call("challenge_then_answer", 19, |c| c.challenge = Some(407))
}

/// Two INVITE retransmissions (at 0.5 s and 1.5 s) before the 100 Trying; answered.
pub fn invite_retransmissions() -> Scenario {
    one_call("invite_retransmissions", 20, |c| {
        c.invite_retransmissions = 2;
    })
}

/// Nothing answers the INVITE (7 copies up to 31.5 s); the capture runs to 70 s, so the
/// outcome is `failed` (timeout).
pub fn no_response() -> Scenario {
    let mut s = one_call("no_response", 21, |c| c.outcome = OutcomeSpec::NoResponse);
    s.end_marker_ms = Some(70_000);
    s
}

/// Every named scenario, in a fixed order.
pub fn named_scenarios() -> Vec<Scenario> {
    vec![
        clean_call(),
        loss_one_direction(),
        one_way_audio(),
        nat_private_sdp(),
        busy_486(),
        not_found_404(),
        rejected_603(),
        cancel_487(),
        ringing_then_408(),
        reinvite_moves_media(),
        sip_over_tcp_split(),
        ipv6_call(),
        vlan_call(),
        ipv4_fragmented_invite(),
        seq_wrap(),
        duplicates(),
        reordering(),
        ssrc_change(),
        challenge_then_answer(),
        invite_retransmissions(),
        no_response(),
        mixed(40, 15, 60, 7),
    ]
}

/// A benchmark capture: `n_calls` G.711 calls over about `seconds` (the last calls may run a
/// little past it), starts spread evenly and talk times (90–110 % of the hold time) chosen so
/// that about `concurrency` answered calls are up at once (mixed(300, 150, 60, _) peaks at
/// ≈155). Mix (seeded): ~78 % answered (of which some with 1–5 %
/// random loss in one direction, some with jitter, a few one-way), 5 % busy, 3 % 404, 5 %
/// cancelled, 2 % 603, 2 % ringing then 408, 5 % 407 challenge then answered. Each caller has
/// its own address (10.x.y.z), callees are four gateways 10.200.0.1–4 with distinct media
/// ports, so stream keys never collide. Writing is streaming (see [`Scenario::write`]).
pub fn mixed(n_calls: usize, concurrency: usize, seconds: u64, seed: u64) -> Scenario {
    let mut rng = XorShift64::new(seed);
    let n = n_calls.max(1) as u64;
    let total_ms = seconds.max(10) * 1000;
    // Hold time h with h·m / (total − h) = concurrency  ⇒  h = c·total / (m + c), where m ≈ 0.83·n
    // are the answered calls (the failed ones last only seconds).
    let c = concurrency.max(1) as u64;
    let m = (n * 83 / 100).max(1);
    let hold_ms = (c * total_ms / (m + c)).clamp(6000, total_ms.saturating_sub(2000).max(6000));
    let window_ms = total_ms.saturating_sub(hold_ms).max(1);
    let mut s = Scenario::new(&format!("mixed_{n_calls}x{concurrency}_{seconds}s"), seed);
    for i in 0..n_calls {
        let i64_ = i as u64;
        let caller_ip = [10, (1 + i / 62_500) as u8, ((i / 250) % 250) as u8, (i % 250 + 1) as u8];
        let callee_ip = [10, 200, 0, (1 + i % 4) as u8];
        let start_ms = i64_ * window_ms / n + rng.below((window_ms / n).max(1));
        let ringing = 200 + rng.below(1300);
        let answer = ringing + 500 + rng.below(3000);
        let talk = (hold_ms.saturating_sub(answer) * (90 + rng.below(21)) / 100).max(2000);
        let mut call = CallSpec::answered(
            &format!("mix-{seed:x}-{i}@10.{}.{}.{}", caller_ip[1], caller_ip[2], caller_ip[3]),
            sa(caller_ip, 5060),
            sa(callee_ip, 5060),
            start_ms,
            talk,
        );
        call.caller_media = sa(caller_ip, 40000);
        call.callee_media = sa(callee_ip, 20000 + 2 * (i % 20_000) as u16);
        call.ringing_ms = Some(ringing);
        call.media.payload_type = if rng.below(2) == 0 { 0 } else { 8 };
        let ended_by = if rng.below(2) == 0 { Party::Caller } else { Party::Callee };
        call.outcome = OutcomeSpec::Answered { answer_ms: answer, talk_ms: talk, ended_by };
        match rng.below(100) {
            0..=77 => {
                let r = rng.below(100);
                let dir =
                    if rng.below(2) == 0 { &mut call.media.caller_to_callee } else { &mut call.media.callee_to_caller };
                if r < 15 {
                    dir.faults.loss = Loss::Random { per_mille: 10 + rng.below(41) as u32, seed: rng.next_u64() };
                } else if r < 35 {
                    dir.faults.jitter_max_us = 1000 + rng.below(5000) as u32;
                    dir.faults.jitter_seed = rng.next_u64();
                } else if r < 38 {
                    dir.enabled = false;
                }
            }
            78..=82 => {
                call.ringing_ms = None;
                call.outcome = OutcomeSpec::busy(100 + rng.below(400));
            }
            83..=85 => {
                call.ringing_ms = None;
                call.outcome = OutcomeSpec::not_found(50 + rng.below(200));
            }
            86..=90 => call.outcome = OutcomeSpec::Cancelled { at_ms: ringing + 1000 + rng.below(8000) },
            91..=92 => call.outcome = OutcomeSpec::rejected(ringing + 500 + rng.below(4000)),
            93..=94 => call.outcome = OutcomeSpec::Final { status: 408, at_ms: 32_000 },
            _ => call.challenge = Some(407),
        }
        s.calls.push(call);
    }
    s
}

/// Writes every named scenario into `dir` as `<name>.pcap` and `<name>.truth.json`; returns
/// the pcap paths written.
pub fn write_all_fixtures(dir: &Path) -> Result<Vec<PathBuf>, SynthError> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for s in named_scenarios() {
        let pcap = dir.join(format!("{}.pcap", s.name));
        let truth: Truth = s.write_file(&pcap)?;
        let json = BufWriter::new(crate::report::create_output_file(&dir.join(format!("{}.truth.json", s.name)))?);
        serde_json::to_writer_pretty(json, &truth)?;
        written.push(pcap);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::truth::{Direction, Outcome, StreamTruth};
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use pcap_parser::traits::PcapReaderIterator;
    use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError};
    use std::collections::{BTreeMap, BTreeSet};

    /// Per-stream counters recomputed from the written bytes with RFC 3550 A.1 bookkeeping
    /// (quality-metrics.md §1.3 without restarts): independent of the generator's counters.
    #[derive(Default, Debug)]
    struct Seen {
        packets: u64,
        base: i64,
        max: i64,
        seen: BTreeSet<i64>,
        duplicates: u64,
        out_of_order: u64,
    }

    impl Seen {
        fn observe(&mut self, seq: u16) {
            let seq = i64::from(seq);
            if self.packets == 0 {
                self.base = seq;
                self.max = seq;
                self.seen.insert(seq);
                self.packets = 1;
                return;
            }
            self.packets += 1;
            // nearest extension of `seq` to `max`
            let cycle = self.max - self.max.rem_euclid(65536);
            let ext = [cycle - 65536, cycle, cycle + 65536]
                .into_iter()
                .map(|c| c + seq)
                .min_by_key(|e| (e - self.max).abs())
                .unwrap();
            if !self.seen.insert(ext) {
                self.duplicates += 1;
            } else if ext < self.max {
                self.out_of_order += 1;
            }
            self.max = self.max.max(ext);
        }
    }

    struct Parsed {
        frames: u64,
        rtp: BTreeMap<(String, String, String), Seen>,
        sip_requests: Vec<String>,
        fragments: u64,
        tcp_segments: u64,
    }

    /// Parses a written capture: every frame must parse with etherparse and carry valid
    /// IPv4 header, UDP and TCP checksums; times must not decrease.
    fn parse(bytes: &[u8]) -> Parsed {
        let mut reader = LegacyPcapReader::new(1 << 20, bytes).unwrap();
        let mut link = 0u32;
        let mut out =
            Parsed { frames: 0, rtp: BTreeMap::new(), sip_requests: Vec::new(), fragments: 0, tcp_segments: 0 };
        let mut last = (0u32, 0u32);
        for _ in 0..10_000_000 {
            let (off, block) = match reader.next() {
                Ok(x) => x,
                Err(PcapError::Eof) => break,
                Err(PcapError::Incomplete(_)) => {
                    reader.refill().unwrap();
                    continue;
                }
                Err(e) => panic!("{e:?}"),
            };
            match block {
                PcapBlockOwned::LegacyHeader(h) => link = h.network.0 as u32,
                PcapBlockOwned::Legacy(b) => {
                    out.frames += 1;
                    assert!((b.ts_sec, b.ts_usec) >= last, "time went back");
                    last = (b.ts_sec, b.ts_usec);
                    let p = match link {
                        1 => SlicedPacket::from_ethernet(b.data),
                        101 => SlicedPacket::from_ip(b.data),
                        113 => SlicedPacket::from_linux_sll(b.data),
                        _ => panic!("link {link}"),
                    }
                    .unwrap();
                    check_frame(&p, &mut out);
                }
                PcapBlockOwned::NG(_) => panic!("pcapng"),
            }
            reader.consume(off);
        }
        out
    }

    fn check_frame(p: &SlicedPacket<'_>, out: &mut Parsed) {
        let (src_ip, dst_ip, fragmented) = match &p.net {
            Some(NetSlice::Ipv4(ip)) => {
                let h = ip.header();
                assert_eq!(h.to_header().calc_header_checksum(), h.header_checksum());
                (
                    std::net::IpAddr::V4(h.source_addr()),
                    std::net::IpAddr::V4(h.destination_addr()),
                    ip.is_payload_fragmented(),
                )
            }
            Some(NetSlice::Ipv6(ip)) => (
                std::net::IpAddr::V6(ip.header().source_addr()),
                std::net::IpAddr::V6(ip.header().destination_addr()),
                ip.is_payload_fragmented(),
            ),
            _ => panic!("not ip"),
        };
        if fragmented {
            out.fragments += 1;
            return;
        }
        match &p.transport {
            Some(TransportSlice::Udp(u)) => {
                let expect = match &p.net {
                    Some(NetSlice::Ipv4(ip)) => u.to_header().calc_checksum_ipv4(&ip.header().to_header(), u.payload()),
                    Some(NetSlice::Ipv6(ip)) => u.to_header().calc_checksum_ipv6(&ip.header().to_header(), u.payload()),
                    _ => unreachable!(),
                }
                .unwrap();
                assert_eq!(u.checksum(), expect, "udp checksum");
                let pl = u.payload();
                if u.source_port() == 5060 || u.destination_port() == 5060 {
                    let text = std::str::from_utf8(pl).unwrap();
                    check_content_length(text);
                    if !text.starts_with("SIP/2.0") {
                        out.sip_requests.push(text.split(' ').next().unwrap().to_owned());
                    }
                } else {
                    assert_eq!(pl[0] >> 6, 2, "RTP version");
                    let seq = u16::from_be_bytes([pl[2], pl[3]]);
                    let ssrc = u32::from_be_bytes([pl[8], pl[9], pl[10], pl[11]]);
                    let key = (
                        std::net::SocketAddr::new(src_ip, u.source_port()).to_string(),
                        std::net::SocketAddr::new(dst_ip, u.destination_port()).to_string(),
                        format!("0x{ssrc:08X}"),
                    );
                    out.rtp.entry(key).or_default().observe(seq);
                }
            }
            Some(TransportSlice::Tcp(t)) => {
                let (s, d) = (t.to_header(), t.payload());
                let expect = match &p.net {
                    Some(NetSlice::Ipv4(ip)) => s.calc_checksum_ipv4(&ip.header().to_header(), d).unwrap(),
                    Some(NetSlice::Ipv6(ip)) => s.calc_checksum_ipv6(&ip.header().to_header(), d).unwrap(),
                    _ => unreachable!(),
                };
                assert_eq!(t.checksum(), expect, "tcp checksum");
                out.tcp_segments += 1;
            }
            _ => panic!("no transport"),
        }
    }

    fn check_content_length(text: &str) {
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let cl: usize = head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).unwrap().parse().unwrap();
        assert_eq!(cl, body.len());
    }

    fn run(s: &Scenario) -> (Truth, Parsed, Vec<u8>) {
        let mut bytes = Vec::new();
        let truth = s.write(&mut bytes).unwrap();
        truth.check_consistency().unwrap();
        let parsed = parse(&bytes);
        assert_eq!(parsed.frames, truth.frames, "{}", s.name);
        // Stream truth equals what an RFC 3550 bookkeeper sees in the bytes.
        assert_eq!(parsed.rtp.len(), truth.streams.len(), "{}", s.name);
        for st in &truth.streams {
            let seen = &parsed.rtp[&(st.src.clone(), st.dst.clone(), st.ssrc.clone())];
            let expected = (seen.max - seen.base + 1) as u64;
            assert_eq!(
                (seen.packets, expected, seen.duplicates, seen.out_of_order),
                (st.packets, st.expected, st.duplicates, st.out_of_order),
                "{} {}->{}",
                s.name,
                st.src,
                st.dst
            );
        }
        (truth, parsed, bytes)
    }

    fn stream(t: &Truth, dir: Direction) -> Vec<&StreamTruth> {
        t.streams.iter().filter(|s| s.direction == Some(dir)).collect()
    }

    #[test]
    fn every_named_scenario_parses_and_matches_its_truth() {
        for s in named_scenarios() {
            let (truth, _, bytes) = run(&s);
            // deterministic: byte-identical on a second run
            let mut again = Vec::new();
            assert_eq!(s.write(&mut again).unwrap(), truth);
            assert!(again == bytes, "{} not deterministic", s.name);
            // the truth survives a JSON round trip
            let json = serde_json::to_string(&truth).unwrap();
            assert_eq!(serde_json::from_str::<Truth>(&json).unwrap(), truth);
        }
    }

    #[test]
    fn clean_call_values() {
        let (t, p, _) = run(&clean_call());
        let c = &t.calls[0];
        assert_eq!(c.outcome, Outcome::Answered);
        assert_eq!(c.final_status, Some(200));
        assert_eq!(c.setup_ms, Some(800.0));
        assert_eq!(c.answer_ms, Some(3000.0));
        assert_eq!(c.duration_s, Some(10.0));
        assert_eq!(c.ended_by, Some(Party::Caller));
        assert_eq!(c.caller, "10.1.0.10:5060");
        assert_eq!(c.start, "2024-03-01T09:00:00.100000Z");
        // RTP from ACK+20 ms (3030) and 200+20 ms (3020) to the BYE at 13000 ms.
        let a = stream(&t, Direction::CallerToCallee);
        let b = stream(&t, Direction::CalleeToCaller);
        assert_eq!((a[0].packets, a[0].expected, a[0].lost), (498, 498, 0));
        assert_eq!((b[0].packets, b[0].expected, b[0].lost), (499, 499, 0));
        assert_eq!(a[0].src, "10.1.0.10:40000");
        assert_eq!(b[0].src, "10.2.0.20:50000");
        assert_eq!(p.sip_requests, ["INVITE", "ACK", "BYE"]);
        assert_eq!(t.frames, 7 + 498 + 499);
    }

    #[test]
    fn fault_scenarios_values() {
        let (t, ..) = run(&loss_one_direction());
        let b = stream(&t, Direction::CalleeToCaller);
        assert_eq!((b[0].packets, b[0].expected, b[0].lost), (493, 499, 6));
        let (t, ..) = run(&duplicates());
        let a = stream(&t, Direction::CallerToCallee);
        assert_eq!((a[0].packets, a[0].lost, a[0].duplicates), (503, -5, 5));
        let (t, ..) = run(&reordering());
        let a = stream(&t, Direction::CallerToCallee);
        assert_eq!((a[0].packets, a[0].lost, a[0].out_of_order), (498, 0, 4));
        let (t, ..) = run(&one_way_audio());
        assert_eq!(t.streams.len(), 1);
        assert_eq!(t.streams[0].direction, Some(Direction::CallerToCallee));
        let (t, ..) = run(&ssrc_change());
        let a = stream(&t, Direction::CallerToCallee);
        assert_eq!(a.len(), 2);
        assert_eq!((a[0].expected, a[1].expected), (250, 248));
        assert_ne!(a[0].ssrc, a[1].ssrc);
        assert_eq!(a[0].src, a[1].src);
        let (t, ..) = run(&seq_wrap());
        assert!(t.streams.iter().all(|s| s.lost == 0 && s.expected > 136));
        let (t, ..) = run(&reinvite_moves_media());
        assert_eq!(t.streams.len(), 4);
        assert!(t.streams.iter().any(|s| s.dst == "10.2.0.21:52000"));
        assert!(t.streams.iter().any(|s| s.src == "10.2.0.21:52000"));
        assert_eq!(t.calls[0].ended_by, Some(Party::Callee));
        let (t, ..) = run(&nat_private_sdp());
        assert_eq!(t.calls[0].caller, "203.0.113.10:5060");
        let a = stream(&t, Direction::CalleeToCaller);
        assert_eq!(a[0].dst, "203.0.113.10:61000");
    }

    #[test]
    fn signalling_outcomes() {
        let cases: [(Scenario, Outcome, Option<u16>, Option<f64>); 6] = [
            (busy_486(), Outcome::Busy, Some(486), None),
            (not_found_404(), Outcome::NotFound, Some(404), None),
            (rejected_603(), Outcome::Rejected, Some(603), Some(800.0)),
            (cancel_487(), Outcome::Cancelled, Some(487), Some(800.0)),
            (ringing_then_408(), Outcome::NoAnswer, Some(408), Some(800.0)),
            (no_response(), Outcome::Failed, None, None),
        ];
        for (s, outcome, status, setup) in cases {
            let (t, p, _) = run(&s);
            let c = &t.calls[0];
            assert_eq!((c.outcome, c.final_status, c.setup_ms), (outcome, status, setup));
            assert_eq!((c.answer_ms, c.duration_s), (None, None));
            assert!(t.streams.is_empty());
            if s.name == "cancel_487" {
                assert_eq!(p.sip_requests, ["INVITE", "CANCEL", "ACK"]);
            }
            if s.name == "no_response" {
                assert_eq!(c.invite_copies, 7);
                assert_eq!(p.sip_requests.len(), 8); // 7 INVITEs + the end-marker OPTIONS
            }
        }
        // Without the end marker the capture stops at 31.5 s: incomplete.
        let mut s = no_response();
        s.end_marker_ms = None;
        let (t, ..) = run(&s);
        assert_eq!(t.calls[0].outcome, Outcome::Incomplete);
    }

    #[test]
    fn challenge_and_retransmissions() {
        let (t, p, _) = run(&challenge_then_answer());
        let c = &t.calls[0];
        assert_eq!((c.invite_copies, c.final_status), (2, Some(200)));
        assert_eq!((c.setup_ms, c.answer_ms), (Some(800.0), Some(3000.0)));
        assert_eq!(p.sip_requests, ["INVITE", "ACK", "INVITE", "ACK", "BYE"]);
        let (t, p, _) = run(&invite_retransmissions());
        assert_eq!(t.calls[0].invite_copies, 3);
        assert_eq!(p.sip_requests[..3], ["INVITE", "INVITE", "INVITE"]);
    }

    #[test]
    fn transport_variants() {
        let (t, p, _) = run(&sip_over_tcp_split());
        // 3 handshake + INVITE in 3 segments + 100, 180, 200, ACK, BYE, 200
        assert_eq!(p.tcp_segments, 12);
        assert_eq!(t.calls[0].caller, "10.1.0.10:49152");
        let (_, p, _) = run(&ipv4_fragmented_invite());
        assert_eq!(p.fragments, 2);
        let (t, ..) = run(&ipv6_call());
        assert_eq!(t.calls[0].caller, "[2001:db8:1::10]:5060");
        assert!(t.streams[0].src.starts_with("[2001:db8:"));
        let (t, ..) = run(&vlan_call());
        assert_eq!(t.link_type, 1);
        let mut raw = clean_call();
        raw.link = Link::RawIp;
        raw.resolution = crate::synth::TsResolution::Nano;
        let (t, ..) = run(&raw);
        assert_eq!(t.link_type, 101);
        let mut sll = ipv6_call();
        sll.link = Link::LinuxSll;
        run(&sll);
    }

    #[test]
    fn mixed_benchmark_is_consistent_and_deterministic() {
        let s = mixed(60, 20, 40, 3);
        let (t, _, bytes) = run(&s);
        assert_eq!(t.calls.len(), 60);
        let answered = t.calls.iter().filter(|c| c.outcome == Outcome::Answered).count();
        assert!(answered > 30 && answered < 60, "{answered}");
        assert!(t.streams.iter().any(|s| s.lost > 0));
        let mut again = Vec::new();
        mixed(60, 20, 40, 3).write(&mut again).unwrap();
        assert!(again == bytes);
        let mut other = Vec::new();
        mixed(60, 20, 40, 4).write(&mut other).unwrap();
        assert!(other != bytes);
    }

    #[test]
    fn writes_fixture_files() {
        let dir = std::env::temp_dir().join(format!("callscope-synth-{}", std::process::id()));
        let written = write_all_fixtures(&dir).unwrap();
        assert_eq!(written.len(), named_scenarios().len());
        let truth: Truth =
            serde_json::from_reader(std::fs::File::open(dir.join("clean_call.truth.json")).unwrap()).unwrap();
        assert_eq!(truth.calls[0].outcome, Outcome::Answered);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod bench_shape {
    use super::*;

    #[test]
    #[ignore = "benchmark-size capture; run with --ignored"]
    fn mixed_150_concurrent_streams_to_sink() {
        let s = mixed(300, 150, 60, 1);
        let started = std::time::Instant::now();
        let t = s.write(std::io::sink()).unwrap();
        t.check_consistency().unwrap();
        // hold time h = 150·60/(249+150) ≈ 22.6 s: ≈150 answered calls up at once.
        let mut starts: Vec<(f64, f64)> = s
            .calls
            .iter()
            .zip(&t.calls)
            .filter_map(|(spec, c)| {
                let begin = spec.start_ms as f64;
                Some((begin, begin + c.answer_ms? + c.duration_s? * 1000.0))
            })
            .collect();
        starts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let peak = (0..60_000)
            .step_by(1000)
            .map(|ms| starts.iter().filter(|(b, e)| *b <= ms as f64 && ms as f64 <= *e).count())
            .max()
            .unwrap_or(0);
        eprintln!(
            "frames {} streams {} peak answered concurrency {peak} in {:?}",
            t.frames,
            t.streams.len(),
            started.elapsed()
        );
        assert!(peak > 120, "{peak}");
    }
}

#[cfg(test)]
mod export {
    /// `CALLSCOPE_SYNTH_OUT=dir cargo test --lib export -- --ignored` writes the fixtures for
    /// inspection with other tools (tshark, Wireshark).
    #[test]
    #[ignore = "writes files to $CALLSCOPE_SYNTH_OUT"]
    fn write_fixtures_to_env_dir() {
        if let Some(dir) = std::env::var_os("CALLSCOPE_SYNTH_OUT") {
            super::write_all_fixtures(std::path::Path::new(&dir)).unwrap();
        }
    }
}
