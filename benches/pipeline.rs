//! Criterion benchmarks per stage (read, decode, SIP scan, RTP observe) and for the whole
//! pipeline (one thread and `--threads 2`), on a generated capture
//! (src/synth: 40 concurrent G.711 calls with faults). Throughput is in packets.
//! Run: `cargo bench --bench pipeline`. Targets and measured ratios live in notes, not tests.

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use callscope::capture::{CaptureSet, Frame, FrameRef, LinkType};
use callscope::config::Config;
use callscope::decode::Decoder;
use callscope::rtp::{self, RtpPacketInfo, StreamKey, StreamTable};
use callscope::time::Timestamp;
use callscope::warn::Warnings;

/// Writes the benchmark capture once and returns its path and its frames (owned copies, so
/// that the decode benchmark measures decoding only).
fn capture() -> (std::path::PathBuf, Vec<(FrameRef, LinkType, Vec<u8>)>) {
    let dir = std::env::temp_dir().join("callscope-bench");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("mixed.pcap");
    callscope::synth::mixed(120, 40, 60, 3).write_file(&path).expect("capture written");
    let mut set = CaptureSet::open(&[path.to_string_lossy().into_owned()]).expect("capture opens");
    let mut warnings = Warnings::default();
    let mut frames = Vec::new();
    while let Some(f) = set.next_frame(&mut warnings) {
        frames.push((f.at, f.link, f.data.to_vec()));
    }
    (path, frames)
}

fn benches(c: &mut Criterion) {
    let (path, frames) = capture();
    let packets = frames.len() as u64;

    let mut group = c.benchmark_group("stage");
    group.throughput(Throughput::Elements(packets));
    group.bench_function("read", |b| {
        b.iter(|| {
            let mut set = CaptureSet::open(&[path.to_string_lossy().into_owned()]).expect("capture opens");
            let mut warnings = Warnings::default();
            let mut bytes = 0u64;
            while let Some(f) = set.next_frame(&mut warnings) {
                bytes += f.data.len() as u64;
            }
            black_box(bytes)
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut decoder = Decoder::new(Default::default());
            let mut warnings = Warnings::default();
            let mut datagrams = 0u64;
            for (at, link, data) in &frames {
                let frame = Frame { at: *at, link: *link, data, orig_len: data.len() as u32, interface: None };
                decoder.decode(&frame, &mut warnings, &mut |dg, _| datagrams += dg.payload.len() as u64);
            }
            black_box(datagrams)
        })
    });
    group.finish();

    let invite = b"INVITE sip:bob@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\nTo: Bob <sip:bob@10.0.0.2>\r\nFrom: Alice <sip:alice@10.0.0.1>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@10.0.0.1\r\nCSeq: 314159 INVITE\r\nContact: <sip:alice@10.0.0.1>\r\n\
Content-Type: application/sdp\r\nContent-Length: 0\r\n\r\n";
    let mut group = c.benchmark_group("sip");
    group.throughput(Throughput::Elements(1));
    group.bench_function("scan_datagram", |b| {
        b.iter(|| black_box(callscope::sip::scan_datagram(black_box(invite)).is_ok()))
    });
    group.finish();

    let mut group = c.benchmark_group("rtp");
    const N: u16 = 10_000;
    group.throughput(Throughput::Elements(u64::from(N)));
    let key = StreamKey {
        src: SocketAddr::from(([10, 0, 0, 1], 4000)),
        dst: SocketAddr::from(([10, 0, 0, 2], 5000)),
        ssrc: 0x1234_5678,
    };
    group.bench_function("observe", |b| {
        b.iter(|| {
            let mut table = StreamTable::default();
            for i in 0..N {
                let header = rtp::RtpHeader {
                    marker: i == 0,
                    pt: 0,
                    seq: i,
                    ts: u32::from(i) * 160,
                    ssrc: key.ssrc,
                    payload_len: 160,
                };
                let at = FrameRef { file: 0, number: u64::from(i), time: Timestamp(i64::from(i) * 20_000_000 + 17) };
                table.observe(
                    key,
                    &RtpPacketInfo {
                        at,
                        header,
                        clock_hz: 8000,
                        dscp: 46,
                        vlan: None,
                        interface: None,
                        is_event: false,
                        payload_silent: None,
                    },
                );
            }
            black_box(table.finish().len())
        })
    });
    group.finish();

    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(packets));
    group.sample_size(10);
    let paths = [path.to_string_lossy().into_owned()];
    group.bench_function("analyze", |b| {
        b.iter(|| black_box(callscope::pipeline::analyze(&paths, &Config::default()).expect("analysis").streams.len()))
    });
    // The same run on 2 threads (`--threads 2`: the reading thread and one RTP worker).
    group.bench_function("analyze_2_threads", |b| {
        b.iter(|| {
            let analysis = callscope::pipeline::analyze_threaded(&paths, &Config::default(), 2, &mut |_| {});
            black_box(analysis.expect("analysis").streams.len())
        })
    });
    group.finish();
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
