#!/usr/bin/env python3
"""Receive and count RTP on the ports SIPp's calls announce: the load scenario's receiver counters.

SIPp plays its pcap from a raw socket and binds no socket on a call's media port, so without a listener
every RTP packet would draw an ICMP port unreachable back across the WAN. This stands in for the phone's
socket: it binds each port, discards the packets and counts them per port, so
check.py can hold callscope's per-stream counts against what the receiving end got.

Usage (inside the endpoint's namespace): sink.py ADDR OUT.json SECONDS BASE:COUNT [BASE:COUNT...]
binds ports BASE + 4 + 4*i for i < COUNT (SIPp's [auto_media_port+4] for call numbers 1..COUNT).
Stops after SECONDS or on SIGTERM, then writes {"port": packets} to OUT.json.
"""
import json
import select
import signal
import socket
import sys
import time


def main():
    addr, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    socks = {}
    for spec in sys.argv[4:]:
        base, count = (int(x) for x in spec.split(":"))
        for i in range(count):
            port = base + 4 + 4 * i
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.bind((addr, port))
            s.setblocking(False)
            socks[s.fileno()] = (s, port)
    counts = {port: 0 for _, port in socks.values()}
    poller = select.epoll()
    for fd in socks:
        poller.register(fd, select.EPOLLIN)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    deadline = time.monotonic() + seconds
    print(f"sink: {len(socks)} ports on {addr}", flush=True)
    while not stop and time.monotonic() < deadline:
        for fd, _ in poller.poll(0.2):
            s, port = socks[fd]
            for _ in range(64):  # drain, bounded per wake-up
                try:
                    s.recv(2048)
                except BlockingIOError:
                    break
                counts[port] += 1
    with open(out, "w") as f:
        json.dump({str(p): n for p, n in sorted(counts.items()) if n}, f)
    print(f"sink: {sum(counts.values())} packets", flush=True)


if __name__ == "__main__":
    main()
