#!/usr/bin/env python3
"""Delay and jitter for packets an iptables NFQUEUE rule hands over: a netem stand-in.

This kernel has no sch_netem (`tc qdisc add ... netem` answers "Specified qdisc kind is unknown"), and
no Python NFQUEUE binding is installed, so this speaks nfnetlink_queue directly over a netlink socket
(linux/netfilter/nfnetlink_queue.h): bind queue N in metadata-only copy mode, and for each queued
packet send the NF_ACCEPT verdict after `base + uniform(0, jitter)` ms, plus `spike` ms with probability
`spike_p` (a bufferbloat-like stall). Release order is kept (a packet never leaves before the one queued
before it), so the stream shows jitter, not reordering; order-keeping caps RFC 3550 jitter near a third
of the uniform range, hence the stalls, which push it past diagnosis.md's high_jitter thresholds.

Usage (inside the router's namespace): nfq_delay.py QUEUE BASE_MS JITTER_MS SECONDS [SPIKE_P SPIKE_MS [SEED]]
Stops by itself after SECONDS; the rule should use --queue-bypass so traffic flows if it is not running.
"""
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS = 1, 2
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_ACCEPT = 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2


def attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def message(msg_type, queue, attrs, seq, flags=NLM_F_REQUEST):
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, seq, 0) + body


def parse_attrs(data):
    out, off = {}, 0
    while off + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, off)
        if length < 4:
            break
        out[kind & 0x7FFF] = data[off + 4 : off + length]
        off += (length + 3) & ~3
    return out


def main():
    queue, base_ms, jitter_ms, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    spike_p = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    spike_ms = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    rng = random.Random(int(sys.argv[7]) if len(sys.argv) > 7 else 1)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    seq = 1
    bind = attr(NFQA_CFG_CMD, struct.pack("=BBH", NFQNL_CFG_CMD_BIND, 0, socket.htons(socket.AF_INET)))
    sock.send(message(NFQNL_MSG_CONFIG, queue, bind, seq, NLM_F_REQUEST | NLM_F_ACK))
    params = attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META) + b"\0\0\0")
    sock.send(message(NFQNL_MSG_CONFIG, queue, params, seq + 1, NLM_F_REQUEST | NLM_F_ACK))
    seq += 2
    held = []  # heap of (release_time, packet_id)
    last_release = 0.0
    deadline = time.monotonic() + seconds
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    packets = 0
    print(f"nfq_delay: queue {queue}, {base_ms} ms + U(0, {jitter_ms}) ms, +{spike_ms} ms p={spike_p}, {seconds} s",
          flush=True)
    while True:
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, pid = heapq.heappop(held)
            verdict = attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, pid))
            sock.send(message(NFQNL_MSG_VERDICT, queue, verdict, seq))
            seq += 1
        if now >= deadline or stop:
            break
        timeout = min(deadline - now, (held[0][0] - now) if held else 0.05)
        ready, _, _ = select.select([sock], [], [], max(timeout, 0))
        if not ready:
            continue
        data = sock.recv(65536)
        off = 0
        while off + 16 <= len(data):
            length, msg_type, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, off)
            if length < 16:
                break
            if msg_type == NLMSG_ERROR:
                errno = -struct.unpack_from("=i", data, off + 16)[0]
                if errno:
                    raise OSError(errno, "nfnetlink_queue: " + os.strerror(errno))
            elif msg_type == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                attrs = parse_attrs(data[off + 20 : off + length])
                hdr = attrs.get(NFQA_PACKET_HDR)
                if hdr and len(hdr) >= 4:
                    pid = struct.unpack("!I", hdr[:4])[0]
                    delay = base_ms + rng.uniform(0, jitter_ms) + (spike_ms if rng.random() < spike_p else 0.0)
                    t = max(time.monotonic() + delay / 1000.0, last_release)
                    last_release = t
                    heapq.heappush(held, (t, pid))
                    packets += 1
            off += (length + 3) & ~3
    # Release whatever is still held, so nothing stays queued when we exit.
    for _, pid in sorted(held):
        sock.send(message(NFQNL_MSG_VERDICT, queue, attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, pid)), seq))
        seq += 1
    print(f"nfq_delay: {packets} packets delayed", flush=True)


if __name__ == "__main__":
    main()
