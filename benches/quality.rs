//! Per-packet cost of the quality stage (issue 4: "the cost of the simulation per packet"):
//! the three jitter-buffer models with streaming loss indicators, and the whole per-stream
//! tracker (buffers + windows + ptime), on a 10 000-packet trace with jitter, loss and
//! reordering; and the digital-silence test of one G.711 payload (speech, idle, and the
//! near-silence band that needs the exact sum). Run: `cargo bench --bench quality -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use callscope::quality::silence::{rtp_payload_is_silent, PayloadCodec};
use callscope::quality::{PacketObservation, StandardBuffers, StreamCounters, StreamQuality};

const PACKETS: u64 = 10_000;

fn trace() -> Vec<(PacketObservation, i64)> {
    let mut out = Vec::new();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for k in 0..PACKETS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x % 100 < 3 {
            continue; // 3 % loss
        }
        let jitter = (x >> 8) % 60;
        out.push((
            PacketObservation {
                arrival_ms: 20.0 * k as f64 + jitter as f64,
                ext_seq: k,
                media_ms: 20.0 * k as f64,
                marker: k % 500 == 0,
                bypasses_buffer: false,
                is_duplicate: false,
            },
            160 * k as i64,
        ));
    }
    out
}

fn bench(c: &mut Criterion) {
    let trace = trace();
    let mut group = c.benchmark_group("quality");
    group.throughput(Throughput::Elements(trace.len() as u64));
    group.bench_function("three_buffer_models", |b| {
        b.iter(|| {
            let mut buffers = StandardBuffers::default();
            for (obs, _) in &trace {
                buffers.push(obs);
            }
            buffers.adaptive().discarded()
        })
    });
    group.bench_function("stream_tracker", |b| {
        b.iter(|| {
            let mut q = StreamQuality::new(10_000.0);
            for (i, (obs, ts)) in trace.iter().enumerate() {
                let counters = StreamCounters { expected: obs.ext_seq + 1, received: i as u64 + 1, jitter_ms: 1.0 };
                q.observe(*obs, *ts, 8000, counters);
            }
            q.finish().windows.len()
        })
    });
    group.finish();

    // One 20 ms µ-law packet of each kind: a loud waveform, the idle code, and quiet codes
    // whose mean square is below −60 dBov while single samples are above it.
    let packet = |sample: &dyn Fn(usize) -> u8| {
        let mut p = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 1];
        p.extend((0..160).map(sample));
        p
    };
    let cases = [
        ("speech", packet(&|k| [0x1F, 0x35, 0x52, 0x9F, 0xB5, 0xD2][k % 6])),
        ("idle", packet(&|_| 0xFF)),
        ("near_silence", packet(&|k| 0xFF ^ (k % 7) as u8)),
    ];
    let mut group = c.benchmark_group("silence");
    group.throughput(Throughput::Elements(1));
    for (name, rtp) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| rtp_payload_is_silent(std::hint::black_box(rtp), 160, PayloadCodec::Pcmu))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
