#!/usr/bin/env bash
# Memory profile and throughput of the `live` example on the `scale` preset (1,000 hosts, one
# day), next to the batch replay of the same dataset, in one run:
#
#   scripts/live_rss.sh [DATASET_DIR]
#
# Generates the dataset when none is given (kelvin-sim --preset scale), runs `live --progress`
# with a data directory, samples its resident set every half second from /proc together with
# the event time it has acknowledged (its `progress: N h of event time fed` lines), and prints
# the RSS once the first hour of the day was fed, once 6 h were, the peak and at the end, the
# wall time and readings per second; then the wall time, throughput and peak of the batch
# `replay` example on the same dataset. Linux only (/proc).
set -euo pipefail
cd "$(dirname "$0")/.."
ds=${1:-}
work=$(mktemp -d /tmp/kelvin-live-rss.XXXXXX)
trap 'rm -rf "$work"' EXIT
cargo build -q --release --locked -p kelvin-sim
cargo build -q --release --locked --example live --example replay
bin=${CARGO_TARGET_DIR:-target}/release
if [ -z "$ds" ]; then
  ds=$work/scale
  "$bin/kelvin-sim" --preset scale --out "$ds" >/dev/null
fi
samples=$(grep -vc '^#' "$ds/metrics.prom" || true)

profile() { # name, then the command
  local name=$1; shift
  local start; start=$(date +%s.%N)
  "$@" >"$work/$name.out" 2>&1 &
  local pid=$!
  : >"$work/$name.rss"
  while kill -0 "$pid" 2>/dev/null; do
    local rss hours
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    hours=$(grep -c '^progress:' "$work/$name.out" || true)
    [ -n "$rss" ] && echo "$hours $rss" >>"$work/$name.rss"
    sleep 0.5
  done
  wait "$pid"
  local end; end=$(date +%s.%N)
  awk -v name="$name" -v secs="$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" -v samples="$samples" '
    { rss[NR] = $2; if ($2 > peak) peak = $2
      if ($1 >= 1 && !first) first = $2
      if ($1 >= 6 && !six) six = $2 }
    END {
      last = rss[NR]
      printf "%s: wall %.1f s, %.0f readings/s, peak RSS %.0f MB, at the end %.0f MB", name, secs, samples / secs, peak / 1024, last / 1024
      if (first) printf ", after the first hour %.0f MB, after 6 h %.0f MB (end/first hour %.2f, end/6 h %.2f)", first / 1024, six / 1024, last / first, last / six
      printf "\n"
    }' "$work/$name.rss"
}
profile live "$bin/examples/live" "$ds" --data-dir "$work/dir" --json "$work/live.json" --progress
grep '^closed' "$work/live.out"
profile replay "$bin/examples/replay" "$ds" --json "$work/replay.json"
