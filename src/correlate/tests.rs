//! Pairing tests on hand-built dialogs and streams.

use super::*;
use crate::capture::FrameRef;
use crate::rtp::StreamKey;
use crate::sip::{EndedBy, SdpEvent};

const MS: i64 = 1_000_000;

fn at(ms: i64) -> FrameRef {
    FrameRef {
        file: 0,
        number: u64::try_from(ms.max(0)).unwrap_or(0),
        time: Timestamp(1_700_000_000_000 * MS + ms * MS),
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// An SDP event announcing `media` (one `m=audio` per address) sent from `sender`.
fn sdp(ms: i64, sender: &str, from_caller: bool, media: &[&str]) -> SdpEvent {
    let mut body = String::from("v=0\r\ns=-\r\nt=0 0\r\n");
    for m in media {
        let addr = sa(m);
        let kind = if addr.is_ipv4() { "IP4" } else { "IP6" };
        body.push_str(&format!("m=audio {} RTP/AVP 0\r\nc=IN {kind} {}\r\n", addr.port(), addr.ip()));
    }
    SdpEvent {
        at: at(ms),
        sender: sa(sender),
        from_caller,
        carried_by: if from_caller { "INVITE" } else { "200" }.into(),
        session: crate::sdp::parse(body.as_bytes()).unwrap(),
    }
}

fn dialog(call_id: &str, invite_ms: i64, bye_ms: Option<i64>, sdp: Vec<SdpEvent>) -> Dialog {
    Dialog {
        call_id: call_id.into(),
        first_invite: Some(at(invite_ms)),
        answered: Some(at(invite_ms + 500)),
        final_response: Some((200, at(invite_ms + 500))),
        bye: bye_ms.map(|b| (at(b), EndedBy::Caller)),
        last_time: at(bye_ms.unwrap_or(invite_ms + 600)).time,
        sdp,
        ..Dialog::default()
    }
}

fn stream(src: &str, dst: &str, ssrc: u32, first_ms: i64, last_ms: i64) -> StreamStats {
    crate::rtp::clean_test_stream(StreamKey { src: sa(src), dst: sa(dst), ssrc }, at(first_ms), at(last_ms))
}

fn paired(dialog: usize, d: StreamDirection, sdp: Option<&str>, basis: PairBasis) -> Option<StreamPairing> {
    Some(StreamPairing { dialog, direction: Some(d), sdp_addr: sdp.map(sa), basis })
}

use PairBasis::*;
use StreamDirection::*;

/// Caller 10.0.0.1 (media :4000), callee 10.0.0.2 (media :5000), BYE at 60 s.
fn plain_call(call_id: &str, start: i64, bye: Option<i64>) -> Dialog {
    dialog(
        call_id,
        start,
        bye,
        vec![
            sdp(start, "10.0.0.1:5060", true, &["10.0.0.1:4000"]),
            sdp(start + 500, "10.0.0.2:5060", false, &["10.0.0.2:5000"]),
        ],
    )
}

#[test]
fn plain_two_way_call() {
    let dialogs = [plain_call("a", 0, Some(60_000))];
    let streams = [
        stream("10.0.0.1:4000", "10.0.0.2:5000", 1, 600, 59_000),
        stream("10.0.0.2:5000", "10.0.0.1:4000", 2, 650, 59_000),
    ];
    assert_eq!(
        pair(&dialogs, &streams),
        vec![
            paired(0, CallerToCallee, Some("10.0.0.2:5000"), SdpDestination),
            paired(0, CalleeToCaller, Some("10.0.0.1:4000"), SdpDestination),
        ]
    );
}

#[test]
fn source_match_when_destination_is_not_announced() {
    // The callee latches onto the caller's actual source port (4002, not the announced 4000):
    // its stream is paired by its own announced source.
    let dialogs = [plain_call("a", 0, Some(60_000))];
    let streams = [stream("10.0.0.2:5000", "10.0.0.1:4002", 7, 700, 50_000)];
    assert_eq!(pair(&dialogs, &streams), vec![paired(0, CalleeToCaller, Some("10.0.0.1:4000"), SdpSource)]);
}

#[test]
fn nat_private_sdp_public_packets_both_directions() {
    // sngrep-aaa.pcap shape: the caller announces 192.168.1.2:30000 but signals (and sends
    // RTP) from 80.230.219.70. The callee is public and announces 200.1.1.1:6000.
    let one_side = [dialog(
        "nat1",
        0,
        Some(30_000),
        vec![
            sdp(0, "80.230.219.70:5060", true, &["192.168.1.2:30000"]),
            sdp(400, "200.1.1.1:5060", false, &["200.1.1.1:6000"]),
        ],
    )];
    let streams = [
        // caller → callee, through the NAT (port preserved).
        stream("80.230.219.70:30000", "200.1.1.1:6000", 1, 500, 29_000),
        // callee → caller's public address, announced port.
        stream("200.1.1.1:6000", "80.230.219.70:30000", 2, 520, 29_000),
    ];
    assert_eq!(
        pair(&one_side, &streams),
        vec![
            paired(0, CallerToCallee, Some("200.1.1.1:6000"), SdpDestination),
            // Rule 2 comes before rule 3: the source is the callee's announcement.
            paired(0, CalleeToCaller, Some("192.168.1.2:30000"), SdpSource),
        ]
    );

    // Both sides behind NAT, both signalling directly from their public addresses.
    let both = [dialog(
        "nat2",
        0,
        Some(30_000),
        vec![
            sdp(0, "80.230.219.70:5060", true, &["192.168.1.2:30000"]),
            sdp(400, "203.0.113.7:5060", false, &["10.0.0.5:6000"]),
        ],
    )];
    let streams = [
        // To the callee's public IP on its announced port: rule 3a.
        stream("80.230.219.70:41000", "203.0.113.7:6000", 1, 500, 29_000),
        // To the caller's public IP on its announced port: rule 3a.
        stream("203.0.113.7:6000", "80.230.219.70:30000", 2, 520, 29_000),
        // From the callee's public IP, ports translated: rule 3b.
        stream("203.0.113.7:52000", "80.230.219.70:41000", 3, 530, 29_000),
    ];
    assert_eq!(
        pair(&both, &streams),
        vec![
            paired(0, CallerToCallee, Some("10.0.0.5:6000"), NatPort),
            paired(0, CalleeToCaller, Some("192.168.1.2:30000"), NatPort),
            paired(0, CalleeToCaller, Some("192.168.1.2:30000"), NatPort),
        ]
    );
}

#[test]
fn symmetric_return_when_only_one_side_is_explained() {
    // Both behind NAT; the callee's SIP reaches us through a proxy (203.0.113.50), so nothing
    // ties the callee's public address to its SDP. The caller's outgoing stream is paired by
    // rule 3b; the callee's stream back to exactly that 5-tuple by rule 4.
    let dialogs = [dialog(
        "nat3",
        0,
        Some(30_000),
        vec![
            sdp(0, "80.230.219.70:5060", true, &["192.168.1.2:30000"]),
            sdp(400, "203.0.113.50:5060", false, &["10.0.0.5:6000"]),
        ],
    )];
    let streams = [
        stream("80.230.219.70:41000", "203.0.113.7:52000", 1, 500, 29_000),
        stream("203.0.113.7:52000", "80.230.219.70:41000", 2, 520, 29_000),
        // Same reverse tuple but long after the call: not paired.
        stream("203.0.113.7:52000", "80.230.219.70:41000", 3, 90_000, 95_000),
    ];
    assert_eq!(
        pair(&dialogs, &streams),
        vec![
            paired(0, CallerToCallee, Some("10.0.0.5:6000"), NatPort),
            paired(0, CalleeToCaller, Some("192.168.1.2:30000"), SymmetricReturn),
            None,
        ]
    );
}

#[test]
fn reinvite_moves_media_to_a_new_port() {
    let mut d = plain_call("move", 0, Some(90_000));
    // At 30 s the callee re-INVITEs with a new port; the caller answers unchanged.
    d.sdp.push(sdp(30_000, "10.0.0.2:5060", false, &["10.0.0.2:5002"]));
    d.sdp.push(sdp(30_100, "10.0.0.1:5060", true, &["10.0.0.1:4000"]));
    let streams = [
        stream("10.0.0.1:4000", "10.0.0.2:5000", 1, 600, 30_200),
        stream("10.0.0.2:5000", "10.0.0.1:4000", 2, 600, 30_000),
        stream("10.0.0.1:4000", "10.0.0.2:5002", 1, 30_250, 89_000),
        stream("10.0.0.2:5002", "10.0.0.1:4000", 3, 30_100, 89_000),
    ];
    assert_eq!(
        pair(&[d], &streams),
        vec![
            paired(0, CallerToCallee, Some("10.0.0.2:5000"), SdpDestination),
            paired(0, CalleeToCaller, Some("10.0.0.1:4000"), SdpDestination),
            paired(0, CallerToCallee, Some("10.0.0.2:5002"), SdpDestination),
            paired(0, CalleeToCaller, Some("10.0.0.1:4000"), SdpDestination),
        ]
    );
}

#[test]
fn consecutive_calls_reusing_the_same_ports() {
    let dialogs = [plain_call("first", 0, Some(50_000)), plain_call("second", 60_000, Some(100_000))];
    let streams = [
        stream("10.0.0.1:4000", "10.0.0.2:5000", 1, 700, 49_900),
        stream("10.0.0.1:4000", "10.0.0.2:5000", 2, 60_700, 99_900),
        // Early packets 1 s before the second call's first SDP: the first call had ended
        // 10 s before, so they belong to the second.
        stream("10.0.0.2:5000", "10.0.0.1:4000", 3, 59_000, 99_900),
        // Packets just after the first call's BYE (in flight): still the first call.
        stream("10.0.0.2:5000", "10.0.0.1:4000", 4, 51_000, 51_200),
    ];
    assert_eq!(
        pair(&dialogs, &streams),
        vec![
            paired(0, CallerToCallee, Some("10.0.0.2:5000"), SdpDestination),
            paired(1, CallerToCallee, Some("10.0.0.2:5000"), SdpDestination),
            paired(1, CalleeToCaller, Some("10.0.0.1:4000"), SdpDestination),
            paired(0, CalleeToCaller, Some("10.0.0.1:4000"), SdpDestination),
        ]
    );

    // Without a BYE for the first call, the latest announcement before the stream wins.
    let open = [plain_call("first", 0, None), plain_call("second", 60_000, Some(100_000))];
    let streams = [stream("10.0.0.1:4000", "10.0.0.2:5000", 2, 60_700, 99_900)];
    assert_eq!(pair(&open, &streams), vec![paired(1, CallerToCallee, Some("10.0.0.2:5000"), SdpDestination)]);
}

#[test]
fn orphan_streams_are_unpaired() {
    let dialogs = [plain_call("a", 0, Some(60_000))];
    let streams = [
        // Never announced.
        stream("10.9.9.9:1234", "10.9.9.8:1236", 1, 1_000, 2_000),
        // Announced address, but long after the call ended.
        stream("10.0.0.1:4000", "10.0.0.2:5000", 2, 500_000, 510_000),
        // Announced address, but ended well before the SDP existed.
        stream("10.0.0.3:7000", "10.0.0.2:5000", 3, -60_000, -50_000),
    ];
    assert_eq!(pair(&dialogs, &streams), vec![None, None, None]);
    assert_eq!(pair::<Dialog, _>(&[], &streams), vec![None, None, None]);
}

#[test]
fn one_way_call() {
    let dialogs = [plain_call("a", 0, Some(60_000))];
    let streams = [stream("10.0.0.2:5000", "10.0.0.1:4000", 1, 600, 59_000)];
    assert_eq!(pair(&dialogs, &streams), vec![paired(0, CalleeToCaller, Some("10.0.0.1:4000"), SdpDestination)]);
}

#[test]
fn stream_before_its_sdp() {
    // The INVITE (caller's SDP) is at 10 s and the callee's SDP at 10.5 s. The caller's
    // packets are seen 800 ms before the callee's SDP (within the 2 s slack).
    let dialogs = [plain_call("early", 10_000, Some(60_000))];
    let streams = [
        stream("10.0.0.1:4000", "10.0.0.2:5000", 1, 9_700, 59_000),
        // 5 s before any SDP, but still running when it arrives: nearest later announcement.
        stream("10.0.0.2:5000", "10.0.0.1:4000", 2, 5_000, 59_000),
    ];
    assert_eq!(
        pair(&dialogs, &streams),
        vec![
            paired(0, CallerToCallee, Some("10.0.0.2:5000"), SdpDestination),
            paired(0, CalleeToCaller, Some("10.0.0.1:4000"), SdpDestination),
        ]
    );
}

#[test]
fn b2bua_same_ssrc_on_two_legs_and_relayed_sdp() {
    // A-leg: caller 10.0.0.1 ↔ PBX 10.0.0.100:10000; B-leg: PBX 10.0.0.100:10002 ↔ callee
    // 10.0.0.2:5000. The PBX forwards the caller's SSRC on the B leg.
    let a_leg = dialog(
        "A",
        0,
        Some(60_000),
        vec![
            sdp(0, "10.0.0.1:5060", true, &["10.0.0.1:4000"]),
            sdp(900, "10.0.0.100:5060", false, &["10.0.0.100:10000"]),
        ],
    );
    let b_leg = dialog(
        "B",
        20,
        Some(60_050),
        vec![
            sdp(20, "10.0.0.100:5060", true, &["10.0.0.100:10002"]),
            sdp(880, "10.0.0.2:5060", false, &["10.0.0.2:5000"]),
        ],
    );
    let streams = [
        stream("10.0.0.1:4000", "10.0.0.100:10000", 0xabc, 1_000, 59_000),
        stream("10.0.0.100:10002", "10.0.0.2:5000", 0xabc, 1_001, 59_000),
    ];
    assert_eq!(
        pair(&[a_leg, b_leg], &streams),
        vec![
            paired(0, CallerToCallee, Some("10.0.0.100:10000"), SdpDestination),
            paired(1, CallerToCallee, Some("10.0.0.2:5000"), SdpDestination),
        ]
    );
}

#[test]
fn ipv6_and_unspecified_hold_address() {
    let dialogs = [dialog(
        "v6",
        0,
        Some(60_000),
        vec![
            sdp(0, "[fd17::1521]:5060", true, &["[fd17::1521]:15062"]),
            sdp(300, "[fd17::4222]:5060", false, &["[fd17::4222]:25062"]),
            // Hold, old style: c=0.0.0.0 from the caller. Never a destination.
            sdp(20_000, "10.0.0.1:5060", true, &["0.0.0.0:15062"]),
        ],
    )];
    let streams = [
        stream("[fd17::1521]:15062", "[fd17::4222]:25062", 1, 400, 59_000),
        stream("[fd17::4222]:25062", "[fd17::1521]:15062", 2, 400, 59_000),
    ];
    assert_eq!(
        pair(&dialogs, &streams),
        vec![
            paired(0, CallerToCallee, Some("[fd17::4222]:25062"), SdpDestination),
            paired(0, CalleeToCaller, Some("[fd17::1521]:15062"), SdpDestination),
        ]
    );
}

#[test]
fn load_generator_reusing_one_address_for_many_calls() {
    // sipnab-sipp-branch-scenario shape: every call announces 127.0.1.1:6000/6001.
    const CALLS: i64 = 2_000;
    let dialogs: Vec<Dialog> = (0..CALLS)
        .map(|i| {
            let t = i * 10_000;
            dialog(
                &format!("call-{i}"),
                t,
                Some(t + 8_000),
                vec![
                    sdp(t, "127.0.1.1:5061", true, &["127.0.1.1:6001"]),
                    sdp(t + 200, "127.0.1.1:5060", false, &["127.0.1.1:6000"]),
                ],
            )
        })
        .collect();
    let streams: Vec<StreamStats> = (0..CALLS)
        .map(|i| {
            let t = i * 10_000;
            let ssrc = u32::try_from(i).unwrap();
            stream("127.0.1.1:6001", "127.0.1.1:6000", ssrc, t + 300, t + 7_000)
        })
        .collect();
    let result = pair(&dialogs, &streams);
    for (i, p) in result.iter().enumerate() {
        assert_eq!(*p, paired(i, CallerToCallee, Some("127.0.1.1:6000"), SdpDestination), "stream {i}");
    }
}
