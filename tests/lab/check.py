#!/usr/bin/env python3
"""Assert callscope's analysis of each lab capture against the scenario's truth.json.

Usage: python3 tests/lab/check.py CALLSCOPE_BINARY LAB_OUT_DIR

For every LAB_OUT_DIR/<scenario>/ it runs `callscope analyze --format json` on the scenario's per-interface
captures (callscope merges them in time order) and checks:
  * calls: count, final_status, outcome;
  * streams per direction against the phones' own RTP counters (baresip's hang-up summary):
      flowing  rx(receiver) - 2 <= captured <= tx(sender), and lost == 0
      lossy    rx(receiver) - 2 <= captured <= tx(sender), lost > 0, 1 % <= lost_pct <= 15 %,
               |(tx - captured) - lost| <= 3
      jittery  as flowing, plus mean jitter at least 3x the other direction's
      absent   no stream that way, or fewer than 10 packets (diagnosis.md one_way_audio min_packets)
    Why these bounds: the capture is on the WAN router's egress, between the two phones, so it sees at
    most what the sender sent and at least what the receiver got. The slack of 2 below rx covers the
    last packets the receiver counted while tcpdump was being stopped (never observed; kept small).
    Loss by the router happens before the capture point, so callscope sees it as sequence gaps: the
    sender's excess over the capture is the lost count, give or take packets dropped after the last
    captured one (tail drops are invisible to sequence numbers).
  * DSCP per direction where the truth names it;
  * verdict codes: the truth's `reasons` must all be in the call's verdict and the verdict class must
    match; `reasons_pending` (catalogue codes the diagnosis module on main does not emit yet) are
    reported in the table, not asserted.
Prints a table (injected fault -> callscope's verdict -> right/wrong/pending) and a closing
'N passed, N failed' line. Exit 1 when an asserted check failed.
"""
import json

# Degrade-level codes a stalled host can cause on a scenario with no injected fault (see check()).
HOST_TIMING_CODES = {"late_packets", "low_mos", "high_jitter"}
import os
import subprocess
import sys


