#!/usr/bin/env bash
# Fuzzes every reader of outside input for a bounded time (see docs/fuzzing.md).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Builds the targets in fuzz/ (cargo-fuzz, release, debug assertions on, no sanitizer: works on
# the stable toolchain), seeds each target's corpus from ../shared and datasets/, replays the
# committed regression inputs in fuzz/regressions/<target>/, then runs each target for
# SECONDS_PER_TARGET (default 30) seconds, one at a time. Exits non-zero when any target finds
# a crash, a timeout or an input over the memory budget, naming the target, the kind and the
# saved input (fuzz/artifacts/<target>/).
#
# Environment: KELVIN_FUZZ_HEAP_MB (default 256), the heap budget of one input;
# KELVIN_FUZZ_RSS_MB (default 512), libFuzzer's -rss_limit_mb; KELVIN_FUZZ_MAX_LEN
# (default 65536), libFuzzer's -max_len; KELVIN_FUZZ_SKIP_BUILD=1 runs the binaries already
# built (fuzz/target/) without rebuilding; KELVIN_FUZZ_SHARED (default ../shared), where the
# seed data lives (seeding skips what is not there).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-30}
shift || true
case "$secs" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;;
esac

CARGO_FUZZ_VERSION=0.13.2
export KELVIN_FUZZ_HEAP_MB=${KELVIN_FUZZ_HEAP_MB:-256}
rss_mb=${KELVIN_FUZZ_RSS_MB:-512}
max_len=${KELVIN_FUZZ_MAX_LEN:-65536}
shared=${KELVIN_FUZZ_SHARED:-../shared}

