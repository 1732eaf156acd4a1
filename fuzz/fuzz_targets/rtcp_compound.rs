//! Compound RTCP parser and the RTCP table (reports, RTT, XR).
#![no_main]
use callscope::capture::FrameRef;
use callscope::rtcp::{RtcpCompound, RtcpTable};
use callscope::time::Timestamp;
use callscope::warn::Warnings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = callscope::rtcp::looks_like_rtcp(data);
    if let Ok(c) = RtcpCompound::parse(data) {
        for v in c.views() {
            let _ = format!("{v:?}");
        }
    }
    let mut table = RtcpTable::default();
    let mut warnings = Warnings::default();
    let a = "10.0.0.1:4001".parse().unwrap();
    let b = "10.0.0.2:5001".parse().unwrap();
    // The whole input, then its pieces split on 0xfe, alternating directions.
    table.observe_or_warn(FrameRef { file: 0, number: 1, time: ts(0) }, a, b, data, &mut warnings);
    for (i, part) in data.split(|&x| x == 0xfe).take(64).enumerate() {
        let at = FrameRef { file: 0, number: i as u64 + 2, time: ts(i as i64 * 10_000_000) };
        let (s, d) = if i % 2 == 0 { (a, b) } else { (b, a) };
        table.observe_or_warn(at, s, d, part, &mut warnings);
    }
    let _ = table.rtt_stats();
    for (_, e) in table.ssrcs() {
        let _ = format!("{e:?}");
    }
});

fn ts(ns: i64) -> Timestamp {
    Timestamp::from_parts(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000) as u32)
}
