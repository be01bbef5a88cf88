#!/usr/bin/env bash
# Memory profile and throughput of the `live` example on the `scale` preset (1,000 hosts, one
# day), next to the batch replay of the same dataset, in one run:
#
#   scripts/live_rss.sh [DATASET_DIR]
#
# Generates the dataset when none is given (kelvin-sim --preset scale), runs `live` with a data
# directory, samples its resident set every second from /proc, and prints the RSS after the
# first hour of the day (the first 1/24 of the batches, read from the progress the samples
# are taken against), after 6 h, the peak and at the end, the wall time and readings per second;
# then the same for the batch `replay` example. Linux only (/proc).
set -euo pipefail
cd "$(dirname "$0")/.."
ds=${1:-}
work=$(mktemp -d /tmp/kelvin-live-rss.XXXXXX)
trap 'rm -rf "$work"' EXIT
cargo build -q --release --locked -p kelvin-sim
cargo build -q --release --locked --example live --example replay
if [ -z "$ds" ]; then
  ds=$work/scale
  target/release/kelvin-sim --preset scale --out "$ds" >/dev/null
fi
samples=$(grep -vc '^#' "$ds/metrics.prom" || true)

profile() { # name, then the command
  local name=$1; shift
  local start; start=$(date +%s.%N)
  "$@" >"$work/$name.out" 2>&1 &
  local pid=$! t=0
  : >"$work/$name.rss"
  while kill -0 "$pid" 2>/dev/null; do
    awk -v t="$t" '/^VmRSS/ {print t, $2}' "/proc/$pid/status" 2>/dev/null >>"$work/$name.rss" || true
    sleep 1; t=$((t + 1))
  done
  wait "$pid"
  local end; end=$(date +%s.%N)
  awk -v name="$name" -v secs="$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" -v samples="$samples" '
    { rss[NR] = $2; if ($2 > peak) peak = $2 }
    END {
      first = rss[int(NR / 24) + 1]; six = rss[int(NR / 4) + 1]; last = rss[NR]
      printf "%s: wall %.1f s, %.0f readings/s, RSS after the first hour %.0f MB, after 6 h %.0f MB, peak %.0f MB, at the end %.0f MB (end/first-hour %.2f, end/6 h %.2f)\n",
        name, secs, samples / secs, first / 1024, six / 1024, peak / 1024, last / 1024, last / first, last / six
    }' "$work/$name.rss"
}
profile live target/release/examples/live "$ds" --data-dir "$work/dir" --json "$work/live.json"
grep '^closed' "$work/live.out"
profile replay target/release/examples/replay "$ds" --json "$work/replay.json"