all_targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^kelvin-fuzz$')
if [ $# -gt 0 ]; then
  targets="$*"
  for t in $targets; do
    printf '%s\n' "$all_targets" | grep -qx "$t" || { echo "unknown fuzz target $t; targets: $(echo $all_targets)" >&2; exit 2; }
  done
else
  targets=$all_targets
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

echo "==> building fuzz targets ($(echo $targets | wc -w))"
# -s none: no sanitizer, so no -Z flag and no nightly; -a: debug assertions (and overflow
# checks) on in the release build.
if [ "${KELVIN_FUZZ_SKIP_BUILD:-0}" = 1 ]; then
  echo "    (KELVIN_FUZZ_SKIP_BUILD=1: using the binaries already built)"
elif [ $# -gt 0 ]; then
  for t in $targets; do cargo fuzz build -s none -a "$t"; done
else
  cargo fuzz build -s none -a
fi
triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=fuzz/target/$triple/release

# ---------------------------------------------------------------------------------------------
# Corpus seeds: copied from ../shared and datasets/ at every run, never committed.

seed_dir() { mkdir -p "fuzz/corpus/$1"; printf '%s' "fuzz/corpus/$1"; }

# seed_files TARGET FILE...: copies files (their first max_len bytes) under unique names.
seed_files() {
  local t=$1 d f name
  shift
  d=$(seed_dir "$t")
  for f in "$@"; do
    [ -f "$f" ] || continue
    name=$(printf '%s' "$f" | sed 's#^\.\./##; s#[/ ]#_#g')
    head -c "$max_len" "$f" >"$d/seed-$name"
  done
}

# find_seeds DIR [find args...]: regular files under DIR (nothing when DIR is absent).
find_seeds() {
  local dir=$1
  shift
  [ -d "$dir" ] || return 0
  find "$dir" -type f ! -name 'README*' ! -name 'LICENSE*' "$@" | LC_ALL=C sort
}

join_nul() { # joins the given files' contents with NUL bytes (a missing file: empty part)
  local first=1 f
  for f in "$@"; do
    [ $first = 1 ] || printf '\0'
    first=0
    if [ -f "$f" ]; then cat "$f"; fi
  done
}

# tree_seed MODE DIR LIMIT: a tree as ingest_tree reads it (mode byte, then "path\ncontent"
# parts joined by NUL; symbolic links as "@link TARGET").
tree_seed() {
  local mode=$1 dir=$2 limit=$3 p rel
  printf "\\x$mode"
  (cd "$dir" && find . \( -type f -o -type l \) ! -name 'README*' | LC_ALL=C sort | head -n "$limit") |
    while IFS= read -r p; do
      rel=${p#./}
      printf '%s\n' "$rel"
      if [ -L "$dir/$rel" ]; then
        printf '@link %s' "$(readlink "$dir/$rel")"
      else
        head -c 4096 "$dir/$rel"
      fi
      printf '\0'
    done
}

seed_all() {
  # Seeding cuts files and listings short with head: a writer ended by SIGPIPE is no error.
  set +o pipefail
  local ing=$shared/corpus/ingest rec=$shared/recordings/gpu-h100-2026-11-26 d ds tmp f i
  [ -d "$shared" ] || echo "    (no $shared beside the checkout: seeding from datasets/ only)"

  # shellcheck disable=SC2046
  {
    seed_files ingest_prometheus $(find_seeds "$ing/node_exporter" -maxdepth 1 -name '*.txt') datasets/*/metrics.prom
    seed_files ingest_ipmi $(find_seeds "$ing/ipmitool" -name '*.txt') $(find_seeds "$ing/ipmi_freeipmi_glouton") \
      $(find datasets -path '*captures*' \( -name '*ipmi*' -o -name '*dcmi*' \) -type f | LC_ALL=C sort)
    seed_files ingest_redfish $(find_seeds "$ing/redfish_dmtf" -name '*.json') $(find_seeds "$ing/redfish_vendor_telegraf" -name '*.json')
    seed_files ingest_snmp $(find_seeds "$ing/snmp_pdu_librenms") $(find_seeds "$ing/synse" -name '*.snmpwalk') \
      $(find datasets -path '*captures*' -name '*snmp*' -type f | LC_ALL=C sort | head -n 20)
    seed_files ingest_synse $(find_seeds "$ing/synse" -name '*.json')
    seed_files ingest_nvidia_smi "$rec/nvidia-smi-pmon.txt" "$rec/nvidia-smi-query.csv" "$rec/nvidia-smi.txt"
    seed_files ingest_nvml "$rec/nvml_device.csv" "$rec/nvml_process_util.csv" \
      $(find datasets -path '*captures/nvml*' -type f | LC_ALL=C sort | head -n 10)
    seed_files ingest_detect $(find_seeds "$ing" -size -64k | awk 'NR % 7 == 1') \
      "$rec/nvml_process_util.csv" "$rec/nvidia-smi-pmon.txt" datasets/*/metrics.prom
    seed_files inventory datasets/*/inventory.json
    seed_files binpack $(find_seeds "$shared/instances/bpplib" -name '*.txt' | awk 'NR % 40 == 1')
  }

  d=$(seed_dir ingest_prometheus_push)
  for f in fuzz/corpus/ingest_prometheus/seed-*; do
    [ -f "$f" ] && { printf 'kelvin!!\017'; cat "$f"; } >"$d/${f##*/}"
  done

  d=$(seed_dir ingest_kelvin_csv)
  printf '%s\n' 'ts_ns,entity,sensor,kind,unit,value,quality,status' \
    '1795701781123000000,h1/gpu-0,power.draw,power,W,345.32,good,' \
    '1795701781123000000,h1/gpu-0,fan.speed,fan_duty,%,,absent,[N/A]' \
    ',pdu-7,"outlet ""A"", left",current,A,0.5,warning,nc' \
    '1795701782123000000,h1,inlet,temperature,[degF],75.2,,ok' >"$d/seed-doc.csv"

  d=$(seed_dir ingest_cpu_stat)
  printf 'usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n' >"$d/seed-v2.stat"
  printf 'nr_periods 10\nnr_throttled 2\nthrottled_time 12345\n' >"$d/seed-v1.stat"

  d=$(seed_dir ingest_tree)
  [ -d "$ing/kepler/sys" ] && tree_seed 01 "$ing/kepler/sys" 64 | head -c "$max_len" >"$d/seed-kepler-sys"
  [ -d "$ing/kepler/procfs" ] && tree_seed 01 "$ing/kepler/procfs" 48 | head -c "$max_len" >"$d/seed-kepler-proc"
  [ -d "$ing/node_exporter/sysfs" ] && tree_seed 03 "$ing/node_exporter/sysfs" 64 | head -c "$max_len" >"$d/seed-node-sysfs"
  for f in public-rackmount1 public-telemetry; do
    [ -d "$ing/redfish_dmtf/$f" ] && tree_seed 00 "$ing/redfish_dmtf/$f" 40 | head -c "$max_len" >"$d/seed-redfish-$f"
  done

  # Datasets: small enough to replay in milliseconds (the metrics cut to their first lines).
  tmp=$(mktemp -d)
  for ds in datasets/*/; do
    ds=${ds%/}
    f=${ds##*/}
    head -n 300 "$ds/metrics.prom" >"$tmp/metrics.prom"
    head -n 40 "$ds/facility_truth.csv" 2>/dev/null >"$tmp/facility_truth.csv" || true
    join_nul "$ds/inventory.json" "$ds/workloads.json" "$tmp/metrics.prom" "$ds/ground_truth.csv" \
      >"$(seed_dir dataset_texts)/seed-$f"
    # The capture index rewritten to name the four capture parts captures/c0 … c3.
    rm -f "$tmp"/c?
    printf 'file,entity,taken_at_ms\n' >"$tmp/index.csv"
    if [ -f "$ds/captures/index.csv" ]; then
      i=0
      tail -n +2 "$ds/captures/index.csv" | head -n 4 | while IFS=, read -r file entity ms; do
        printf 'captures/c%s,%s,%s\n' "$i" "$entity" "$ms" >>"$tmp/index.csv"
        head -c 8192 "$ds/$file" >"$tmp/c$i"
        i=$((i + 1))
      done
    fi
    join_nul "$ds/inventory.json" "$ds/workloads.json" "$tmp/metrics.prom" "$ds/ground_truth.csv" \
      "$tmp/facility_truth.csv" "$ds/prometheus_rules.json" "$tmp/index.csv" "$tmp/c0" "$tmp/c1" "$tmp/c2" "$tmp/c3" \
      >"$(seed_dir dataset_dir)/seed-$f"
  done

  if [ -d "$rec" ]; then
    # Every 25th device sample and the work counts of all workloads, in two files.
    awk 'NR == 1 || NR % 25 == 0' "$rec/nvml_device.csv" >"$tmp/dev.csv"
    { echo 't_unix_ns,pid,label,kind,iterations'; tail -q -n +2 "$rec"/work_A_*.csv "$rec"/work_B_*.csv; } >"$tmp/w0.csv"
    { echo 't_unix_ns,pid,label,kind,iterations'; tail -q -n +2 "$rec"/work_C_*.csv; } >"$tmp/w1.csv"
    join_nul "$tmp/dev.csv" "$rec/nvml_process_util.csv" "$rec/events.csv" "$tmp/w0.csv" "$tmp/w1.csv" \
      >"$(seed_dir gpu_recording)/seed-gpu-h100"
  fi

  f=$shared/instances/vectorpack/Panigrahy_instances.tar.gz
  if [ -f "$f" ]; then
    tar -xzf "$f" -C "$tmp" --wildcards '*_40_*_0.vbp' 2>/dev/null || true
    seed_files binpack $(find "$tmp" -name '*.vbp' | LC_ALL=C sort)
  fi
  rm -rf "$tmp"
  for t in ingest_parquet store_parquet store_block store_open; do seed_dir "$t" >/dev/null; done
  set -o pipefail
}

echo "==> seeding corpora in fuzz/corpus/"
seed_all
for t in $targets; do
  printf '    %-24s %5d inputs\n' "$t" "$(find "fuzz/corpus/$t" -type f | wc -l)"
done

# ---------------------------------------------------------------------------------------------
# Running. Flags (docs/fuzzing.md explains them):
#   -timeout=10          one input over 10 s is a hang;
#   -rss_limit_mb        the whole process (libFuzzer, its corpus, the target) stays under it;
#   -malloc_limit_mb     one allocation over the budget (effective only in sanitizer builds:
#                        on stable the target's own capped allocator enforces the budget,
#                        KELVIN_FUZZ_HEAP_MB per input);
#   -max_len             the largest input tried.
# Targets that take paths write their inputs to a scratch directory under TMPDIR: on tmpfs
# when there is one, which makes those targets several times faster.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
flags=(-timeout=10 "-rss_limit_mb=$rss_mb" "-malloc_limit_mb=$KELVIN_FUZZ_HEAP_MB" "-max_len=$max_len")

# classify LOG: the kind of failure a libFuzzer log reports.
classify() {
  if grep -q 'ERROR: libFuzzer: timeout' "$1"; then echo timeout
  elif grep -q 'ERROR: libFuzzer: out-of-memory' "$1"; then echo "oom (rss over ${rss_mb} MB)"
  elif grep -q 'memory allocation of .* failed' "$1"; then echo "oom (heap over ${KELVIN_FUZZ_HEAP_MB} MiB in one input)"
  elif grep -q 'panicked at' "$1"; then echo panic
  else echo crash
  fi
}

report_failure() { # TARGET LOG
  local what
  what=$(classify "$2")
  echo "FAIL $1: $what" >&2
  grep -m1 -A3 'panicked at' "$2" >&2 || true
  grep -m1 'memory allocation of' "$2" >&2 || true
  grep -m1 'ERROR: libFuzzer' "$2" >&2 || true
  grep 'Test unit written to' "$2" | sed 's/^/    /' >&2 || true
  echo "    log: $2" >&2
  failed="$failed $1($what)"
}

failed=""
for t in $targets; do
  bin=$bin_dir/$t
  mkdir -p "fuzz/artifacts/$t" "fuzz/corpus/$t"
  reg=fuzz/regressions/$t
  if [ -d "$reg" ] && [ -n "$(find "$reg" -type f)" ]; then
    echo "==> $t: replaying $(find "$reg" -type f | wc -l) regression inputs"
    log=fuzz/artifacts/$t/regressions.log
    # shellcheck disable=SC2046
    if ! "$bin" "${flags[@]}" "-artifact_prefix=fuzz/artifacts/$t/" $(find "$reg" -type f | LC_ALL=C sort) >"$log" 2>&1; then
      report_failure "$t" "$log"
      continue
    fi
  fi
  echo "==> $t: fuzzing for $secs s"
  log=fuzz/artifacts/$t/fuzz.log
  if "$bin" "${flags[@]}" "-max_total_time=$secs" -print_final_stats=1 \
    "-artifact_prefix=fuzz/artifacts/$t/" "fuzz/corpus/$t" >"$log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|kelvin-fuzz: heap peak' "$log" |
      tr '\n' ' ' | sed 's/stat:://g; s/^/    /'
    echo
  else
    report_failure "$t" "$log"
  fi
done

if [ -n "$failed" ]; then
  echo >&2
  echo "fuzzing found problems:$failed" >&2
  echo "reproduce one with: $bin_dir/<target> <artifact>; minimize with: cargo fuzz tmin -s none -a <target> <artifact>" >&2
  exit 1
fi
echo "fuzzing passed: $(echo $targets | wc -w) targets, $secs s each"
