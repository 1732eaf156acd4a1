//! Real-capture tests: SIP messages, dialogs and INVITE outcomes of the bundled captures
//! compared with tshark's facts (`captures/tshark/<file>.facts.json`).
//!
//! A tiny test-only reader (pcap-parser's streaming reader + etherparse for plain Ethernet)
//! stands in for the capture and decode stages, which other helpers are writing.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_parser::{create_reader, Block, PcapBlockOwned, PcapError};

use super::{Dialog, Outcome, Registration, SipStage};
use crate::capture::FrameRef;
use crate::decode::{Datagram, Transport};
use crate::time::Timestamp;
use crate::warn::Warnings;

/// The shared captures folder, when present (see the helper brief).
pub(crate) fn shared_captures() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for rel in ["../shared/captures", "../../shared/captures"] {
        let p = root.join(rel);
        if p.is_dir() {
            return Some(p);
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("shared captures not found next to {}", root.display());
    }
    eprintln!("shared captures not found: skipping");
    None
}

/// Result of running the SIP stage over one capture.
pub(crate) struct Run {
    pub messages: u64,
    pub dialogs: Vec<Dialog>,
    pub registrations: Vec<Registration>,
    pub warnings: Warnings,
    /// SDP events reported through `on_sdp` (bodies that parsed).
    pub sdp_events: usize,
}

/// Reads an Ethernet pcap/pcapng and feeds SIP-looking UDP payloads and all TCP segments.
pub(crate) fn run_capture(path: &std::path::Path) -> Run {
    let file = std::fs::File::open(path).expect("open capture");
    let mut reader = create_reader(1 << 20, file).expect("capture reader");
    let mut stage = SipStage::default();
    let mut warnings = Warnings::default();
    let mut sdp_events = 0usize;
    let mut number = 0u64;
    let mut end = Timestamp::default();
    let mut nanos_legacy = false;
    let mut null_link = false;
    let mut if_units: Vec<u64> = Vec::new();
    // Bounded: the largest bundled capture has < 10 000 frames.
    for _ in 0..10_000_000 {
        match reader.next() {
            Ok((offset, block)) => {
                let frame = match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        nanos_legacy = h.is_nanosecond_precision();
                        null_link = h.network.0 == 0;
                        None
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let sub = if nanos_legacy { b.ts_usec } else { b.ts_usec * 1000 };
                        Some((Timestamp::from_parts(i64::from(b.ts_sec), sub), b.data))
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        if_units.push(idb.ts_resolution().unwrap_or(1_000_000));
                        None
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let units = if_units.get(epb.if_id as usize).copied().unwrap_or(1_000_000);
                        let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let ns = i128::from(raw) * 1_000_000_000 / i128::from(units);
                        Some((Timestamp(ns as i64), epb.data))
                    }
                    PcapBlockOwned::NG(_) => None,
                };
                if let Some((time, data)) = frame {
                    number += 1;
                    end = end.max(time);
                    let at = FrameRef { file: 0, number, time };
                    feed(&mut stage, at, data, null_link, &mut warnings, &mut sdp_events);
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader.refill().expect("refill"),
            Err(e) => panic!("capture read error: {e:?}"),
        }
    }
    stage.flush(&mut warnings, &mut |_| sdp_events += 1);
    let messages = stage.dialogs.counters.messages;
    let (dialogs, registrations) = stage.finish(end);
    Run { messages, dialogs, registrations, warnings, sdp_events }
}

fn feed(stage: &mut SipStage, at: FrameRef, data: &[u8], null_link: bool, warnings: &mut Warnings, sdp: &mut usize) {
    // NULL/Loopback: a 4-byte address-family header, then IP.
    let sliced =
        if null_link { SlicedPacket::from_ip(data.get(4..).unwrap_or(&[])) } else { SlicedPacket::from_ethernet(data) };
    let Ok(p) = sliced else { return };
    let (src_ip, dst_ip): (IpAddr, IpAddr) = match &p.net {
        Some(NetSlice::Ipv4(v4)) => (v4.header().source_addr().into(), v4.header().destination_addr().into()),
        Some(NetSlice::Ipv6(v6)) => (v6.header().source_addr().into(), v6.header().destination_addr().into()),
        _ => return,
    };
    let (sport, dport, transport, payload) = match &p.transport {
        Some(TransportSlice::Udp(u)) => (u.source_port(), u.destination_port(), Transport::Udp, u.payload()),
        Some(TransportSlice::Tcp(t)) => {
            let flags = u8::from(t.fin())
                | u8::from(t.syn()) << 1
                | u8::from(t.rst()) << 2
                | u8::from(t.psh()) << 3
                | u8::from(t.ack()) << 4;
            (t.source_port(), t.destination_port(), Transport::Tcp { seq: t.sequence_number(), flags }, t.payload())
        }
        _ => return,
    };
    if transport == Transport::Udp && !super::scan::looks_like_start_line(payload) {
        return;
    }
    let dg = Datagram {
        at,
        src: SocketAddr::new(src_ip, sport),
        dst: SocketAddr::new(dst_ip, dport),
        transport,
        vlan: None,
        interface: None,
        dscp: 0,
        icmp_error: None,
        payload,
    };
    stage.on_datagram(&dg, warnings, &mut |_| *sdp += 1);
}

