//! Real-capture parity with tshark 4.0.17 `-z rtp,streams --enable-heuristic rtp_udp`
//! (section (2) of `shared/captures/tshark/<file>.rtp-streams.txt`), quality-metrics.md §8.
//!
//! The capture and decode stages are written elsewhere, so this test carries its own minimal
//! reader: pcap/pcapng through `pcap_parser::create_reader`, Ethernet / Linux SLL / raw IP / BSD
//! NULL through etherparse, UDP only, no reassembly, no tunnels. Every UDP payload classified as
//! RTP goes into a [`StreamTable`] with the static-table clock (dynamic PT → 0, which is what
//! tshark does without SDP, so section (2) rows are comparable).

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_parser::{create_reader, Linktype, PcapBlockOwned, PcapError};

use super::{accept_without_signalling, parse_header, payload, RtpPacketInfo, StreamKey};
use super::{StreamStats, StreamTable};
use crate::capture::FrameRef;
use crate::classify::{classify, PayloadKind};
use crate::time::Timestamp;

/// Bound on frames read from one capture (the shared captures have < 20 000).
const MAX_FRAMES: usize = 1_000_000;
/// Tolerance of quality-metrics.md §8 / parity.py.
const TOLERANCE_MS: f64 = 0.0015;

fn shared_captures() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for rel in ["../shared/captures", "../../shared/captures"] {
        let p = root.join(rel);
        if p.is_dir() {
            return Some(p);
        }
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "shared captures not found next to {}", root.display());
    eprintln!("shared captures not found: skipping");
    None
}

/// Per-kind counts of what the classifier saw on UDP.
#[derive(Default, Debug)]
struct Run {
    streams: Vec<StreamStats>,
    kinds: BTreeMap<String, u64>,
    origin: Option<Timestamp>,
}

/// Innermost UDP datagram: looks through IP-in-IP (protocol 4/41) and GTP-U (port 2152).
fn udp_of(sliced: &SlicedPacket<'_>) -> Option<(SocketAddr, SocketAddr, u8, Vec<u8>)> {
    udp_of_depth(sliced, 0)
}

fn udp_of_depth(sliced: &SlicedPacket<'_>, depth: usize) -> Option<(SocketAddr, SocketAddr, u8, Vec<u8>)> {
    if depth > 3 {
        return None;
    }
    let inner_ip = match sliced.net.as_ref()? {
        NetSlice::Ipv4(v4) => Some(v4.payload()),
        NetSlice::Ipv6(v6) => Some(v6.payload()),
        _ => None,
    }
    .filter(|p| matches!(p.ip_number.0, 4 | 41) && !p.fragmented);
    if let Some(p) = inner_ip {
        let inner = SlicedPacket::from_ip(p.payload).ok()?;
        return udp_of_depth(&inner, depth + 1);
    }
    if let Some(TransportSlice::Udp(udp)) = sliced.transport.as_ref() {
        if udp.destination_port() == 2152 || udp.source_port() == 2152 {
            // GTP-U (3GPP TS 29.281 §5.1): 8 bytes, + 4 when E, S or PN is set; message type
            // 255 (G-PDU) carries a user IP packet. Extension headers are not followed.
            let g = udp.payload();
            if g.get(1) == Some(&255) {
                let flags = *g.first()?;
                let len = if flags & 0x07 != 0 { 12 } else { 8 };
                let inner = SlicedPacket::from_ip(g.get(len..)?).ok()?;
                return udp_of_depth(&inner, depth + 1);
            }
        }
    }
    let (src, dst, dscp) = match sliced.net.as_ref()? {
        NetSlice::Ipv4(v4) => {
            let h = v4.header();
            (IpAddr::V4(h.source_addr()), IpAddr::V4(h.destination_addr()), h.dcp().value())
        }
        NetSlice::Ipv6(v6) => {
            let h = v6.header();
            (IpAddr::V6(h.source_addr()), IpAddr::V6(h.destination_addr()), h.traffic_class() >> 2)
        }
        _ => return None,
    };
    let TransportSlice::Udp(udp) = sliced.transport.as_ref()? else {
        return None;
    };
    Some((
        SocketAddr::new(src, udp.source_port()),
        SocketAddr::new(dst, udp.destination_port()),
        dscp,
        udp.payload().to_vec(),
    ))
}

