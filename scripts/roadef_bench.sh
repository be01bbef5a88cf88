#!/usr/bin/env bash
# Runs the `roadef` example on every ROADEF/EURO 2012 instance of sets A and B found in
# ../shared (set B's models extracted from their archive into a temporary directory) and prints
# one row per instance: name, initial cost, the example's last line, feasibility.
#   scripts/roadef_bench.sh [A_SECONDS] [B_SECONDS]   (defaults 60 and 120)
set -euo pipefail
A_S=${1:-60}
B_S=${2:-120}
ROOT=../shared/instances/machinereassignment_roadef2012
cargo build --release --example roadef
E=${CARGO_TARGET_DIR:-target}/release/examples/roadef
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
tar -xJf "$ROOT/B_models_and_assignments.tar.xz" -C "$TMP"
run() { # name model assignment seconds
  local out
  out=$("$E" "$2" "$3" --time-limit-s "$4" --out "$TMP/sol_$1.txt")
  echo "$1 $(grep '^initial_cost' <<<"$out") $(grep '^feasible' <<<"$out") $(tail -n 1 <<<"$out")"
}
for i in a1_1 a1_2 a1_3 a1_4 a1_5 a2_1 a2_2 a2_3 a2_4 a2_5; do
  run "$i" "$ROOT/A/model_$i.txt" "$ROOT/A/assignment_$i.sol" "$A_S"
done
for k in 1 2 3 4 5 6 7 8 9 10; do
  if [[ -f "$TMP/B/model_b_$k.txt" ]]; then
    run "b_$k" "$TMP/B/model_b_$k.txt" "$TMP/B/assignment_b_$k.sol" "$B_S"
  else
    echo "b_$k model absent (not in the shared archive)"
  fi
done
