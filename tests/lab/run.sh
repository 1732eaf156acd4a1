#!/usr/bin/env bash
# Real-client lab: build the namespaces, run every scenario, assert callscope's analysis.
# Needs root (network namespaces, iptables). LAB=0 skips. LAB_OUT=DIR keeps the captures elsewhere.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the tree
cd "$(dirname "$0")/../.."
if [ "${LAB:-1}" = 0 ]; then
  echo "lab: skipped (LAB=0)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "lab: needs root for network namespaces and iptables" >&2
  exit 1
fi
OUT=${LAB_OUT:-target/lab}
# What the lab needs, from Debian's packages (the project installs it; nothing is assumed on the machine).
missing=()
for cmd in kamailio:kamailio baresip:baresip-core sipp:sip-tester tcpdump:tcpdump iptables:iptables ip:iproute2 python3:python3; do
  command -v "${cmd%%:*}" >/dev/null 2>&1 || missing+=("${cmd##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lab: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -x target/release/callscope ] || cargo build --release
# Whatever happens (failure, Ctrl-C, timeout), the namespaces and everything in them go away.
trap 'bash tests/lab/netns.sh down' EXIT
start=$(date +%s)
timeout --kill-after=10 480 python3 tests/lab/lab.py --out "$OUT"
python3 tests/lab/check.py target/release/callscope "$OUT"
echo "lab: total $(( $(date +%s) - start )) s (captures and truth files in $OUT)"