fn slice_frame(linktype: i32, data: &[u8]) -> Option<SlicedPacket<'_>> {
    match linktype {
        1 => SlicedPacket::from_ethernet(data).ok(),
        // Linux SLL by hand: etherparse 0.21 refuses ARPHRD_LOOPBACK (772), which
        // `arkime-gtp-iphone.pcap` uses. 16-byte header, protocol type at 14..16.
        113 => match data.get(14..16)? {
            [0x08, 0x00] | [0x86, 0xDD] => SlicedPacket::from_ip(data.get(16..)?).ok(),
            _ => None,
        },
        // LINKTYPE_RAW (101) and DLT_RAW (12/14).
        101 | 12 | 14 => SlicedPacket::from_ip(data).ok(),
        // BSD loopback: 4-byte address family, then IP.
        0 => SlicedPacket::from_ip(data.get(4..)?).ok(),
        _ => None,
    }
}

fn run_capture(path: &Path) -> Run {
    run_capture_with(path, &[])
}

/// `dynamic`: (PT, clock) pairs standing in for the SDP the minimal reader does not parse
/// (telephone-event → 0, as tshark).
fn run_capture_with(path: &Path, dynamic: &[(u8, u32)]) -> Run {
    let file = File::open(path).expect("open capture");
    let mut reader = create_reader(1 << 20, file).expect("capture header");
    let mut table = StreamTable::default();
    let mut run = Run::default();
    let mut legacy = (1i32, false);
    let mut interfaces: Vec<(i32, u64)> = Vec::new();
    let mut frame_no = 0u64;
    for _ in 0..MAX_FRAMES {
        let frame: Option<(i32, Timestamp, Vec<u8>)> = match reader.next() {
            Ok((offset, block)) => {
                let f = match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy = (h.network.0, h.is_nanosecond_precision());
                        None
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let nanos = if legacy.1 { b.ts_usec } else { b.ts_usec * 1000 };
                        Some((legacy.0, Timestamp::from_parts(i64::from(b.ts_sec), nanos), b.data.to_vec()))
                    }
                    PcapBlockOwned::NG(pcap_parser::Block::InterfaceDescription(idb)) => {
                        let units = if idb.if_tsresol & 0x80 == 0 {
                            10u64.pow(u32::from(idb.if_tsresol))
                        } else {
                            1u64 << (idb.if_tsresol & 0x7F)
                        };
                        interfaces.push((idb.linktype.0, units.max(1)));
                        None
                    }
                    PcapBlockOwned::NG(pcap_parser::Block::EnhancedPacket(epb)) => {
                        let (lt, units) =
                            interfaces.get(epb.if_id as usize).copied().unwrap_or((Linktype::ETHERNET.0, 1_000_000));
                        let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let secs = raw / units;
                        let frac = raw % units;
                        let nanos = (u128::from(frac) * 1_000_000_000 / u128::from(units)) as u32;
                        let caplen = (epb.caplen as usize).min(epb.data.len());
                        Some((lt, Timestamp::from_parts(secs as i64, nanos), epb.data[..caplen].to_vec()))
                    }
                    _ => None,
                };
                reader.consume(offset);
                f
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                reader.refill().expect("refill");
                continue;
            }
            Err(e) => panic!("{}: {e:?}", path.display()),
        };
        let Some((linktype, time, data)) = frame else {
            continue;
        };
        frame_no += 1;
        if run.origin.is_none() {
            // §1.6: times relative to the first frame of the capture.
            run.origin = Some(time);
            table.set_origin(time);
        }
        let Some(sliced) = slice_frame(linktype, &data) else {
            continue;
        };
        let Some((src, dst, dscp, udp_payload)) = udp_of(&sliced) else {
            continue;
        };
        let kind = classify(&udp_payload);
        *run.kinds.entry(format!("{kind:?}")).or_default() += 1;
        if kind != PayloadKind::Rtp {
            continue;
        }
        let Some(header) = parse_header(&udp_payload) else {
            continue;
        };
        let clock_hz = match dynamic.iter().find(|(pt, _)| *pt == header.pt) {
            Some(&(_, hz)) => hz,
            None => payload::static_codec(header.pt).map_or(0, |(_, hz)| hz),
        };
        table.observe(
            StreamKey { src, dst, ssrc: header.ssrc },
            &RtpPacketInfo {
                at: FrameRef { file: 0, number: frame_no, time },
                header,
                clock_hz,
                dscp,
                vlan: None,
                interface: None,
                is_event: false,
                payload_silent: None,
            },
        );
    }
    run.streams = table.finish();
    run
}

/// One row of tshark's `rtp,streams` table.
#[derive(Debug, Clone)]
struct TsharkRow {
    start: String,
    end: String,
    key: StreamKey,
    packets: u64,
    lost: i64,
    values: [f64; 6],
    problems: bool,
}

