//! RTP header parsers and the stream statistics: the input is split into packets (2-byte
//! big-endian length prefix, the first byte of each packet also picks the time step), fed to one
//! small stream table, then finished.
#![no_main]
use callscope::capture::FrameRef;
use callscope::rtp::{self, RtpPacketInfo, StreamKey, StreamTable};
use callscope::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rtp::parse_header(data);
    let _ = rtp::parse_fixed_header(data);
    let mut table = StreamTable::with_capacity_limit(4);
    let src = "10.0.0.1:4000".parse().unwrap();
    let dst = "10.0.0.2:5000".parse().unwrap();
    let mut rest = data;
    let mut t: i64 = 0;
    for number in 1..=10_000u64 {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else { break };
        let len = usize::from(u16::from_be_bytes(*len)) % 256;
        let take = len.min(tail.len());
        let (pkt, tail) = tail.split_at(take);
        rest = tail;
        let step = pkt.first().copied().unwrap_or(0);
        // Time may go backwards (signed step), as in real captures.
        t += (i64::from(step as i8)) * 1_000_000;
        let header = rtp::parse_header(pkt).or_else(|| rtp::parse_fixed_header(pkt));
        if let Some(header) = header {
            let at = FrameRef { file: 0, number, time: ts(t) };
            let clock_hz = [0, 8000, 16000, 48000][usize::from(step & 3)];
            let key = StreamKey { src, dst, ssrc: header.ssrc };
            table.observe(key, &RtpPacketInfo { at, header, clock_hz, dscp: step >> 2, vlan: None, interface: None, payload_silent: None, is_event: clock_hz == 0 });
        }
    }
    for s in table.finish() {
        let _ = s;
    }
});

fn ts(ns: i64) -> Timestamp {
    Timestamp::from_parts(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000) as u32)
}
