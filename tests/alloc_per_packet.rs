//! No allocation per RTP packet on the packet path (capture → decode → classify → RTP →
//! quality), checked with a counting global allocator: feeding N and 2N packets of the same
//! flows through [`callscope::pipeline::Analyzer`] costs the same number of allocations
//! (issue 6; helper brief "no allocation per packet on the packet path").
//!
//! A separate test binary, so that the counting allocator does not slow the other tests; the
//! count is per thread, so that the test harness's own threads do not disturb it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;

use callscope::capture::CaptureSet;
use callscope::config::Config;
use callscope::pipeline::Analyzer;

/// The system allocator, counting the calls that obtain memory on the calling thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: during thread teardown the slot may be gone; such calls are not counted.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the GlobalAlloc
// contract; the counter is a const-initialised thread-local Cell (no allocation, no drop).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Source address and port, destination address and port, SSRC.
type Flow = ([u8; 4], u16, [u8; 4], u16, u32);

/// A classic pcap (Ethernet, microseconds) of `per_flow` G.711 packets (20 ms, 160 bytes) on
/// each of three flows, one of them with every 50th packet lost and every 70th duplicated.
fn rtp_capture(per_flow: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 1] {
        if word == 0x0004_0002 {
            out.extend_from_slice(&2u16.to_le_bytes());
            out.extend_from_slice(&4u16.to_le_bytes());
        } else {
            out.extend_from_slice(&word.to_le_bytes());
        }
    }
    let flows: [Flow; 3] = [
        ([10, 0, 0, 1], 40_000, [10, 0, 0, 2], 50_000, 0x1111),
        ([10, 0, 0, 2], 50_000, [10, 0, 0, 1], 40_000, 0x2222),
        ([10, 0, 1, 7], 40_002, [10, 0, 2, 9], 50_002, 0x3333),
    ];
    for i in 0..per_flow {
        for (f, &(src, sport, dst, dport, ssrc)) in flows.iter().enumerate() {
            if f == 2 && i % 50 == 49 {
                continue; // lost
            }
            let copies = if f == 2 && i % 70 == 69 { 2 } else { 1 };
            for _ in 0..copies {
                let mut rtp = vec![0x80, 0];
                rtp.extend_from_slice(&(i as u16).to_be_bytes());
                rtp.extend_from_slice(&(160 * i).to_be_bytes());
                rtp.extend_from_slice(&ssrc.to_be_bytes());
                rtp.resize(12 + 160, 0xff);
                let udp_len = (8 + rtp.len()) as u16;
                let mut frame = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
                frame.extend_from_slice(&[0x45, 0xb8]);
                frame.extend_from_slice(&(20 + udp_len).to_be_bytes());
                frame.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
                frame.extend_from_slice(&src);
                frame.extend_from_slice(&dst);
                frame.extend_from_slice(&sport.to_be_bytes());
                frame.extend_from_slice(&dport.to_be_bytes());
                frame.extend_from_slice(&udp_len.to_be_bytes());
                frame.extend_from_slice(&[0, 0]);
                frame.extend_from_slice(&rtp);
                // Arrival: 20 ms per packet plus up to 3 ms of jitter, 1 ms apart per flow.
                let us = 1_000_000u64 + u64::from(i) * 20_000 + (u64::from(i) * 7 % 4) * 1000 + f as u64 * 1000;
                out.extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
                out.extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
                out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
                out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
                out.extend_from_slice(&frame);
            }
        }
    }
    out
}

/// Allocations made while reading and analysing every frame of `capture` (not counting the
/// setup before the first frame nor `finish`), and the streams measured.
fn allocations_while_pushing(capture: Vec<u8>) -> (u64, usize) {
    // One window for the whole run: closing a quality window legitimately stores one record.
    let config = Config { window_s: 3600.0, ..Config::default() };
    let mut analyzer = Analyzer::new(&config);
    let source: Box<dyn std::io::Read + Send> = Box::new(Cursor::new(capture));
    let mut set = CaptureSet::from_readers(vec![("mem".to_owned(), source)]).expect("in-memory pcap");
    let before = allocations();
    // Bounded: the capture has a finite number of frames.
    while let Some(frame) = set.next_frame(analyzer.warnings_mut()) {
        analyzer.push_frame(&frame);
    }
    let used = allocations() - before;
    let streams = analyzer.held_streams();
    let analysis = analyzer.finish();
    assert_eq!(analysis.warnings.total(), 0, "unexpected warnings: {:?}", analysis.warnings.kept());
    (used, streams)
}

#[test]
fn rtp_packets_do_not_allocate() {
    let (n, streams_n) = allocations_while_pushing(rtp_capture(1000));
    let (two_n, streams_2n) = allocations_while_pushing(rtp_capture(2000));
    assert_eq!((streams_n, streams_2n), (3, 3));
    eprintln!("allocations: {n} for 3 x 1000 packets, {two_n} for 3 x 2000 packets");
    // Per-stream setup (table slots, map growth, the first outage/DSCP lists) is allowed; per
    // packet nothing: twice the packets, the same count.
    assert_eq!(n, two_n, "allocations grow with the packet count");
    assert!(n < 64, "{n} allocations for three streams");
}