fn parse_row(line: &str) -> Option<TsharkRow> {
    let t: Vec<&str> = line.split_whitespace().collect();
    if t.len() < 17 || !t.get(6)?.starts_with("0x") {
        return None;
    }
    let problems = t.last() == Some(&"X");
    let end = t.len() - usize::from(problems);
    let nums = t.get(end - 6..end)?;
    let mut values = [0.0; 6];
    for (v, s) in values.iter_mut().zip(nums) {
        *v = s.parse().ok()?;
    }
    let lost = t.get(end - 8)?.parse().ok()?;
    let packets = t.get(end - 9)?.parse().ok()?;
    let ip = |s: &str| s.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>().ok();
    let key = StreamKey {
        src: SocketAddr::new(ip(t[2])?, t[3].parse().ok()?),
        dst: SocketAddr::new(ip(t[4])?, t[5].parse().ok()?),
        ssrc: u32::from_str_radix(t[6].trim_start_matches("0x"), 16).ok()?,
    };
    Some(TsharkRow { start: t[0].to_string(), end: t[1].to_string(), key, packets, lost, values, problems })
}

/// (section (1) rows, section (2) rows).
fn tshark_rows(caps: &Path, name: &str) -> (Vec<TsharkRow>, Vec<TsharkRow>) {
    let text =
        std::fs::read_to_string(caps.join("tshark").join(format!("{name}.rtp-streams.txt"))).expect("tshark reference");
    let (mut one, mut two, mut section) = (Vec::new(), Vec::new(), 0);
    for line in text.lines() {
        if line.starts_with("# (1)") {
            section = 1;
        } else if line.starts_with("# (2)") {
            section = 2;
        } else if let Some(row) = parse_row(line) {
            match section {
                1 => one.push(row),
                2 => two.push(row),
                _ => {}
            }
        }
    }
    (one, two)
}

fn ours(s: &StreamStats) -> [f64; 6] {
    [
        s.min_delta_ms.unwrap_or(-1.0),
        s.mean_delta_ms,
        s.max_delta_ms,
        s.min_jitter_ms.unwrap_or(-1.0),
        s.mean_jitter_ms,
        s.max_jitter_ms,
    ]
}

fn seconds(t: Timestamp, origin: Timestamp) -> String {
    format!("{:.6}", t.ms_since(origin) / 1000.0)
}

/// Compares one capture; returns the printed table lines and whether every row matched.
fn compare(caps: &Path, name: &str, dynamic: &[(u8, u32)]) -> (Vec<String>, bool) {
    let run = run_capture_with(&caps.join(name), dynamic);
    let origin = run.origin.unwrap_or_default();
    let (_, rows) = tshark_rows(caps, name);
    let mut lines = Vec::new();
    let mut all = !rows.is_empty();
    for row in &rows {
        let Some(s) = run.streams.iter().find(|s| s.key == row.key) else {
            lines.push(format!("{name} 0x{:08X}: MISSING", row.key.ssrc));
            all = false;
            continue;
        };
        let got = ours(s);
        let mut bad = Vec::new();
        if s.packets != row.packets {
            bad.push(format!("packets {} vs {}", s.packets, row.packets));
        }
        if s.tshark_lost != row.lost {
            bad.push(format!("lost {} vs {}", s.tshark_lost, row.lost));
        }
        let names = ["min_d", "mean_d", "max_d", "min_j", "mean_j", "max_j"];
        for ((n, g), w) in names.iter().zip(got).zip(row.values) {
            if (g - w).abs() > TOLERANCE_MS {
                bad.push(format!("{n} {g:.3} vs {w:.3}"));
            }
        }
        if (s.seq_errors > 0 || s.out_of_time_seq) != row.problems {
            bad.push("problems flag".into());
        }
        let (start, end) = (seconds(s.first.time, origin), seconds(s.last.time, origin));
        if start != row.start || end != row.end {
            bad.push(format!("times {start}-{end} vs {}-{}", row.start, row.end));
        }
        all &= bad.is_empty();
        lines.push(format!(
            "{name} 0x{:08X} pkts {} lost {} d {:.3}/{:.3}/{:.3} j {:.3}/{:.3}/{:.3} X {} -> {}",
            row.key.ssrc,
            s.packets,
            s.tshark_lost,
            got[0],
            got[1],
            got[2],
            got[3],
            got[4],
            got[5],
            if s.seq_errors > 0 || s.out_of_time_seq { "X" } else { "-" },
            if bad.is_empty() { "MATCH".to_string() } else { bad.join("; ") }
        ));
    }
    (lines, all)
}

