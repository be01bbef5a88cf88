#!/usr/bin/env bash
# The fleet's acceptance on real processes: exports the committed datasets as three sites with
# the `fleet` example, checks that per-tenant energy summed by SQL over `bills` equals each
# site's replay report to the microjoule, then starts a Ballista scheduler and two Kelvin
# executors on loopback and checks that the same queries, the UDAF one included, give the
# same rows there as in this process.
#
#   scripts/fleet_ci.sh FLEET_BINARY [BASE_PORT]
#
# Run from the repository root (it reads datasets/).
#
# Ports: the scheduler on BASE_PORT (default 50650), the executors' Flight ports on
# BASE_PORT+1 and BASE_PORT+3 (their gRPC on the next port each).
set -euo pipefail
fleet=$1
base=${2:-50650}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

datasets=(datasets/edge-small datasets/enterprise-room datasets/gpu-cluster)
"$fleet" export "${datasets[@]}" --out "$work/root" | tee "$work/export.txt"
[ "$(grep -c '^exported site ' "$work/export.txt")" = 3 ] || { echo "fleet: 3 sites expected" >&2; exit 1; }

# The replay reports, as CSV rows site,tenant,energy_uj.
awk '$1 == "site" && $3 == "tenant" && $5 == "energy_uj" { print $2 "," $4 "," $6 }' \
  "$work/export.txt" | sort > "$work/report.csv"
tenant_sql="SELECT site, tenant, sum(energy_uj) AS energy_uj FROM bills WHERE workload IS NOT NULL \
GROUP BY site, tenant ORDER BY site, tenant"
energy_sql="SELECT site, entity, sensor, kelvin_energy_j(ts, value) AS j, count(*) AS n \
FROM readings WHERE kind = 'power' GROUP BY site, entity, sensor ORDER BY site, entity, sensor"
cpu_sql="SELECT site, host, entity, kelvin_increase(ts, value) AS cpu_s FROM readings \
WHERE kind = 'cpu_time' GROUP BY site, host, entity ORDER BY site, host, entity"
"$fleet" query "$work/root" --sql "$tenant_sql" > "$work/tenants-local.csv"
head -n 1 "$work/tenants-local.csv" | grep -qx 'site,tenant,energy_uj' || { echo "fleet: header" >&2; exit 1; }
tail -n +2 "$work/tenants-local.csv" | sort > "$work/tenants.csv"
if ! cmp -s "$work/report.csv" "$work/tenants.csv"; then
  echo "fleet: per-tenant SQL over bills differs from the replay reports" >&2
  diff "$work/report.csv" "$work/tenants.csv" >&2 || true
  exit 1
fi
echo "per-tenant energy from SQL equals the replay reports: $(wc -l < "$work/tenants.csv") site-tenant rows"
"$fleet" query "$work/root" --sql "$energy_sql" > "$work/energy-local.csv"
"$fleet" query "$work/root" --sql "$cpu_sql" > "$work/cpu-local.csv"

# A Ballista scheduler and two Kelvin executors on loopback.
wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "fleet: nothing listens on 127.0.0.1:$1" >&2
  exit 1
}
"$fleet" scheduler --listen "127.0.0.1:$base" 2> "$work/scheduler.log" & pids+=($!)
wait_port "$base"
for e in 1 3; do
  "$fleet" executor --scheduler "127.0.0.1:$base" --listen "127.0.0.1:$((base + e))" \
    2> "$work/executor-$e.log" & pids+=($!)
  wait_port "$((base + e))"
  wait_port "$((base + e + 1))"
done
# The executors register with their first heartbeat.
sleep 3
for q in tenants energy cpu; do
  sql_var="${q}_sql"; [ "$q" = tenants ] && sql_var=tenant_sql
  # A cluster that lost its executors would queue the job for ever: bound it.
  timeout 300 "$fleet" query "$work/root" --sql "${!sql_var}" --ballista "127.0.0.1:$base" \
    > "$work/$q-ballista.csv" || { echo "fleet: the $q query failed on Ballista" >&2; tail -n 20 "$work"/*.log >&2; exit 1; }
  if ! cmp -s "$work/$q-local.csv" "$work/$q-ballista.csv"; then
    echo "fleet: the $q query differs between this process and Ballista" >&2
    diff "$work/$q-local.csv" "$work/$q-ballista.csv" | head -n 20 >&2 || true
    exit 1
  fi
  echo "$q query: $(($(wc -l < "$work/$q-local.csv") - 1)) rows, identical locally and on Ballista (2 executors)"
done
