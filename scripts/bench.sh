#!/usr/bin/env bash
# End-to-end re-encryption benchmark on SQLite (figures in docs/performance.md).
#
#   scripts/bench.sh [ROWS ...]        default: 100000 1000000
#
# For each size and each value mix of BENCH_VALUES (uniform: 64-byte values; mixed: the sizes a
# real table holds, bench/e2e_dataset.h): one dataset, all stale (generated once, copied fresh for
# every run), then each mode in its own process (its own peak RSS):
#   floor      the minimal raw sqlite3 client without crypto: keyset pages, one BEGIN IMMEDIATE
#              per page of prepared compare-and-swap UPDATEs writing each value back unchanged
#              (SQLite then writes nothing: a record identical to the old one leaves the page clean)
#   floor-write the same client writing what a re-encryption writes: each value with its version
#              digit changed (same length), so every page goes through the WAL and the checkpoint
#   rewrite    (b) the same no-crypto rewrite through the library's Store
#   sql        (c) UPDATE credentials SET secret = secret || '' (in the database)
#   pipeline   the library's re-encryption job (udmg-reencrypt-bench run pipeline)
#   command    the whole `udmg-server reencrypt`, as an operator runs it (process start-up,
#              key loading, job bookkeeping included)
#   python     the Python peer, bench/python_peer.py (cryptography + sqlite3)
#   naive-tx   (a') and naive (a): one row at a time through the library
# Each run but naive is repeated BENCH_REPEAT times, the median kept. Every run is verified
# afterwards: the re-encrypting modes find every row under the new version with its plaintext,
# floor and rewrite every row still under the old one with its plaintext (floor-write's values
# are no longer envelopes: not verified).
# Environment: BENCH_BUILD_DIR (build/release), BENCH_BATCH_SIZE (1000), BENCH_IN_FLIGHT (4),
# BENCH_REPEAT (3), BENCH_VALUES ("uniform mixed"), BENCH_MODES (all of the above),
# BENCH_NAIVE_MAX_ROWS (1000000: skip the per-row autocommit loop above it), BENCH_PYTHON (the
# peer's interpreter: /usr/bin/python3, where setup.sh installs its packages), BENCH_WORK_DIR (a
# new temporary directory; its databases are removed at the end, results.jsonl is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-common.sh
read_bench_settings
default_modes="floor floor-write rewrite sql pipeline command python naive-tx naive"
read -r -a modes <<<"${BENCH_MODES:-$default_modes}"
sizes=("$@")
((${#sizes[@]})) || sizes=(100000 1000000)

cmake -S . -B "$build" -G Ninja >/dev/null
cmake --build "$build" --target udmg-reencrypt-bench udmg-server -j2 >/dev/null
bin=$PWD/$build/bench/udmg-reencrypt-bench
server=$PWD/$build/cli/udmg-server
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
  for values in "${value_mixes[@]}"; do
    dataset=$work/dataset-$rows-$values.db
    rm -f "$dataset"
    echo "== $rows rows, $values values: generating the dataset" >&2
    "$bin" --values "$values" generate "$dataset" "$rows"
    for mode in "${modes[@]}"; do
      runs=$(runs_of "$mode" "$rows")
      for ((i = 1; i <= runs; i++)); do
        fresh_copy "$dataset"
        case $mode in
          command | python)
            run_timed_mode "$results" "$rows" "$values" "$mode" "sqlite:$work/run.db" "$server" \
              "$work/run.db"
            ;;
          *)
            record_bench_run "$results" "$rows" "$values" "$bin" "$mode" "$work/run.db" "$batch" \
              "$in_flight"
            ;;
        esac
        case $mode in
          floor | rewrite) "$bin" --values "$values" verify "$work/run.db" "$rows" 1 ;;
          sql | floor-write) ;;
          *) "$bin" --values "$values" verify "$work/run.db" "$rows" 2 ;;
        esac
      done
    done
  done
done

python3 bench/bench_results.py sqlite "$results"
echo "raw results: $results" >&2
