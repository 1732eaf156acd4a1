//! Link/IP/UDP/TCP decode (tunnels, ICMP quotes, fragments): the input is one frame, decoded
//! under every link type, then split into several frames so that fragment sets meet.
#![no_main]
use callscope::capture::{Frame, FrameRef, LinkType};
use callscope::decode::{DecodeLimits, Decoder};
use callscope::time::Timestamp;
use callscope::warn::Warnings;
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 8] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
];

fuzz_target!(|data: &[u8]| {
    let mut warnings = Warnings::default();
    let small = DecodeLimits { max_fragment_sets: 4, max_fragment_bytes: 4096, fragment_timeout_ns: 1_000 };
    for (i, link) in LINKS.iter().enumerate() {
        let mut decoder = Decoder::new(if i % 2 == 0 { DecodeLimits::default() } else { small.clone() });
        let mut n = 0u64;
        let frame = |bytes: &[u8], n: &mut u64, decoder: &mut Decoder, warnings: &mut Warnings| {
            *n += 1;
            let at = FrameRef { file: 0, number: *n, time: ts(*n as i64 * 100) };
            // orig_len both equal and larger than the bytes (snap-length cut).
            let orig_len = bytes.len() as u32 + (*n as u32 % 2) * 10;
            let f = Frame { at, link: *link, data: bytes, orig_len, interface: None };
            decoder.decode(&f, warnings, &mut |dg, _| {
                assert!(dg.payload.len() <= 65_535 + 65_535);
            });
        };
        frame(data, &mut n, &mut decoder, &mut warnings);
        // The same bytes as a sequence of frames separated by "\xff\xfe" (fragments of one datagram).
        for part in data.split(|&b| b == 0xfe).take(64) {
            frame(part, &mut n, &mut decoder, &mut warnings);
        }
        decoder.finish(&mut warnings);
        assert!(decoder.pending_fragment_sets() == 0);
    }
});

fn ts(ns: i64) -> Timestamp {
    Timestamp::from_parts(ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000) as u32)
}
