#!/usr/bin/env bash
# End-to-end re-encryption benchmark on SQLite (figures in docs/performance.md).
#
#   scripts/bench.sh [ROWS ...]        default: 100000 1000000
#
# For each size: one dataset of 64-byte values, all stale (generated once, copied fresh for every
# run), then each mode in its own process (its own peak RSS): sql (c), rewrite (b), pipeline,
# naive-tx (a'), naive (a). Each run but naive is repeated BENCH_REPEAT times, the median kept.
# Pipeline and naive runs are verified afterwards (every row under the new version, every
# plaintext intact). Environment: BENCH_BUILD_DIR (build/release), BENCH_BATCH_SIZE (1000),
# BENCH_IN_FLIGHT (4), BENCH_REPEAT (3), BENCH_NAIVE_MAX_ROWS (1000000: skip the per-row
# autocommit loop above it), BENCH_WORK_DIR (a new temporary directory, removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BENCH_BUILD_DIR:-build/release}
batch=${BENCH_BATCH_SIZE:-1000}
in_flight=${BENCH_IN_FLIGHT:-4}
repeat=${BENCH_REPEAT:-3}
naive_max=${BENCH_NAIVE_MAX_ROWS:-1000000}
sizes=("$@")
((${#sizes[@]})) || sizes=(100000 1000000)

cmake -S . -B "$build" -G Ninja >/dev/null
cmake --build "$build" --target udmg-reencrypt-bench -j2 >/dev/null
bin=$PWD/$build/bench/udmg-reencrypt-bench
work=${BENCH_WORK_DIR:-$(mktemp -d /tmp/udmg-bench.XXXXXX)}
mkdir -p "$work"
trap 'rm -f "$work"/*.db "$work"/*.db-wal "$work"/*.db-shm' EXIT
results=$work/results.jsonl
: >"$results"

fresh_copy() {  # dataset -> run.db, without WAL leftovers
  rm -f "$work/run.db" "$work/run.db-wal" "$work/run.db-shm"
  cp "$1" "$work/run.db"
}

for rows in "${sizes[@]}"; do
  dataset=$work/dataset-$rows.db
  rm -f "$dataset"
  echo "== $rows rows: generating the dataset" >&2
  "$bin" generate "$dataset" "$rows"
  modes=(sql rewrite pipeline naive-tx)
  ((rows <= naive_max)) && modes+=(naive)
  for mode in "${modes[@]}"; do
    runs=$repeat
    [[ $mode == naive ]] && runs=1
    for ((i = 1; i <= runs; i++)); do
      fresh_copy "$dataset"
      line=$("$bin" run "$mode" "$work/run.db" "$batch" "$in_flight")
      echo "$line" >&2
      echo "{\"size\":$rows,${line#\{}" >>"$results"
      if [[ $mode == pipeline || $mode == naive* ]]; then
        "$bin" verify "$work/run.db" "$rows" 2
      fi
    done
  done
done

python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in runs:
    by.setdefault((r["size"], r["mode"]), []).append(r)
def median(size, mode, key):
    rs = by.get((size, mode))
    return statistics.median(r[key] for r in rs) if rs else None
sizes = sorted({r["size"] for r in runs})
names = {"pipeline": "pipeline (oneTBB flow graph)", "naive": "(a) naive, row by row, autocommit",
         "naive-tx": "(a') naive, row by row, one transaction",
         "rewrite": "(b) no-crypto client rewrite", "sql": "(c) in-database UPDATE"}
print("| rows | mode | seconds | CPU s | rows/s | peak RSS MiB | pipeline time / this |")
print("|---:|---|---:|---:|---:|---:|---:|")
for size in sizes:
    p = median(size, "pipeline", "seconds")
    for mode in ["pipeline", "naive", "naive-tx", "rewrite", "sql"]:
        s = median(size, mode, "seconds")
        if s is None: continue
        rss = median(size, mode, "peak_rss_kib") / 1024
        ratio = f"{p / s:.2f}x" if p and mode != "pipeline" else ""
        cpu = median(size, mode, "cpu_seconds")
        print(f"| {size:,} | {names[mode]} | {s:.3f} | {cpu:.2f} | {size / s:,.0f} | {rss:.1f} | {ratio} |")
if len(sizes) >= 2:
    lo, hi = sizes[0], sizes[-1]
    a, b = median(lo, "pipeline", "peak_rss_kib"), median(hi, "pipeline", "peak_rss_kib")
    if a and b:
        print(f"\npipeline peak RSS at {hi:,} rows / at {lo:,} rows: {b / a:.3f} (target <= 1.10)")
PY
echo "raw results: $results" >&2