/// tshark's facts for one capture.
struct Facts {
    sip_messages: u64,
    sip_dialogs: usize,
    invite_calls: usize,
    /// Call-ID (first 60 chars) → last final status to INVITE ("none" when none).
    invite_final: Vec<(String, String)>,
}

fn facts(dir: &std::path::Path, name: &str) -> Facts {
    let text = std::fs::read_to_string(dir.join("tshark").join(format!("{name}.facts.json"))).expect("facts file");
    let v: serde_json::Value = serde_json::from_str(&text).expect("facts json");
    let invite_final = v["invite_final"]
        .as_object()
        .expect("invite_final")
        .iter()
        .map(|(k, s)| {
            let s = s.as_str().unwrap_or("none");
            (k.clone(), s.rsplit('>').next().unwrap_or(s).to_string())
        })
        .collect();
    Facts {
        sip_messages: v["sip_messages"].as_u64().expect("sip_messages"),
        sip_dialogs: v["sip_dialogs"].as_u64().expect("sip_dialogs") as usize,
        invite_calls: v["invite_calls"].as_u64().expect("invite_calls") as usize,
        invite_final,
    }
}

fn compare_with_tshark(name: &str) -> Option<Run> {
    let dir = shared_captures()?;
    let run = run_capture(&dir.join(name));
    let f = facts(&dir, name);
    assert_eq!(run.messages, f.sip_messages, "{name}: SIP messages");
    assert_eq!(run.dialogs.len(), f.sip_dialogs, "{name}: dialogs");
    let calls: Vec<&Dialog> = run.dialogs.iter().filter(|d| d.first_invite.is_some()).collect();
    assert_eq!(calls.len(), f.invite_calls, "{name}: INVITE dialogs");
    for (cid, want) in &f.invite_final {
        let d = calls
            .iter()
            .find(|d| d.call_id.chars().take(60).collect::<String>() == *cid)
            .unwrap_or_else(|| panic!("{name}: no dialog {cid}"));
        let got = d.final_response.map_or("none".to_string(), |(s, _)| s.to_string());
        assert_eq!(&got, want, "{name}: final response of {cid}");
    }
    Some(run)
}

fn outcome_count(run: &Run, o: Outcome) -> usize {
    run.dialogs.iter().filter(|d| d.outcome == Some(o)).count()
}

#[test]
fn sipp_branch_scenario_matches_tshark() {
    let Some(run) = compare_with_tshark("sipnab-sipp-branch-scenario.pcapng") else {
        return;
    };
    // 1148 × 403 after 180 → rejected; 102 answered; 84 without final response.
    assert_eq!(outcome_count(&run, Outcome::Rejected), 1148);
    assert_eq!(outcome_count(&run, Outcome::Answered), 102);
    assert_eq!(outcome_count(&run, Outcome::Failed) + outcome_count(&run, Outcome::Incomplete), 84);
}

#[test]
fn routing_error_matches_tshark() {
    let Some(run) = compare_with_tshark("sipnab-sip-routing-error.pcapng") else {
        return;
    };
    // INVITE 21 → 401 (24) → INVITE 28 → 404 (30): one attempt, not_found, one challenge.
    let d = run.dialogs.iter().find(|d| d.call_id.starts_with("xxJSCjm44u")).expect("call");
    assert_eq!(d.outcome, Some(Outcome::NotFound));
    assert_eq!(d.first_invite.map(|f| f.number), Some(21));
    assert_eq!(d.final_response.map(|(s, f)| (s, f.number)), Some((404, 30)));
    assert_eq!(d.challenges, 1);
    assert_eq!(d.invite_transactions, 2);
    assert_eq!(outcome_count(&run, Outcome::NotFound), 2);
}

#[test]
fn sngrep_aaa_matches_tshark() {
    let Some(run) = compare_with_tshark("sngrep-aaa.pcap") else {
        return;
    };
    let by = |p: &str| run.dialogs.iter().find(|d| d.call_id.starts_with(p)).expect(p);
    // INVITE 223 with retransmissions 225/227, 408 at 252 without ringing → failed.
    let timeout = by("105090259-446faf7a");
    assert_eq!(timeout.first_invite.map(|f| f.number), Some(223));
    assert_eq!(timeout.final_response.map(|(s, f)| (s, f.number)), Some((408, 252)));
    assert!(timeout.retransmissions >= 2, "{}", timeout.retransmissions);
    assert_eq!(timeout.outcome, Some(Outcome::Failed));
    // 407 then 403 → rejected.
    assert_eq!(by("85216695-42dcdb1d").outcome, Some(Outcome::Rejected));
    // 183 (620) then 480 with Q.850 cause 21 (621) → no_answer.
    let na = by("11894297-4432a9f8");
    assert_eq!(na.outcome, Some(Outcome::NoAnswer));
    assert_eq!(na.final_reason.as_ref().and_then(|r| r.q850_cause), Some(21));
    // Registration 401 then 403 (frames 19–32): a failed attempt.
    assert!(run.registrations.iter().any(|r| r.failures > 0 && r.frames.iter().any(|f| f.number == 32)));
    let first = &run.registrations[0];
    assert_eq!(first.aor, "sip:voi18063@sip.cybercity.dk");
    assert_eq!(
        first.frames.get(..4).map(|f| f.iter().map(|f| f.number).collect::<Vec<_>>()),
        Some(vec![19, 20, 30, 32])
    );
}

