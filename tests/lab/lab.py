#!/usr/bin/env python3
"""Real-client lab: kamailio + baresip phones in network namespaces, faults on a WAN router.

Usage (root): python3 tests/lab/lab.py --out DIR [--only NAME,NAME]

Builds the topology of netns.sh, starts kamailio (registrar + stateful proxy) in csl-core and one
baresip per phone namespace, then runs each scenario: start tcpdump on the WAN router (-Q out on every
interface, one file per interface: a mirror of everything the router forwards), apply the fault with
iptables on the WAN router, drive the phones over ctrl_tcp, remove the fault, stop the capture and
write DIR/<scenario>/truth.json (what was injected, the expected outcome/class/reasons, and the RTP
packet counters each phone printed at hang-up). The namespaces are removed at the end, also on error.

Every wait is bounded; the whole run takes about two minutes (the SIPp load scenario about 30 s of it).
"""
import argparse
import json
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY = "192.0.2.10"
# Phones: name -> (namespace, address, site, password used by the phone)
PHONES = {
    "alice": ("csl-alice", "198.51.100.11", "A", "alice-pw"),
    "carol": ("csl-carol", "203.0.113.11", "C", "carol-pw"),
    "bob": ("csl-bob", "192.168.50.11", "B", "bob-pw"),
    # eve is a known user whose phone has the wrong password (registration failure scenario).
    "eve": ("csl-eve", "198.51.100.13", "A", "not-eves-password"),
}
# Users the registrar knows (password it expects). erin is known but never registers (480).
USERS = {"alice": "alice-pw", "carol": "carol-pw", "bob": "bob-pw", "eve": "eve-pw", "erin": "erin-pw"}
WAN_IFS = ["wa", "wb", "wc", "wk"]  # to site A, site B, site C, core
SITE_IF = {"A": "wa", "B": "wb", "C": "wc"}
RTP_PORTS = (20000, 20099)  # rtp_ports of every phone; faults match RTP by this range
FR_INV_MS = 8000  # kamailio fr_inv_timer: the no-answer scenario gets 408 after 8 s of ringing (the cancel
# scenario hangs up after 2 s: a loaded host must not let the timer win that race)
TALK_S = 6.0  # answered time of media scenarios (one_way_audio needs >= 5 s, diagnosis.md §4.3)


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, **kw)


def nsx(ns, *args, **kw):
    return sh("ip", "netns", "exec", ns, *args, **kw)


def wan_ipt(*rule):
    nsx("csl-wan", "iptables", *rule)


def make_wav(path, seconds=40):
    """A 440 Hz tone, 8 kHz mono 16-bit: baresip's aufile source (G.711 encodes it)."""
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(
            b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(8000 * seconds))
        )


class Phone:
    def __init__(self, name, work, wav):
        self.name = name
        self.ns, self.addr, self.site, self.password = PHONES[name]
        self.dir = os.path.join(work, "phone-" + name)
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write(
                f"""poll_method epoll
sip_listen {self.addr}:5060
call_local_timeout 120
call_max_calls 4
audio_player alsa,null
audio_source aufile,{wav}
audio_alert alsa,null
rtp_tos 184
rtp_ports {RTP_PORTS[0]}-{RTP_PORTS[1]}
rtcp_mux no
jitter_buffer_delay 5-10
rtp_stats yes
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module alsa.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:4444
"""
            )
        # rtp_tos 184 = DSCP 46 (EF, RFC 3246), as a phone with QoS configured marks its media.
        with open(os.path.join(self.dir, "accounts"), "w") as f:
            f.write(f"<sip:{name}@{PROXY}>;auth_pass={self.password};regint=300;answermode=auto;audio_codecs=PCMU\n")
        open(os.path.join(self.dir, "contacts"), "w").close()
        self.log_path = os.path.join(self.dir, "baresip.log")
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "stdbuf", "-oL", "-eL", "baresip", "-f", self.dir], stdout=self.log, stderr=subprocess.STDOUT
        )

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=3)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def offset(self):
        return os.path.getsize(self.log_path)

    def since(self, off):
        with open(self.log_path, "rb") as f:
            f.seek(off)
            return f.read().decode("utf-8", "replace")

    def ctl(self, command, params=""):
        r = nsx(self.ns, sys.executable, os.path.join(HERE, "ctl.py"), command, *params.split(), check=False,
                capture_output=True, text=True, timeout=10)
        return r.stdout.strip()

    def wait_log(self, pattern, off, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.since(off))
            if m:
                return m
            time.sleep(0.1)
        return None


