//! SIP over TCP: the input is a list of segments (header: flags byte, direction byte, 4-byte
//! sequence offset, 2-byte length), fed to the SIP stage with small limits.
#![no_main]
use callscope::capture::FrameRef;
use callscope::decode::{Datagram, Transport};
use callscope::sip::tcp::TcpLimits;
use callscope::sip::{SipLimits, SipStage};
use callscope::time::Timestamp;
use callscope::warn::Warnings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = SipLimits {
        tcp: TcpLimits {
            max_streams: 3,
            max_stream_bytes: 4096,
            max_total_bytes: 8192,
            max_held_segments: 4,
            max_held_bytes: 2048,
            idle_timeout_ns: 1_000_000,
        },
        ..SipLimits::default()
    };
    let mut stage = SipStage::new(limits);
    let mut warnings = Warnings::default();
    let a = "10.0.0.1:5060".parse().unwrap();
    let b = "10.0.0.2:5060".parse().unwrap();
    let c = "10.0.0.3:5060".parse().unwrap();
    let ends = [(a, b), (b, a), (a, c), (c, a), (b, c)];
    let mut rest = data;
    let base: u32 = 0xffff_ff00; // near the wrap
    for number in 1..=10_000u64 {
        let Some((head, tail)) = rest.split_first_chunk::<8>() else { break };
        let flags = head[0];
        let (src, dst) = ends[usize::from(head[1]) % ends.len()];
        let seq = base.wrapping_add(u32::from_be_bytes([head[2], head[3], head[4], head[5]]) % 100_000);
        let len = usize::from(u16::from_be_bytes([head[6], head[7]])).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        let at = FrameRef { file: 0, number, time: ts(number as i64 * 1_000) };
        let dg = Datagram {
            at,
            src,
            dst,
            transport: Transport::Tcp { seq, flags },
            vlan: None,
            interface: None,
            dscp: 0,
            icmp_error: None,
            payload,
        };
        stage.on_datagram(&dg, &mut warnings, &mut |_| {});
    }
    stage.flush(&mut warnings, &mut |_| {});
    let _ = stage.finish(ts(1_000_000_000));
});

fn ts(ns: i64) -> Timestamp {
    Timestamp::from_parts(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000) as u32)
}
