#!/usr/bin/env bash
# The fleet scale benchmark: SITES simulated sites of HOSTS hosts each over DURATION_S seconds
# (the issue's run: 10 × 1000 hosts × 86400 s), each replayed into a live engine and exported
# in the fleet layout; then the fleet query "energy per tenant per hour" over all of them, in
# Polars' lazy engine and, when the kelvin-fleet example is built, on DataFusion locally and
# on Ballista with 1 and 2 executors, each timed on the same files.
#
#   scripts/fleet_bench.sh SITES HOSTS DURATION_S [WORK_DIR]
#
# Prints per site: feed and export seconds, rows, bytes per reading on disk; then the query
# times. Datasets are deleted once exported, so the disk holds one site's metrics at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
sites=${1:?SITES}; hosts=${2:?HOSTS}; duration=${3:?DURATION_S}
work=${4:-/tmp/kelvin-fleet-bench}
target=${CARGO_TARGET_DIR:-target}
root="$work/root"
total_readings=0; total_bytes=0; total_export=0
# REUSE=1 keeps an earlier run's export and times the queries only.
if [ "${REUSE:-0}" != 1 ]; then
rm -rf "$work" && mkdir -p "$work"
cargo build -q --release --locked -p kelvin-sim
cargo build -q --release --locked --example live
for i in $(seq 1 "$sites"); do
  site="site$(printf '%02d' "$i")"
  "$target/release/kelvin-sim" --preset scale --hosts "$hosts" --seed "$i" --duration-s "$duration" \
    --out "$work/ds" >/dev/null
  start=$(date +%s.%N)
  "$target/release/examples/live" "$work/ds" --data-dir "$work/data" --export "$root" --site "$site" \
    >"$work/out.txt" 2>"$work/err.txt"
  end=$(date +%s.%N)
  export_s=$(sed -n 's/^export took \([0-9.]*\) s$/\1/p' "$work/err.txt")
  rows=$(sed -n 's/^exported site .*: readings \([0-9]*\) rows.*/\1/p' "$work/out.txt")
  rbytes=$(du -cb "$root/readings/site=$site" | tail -n 1 | cut -f1)
  printf '%s: feed+export %.1f s, export %.2f s, readings %d rows, %.2f bytes per reading on disk\n' \
    "$site" "$(echo "$end - $start" | bc)" "$export_s" "$rows" "$(echo "scale=4; $rbytes / $rows" | bc)"
  total_readings=$((total_readings + rows)); total_bytes=$((total_bytes + rbytes))
  total_export=$(echo "$total_export + $export_s" | bc)
  rm -rf "$work/ds" "$work/data"
done
printf 'all sites: %d readings, %.2f bytes per reading, export %.1f s in all\n' \
  "$total_readings" "$(echo "scale=4; $total_bytes / $total_readings" | bc)" "$total_export"
fi
du -sh "$root/readings" "$root/bills"

sql="SELECT tenant, date_trunc('hour', interval_start) AS hour, sum(energy_uj) AS energy_uj FROM bills WHERE workload IS NOT NULL GROUP BY tenant, date_trunc('hour', interval_start) ORDER BY tenant, hour"
python3 - "$root" "$work/polars.csv" <<'PY'
import sys, time
import polars as pl
root, out = sys.argv[1], sys.argv[2]
best = None
for _ in range(3):
    t = time.perf_counter()
    df = (pl.scan_parquet(f"{root}/bills/**/*.parquet", hive_partitioning=True,
                          hive_schema={"site": pl.String, "date": pl.String})
          .filter(pl.col("workload").is_not_null())
          .group_by("tenant", pl.col("interval_start").dt.truncate("1h").alias("hour"))
          .agg(pl.col("energy_uj").sum())
          .sort("tenant", "hour")
          .collect())
    dt = time.perf_counter() - t
    best = dt if best is None else min(best, dt)
df.write_csv(out)
print(f"query polars lazy: {best * 1000:.1f} ms best of 3, {df.height} rows")
PY
fleet="crates/kelvin-fleet/target/release/examples/fleet"
[ -x "${KELVIN_FLEET_BIN:-}" ] && fleet=$KELVIN_FLEET_BIN
if [ ! -x "$fleet" ]; then
  echo "SKIP DataFusion and Ballista: build the fleet example first (crates/kelvin-fleet/README.md)"
  exit 0
fi
time_query() { # label, then extra args
  local label=$1; shift
  local best=""
  for _ in 1 2 3; do
    local s e
    s=$(date +%s.%N)
    "$fleet" query "$root" --sql "$sql" "$@" >"$work/df.csv"
    e=$(date +%s.%N)
    local ms; ms=$(echo "($e - $s) * 1000" | bc)
    if [ -z "$best" ] || [ "$(echo "$ms < $best" | bc)" = 1 ]; then best=$ms; fi
  done
  printf 'query %s: %.1f ms best of 3 (whole command), %d rows\n' "$label" "$best" "$(($(wc -l <"$work/df.csv") - 1))"
}
time_query "datafusion local"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sched=$(port)
"$fleet" scheduler --listen "127.0.0.1:$sched" >"$work/sched.log" 2>&1 &
pids=$!
trap 'kill $pids 2>/dev/null || true' EXIT
sleep 2
for n in 1 2; do
  e=$(port)
  "$fleet" executor --scheduler "127.0.0.1:$sched" --listen "127.0.0.1:$e" >"$work/exec$n.log" 2>&1 &
  pids="$pids $!"
  sleep 2
  time_query "ballista $n executor(s)" --ballista "127.0.0.1:$sched"
done