def rtp_counters(text):
    """Per-call RTP counters baresip prints at hang-up:
    'audio  Transmit: Receive:' / 'packets:  221  221'. Returns the last block's (tx, rx) or None."""
    found = re.findall(r"audio\s+Transmit:\s+Receive:\s*\npackets:\s+(\d+)\s+(\d+)", text)
    if not found:
        return None
    tx, rx = found[-1]
    return {"tx": int(tx), "rx": int(rx)}


class Lab:
    def __init__(self, out):
        self.out = os.path.abspath(out)
        self.work = os.path.join(self.out, "work")
        os.makedirs(self.work, exist_ok=True)
        self.wav = os.path.join(self.work, "tone.wav")
        self.phones = {}
        self.kamailio = None
        self.captures = []

    # --- topology and services -------------------------------------------------------------
    def up(self):
        sh("bash", os.path.join(HERE, "netns.sh"), "up")
        make_wav(self.wav)
        cfg = open(os.path.join(HERE, "kamailio.cfg")).read()
        pw = "\n".join(f'\tif ($var(user) == "{u}") $var(pw) = "{p}";' for u, p in USERS.items())
        cfg = cfg.replace("@FR_INV_MS@", str(FR_INV_MS)).replace("@PASSWORDS@", pw).replace("@LOAD_UAS@", f"{LOAD_UAS}:5060")
        path = os.path.join(self.work, "kamailio.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        self.kam_log = open(os.path.join(self.work, "kamailio.log"), "ab")
        self.kamailio = subprocess.Popen(
            ["ip", "netns", "exec", "csl-core", "kamailio", "-f", path, "-DD", "-E", "-w", self.work],
            stdout=self.kam_log, stderr=subprocess.STDOUT,
        )
        time.sleep(0.5)
        if self.kamailio.poll() is not None:
            raise RuntimeError("kamailio did not start; see " + os.path.join(self.work, "kamailio.log"))
        for n in PHONES:
            self.phones[n] = Phone(n, self.work, self.wav)

    def down(self):
        for c in self.captures:
            self._stop_capture(c)
        for p in self.phones.values():
            p.stop()
        if self.kamailio and self.kamailio.poll() is None:
            self.kamailio.terminate()
            try:
                self.kamailio.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kamailio.kill()
        sh("bash", os.path.join(HERE, "netns.sh"), "down", check=False)

    def start_phones(self, names):
        offs = {}
        for n in names:
            p = self.phones[n]
            if p.proc is None or p.proc.poll() is not None:
                open(p.log_path, "ab").close()
                offs[n] = p.offset()
                p.start()
        ok = {}
        for n, off in offs.items():
            m = self.phones[n].wait_log(r"(?:\{0/UDP/v4\}|reg: sip:\S+:) (\d{3})", off, 8)
            ok[n] = int(m.group(1)) if m else None
        return ok

    # --- capture ---------------------------------------------------------------------------
    def start_capture(self, sdir):
        procs = []
        for ifname in WAN_IFS:
            path = os.path.join(sdir, f"wan-{ifname}.pcap")
            procs.append(subprocess.Popen(
                ["ip", "netns", "exec", "csl-wan", "tcpdump", "-i", ifname, "-Q", "out", "-U", "-n", "-s", "0",
                 "-w", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.captures.append(procs)
        time.sleep(0.6)  # tcpdump needs a moment to attach before the first packet matters
        return procs

    def _stop_capture(self, procs):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()

    def stop_capture(self, procs):
        time.sleep(0.5)  # let the last retransmissions and the BYE's 200 pass
        self._stop_capture(procs)
        self.captures.remove(procs)

    # --- a call ----------------------------------------------------------------------------
    def call(self, caller, callee_user, callee=None, talk=TALK_S, callee_action=None, caller_hangup_after=None,
             wait_final=None):
        """Place one call and return what both phones said. callee_action: None (auto answer),
        'reject' (486), 'ring' (manual answer, never answered)."""
        a = self.phones[caller]
        b = self.phones[callee] if callee else None
        offs = {caller: a.offset()}
        if b:
            offs[callee] = b.offset()
            b.ctl("answermode", "manual" if callee_action in ("reject", "ring") else "auto")
        a.ctl("dial", f"sip:{callee_user}@{PROXY}")
        result = {}
        if callee_action == "reject":
            if b.wait_log(r"Incoming call from", offs[callee], 5):
                time.sleep(0.5)
                b.ctl("hangup")
        if caller_hangup_after is not None:
            time.sleep(caller_hangup_after)
            a.ctl("hangup")
        elif wait_final is None:
            m = a.wait_log(r"Call established|session closed: (\d{3})", offs[caller], 8)
            if m and m.group(0).startswith("Call established"):
                time.sleep(talk)
                a.ctl("hangup")
        # The outcome as the caller's phone saw it.
        m = a.wait_log(r"session closed: (\d{3})|terminated \(duration|terminate call", offs[caller], wait_final or 8)
        time.sleep(0.5)
        # A 3-digit status the phone saw, "terminated" (answered, then hung up) or "local" (hung up while
        # ringing: baresip prints no final response for its own CANCEL).
        text = a.since(offs[caller])
        closed = re.search(r"session closed: (\d{3})", text)
        result["caller_log_final"] = (
            "terminated" if "terminated (duration" in text else closed.group(1) if closed
            else "local" if m else None)
        result["caller_rtp"] = rtp_counters(a.since(offs[caller]))
        if b:
            if result["caller_log_final"] == "terminated":
                b.wait_log(r"audio\s+Transmit:", offs[callee], 3)
            result["callee_rtp"] = rtp_counters(b.since(offs[callee]))
            b.ctl("answermode", "auto")
        return result


# --- scenarios -----------------------------------------------------------------------------
# Each returns a truth dict. `expect` holds what callscope should say; `reasons_pending` lists codes
# the diagnosis catalogue (docs/diagnosis.md) prescribes but that the diagnosis module on main does not
# emit yet: they are reported, not asserted, so the lab stays green while the catalogue is built.

def rtp_match(direction, ports=RTP_PORTS):
    return ["-p", "udp", "--dport", f"{ports[0]}:{ports[1]}"]


def sc_clean(lab):
    r = lab.call("alice", "carol", "carol")
    return dict(injected="none", caller="alice", callee="carol", result=r,
                expect=dict(calls=1, final_status=200, outcome="answered", verdict_class="ok", reasons=[],
                            streams={"caller_to_callee": "flowing", "callee_to_caller": "flowing"}, dscp=46))


def sc_one_way(lab):
    # Carol's RTP towards site A is dropped on the WAN router: alice hears nothing.
    rule = ["FORWARD", "-i", "wc", "-o", "wa"] + rtp_match(None) + ["-j", "DROP"]
    wan_ipt("-I", *rule)
    try:
        r = lab.call("alice", "carol", "carol")
    finally:
        wan_ipt("-D", *rule)
    return dict(injected="iptables DROP of RTP (udp dport 20000-20099) site C -> site A on the WAN router",
                caller="alice", callee="carol", result=r, missing_direction="callee_to_caller",
                expect=dict(calls=1, final_status=200, outcome="answered", verdict_class="media",
                            reasons=[], reasons_pending=["one_way_audio"],
                            streams={"caller_to_callee": "flowing", "callee_to_caller": "absent"}))


LOSS_P = 0.05


def sc_loss(lab):
    rule = ["FORWARD"] + rtp_match(None) + ["-m", "statistic", "--mode", "random", "--probability", str(LOSS_P),
                                            "-j", "DROP"]
    wan_ipt("-I", *rule)
    try:
        r = lab.call("alice", "carol", "carol", talk=8.0)
    finally:
        wan_ipt("-D", *rule)
    return dict(injected=f"iptables statistic random DROP p={LOSS_P} on RTP, both directions, WAN router",
                caller="alice", callee="carol", result=r, loss_probability=LOSS_P,
                expect=dict(calls=1, final_status=200, outcome="answered", verdict_class="media",
                            reasons=[], reasons_pending=["high_loss"],
                            streams={"caller_to_callee": "lossy", "callee_to_caller": "lossy"}))


def sc_dscp(lab):
    # Phones mark EF (46); the WAN router re-marks alice's media to CS0 on its way to site C.
    rule = ["FORWARD", "-i", "wa", "-o", "wc"] + rtp_match(None) + ["-j", "DSCP", "--set-dscp", "0"]
    nsx("csl-wan", "iptables", "-t", "mangle", "-I", *rule)
    try:
        r = lab.call("alice", "carol", "carol")
    finally:
        nsx("csl-wan", "iptables", "-t", "mangle", "-D", *rule)
    return dict(injected="iptables mangle DSCP --set-dscp 0 on RTP site A -> site C (phones mark EF 46)",
                caller="alice", callee="carol", result=r,
                expect=dict(calls=1, final_status=200, outcome="answered", verdict_class="media",
                            # With --sites the site's expected_dscp (46) drives dscp_* (diagnosis.md §4.3).
                            reasons=["dscp_missing"], reasons_pending=[],
                            streams={"caller_to_callee": "flowing", "callee_to_caller": "flowing"},
                            dscp_by_direction={"caller_to_callee": 0, "callee_to_caller": 46}))


def sc_nat(lab):
    # bob sits behind site B's MASQUERADE and announces c=192.168.50.11; nothing rewrites the SDP.
    r = lab.call("alice", "bob", "bob")
    return dict(injected="callee behind NAT (MASQUERADE, no SIP ALG) announces private SDP 192.168.50.11",
                caller="alice", callee="bob", result=r, missing_direction="caller_to_callee",
                expect=dict(calls=1, final_status=200, outcome="answered", verdict_class="media",
                            reasons=[], reasons_pending=["one_way_audio", "sdp_private_address_behind_nat"],
                            streams={"caller_to_callee": "absent", "callee_to_caller": "flowing"}))


def sc_unknown_user(lab):
    r = lab.call("alice", "nobody", wait_final=5)
    return dict(injected="call to a user the registrar does not know", caller="alice", callee="nobody", result=r,
                expect=dict(calls=1, final_status=404, outcome="not_found", verdict_class="routing",
                            reasons=["not_found"], streams={}))


def sc_unregistered(lab):
    r = lab.call("alice", "erin", wait_final=5)
    return dict(injected="call to a known user with no registration", caller="alice", callee="erin", result=r,
                expect=dict(calls=1, final_status=480, outcome="failed", verdict_class="routing",
                            reasons=["temporarily_unavailable"], streams={}))


def sc_busy(lab):
    r = lab.call("alice", "carol", "carol", callee_action="reject", wait_final=6)
    return dict(injected="callee rejects the ringing call (baresip hangup while ringing -> 486)", caller="alice",
                callee="carol", result=r,
                expect=dict(calls=1, final_status=486, outcome="busy", verdict_class="ok", reasons=["busy"],
                            streams={}))


def sc_cancel(lab):
    r = lab.call("alice", "carol", "carol", callee_action="ring", caller_hangup_after=2.0, wait_final=5)
    return dict(injected="caller hangs up after 2 s of ringing (CANCEL -> 487)", caller="alice", callee="carol",
                result=r,
                expect=dict(calls=1, final_status=487, outcome="cancelled", verdict_class="ok",
                            reasons=["cancelled_by_caller"], streams={}))


def sc_no_answer(lab):
    r = lab.call("alice", "carol", "carol", callee_action="ring", wait_final=FR_INV_MS / 1000 + 5)
    return dict(injected=f"callee rings, nobody answers; kamailio fr_inv_timer {FR_INV_MS} ms -> 408",
                caller="alice", callee="carol", result=r,
                expect=dict(calls=1, final_status=408, outcome="no_answer", verdict_class="routing",
                            reasons=["request_timeout"], streams={}))


def sc_register_fail(lab):
    st = lab.start_phones(["eve"])
    time.sleep(1.0)
    lab.phones["eve"].stop()
    return dict(injected="phone registers with a wrong password (registrar: 401 challenge, then 403)",
                caller="eve", callee=None, result={"register_final": st.get("eve")},
                expect=dict(calls=0, register_final=403, registrations_min=1,
                            reasons=[], reasons_pending=["registration_failed", "auth_failure"], streams={}))


def sc_register_ok(lab):
    st = lab.start_phones(["alice", "carol", "bob"])
    return dict(injected="none: three phones register (401 challenge, then 200)", caller=None, callee=None,
                result={"register_final": st},
                expect=dict(calls=0, registrations_min=3, reasons=[], streams={}))


JITTER = (20, 100, 0.04, 800)  # base ms, uniform jitter ms, stall probability, stall ms (order kept)


def sc_jitter(lab):
    # netem stand-in: alice's RTP towards site C is queued to nfq_delay.py on the WAN router.
    rule = ["FORWARD", "-i", "wa", "-o", "wc"] + rtp_match(None) + ["-j", "NFQUEUE", "--queue-num", "7",
                                                                   "--queue-bypass"]
    delayer = subprocess.Popen(["ip", "netns", "exec", "csl-wan", sys.executable, os.path.join(HERE, "nfq_delay.py"),
                                "7", str(JITTER[0]), str(JITTER[1]), str(TALK_S + 6), str(JITTER[2]),
                                str(JITTER[3])],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.3)
    wan_ipt("-I", *rule)
    try:
        r = lab.call("alice", "carol", "carol")
    finally:
        wan_ipt("-D", *rule)
        delayer.terminate()
        out, _ = delayer.communicate(timeout=5)
    r["delayer"] = out.strip().splitlines()
    return dict(injected=f"NFQUEUE delayer: {JITTER[0]} ms + U(0,{JITTER[1]}) ms, {JITTER[3]} ms stalls "
                f"p={JITTER[2]}, RTP site A -> site C",
                caller="alice", callee="carol", result=r,
                expect=dict(calls=1, final_status=200, outcome="answered", verdict_class="media",
                            reasons=[], reasons_pending=["high_jitter"],
                            streams={"caller_to_callee": "jittery", "callee_to_caller": "flowing"}))


# --- load: SIPp through the proxy, loss rising with concurrency ---------------------------------
# SIPp's UAC in site A (csl-loada) calls users load* through kamailio, which routes them statically to
# SIPp's UAS in site C (csl-loadc). Both ends play a G.711 u-law RTP pcap (play_pcap_audio; this sipp,
# 3.6.1, gives rtp_stream one port for all calls, so only SSRCs would tell the calls apart) from each
# call's own port, and sink.py counts what arrives on those ports. The WAN router polices each direction
# of that RTP to LOAD_BUDGET_PPS with iptables' `limit` match (a kernel token bucket: ACCEPT while tokens
# last, DROP the rest), the way a WAN link's voice class policed to its contracted rate behaves. Unlike
# `statistic` (the same loss at any load) it loses nothing while the calls' packet rate fits the budget
# and about 1 - budget / offered beyond it: loss appears only above LOAD_BUDGET_PPS / 50 concurrent
# calls. Phases run one after the other (each SIPp pair ends all its calls before the next starts), so a
# call's concurrency is its phase's; each phase has its own media port range, so no 5-tuple repeats.
LOAD_UAC, LOAD_UAS = "198.51.100.21", "203.0.113.21"
LOAD_PHASES = [(10, 6000), (25, 6000), (50, 8000)]  # (concurrent calls, hold ms)
LOAD_MP = (30000, 40000)  # SIPp -mp of the UAC / UAS in phase 0; +1000 per phase
LOAD_RTP_PORTS = (30000, 49999)
LOAD_BUDGET_PPS = 2000  # per direction = 40 calls at 50 packets/s; 50 calls lose about 20 %
LOAD_BURST = 200  # token bucket depth, packets: absorbs the host's scheduling stalls below the budget


def ulaw(sample):
    """ITU-T G.711 u-law of a 16-bit linear sample (the classic segment encoder)."""
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), 32635) + 0x84
    exponent = 0
    for exp in range(7, -1, -1):
        if sample & (0x80 << exp):
            exponent = exp
            break
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def make_rtp_pcap(path, ms, ssrc, seq0, ts0):
    """A pcap of G.711 u-law RTP (PT 0, 20 ms, 160 bytes) lasting `ms`: what SIPp's play_pcap_audio
    plays (it sends the UDP payloads at the pcap's pace from the call's media port). Ethernet/IPv4/UDP
    headers are placeholders: SIPp only reads the payload and the timing."""
    tone = bytes(ulaw(int(6000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(8000))
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for n in range(ms // 20):
            payload = tone[(n * 160) % 8000:(n * 160) % 8000 + 160]
            rtp = struct.pack("!BBHII", 0x80, 0, (seq0 + n) & 0xFFFF, (ts0 + 160 * n) & 0xFFFFFFFF, ssrc) + payload
            udp = struct.pack("!HHHH", 4000, 4000, 8 + len(rtp), 0) + rtp
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes(4), bytes(4)) + udp
            frame = bytes(12) + b"\x08\x00" + ip
            f.write(struct.pack("<IIII", n // 50, (n % 50) * 20000, len(frame), len(frame)) + frame)


def sipp_scenario(lab, name, pcap, phase):
    src = open(os.path.join(HERE, "sipp", name)).read().replace("@PCAP@", pcap)
    path = os.path.join(lab.work, "sipp", f"{phase}-{name}")
    with open(path, "w") as f:
        f.write(src)
    return path


def stop_proc(p, timeout=5):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=timeout)


def sc_load(lab):
    logdir = os.path.join(lab.work, "sipp")
    os.makedirs(logdir, exist_ok=True)
    total_s = sum(h / 1000 + 12 for _, h in LOAD_PHASES)
    sinks = []
    for ns, addr, mp, side in (("csl-loada", LOAD_UAC, LOAD_MP[0], "uac"), ("csl-loadc", LOAD_UAS, LOAD_MP[1], "uas")):
        specs = [f"{mp + 1000 * i}:{conc}" for i, (conc, _) in enumerate(LOAD_PHASES)]
        sinks.append((side, os.path.join(logdir, f"sink-{side}.json"), subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, os.path.join(HERE, "sink.py"), addr,
             os.path.join(logdir, f"sink-{side}.json"), str(total_s), *specs],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    rules = []
    for src, dst in ((LOAD_UAC, LOAD_UAS), (LOAD_UAS, LOAD_UAC)):
        m = ["FORWARD", "-p", "udp", "-s", src, "-d", dst, "--dport", f"{LOAD_RTP_PORTS[0]}:{LOAD_RTP_PORTS[1]}"]
        rules.append(m + ["-j", "DROP"])
        rules.append(m + ["-m", "limit", "--limit", f"{LOAD_BUDGET_PPS}/second", "--limit-burst", str(LOAD_BURST),
                          "-j", "ACCEPT"])
    # SIPp's raw-socket RTP leaves unmarked; the site routers classify it and mark EF (DSCP 46) on the way
    # out, as a QoS edge does, so the load calls meet the site map's expected_dscp like the phones' calls.
    marks = [("csl-ra", LOAD_UAC), ("csl-rc", LOAD_UAS)]
    mark_rule = lambda src: ["FORWARD", "-s", src, "-p", "udp", "--sport", f"{LOAD_RTP_PORTS[0]}:{LOAD_RTP_PORTS[1]}",
                             "-j", "DSCP", "--set-dscp", "46"]
    phases = []
    inserted = []
    try:
        for ns, src in marks:
            nsx(ns, "iptables", "-t", "mangle", "-A", *mark_rule(src))
        for r in rules:  # each inserted at the top in turn: every ACCEPT ends up just before its DROP
            wan_ipt("-I", *r)
            inserted.append(r)
        time.sleep(0.5)
        for i, (conc, hold) in enumerate(LOAD_PHASES):
            uac_pcap, uas_pcap = (os.path.join(logdir, f"rtp-{side}-{i}.pcap") for side in ("uac", "uas"))
            make_rtp_pcap(uac_pcap, hold, 0x5A000000 + i, 1000 * i, 160000 * i)
            make_rtp_pcap(uas_pcap, hold, 0xC0000000 + i, 2000 * i, 320000 * i)
            mp_uac, mp_uas = LOAD_MP[0] + 1000 * i, LOAD_MP[1] + 1000 * i
            uas_log = open(os.path.join(logdir, f"uas-{i}.out"), "wb")
            callee = subprocess.Popen(
                ["ip", "netns", "exec", "csl-loadc", "sipp", "-sf", sipp_scenario(lab, "uas.xml", uas_pcap, i),
                 "-i", LOAD_UAS, "-p", "5060", "-mi", LOAD_UAS, "-mp", str(mp_uas), "-nostdin", "-trace_err",
                 "-error_file", os.path.join(logdir, f"uas-{i}.err")],
                stdin=subprocess.DEVNULL, stdout=uas_log, stderr=subprocess.STDOUT, cwd=logdir)
            try:
                time.sleep(0.5)
                if callee.poll() is not None:
                    raise RuntimeError("SIPp UAS did not start; see " + uas_log.name)
                t = time.time()
                with open(os.path.join(logdir, f"uac-{i}.out"), "wb") as log:
                    # -r conc: the phase's calls all start within a second; -l/-m conc: exactly conc calls.
                    r = subprocess.run(
                        ["ip", "netns", "exec", "csl-loada", "sipp", f"{PROXY}:5060", "-sf",
                         sipp_scenario(lab, "uac.xml", uac_pcap, i), "-s", "load", "-i", LOAD_UAC, "-p", "5060",
                         "-mi", LOAD_UAC, "-mp", str(mp_uac), "-m", str(conc), "-l", str(conc), "-r", str(conc),
                         "-d", str(hold), "-nostdin", "-timeout", f"{hold // 1000 + 20}s", "-timeout_error",
                         "-trace_err", "-error_file", os.path.join(logdir, f"uac-{i}.err")],
                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=logdir,
                        timeout=hold / 1000 + 30, check=False)
                end = time.time()
                time.sleep(0.5)  # the UAS answers the last BYEs
            finally:
                stop_proc(callee)
                uas_log.close()
            phases.append(dict(concurrent=conc, hold_ms=hold, start=t, end=end, sipp_exit=r.returncode,
                               uac_media_port=mp_uac, uas_media_port=mp_uas, offered_pps=conc * 50,
                               expected_loss_pct=round(max(0.0, 100 * (1 - LOAD_BUDGET_PPS / (conc * 50))), 1)))
    finally:
        for r in inserted:
            wan_ipt("-D", *r)
        for ns, src in marks:
            nsx(ns, "iptables", "-t", "mangle", "-D", *mark_rule(src), check=False, stderr=subprocess.DEVNULL)
        for _, _, p in sinks:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _, _, p in sinks:
            try:
                p.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
    received = {}
    for side, path, _ in sinks:
        try:
            received[side] = json.load(open(path))
        except (OSError, ValueError):
            received[side] = None
    return dict(injected=f"SIPp load site A -> site C through the proxy, {'/'.join(str(p[0]) for p in LOAD_PHASES)} "
                f"concurrent calls; WAN router polices their RTP to {LOAD_BUDGET_PPS} packets/s per direction "
                f"(iptables limit, burst {LOAD_BURST})",
                caller="sipp-uac", callee="sipp-uas", result={"phases": phases, "received": received},
                budget_pps=LOAD_BUDGET_PPS,
                expect=dict(calls=sum(p[0] for p in LOAD_PHASES), load=True, streams={}))


SCENARIOS = [
    ("register_ok", sc_register_ok),
    ("clean", sc_clean),
    ("one_way", sc_one_way),
    ("loss", sc_loss),
    ("dscp", sc_dscp),
    ("jitter", sc_jitter),
    ("nat_private_sdp", sc_nat),
    ("unknown_user", sc_unknown_user),
    ("unregistered", sc_unregistered),
    ("busy", sc_busy),
    ("cancel", sc_cancel),
    ("no_answer", sc_no_answer),
    ("register_fail", sc_register_fail),
    ("load", sc_load),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    lab = Lab(args.out)
    # A TERM (timeout, CI stop) must still run the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.time()
    try:
        lab.up()
        if only and "register_ok" not in only:
            lab.start_phones(["alice", "carol", "bob"])
        for name, fn in SCENARIOS:
            if only and name not in only:
                continue
            sdir = os.path.join(lab.out, name)
            shutil.rmtree(sdir, ignore_errors=True)
            os.makedirs(sdir)
            t = time.time()
            cap = lab.start_capture(sdir)
            try:
                truth = fn(lab)
            finally:
                lab.stop_capture(cap)
            truth["scenario"] = name
            truth["captures"] = sorted(f for f in os.listdir(sdir) if f.endswith(".pcap"))
            truth["seconds"] = round(time.time() - t, 1)
            with open(os.path.join(sdir, "truth.json"), "w") as f:
                json.dump(truth, f, indent=2)
            print(f"lab: {name:16s} {truth['seconds']:5.1f} s  {json.dumps(truth['result'])[:400]}", flush=True)
    finally:
        lab.down()
    print(f"lab: scenarios done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
