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
  * per-site figures with fixtures/lab-sites.toml (caller_site, callee_site = the callee phone's site when it
    answered, else core (the proxy), sites[] rows: calls,
    answered, failures by class, one_way by direction, loss/jitter p95, dscp_expected_pct);
  * `callscope check --criteria fixtures/lab-criteria.toml`: exit 0 and no failed row on the clean
    scenarios, exit 2 with exactly the criteria in CHECK_FAILS on each faulted one;
  * registrations through `callscope registrations --json` (eve: failed, 403) and `registration_failed` on
    eve's record in analyze's registrations[];
  * load (SIPp): call count, every stream's packets against the receiving end's own count (sink.py),
    loss per phase against the policer's budget, sites[] peak/busy-hour concurrency, the sign of
    loss/MOS against concurrency, and the 1-minute site_windows buckets.
Prints a table (injected fault -> callscope's verdict -> right/wrong/pending) and a closing
'N passed, N failed' line. Exit 1 when an asserted check failed.
"""
import json

# Degrade-level codes a stalled host can cause on a scenario with no injected fault (see check()).
HOST_TIMING_CODES = {"late_packets", "low_mos", "high_jitter"}
# Load: a 1-minute bucket whose peak is at most this had only calls under the policer's budget.
LOAD_NO_LOSS_MAX = 25
import os
import subprocess
import sys


ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SITES = os.path.join(ROOT, "fixtures", "lab-sites.toml")
CRITERIA = os.path.join(ROOT, "fixtures", "lab-criteria.toml")
# The phones' sites in fixtures/lab-sites.toml. Through the proxy, callscope's `callee` is where the first
# INVITE went (kamailio, site "core"), but `callee_site` is resolved from the callee's own addresses: the
# source of its RTP, else its SDP answer, else the INVITE's destination. So an answered call is
# <caller's site> -> <callee phone's site>, and a call the callee never answered (no SDP answer, no RTP:
# 404, 480, 486, CANCEL) stays <caller's site> -> core.
PHONE_SITE = {"alice": "site-a", "eve": "site-a", "carol": "site-c", "bob": "site-b", "sipp-uac": "site-a",
              "sipp-uas": "site-c"}


def expected_callee_site(truth):
    """callee_site of a one-call scenario (see PHONE_SITE)."""
    if truth["expect"]["outcome"] == "answered":
        return PHONE_SITE.get(truth.get("callee"), "core")
    return "core"


# `callscope check --criteria fixtures/lab-criteria.toml`: the criteria each scenario must fail (exit 2),
# and no other; a scenario not listed must pass (exit 0).
CHECK_FAILS = {
    "one_way": {"no one-way audio"},
    "nat_private_sdp": {"no one-way audio"},
    "loss": {"loss p95"},
    "dscp": {"RTP marked EF"},
    "jitter": {"jitter p95"},
    # A 404/480 callee never seen registering is an `unregistered_extensions` finding (diagnosis.md §4.5).
    "unknown_user": {"no routing failures", "answer-seizure ratio", "extensions registered"},
    "unregistered": {"no routing failures", "answer-seizure ratio", "extensions registered"},
    "no_answer": {"no routing failures", "answer-seizure ratio"},
    "busy": {"answer-seizure ratio"},
    "cancel": {"answer-seizure ratio"},
    "register_fail": {"extensions registered"},
    "load": {"loss p95"},
}


def paths_of(sdir, captures):
    return [os.path.join(sdir, c) for c in captures]


def analyze(binary, sdir, captures):
    out = subprocess.run([binary, "analyze", "--format", "json", "--sites", SITES, "--bucket-minutes", "1",
                          *paths_of(sdir, captures)], check=True, capture_output=True, text=True, timeout=120).stdout
    return json.loads(out)


def check_criteria(binary, sdir, truth, want):
    """`callscope check`: exit 0 with no failed row on a clean scenario, exit 2 with exactly the
    scenario's CHECK_FAILS rows failed otherwise."""
    r = subprocess.run([binary, "check", "--criteria", CRITERIA, "--sites", SITES, "--format", "json",
                        *paths_of(sdir, truth["captures"])], capture_output=True, text=True, timeout=120)
    expected = CHECK_FAILS.get(truth["scenario"], set())
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        want(False, f"check: exit {r.returncode}, no JSON ({r.stderr.strip()[:200]})")
        return "check: error"
    failed = {row["criterion"] for row in doc["results"] if row["status"] == "fail"}
    want(r.returncode == (2 if expected else 0), f"check: exit {r.returncode}, expected {2 if expected else 0}")
    want(failed == expected, f"check: failed criteria {sorted(failed)} != {sorted(expected)}")
    return f"check exit {r.returncode}" + (f" [{', '.join(sorted(failed))}]" if failed else "")


def site_row(doc, site, peer=None):
    return next((r for r in doc["sites"] if r["site"] == site and r["peer_site"] == peer), None)


def check_sites(doc, truth, call, want, notes):
    """Per-site figures of a one-call scenario with fixtures/lab-sites.toml."""
    exp = truth["expect"]
    site = PHONE_SITE.get(truth.get("caller"))
    want(call["caller_site"] == site, f"caller_site {call['caller_site']} != {site}")
    callee_site = expected_callee_site(truth)
    want(call["callee_site"] == callee_site, f"callee_site {call['callee_site']} != {callee_site}")
    for peer in (None, callee_site):
        row = site_row(doc, site, peer)
        if row is None:
            want(False, f"sites[]: no row {site} -> {peer}")
            continue
        want(row["calls"] == 1, f"sites[{site}->{peer}].calls {row['calls']} != 1")
        want(row["answered"] == (1 if exp["outcome"] == "answered" else 0), f"sites[{site}].answered {row['answered']}")
        want(row["peak_concurrent"] == 1, f"sites[{site}].peak_concurrent {row['peak_concurrent']} != 1")
        cls = call["verdict"]["class"]
        for k, n in row["failures"].items():
            want(n == (1 if k == cls else 0), f"sites[{site}].failures.{k} {n} (call verdict {cls})")
        md = truth.get("missing_direction")
        for d, n in row["one_way"].items():
            want(n == (1 if d == md else 0), f"sites[{site}].one_way.{d} {n}")
        name = truth["scenario"]
        if name == "dscp":
            want(row["dscp_expected_pct"] == 50.0, f"sites[{site}].dscp_expected_pct {row['dscp_expected_pct']} != 50")
        elif exp["outcome"] == "answered":
            want(row["dscp_expected_pct"] == 100.0, f"sites[{site}].dscp_expected_pct {row['dscp_expected_pct']}")
        if name == "loss":
            want(row["loss_p95_pct"] is not None and row["loss_p95_pct"] >= 1.0, f"sites[{site}].loss_p95_pct {row['loss_p95_pct']}")
        elif exp["outcome"] == "answered":
            want(row["loss_p95_pct"] == 0.0, f"sites[{site}].loss_p95_pct {row['loss_p95_pct']} != 0")
        if name == "jitter":
            want(row["jitter_p95_ms"] is not None and row["jitter_p95_ms"] > 30.0, f"sites[{site}].jitter_p95_ms {row['jitter_p95_ms']}")
    row = site_row(doc, site)
    if row:
        notes.append(f"site {site}: calls {row['calls']} answered {row['answered']} failures "
                     f"{','.join(f'{k}={v}' for k, v in row['failures'].items() if v) or '-'} one_way "
                     f"{','.join(f'{k}={v}' for k, v in row['one_way'].items() if v) or '-'} loss_p95 {row['loss_p95_pct']} "
                     f"jitter_p95 {row['jitter_p95_ms']} dscp_ok {row['dscp_expected_pct']}")


def check_registrations(binary, sdir, truth, doc, want, notes):
    """Registration scenarios through `callscope registrations --json`, and `registration_failed` on the
    failed registration in `analyze`'s registrations[]."""
    r = subprocess.run([binary, "registrations", "--json", *paths_of(sdir, truth["captures"])], capture_output=True,
                       text=True, timeout=60)
    want(r.returncode == 0, f"registrations: exit {r.returncode}")
    try:
        regs = json.loads(r.stdout)
    except ValueError:
        want(False, "registrations: no JSON")
        return "registrations: error", False
    regs = regs.get("registrations", regs) if isinstance(regs, dict) else regs
    by_aor = {g["aor"]: g for g in regs}
    pending = False
    if truth["scenario"] == "register_ok":
        for user in ("alice", "carol", "bob"):
            g = by_aor.get(f"sip:{user}@192.0.2.10")
            want(g is not None and g["status"] == "registered" and g["last_code"] == 200,
                 f"registrations: {user} {g and (g['status'], g['last_code'])} != registered/200")
        txt = f"{sum(1 for g in regs if g['status'] == 'registered')} registered"
    else:
        g = by_aor.get("sip:eve@192.0.2.10")
        want(g is not None and g["status"] == "failed" and g["last_code"] == 403 and g["failures"] >= 1,
             f"registrations: eve {g and (g['status'], g['last_code'], g['failures'])} != failed/403")
        txt = f"eve {g['status']} {g['last_code']}" if g else "eve missing"
        # diagnosis.md §4.5: `registration_failed` is scoped to the registration (registrations[].reasons).
        rec = next((x for x in doc.get("registrations", []) if x.get("aor") == "sip:eve@192.0.2.10"), None)
        codes = [x["code"] for x in (rec or {}).get("reasons", [])]
        want("registration_failed" in codes, f"analyze: eve's registration reasons {codes} lack registration_failed")
        txt += f", registrations[eve].reasons {codes}"
    return txt, pending


def check_load(binary, sdir, truth, doc, want, notes):
    """SIPp load: call count, per-stream counts against what the receiving end got, loss per phase
    against the policer's budget, and the per-site busy-hour / concurrency figures."""
    phases = truth["result"]["phases"]
    received = truth["result"].get("received") or {}
    calls = sorted(doc["calls"], key=lambda c: c["start"])
    total = sum(p["concurrent"] for p in phases)
    want(len(calls) == total, f"load: {len(calls)} calls != {total}")
    want(all(p["sipp_exit"] == 0 for p in phases), f"load: SIPp exit codes {[p['sipp_exit'] for p in phases]}")
    want(all(c["outcome"] == "answered" and c["final_status"] == 200 for c in calls), "load: a call not answered")
    streams = {s["id"]: s for s in doc["streams"]}
    idx, phase_loss = 0, []
    mismatched = 0
    for p in phases:
        group = calls[idx:idx + p["concurrent"]]
        idx += p["concurrent"]
        ss = [streams[i] for c in group for i in c["streams"] if i in streams]
        want(len(ss) == 2 * len(group), f"load phase {p['concurrent']}: {len(ss)} streams for {len(group)} calls")
        for c in group:
            dirs = sorted(streams[i]["direction"] for i in c["streams"] if i in streams)
            want(dirs == ["callee_to_caller", "caller_to_callee"], f"load: call {c['call_id']} streams {dirs}")
        for st in ss:
            # The receiving end's own count (sink.py on the SDP port) against the capture after the policer.
            side = "uac" if st["dst"].startswith("198.51.100.") else "uas"
            rx = (received.get(side) or {}).get(st["dst"].rsplit(":", 1)[1])
            if rx is None or abs(rx - st["packets"]) > 2:
                mismatched += 1
            # SIPp plays hold/20 packets per stream. Under the budget all of them are seen; beyond it the
            # policer may also drop a stream's first or last packets, which sequence numbers cannot show
            # (expected = highest - base + 1), so there only the upper bound holds.
            nominal = p["hold_ms"] / 20
            if p["expected_loss_pct"] == 0:
                want(abs(st["expected"] - nominal) <= 3, f"load: stream {st['id']} expected {st['expected']} != {nominal:.0f}")
            else:
                want(st["expected"] <= nominal + 3, f"load: stream {st['id']} expected {st['expected']} > {nominal:.0f}")
        exp = sum(st["expected"] for st in ss)
        lost = sum(st["lost"] for st in ss)
        pct = 100.0 * lost / exp if exp else 0.0
        phase_loss.append(round(pct, 1))
        if p["expected_loss_pct"] == 0:
            want(pct <= 0.5, f"load phase {p['concurrent']}: loss {pct:.1f} % under the budget")
        else:
            # The ramp (calls start over ~1 s) keeps a phase below its steady-state loss; host stalls vary it.
            lo, hi = 0.4 * p["expected_loss_pct"], 1.3 * p["expected_loss_pct"]
            want(lo <= pct <= hi, f"load phase {p['concurrent']}: loss {pct:.1f} % outside [{lo:.0f}, {hi:.0f}]")
    want(mismatched == 0, f"load: {mismatched} streams differ from the receiver's count by more than 2")
    peak = max(p["concurrent"] for p in phases)
    # The UAS answers every call: its RTP puts the callee in site C (PHONE_SITE).
    for peer in (None, PHONE_SITE["sipp-uas"]):
        row = site_row(doc, "site-a", peer)
        if row is None:
            want(False, f"load: no sites[] row site-a -> {peer}")
            continue
        want(row["calls"] == total and row["answered"] == total, f"load: site-a calls {row['calls']}/{row['answered']}")
        want(peak - 2 <= row["peak_concurrent"] <= peak, f"load: site-a peak_concurrent {row['peak_concurrent']} != ~{peak}")
        want(row["busy_hour_peak_concurrent"] == row["peak_concurrent"], "load: busy-hour peak != peak")
        want(row["busy_hour_attempts"] == total, f"load: busy_hour_attempts {row['busy_hour_attempts']} != {total}")
        # The trend's sign only: callscope takes a stream's concurrency when its call started, and a
        # phase's calls start over ~1 s, so the first calls of the 50-call phase count as low load though
        # they carry its loss; r measured 0.20-0.48 on this host.
        q = row["quality_vs_concurrency"]
        want(q["loss_r"] is not None and q["loss_r"] > 0, f"load: loss_r {q['loss_r']} not > 0")
        want(q["mos_r"] is not None and q["mos_r"] < 0, f"load: mos_r {q['mos_r']} not < 0")
        if "busy_hour_degradation" in row:
            notes.append(f"busy_hour_degradation {json.dumps(row['busy_hour_degradation'])[:200]}")
    windows = [w for w in doc.get("site_windows", []) if w["site"] == "site-a"]
    want(windows and max(w["concurrent_peak"] for w in windows) >= peak - 2, "load: no 1-min bucket at the peak")
    for w in windows:
        # Streams are bucketed by their start: a bucket the load only runs into (no attempt starts in
        # it, e.g. the 50-call phase crossing a minute boundary) has concurrency but no streams.
        if w["concurrent_peak"] >= 0.9 * peak and w.get("attempts"):
            want((w["loss_p95_pct"] or 0) >= 5.0, f"load: bucket {w['start']} at peak with loss_p95 {w['loss_p95_pct']}")
        elif w["concurrent_peak"] <= LOAD_NO_LOSS_MAX:
            want((w["loss_p95_pct"] or 0) <= 1.0, f"load: bucket {w['start']} below budget with loss_p95 {w['loss_p95_pct']}")
    row = site_row(doc, "site-a") or {}
    demoted = sum(1 for c in calls if any(r["code"] == "capture_loss_suspected" for r in c["verdict"]["reasons"]))
    media = sum(1 for c in calls if c["verdict"]["class"] == "media")
    # Reported, not asserted: calls whose real (policer) loss the diagnosis demotes to info because gaps
    # on many flows at the same instants look like capture loss (diagnosis.md §4.4) - here the flows
    # share one policed path, and the capture point is after the policer.
    lossy_ok = sum(1 for c in calls if c["verdict"]["class"] == "ok"
                   and any(streams[i]["lost_pct"] >= 1.0 for i in c["streams"] if i in streams))
    notes.append(f"phases {[p['concurrent'] for p in phases]}: loss {phase_loss} % (expected "
                 f"{[p['expected_loss_pct'] for p in phases]}); site-a peak {row.get('peak_concurrent')}, busy hour "
                 f"{row.get('busy_hour_attempts')} attempts, loss_p95 {row.get('loss_p95_pct')}, quality_vs_concurrency "
                 f"{row.get('quality_vs_concurrency')}; {media} media verdicts; {lossy_ok} calls with a stream "
                 f"losing >= 1 % left at verdict ok ({demoted} with capture_loss_suspected: the policer's "
                 f"simultaneous drops read as capture loss)")
    return f"{len(calls)} calls, peak {row.get('peak_concurrent')}, loss/phase {phase_loss}"


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
    verdict_txt = "-"
    pending = list(exp.get("reasons_pending", []))
    check_txt = check_criteria(binary, sdir, truth, want)
    if exp.get("load"):
        verdict_txt = check_load(binary, sdir, truth, doc, want, notes)
        state = "WRONG" if fails else "right"
        return truth, verdict_txt + "; " + check_txt, state, fails, pending, notes
    want(len(calls) == exp["calls"], f"calls: {len(calls)} != {exp['calls']}")
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
        check_sites(doc, truth, c, want, notes)
        for direction, dscp in exp.get("dscp_by_direction", {}).items():
            s = by.get(direction)
            want(s is not None and s["dscp"] == dscp, f"{direction}: dscp {s and s['dscp']} != {dscp}")
        if "dscp" in exp:
            for s in by.values():
                want(s["dscp"] == exp["dscp"], f"dscp {s['dscp']} != {exp['dscp']}")
    if "registrations_min" in exp:
        want(len(doc["registrations"]) >= exp["registrations_min"],
             f"registrations {len(doc['registrations'])} < {exp['registrations_min']}")
        verdict_txt, reg_pending = check_registrations(binary, sdir, truth, doc, want, notes)
        # registration_failed / auth_failure are call-verdict codes of the catalogue; the registration
        # record (status failed, 403) is what callscope reports for a REGISTER today.
        if truth["scenario"] == "register_fail" and not reg_pending:
            pending = []
    if "register_final" in exp:
        want(truth["result"].get("register_final") == exp["register_final"],
             f"phone saw {truth['result'].get('register_final')} != {exp['register_final']}")
    state = "WRONG" if fails else ("PENDING" if pending else "right")
    return truth, verdict_txt + "; " + check_txt, state, fails, pending, notes


def main():
    binary, out = sys.argv[1], sys.argv[2]
    order = ["register_ok", "clean", "one_way", "loss", "dscp", "jitter", "nat_private_sdp", "unknown_user",
             "unregistered", "busy", "cancel", "no_answer", "register_fail", "load"]
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
    print(f"{'scenario':16s} {'callscope verdict; callscope check':60s} {'result':8s} injected fault")
    for d, inj, verdict, state, fails, pending, notes in rows:
        print(f"{d:16s} {verdict:60s} {state:8s} {inj}")
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