def analyze(binary, sdir, captures):
    paths = [os.path.join(sdir, c) for c in captures]
    out = subprocess.run([binary, "analyze", "--format", "json", *paths], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    return json.loads(out)


def stream_by_direction(doc, call):
    ids = set(call.get("streams") or [])
    by = {}
    for s in doc["streams"]:
        if s["id"] in ids and s.get("direction"):
            # Keep the larger stream if one direction has two (an SSRC change would make two).
            if s["direction"] not in by or s["packets"] > by[s["direction"]]["packets"]:
                by[s["direction"]] = s
    return by


def check_scenario(binary, sdir):
    truth = json.load(open(os.path.join(sdir, "truth.json")))
    exp = truth["expect"]
    doc = analyze(binary, sdir, truth["captures"])
    fails, notes = [], []

    def want(cond, msg):
        if not cond:
            fails.append(msg)

    calls = doc["calls"]
    want(len(calls) == exp["calls"], f"calls: {len(calls)} != {exp['calls']}")
    verdict_txt = "-"
    pending = list(exp.get("reasons_pending", []))
    if exp["calls"] == 1 and len(calls) == 1:
        c = calls[0]
        want(c["final_status"] == exp["final_status"], f"final_status {c['final_status']} != {exp['final_status']}")
        want(c["outcome"] == exp["outcome"], f"outcome {c['outcome']} != {exp['outcome']}")
        codes = [r["code"] for r in c["verdict"]["reasons"]]
        verdict_txt = c["verdict"]["class"] + ("(" + ",".join(codes) + ")" if codes else "")
        for code in exp["reasons"]:
            want(code in codes, f"reason {code} missing from {codes}")
        # The lab shares a loaded 2-core machine: the namespaces' forwarding and the phones' audio
        # threads stall now and then (40 ms delay spikes were measured on a 'clean' call while
        # other builds ran). callscope rightly reports what that does to a receiver's jitter
        # buffer; on a scenario that injects no fault those timing reasons (degrade only) are
        # reported as host jitter rather than failed. Any other reason, or a fail, still fails.
        timing_only = exp["verdict_class"] == "ok" and c["verdict"]["class"] == "media" and all(
            r["code"] in HOST_TIMING_CODES and r.get("severity") == "degrade" for r in c["verdict"]["reasons"])
        if timing_only:
            verdict_txt += " [host jitter]"
        if not pending and not timing_only:
            want(c["verdict"]["class"] == exp["verdict_class"],
                 f"verdict class {c['verdict']['class']} != {exp['verdict_class']}")
        missing_pending = [p for p in pending if p not in codes]
        if pending and not missing_pending and c["verdict"]["class"] == exp["verdict_class"]:
            pending = []  # the diagnosis module now produces them: count as right
        by = stream_by_direction(doc, c)
        counters = {"caller": truth["result"].get("caller_rtp"), "callee": truth["result"].get("callee_rtp")}
        for direction, kind in exp["streams"].items():
            sender, receiver = ("caller", "callee") if direction == "caller_to_callee" else ("callee", "caller")
            s = by.get(direction)
            if kind == "absent":
                want(s is None or s["packets"] < 10, f"{direction}: expected no RTP, got {s and s['packets']}")
                continue
            if s is None:
                fails.append(f"{direction}: no stream")
                continue
            tx = (counters[sender] or {}).get("tx")
            rx = (counters[receiver] or {}).get("rx")
            if tx is None or rx is None:
                fails.append(f"{direction}: phone RTP counters missing")
                continue
            pk = s["packets"]
            want(rx - 2 <= pk <= tx, f"{direction}: captured {pk} outside [rx {rx} - 2, tx {tx}]")
            if kind in ("flowing", "jittery"):
                want(s["lost"] == 0, f"{direction}: lost {s['lost']} on a clean path")
            if kind == "lossy":
                want(s["lost"] > 0 and 1.0 <= s["lost_pct"] <= 15.0, f"{direction}: lost_pct {s['lost_pct']}")
                want(abs((tx - pk) - s["lost"]) <= 3, f"{direction}: tx {tx} - captured {pk} vs lost {s['lost']}")
            if kind == "jittery":
                other = by.get("callee_to_caller" if direction == "caller_to_callee" else "caller_to_callee")
                want(other is not None and s["mean_jitter_ms"] >= 3 * max(other["mean_jitter_ms"], 1.0),
                     f"{direction}: mean jitter {s['mean_jitter_ms']} not >= 3x the other way")
            notes.append(f"{direction[:6]}:{pk}/tx{tx}/rx{rx} lost {s['lost']} jitter mean/max {s['mean_jitter_ms']:.0f}/{s['max_jitter_ms']:.0f} ms")
        for direction, dscp in exp.get("dscp_by_direction", {}).items():
            s = by.get(direction)
            want(s is not None and s["dscp"] == dscp, f"{direction}: dscp {s and s['dscp']} != {dscp}")
        if "dscp" in exp:
            for s in by.values():
                want(s["dscp"] == exp["dscp"], f"dscp {s['dscp']} != {exp['dscp']}")
    if "registrations_min" in exp:
        want(len(doc["registrations"]) >= exp["registrations_min"],
             f"registrations {len(doc['registrations'])} < {exp['registrations_min']}")
        verdict_txt = f"{len(doc['registrations'])} registration(s)"
    if "register_final" in exp:
        want(truth["result"].get("register_final") == exp["register_final"],
             f"phone saw {truth['result'].get('register_final')} != {exp['register_final']}")
    state = "WRONG" if fails else ("PENDING" if pending else "right")
    return truth, verdict_txt, state, fails, pending, notes


def main():
    binary, out = sys.argv[1], sys.argv[2]
    order = ["register_ok", "clean", "one_way", "loss", "dscp", "jitter", "nat_private_sdp", "unknown_user",
             "unregistered", "busy", "cancel", "no_answer", "register_fail"]
    dirs = [d for d in order if os.path.isfile(os.path.join(out, d, "truth.json"))]
    passed = failed = 0
    rows = []
    for d in dirs:
        try:
            truth, verdict, state, fails, pending, notes = check_scenario(binary, os.path.join(out, d))
        except Exception as e:  # a crash of callscope or a broken capture is a failure of that scenario
            truth, verdict, state, fails, pending, notes = {"injected": "?"}, "error", "WRONG", [repr(e)], [], []
        rows.append((d, truth.get("injected", ""), verdict, state, fails, pending, notes))
        if fails:
            failed += 1
        else:
            passed += 1
    print(f"{'scenario':16s} {'callscope verdict':40s} {'result':8s} injected fault")
    for d, inj, verdict, state, fails, pending, notes in rows:
        print(f"{d:16s} {verdict:40s} {state:8s} {inj}")
        for f in fails:
            print(f"{'':16s}   FAIL: {f}")
        if pending:
            print(f"{'':16s}   pending diagnosis codes (expected, not emitted on main yet): {', '.join(pending)}")
        if notes:
            print(f"{'':16s}   streams: {'; '.join(notes)}")
    print(f"lab: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