#[test]
fn parity_with_tshark_heuristic_rows() {
    let Some(caps) = shared_captures() else {
        return;
    };
    let names = [
        "mediastreamer2-pcmu_8k_no_jitter.pcap",
        "arkime-gtp-iphone.pcap",
        "rtpproxy-lost.a.rtp.pcap",
        "rtpproxy-dups.a.rtp.pcap",
        "rtpproxy-G723_1.a.rtp.pcap",
        "sipnab-sip-rtp-g711.pcap",
        "sipnab-sip-rtp-g729a.pcap",
        "sipnab-SIP_CALL_RTP_G711.pcap",
    ];
    // a=rtpmap lines of arkime-gtp-iphone.pcap's SDP (AMR, AMR-WB, telephone-event).
    let arkime: &[(u8, u32)] = &[(100, 0), (102, 8000), (104, 16000), (105, 0), (108, 8000), (110, 16000)];
    let mut failed = Vec::new();
    for name in names {
        let dynamic = if name.starts_with("arkime") { arkime } else { &[] };
        let (lines, ok) = compare(&caps, name, dynamic);
        for l in lines {
            eprintln!("{l}");
        }
        if !ok {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "parity failures: {failed:?}");
}

#[test]
fn lost_321_and_dups() {
    let Some(caps) = shared_captures() else {
        return;
    };
    let lost = run_capture(&caps.join("rtpproxy-lost.a.rtp.pcap"));
    assert_eq!(lost.streams.len(), 1);
    assert_eq!((lost.streams[0].packets, lost.streams[0].tshark_lost), (244, 321));
    let dups = run_capture(&caps.join("rtpproxy-dups.a.rtp.pcap"));
    assert_eq!((dups.streams[0].packets, dups.streams[0].tshark_lost), (384, -1));
    assert!(dups.streams[0].duplicates >= 1);
}

/// The heuristic over every capture the minimal reader can read: accepted streams versus
/// tshark's section (2), and no STUN/DTLS stream in `ndpi-stun_dtls_rtp.pcapng`.
#[test]
fn heuristic_against_tshark_section_2() {
    let Some(caps) = shared_captures() else {
        return;
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&caps)
        .expect("captures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng" || e == "cap"))
        .collect();
    entries.sort();
    let (mut want_total, mut found_total, mut extra_total) = (0, 0, 0);
    for path in entries.iter().take(100) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let run = run_capture(path);
        let (one, two) = tshark_rows(&caps, name);
        let verdicts = accept_without_signalling(&run.streams);
        let accepted: Vec<&StreamStats> =
            run.streams.iter().zip(&verdicts).filter(|(_, ok)| **ok).map(|(s, _)| s).collect();
        let heuristic_only: Vec<&TsharkRow> = two.iter().filter(|r| !one.iter().any(|o| o.key == r.key)).collect();
        let found = heuristic_only.iter().filter(|r| accepted.iter().any(|s| s.key == r.key)).count();
        let extra: Vec<String> = accepted
            .iter()
            .filter(|s| !two.iter().any(|r| r.key == s.key))
            .map(|s| format!("{}->{} 0x{:08X} ({} pkts)", s.key.src, s.key.dst, s.key.ssrc, s.packets))
            .collect();
        let rejected: Vec<String> = run
            .streams
            .iter()
            .zip(&verdicts)
            .filter(|(_, ok)| !**ok)
            .map(|(s, _)| {
                format!(
                    "{}->{} 0x{:08X} ({} pkts, {} consistent, {} forward, pts {:x})",
                    s.key.src, s.key.dst, s.key.ssrc, s.packets, s.consistent_pairs, s.forward_pairs, s.pts_seen
                )
            })
            .collect();
        eprintln!("  rejected: {rejected:?}");
        eprintln!(
            "{name}: tshark (2)-only {} found {} | our streams {} accepted {} | not in tshark (2): {:?} | kinds {:?}",
            heuristic_only.len(),
            found,
            run.streams.len(),
            accepted.len(),
            extra,
            run.kinds
        );
        want_total += heuristic_only.len();
        found_total += found;
        extra_total += extra.len();
        if name == "ndpi-stun_dtls_rtp.pcapng" {
            assert_eq!(accepted.len(), 1, "only the SRTP stream: {extra:?}");
            assert!(run.kinds.get("Stun").copied().unwrap_or(0) > 0);
            assert!(run.kinds.get("Dtls").copied().unwrap_or(0) > 0);
        }
    }
    eprintln!("heuristic: found {found_total}/{want_total} tshark (2)-only streams; {extra_total} accepted streams not in tshark (2)");
    assert!(found_total * 10 >= want_total * 9);
    // Measured: 16/16 found, nothing accepted that tshark's heuristic does not list.
    assert_eq!(extra_total, 0);
}
