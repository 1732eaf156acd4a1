#!/usr/bin/env python3
"""Send one command to a baresip phone over its ctrl_tcp socket (netstring-framed JSON).

Run inside the phone's namespace: ip netns exec csl-alice python3 ctl.py dial sip:carol@192.0.2.10
Prints the phone's JSON response on stdout. Bounded: one connection, a 5 s socket timeout.
"""
import json
import socket
import sys


def netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


def read_netstring(sock: socket.socket, buf: bytearray) -> bytes:
    # Bounded: at most 64 reads, each up to 4 KiB.
    for _ in range(64):
        colon = buf.find(b":")
        if colon > 0:
            size = int(buf[:colon])
            if len(buf) >= colon + 1 + size + 1:
                msg = bytes(buf[colon + 1 : colon + 1 + size])
                del buf[: colon + 1 + size + 1]
                return msg
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf.extend(chunk)
    raise RuntimeError("no complete netstring from baresip")


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: ctl.py COMMAND [PARAMS]", file=sys.stderr)
        return 2
    command, params = sys.argv[1], " ".join(sys.argv[2:])
    req = {"command": command, "params": params, "token": "lab"}
    with socket.create_connection(("127.0.0.1", 4444), timeout=5) as sock:
        sock.sendall(netstring(json.dumps(req).encode()))
        buf = bytearray()
        # Events may arrive before the response; skip them (bounded).
        for _ in range(16):
            msg = json.loads(read_netstring(sock, buf))
            if msg.get("response"):
                print(json.dumps(msg))
                return 0 if msg.get("ok") else 1
    return 1


if __name__ == "__main__":
    sys.exit(main())
