//! Per-packet cost of the quality stage (issue 4: "the cost of the simulation per packet"):
//! the three jitter-buffer models with streaming loss indicators, and the whole per-stream
//! tracker (buffers + windows + ptime), on a 10 000-packet trace with jitter, loss and
//! reordering. Run: `cargo bench --bench quality -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

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
            buffers.adaptive.discarded()
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
