#!/usr/bin/env bash
# Regenerates tshark's reference outputs (facts.json, rtp-streams.txt, sip-calls.txt) for every
# capture in fixtures/captures/ and fixtures/synthetic/, with the same script that produced the
# outputs in ../shared/captures/tshark/. Needs tshark 4.0.17 (Debian bookworm: apt-get install tshark).
# Tests never run tshark; review the diff of the regenerated files like code.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tshark >/dev/null || { echo "tshark is not installed (apt-get install tshark)" >&2; exit 1; }
tshark --version | head -1 | grep -q ' 4\.0\.' || echo "warning: the references were made with tshark 4.0.17" >&2
for dir in fixtures/captures fixtures/synthetic; do
  [ -d "$dir" ] || continue
  for f in "$dir"/*.pcap "$dir"/*.pcapng "$dir"/*.cap; do
    [ -e "$f" ] || continue
    python3 scripts/tshark-summarize.py "$f" "$dir/tshark" >/dev/null
    echo "regenerated $dir/tshark/$(basename "$f").*"
  done
done
