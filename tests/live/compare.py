#!/usr/bin/env python3
"""Compares `callscope live` output (calls.jsonl, streams.jsonl) with `callscope analyze --format json`
on the same capture. Counts must be equal; figures derived from arrival times may differ by the replay's
timing error (tcpreplay sleeps between packets; on a loaded 2-core machine a packet can leave ~1 ms late):
  setup/answer/SRD/SDD ms ±50, duration ±0.1 s, mean delta ±1 ms, mean jitter ±2 ms, max delta/jitter ±25 ms,
  MOS ±0.25 (MOS moves with jitter through the buffer model).
Prints the largest deviation seen per timing field; exits 1 on any mismatch.

A replay slowed down by a loaded machine is a sender whose clock runs slow: every packet arrives a
little later than its RTP timestamp says, the delay accumulates, and the jitter-buffer models (MOS,
discards) see late packets that the original capture never had. So the replay's drift is measured
(stream span live / offline); when it exceeds 0.2 % and only timing-derived fields are off, the exit
code is 3 ("replay drifted", the caller retries) instead of 1. Counts must match in every case."""
import json, sys
from datetime import datetime

DRIFT_LIMIT = 0.002


def span_s(s):
    t = lambda x: datetime.fromisoformat(x.replace("Z", "+00:00")).timestamp()
    return t(s["last_time"]) - t(s["first_time"])

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
    errors, worst, timing_errors = [], {}, []
    drift = 0.0

    def tol(field, a, b, t):
        if a is None and b is None:
            return
        if a is None or b is None:
            errors.append(f"{field}: offline {a} live {b}")
        elif abs(a - b) > t:
            timing_errors.append(f"{field}: offline {a} live {b} (tolerance {t})")
        else:
            worst[field] = max(worst.get(field, 0.0), abs(a - b))

    if len(live_calls) != len(doc["calls"]):
        errors.append(f"calls: offline {len(doc['calls'])} live {len(live_calls)}")
    for c in doc["calls"]:
        l = live_calls.get(c["call_id"])
        if l is None:
            errors.append(f"call {c['call_id']} missing live")
            continue
        want = dict(c)
        # On SIGINT live closes every call whose signalling never ended as `incomplete` (issue 11);
        # offline, a capture that ends mid-call says `answered`.
        if c.get("ended_by") == "unknown" and not (c.get("final_status") or 0) >= 300:
            want["outcome"] = "incomplete"
        for f in EXACT_CALL:
            if want.get(f) != l.get(f):
                errors.append(f"call {c['call_id']} {f}: offline {c.get(f)} live {l.get(f)}")
        if len(c["streams"]) != len(l["streams"]):
            errors.append(f"call {c['call_id']} streams: offline {len(c['streams'])} live {len(l['streams'])}")
        if c["verdict"]["class"] != l["verdict"]["class"]:
            timing_errors.append(f"call {c['call_id']} verdict: offline {c['verdict']['class']} live {l['verdict']['class']}")
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
        if span_s(s) > 1.0:
            drift = max(drift, abs(span_s(l) / span_s(s) - 1.0))
        before = len(timing_errors)
        for f, t in TOL_STREAM.items():
            tol(f, s.get(f), l.get(f), t)
        if len(timing_errors) > before and s.get("quality") and l.get("quality"):
            q, lq = s["quality"], l["quality"]
            for f in ("discarded", "buffer_delay_ms", "ppl_pct"):
                timing_errors.append(f"  quality {f}: offline {q.get(f)} live {lq.get(f)}")
    figures = ", ".join(f"{k} {v:.3f}" for k, v in sorted(worst.items()))
    drifted = drift > DRIFT_LIMIT
    status = "MISMATCH" if errors or (timing_errors and not drifted) else "REPLAY DRIFTED" if timing_errors else "OK"
    print(f"{label}: {status} calls {len(doc['calls'])}/{len(live_calls)} streams {len(doc['streams'])}/{len(live_streams)}; replay drift {drift * 100:.3f} %; max deviation: {figures or '-'}")
    for e in (errors + timing_errors)[:20]:
        print("   ", e)
    if errors or (timing_errors and not drifted):
        return 1
    return 3 if timing_errors else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