#[test]
fn sip_dtmf2_matches_tshark() {
    let Some(run) = compare_with_tshark("sipnab-SIP_DTMF2.cap") else {
        return;
    };
    let declined = run.dialogs.iter().find(|d| d.call_id == "5514@192.168.105.110").expect("call");
    assert_eq!(declined.final_response.map(|(s, f)| (s, f.number)), Some((603, 9)));
    assert_eq!(declined.outcome, Some(Outcome::Rejected));
    let answered = run.dialogs.iter().find(|d| d.call_id == "25672@192.168.105.110").expect("call");
    assert_eq!(answered.outcome, Some(Outcome::Answered));
    // Delayed offer: SDP in the 200 and in the ACK.
    assert!(answered.messages.iter().any(|m| m.status == Some(200) && m.has_sdp));
    assert!(answered.messages.iter().any(|m| m.method == Some(super::Method::Ack) && m.has_sdp));
}

#[test]
fn sip_rtp_g711_matches_tshark() {
    let Some(run) = compare_with_tshark("sipnab-sip-rtp-g711.pcap") else {
        return;
    };
    assert_eq!(outcome_count(&run, Outcome::Answered), 2);
    let first = &run.dialogs[0];
    assert_eq!(first.first_invite.map(|f| f.number), Some(1));
    assert!(first.messages[0].has_sdp);
}

/// Prints a summary of every capture (run with `--ignored --nocapture` when investigating).
#[test]
#[ignore]
fn print_all_captures() {
    let Some(dir) = shared_captures() else { return };
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.contains(".pcap") || n.ends_with(".cap"))
        .collect();
    names.sort();
    for name in names.iter().take(100) {
        let run = run_capture(&dir.join(name));
        println!(
            "{name}: msgs {} dialogs {} regs {} sdp {} warnings {:?}",
            run.messages,
            run.dialogs.len(),
            run.registrations.len(),
            run.sdp_events,
            run.warnings.counts()
        );
        for d in run.dialogs.iter().filter(|d| d.first_invite.is_some()).take(6) {
            println!(
                "   {} final {:?} outcome {:?} retr {} mirror {} ended {:?} reinv {}",
                d.call_id.chars().take(30).collect::<String>(),
                d.final_response.map(|(s, f)| (s, f.number)),
                d.outcome,
                d.retransmissions,
                d.mirror_duplicates,
                d.ended_by,
                d.reinvites
            );
        }
    }
}

#[test]
fn large_invite_body_over_tcp_is_reassembled() {
    let Some(run) = compare_with_tshark("suricata-sip-body-large.pcap") else {
        return;
    };
    // Only a 100 is seen before the capture ends (1.6 ms later): incomplete, not a timeout.
    let d = &run.dialogs[0];
    assert_eq!(d.call_id, "test123@attacker.com");
    assert_eq!(d.first_invite.map(|f| f.number), Some(9));
    assert!(d.messages[0].has_sdp);
    assert_eq!(d.outcome, Some(Outcome::Incomplete));
}

#[test]
fn sip_over_tcp_call_is_followed() {
    let Some(run) = compare_with_tshark("sipnab-sip-over-tcp.pcap") else {
        return;
    };
    let d = &run.dialogs[0];
    assert_eq!(d.outcome, Some(Outcome::Answered));
    assert_eq!(d.via_transport.as_deref(), Some("TCP"));
    assert!(d.bye.is_some());
}

#[test]
fn invalid_content_length_is_warned_not_fatal() {
    let Some(dir) = shared_captures() else { return };
    let run = run_capture(&dir.join("zeek-invalid-content-length.pcap"));
    assert_eq!(run.messages, 2);
    let malformed = run
        .warnings
        .kept()
        .iter()
        .filter(|w| w.kind == crate::warn::WarningKind::MalformedSip)
        .map(|w| w.frame)
        .collect::<Vec<_>>();
    assert_eq!(malformed, vec![1, 2]);
    // The fuzzed capture must not panic; its messages that scan are still grouped.
    let fuzz = run_capture(&dir.join("ndpi-fuzz-2006-06-26-2594.pcap"));
    assert!(fuzz.messages > 0);
}

#[test]
fn fax_mirror_copies_are_not_retransmissions() {
    let Some(dir) = shared_captures() else { return };
    let run = run_capture(&dir.join("ndpi-FAX-Call-t38-CA-TDM-SIP-FB-1.pcap"));
    let d = run.dialogs.iter().find(|d| d.call_id.starts_with("00e9d4a5")).expect("call");
    let m26 = d.messages.iter().find(|m| m.at.number == 26).expect("frame 26");
    assert!(m26.mirror_duplicate && !m26.retransmission);
    assert_eq!(d.retransmissions, 0);
}
