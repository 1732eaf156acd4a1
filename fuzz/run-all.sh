#!/usr/bin/env bash
# Usage: fuzz/run-all.sh SECONDS TARGET...  — runs each target for SECONDS (one after another),
# logging to fuzz/logs/TARGET.log; a crash stops that target and the next one starts.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
secs="$1"; shift
mkdir -p "$here/logs"
for t in "$@"; do
  (cd "$here" && cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 \
     -timeout=10 -max_len=65536 -print_final_stats=1 > "logs/$t.log" 2>&1)
  echo "$t exit $?" >> "$here/logs/summary.txt"
done
