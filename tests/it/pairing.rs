//! Streams tied to calls on real captures (foundation item 7): SDP destination, symmetric
//! source, relay hops; directions relative to the caller.

use crate::common::{fixtures, run};

/// (src, dst, ssrc, call_id, direction) of one stream record.
type StreamRow = (String, String, String, Option<String>, Option<String>);

fn streams_of(file: &str) -> Vec<StreamRow> {
    let doc = serde_json::to_value(run(&[fixtures().join("captures").join(file)])).unwrap();
    doc["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["src"].as_str().unwrap().to_owned(),
                s["dst"].as_str().unwrap().to_owned(),
                s["ssrc"].as_str().unwrap().to_owned(),
                s["call_id"].as_str().map(str::to_owned),
                s["direction"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[test]
fn relay_hops_belong_to_the_call_they_carry() {
    // SIP_CALL_RTP_G711: SDP announces 200.57.7.196 (a relay); the relay forwards the same SSRCs
    // to and from 200.57.7.199 (diagnosis.md §8).
    let call = Some("12013223@200.57.7.195".to_owned());
    let streams = streams_of("sipnab-SIP_CALL_RTP_G711.pcap");
    let find = |src: &str, dst: &str| streams.iter().find(|s| s.0 == src && s.1 == dst).cloned().unwrap();
    let announced_in = find("200.57.7.204:8000", "200.57.7.196:40376");
    assert_eq!((announced_in.3.clone(), announced_in.4.as_deref()), (call.clone(), Some("callee_to_caller")));
    let hop_out = find("200.57.7.196:40378", "200.57.7.199:4800");
    assert_eq!(
        (hop_out.2.as_str(), hop_out.3.clone(), hop_out.4.as_deref()),
        ("0xD2BD4E3E", call.clone(), Some("callee_to_caller"))
    );
    let hop_in = find("200.57.7.199:4800", "200.57.7.196:40378");
    assert_eq!(
        (hop_in.2.as_str(), hop_in.3.clone(), hop_in.4.as_deref()),
        ("0x58F33DEA", call.clone(), Some("caller_to_callee"))
    );
    // 6 packets from 200.57.7.202 to a port no SDP of the capture announced: not this call.
    let stray = find("200.57.7.202:30000", "200.57.7.196:40362");
    assert_eq!(stray.3, None);
}

#[test]
fn each_call_gets_its_own_stream_on_a_reused_port() {
    // sip-rtp-g711: two consecutive calls, both announcing 10.0.2.20:6000 as the receiver.
    let streams = streams_of("sipnab-sip-rtp-g711.pcap");
    let by_ssrc = |ssrc: &str| streams.iter().find(|s| s.2 == ssrc).cloned().unwrap();
    assert_eq!(by_ssrc("0x343DA99B").3.as_deref(), Some("1-1966@10.0.2.20"));
    assert_eq!(by_ssrc("0x343FFA34").3.as_deref(), Some("1-1968@10.0.2.20"));
    assert_eq!(by_ssrc("0x343FFA34").4.as_deref(), Some("callee_to_caller"));
}
