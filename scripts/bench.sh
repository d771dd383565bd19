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
source scripts/bench-common.sh
read_bench_settings
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
      record_bench_run "$results" "$rows" "$bin" "$mode" "$work/run.db" "$batch" "$in_flight"
      if [[ $mode == pipeline || $mode == naive* ]]; then
        "$bin" verify "$work/run.db" "$rows" 2
      fi
    done
  done
done

python3 bench/bench_results.py sqlite "$results"
echo "raw results: $results" >&2
