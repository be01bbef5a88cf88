#!/usr/bin/env bash
# The agent's overhead with 1,000 Prometheus targets at a 10 s interval (docs/benchmarks.md,
# "Agent"). Each target serves a real node exporter's exposition (captured here from Debian's
# prometheus-node-exporter) plus a DCMI power gauge; the agent polls them all, ingests,
# attributes and serves /metrics, which this script scrapes every 10 s as Prometheus would.
# It reports the agent's CPU (% of one core, from /proc/PID/stat over the measured window) and
# its resident set (now and peak).
#
# Usage: scripts/agent_bench.sh [TARGETS=1000] [SECONDS=300] [INTERVAL=10] [WARMUP=300]
# The warm-up lets the first intervals close (attribution interval 60 s, lateness 120 s, the
# interpolation gap four intervals), so the window measures the steady state: polling,
# ingesting, closing and billing every interval, and serving /metrics.
# Honours CARGO_TARGET_DIR; AGENT_WRAP prefixes the agent (e.g. "heaptrack -o FILE"). Needs
# python3, curl and prometheus-node-exporter.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=${1:-1000}
seconds=${2:-300}
interval=${3:-10}
warmup=${4:-300}
target_dir=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p kelvin-agent
bin="$target_dir/release/kelvin-agent"

work=$(mktemp -d)
cleanup() { kill "$agent" "$server" "$node" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A real exposition: Debian's node exporter with its default collectors.
np=$(free_port)
/usr/bin/prometheus-node-exporter --web.listen-address=127.0.0.1:$np >/dev/null 2>&1 & node=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$np/metrics" >"$work/body.prom" && break; sleep 0.1; done
kill "$node"
echo "target body: $(wc -l <"$work/body.prom") lines, $(wc -c <"$work/body.prom") bytes (node exporter $(/usr/bin/prometheus-node-exporter --version 2>&1 | head -1 | awk '{print $3}'))"

tp=$(free_port)
python3 scripts/bench_targets.py "$work/body.prom" "$targets" "$tp" & server=$!
ap=$(free_port)
cfg="$work/agent.toml"
{
  echo "listen = \"127.0.0.1:$ap\""
  echo "data_dir = \"$work/data\""
  echo "attribution_interval_s = 60"
  echo "workers = 16"
  for i in $(seq 0 $((targets - 1))); do
    printf '[[sources]]\nname = "t%04d"\nkind = "prometheus"\nurl = "http://127.0.0.1:%s/t/%d"\nentity = "h%04d"\ninterval_s = %s\n' "$i" "$tp" "$i" "$i" "$interval"
  done
} >"$cfg"
chmod 600 "$cfg"
${AGENT_WRAP:-} "$bin" --config "$cfg" 2>"$work/agent.log" & agent=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ap/readyz" >/dev/null && break; sleep 0.1; done

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$agent/stat"; }
sleep "$warmup"
c0=$(cpu); t0=$(date +%s.%N)
end=$(( $(date +%s) + seconds ))
scrapes=0
while [ "$(date +%s)" -lt "$end" ]; do
  curl -sf -H 'Accept: application/openmetrics-text;version=1.0.0' "http://127.0.0.1:$ap/metrics" >"$work/metrics.txt"
  scrapes=$((scrapes + 1))
  sleep "$interval"
done
c1=$(cpu); t1=$(date +%s.%N)
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$agent/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$agent/status")
up=$(grep -c '^kelvin_source_up{.*} 1$' "$work/metrics.txt" || true)
polls=$(awk '/^kelvin_source_polls_total/ {s += $2} END {print s}' "$work/metrics.txt")
hosts=$(grep -c '^kelvin_host_energy_joules_total' "$work/metrics.txt" || true)
python3 - "$c0" "$c1" "$t0" "$t1" "$ticks" "$rss" "$hwm" "$targets" "$interval" "$up" "$polls" "$hosts" "$scrapes" <<'PY'
import sys
c0, c1, t0, t1, ticks, rss, hwm = map(float, sys.argv[1:8])
targets, interval, up, polls, hosts, scrapes = sys.argv[8:14]
cpu = (c1 - c0) / ticks / (t1 - t0) * 100
print(f"targets {targets} interval_s {interval} window_s {t1 - t0:.0f} scrapes_of_agent {scrapes}")
print(f"sources up {up} polls_total {polls} hosts_billed {hosts}")
if int(hosts) == 0:
    print("warning: no interval closed before the end: the window did not include billing")
print(f"agent cpu {cpu:.2f} % of one core, rss {rss / 1024:.1f} MB, peak rss {hwm / 1024:.1f} MB")
PY
