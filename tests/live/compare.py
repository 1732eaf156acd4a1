#!/usr/bin/env python3
"""Compares `callscope live` output (calls.jsonl, streams.jsonl) with `callscope analyze --format json`
on the same capture. Counts must be equal; figures derived from arrival times may differ by the replay's
timing error (tcpreplay sleeps between packets; on a loaded 2-core machine a packet can leave ~1 ms late):
  setup/answer/SRD/SDD ms ±50, duration ±0.1 s, mean delta ±1 ms, mean jitter ±2 ms, max delta/jitter ±25 ms,
  MOS ±0.25 (MOS moves with jitter through the buffer model).
Prints the largest deviation seen per timing field; exits 1 on any mismatch."""
import json, sys

EXACT_CALL = ["outcome", "final_status", "sip_messages", "retransmissions", "from_uri", "to_uri", "ended_by"]
TOL_CALL = {"setup_ms": 50, "answer_ms": 50, "srd_ms": 50, "sdd_ms": 50, "duration_s": 0.1, "mos_min": 0.25}
EXACT_STREAM = ["packets", "expected", "lost", "seq_errors", "duplicates", "out_of_order", "seq_restarts",
                "payload_type", "codec", "call_id", "direction"]
TOL_STREAM = {"mean_delta_ms": 1.0, "mean_jitter_ms": 2.0, "max_delta_ms": 25.0, "max_jitter_ms": 25.0, "mos": 0.25}


def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def main(offline_json, outdir, label):
    doc = json.load(open(offline_json))
    live_calls = {c["call_id"]: c for c in lines(f"{outdir}/calls.jsonl")}
    key = lambda s: (s["src"], s["dst"], s["ssrc"])
    live_streams = {key(s): s for s in lines(f"{outdir}/streams.jsonl")}
    errors, worst = [], {}

    def tol(field, a, b, t):
        if a is None and b is None:
            return
        if a is None or b is None or abs(a - b) > t:
            errors.append(f"{field}: offline {a} live {b} (tolerance {t})")
        else:
            worst[field] = max(worst.get(field, 0.0), abs(a - b))

    if len(live_calls) != len(doc["calls"]):
        errors.append(f"calls: offline {len(doc['calls'])} live {len(live_calls)}")
    for c in doc["calls"]:
        l = live_calls.get(c["call_id"])
        if l is None:
            errors.append(f"call {c['call_id']} missing live")
            continue
        for f in EXACT_CALL:
            if c.get(f) != l.get(f):
                errors.append(f"call {c['call_id']} {f}: offline {c.get(f)} live {l.get(f)}")
        if len(c["streams"]) != len(l["streams"]):
            errors.append(f"call {c['call_id']} streams: offline {len(c['streams'])} live {len(l['streams'])}")
        if c["verdict"]["class"] != l["verdict"]["class"]:
            errors.append(f"call {c['call_id']} verdict: offline {c['verdict']['class']} live {l['verdict']['class']}")
        for f, t in TOL_CALL.items():
            tol(f, c.get(f), l.get(f), t)
    if len(live_streams) != len(doc["streams"]):
        errors.append(f"streams: offline {len(doc['streams'])} live {len(live_streams)}")
    for s in doc["streams"]:
        l = live_streams.get(key(s))
        if l is None:
            errors.append(f"stream {key(s)} missing live")
            continue
        for f in EXACT_STREAM:
            if s.get(f) != l.get(f):
                errors.append(f"stream {key(s)} {f}: offline {s.get(f)} live {l.get(f)}")
        for f, t in TOL_STREAM.items():
            tol(f, s.get(f), l.get(f), t)
    figures = ", ".join(f"{k} {v:.3f}" for k, v in sorted(worst.items()))
    status = "OK" if not errors else "MISMATCH"
    print(f"{label}: {status} calls {len(doc['calls'])}/{len(live_calls)} streams {len(doc['streams'])}/{len(live_streams)}; max deviation: {figures or '-'}")
    for e in errors[:20]:
        print("   ", e)
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
