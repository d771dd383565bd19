#!/usr/bin/env bash
# End-to-end re-encryption benchmark on PostgreSQL (figures in docs/performance.md).
#
#   scripts/bench-postgres.sh [ROWS ...]      default: 1000000 (100000 for a quick run)
#
# Uses the server at UDMG_TEST_POSTGRES_URL, or starts a throwaway one (scripts/postgres.sh: fsync
# off, loopback) for the length of the run. For each size: one dataset database (64-byte values
# encrypted under master v1 with the bench's fixed K0, then a rotation, so every row is stale; the
# same plaintexts encrypted by pgcrypto in credentials_pgcrypto for the peer), vacuumed and kept as
# a template; every run gets a fresh copy (CREATE DATABASE ... TEMPLATE), so every mode starts
# from the same state. Each mode runs in its own process (its own peak RSS), BENCH_REPEAT times
# (median kept), the naive loop once:
#   sql         (c) UPDATE credentials SET secret = secret || ''   (no crypto, in the server)
#   pgcrypto    UPDATE credentials_pgcrypto SET secret = encrypt(decrypt(secret, old, 'aes'), new, 'aes')
#   pipeline    one `reencrypt` job (one reader and one writer connection)
#   pipeline-N  N processes sharing one job (`reencrypt --shared`), each with its own connections
#   rewrite     (b) the no-crypto client rewrite through the Store (same fetch and CAS batches)
#   naive       (a) one row at a time through the library, autocommit compare-and-swap per row
#   naive-tx    (a') the same loop in one transaction (SELECT next row, UPDATE it; one COMMIT)
# Pipeline and naive runs are verified afterwards (every row under version 2, every plaintext
# intact); the pgcrypto run by a 1 % sample decrypted under the new key.
# Environment: BENCH_BUILD_DIR (build/release), BENCH_BATCH_SIZE (1000), BENCH_IN_FLIGHT (4),
# BENCH_REPEAT (3), BENCH_RANGE_ROWS (ROWS/20: key ranges of the shared runs, 50000 at 1M, the CLI
# default), BENCH_NAIVE_MAX_ROWS (1000000), BENCH_MODES (all of the above, N = 2 and 4),
# BENCH_SYNCHRONOUS_COMMIT (unset: the server's setting; on|off: set on the run database).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BENCH_BUILD_DIR:-build/release}
batch=${BENCH_BATCH_SIZE:-1000}
in_flight=${BENCH_IN_FLIGHT:-4}
repeat=${BENCH_REPEAT:-3}
naive_max=${BENCH_NAIVE_MAX_ROWS:-1000000}
default_modes="sql pgcrypto pipeline pipeline-2 pipeline-4 rewrite naive-tx naive"
read -r -a modes <<<"${BENCH_MODES:-$default_modes}"
sizes=("$@")
((${#sizes[@]})) || sizes=(1000000)

if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  cmake -S . -B "$build" -G Ninja >/dev/null
  cmake --build "$build" --target udmg-reencrypt-bench -j2 >/dev/null
fi
if [[ -z ${UDMG_TEST_POSTGRES_URL:-} ]]; then
  BENCH_SKIP_BUILD=1 exec scripts/postgres.sh run -- "$0" "$@"
fi
bin=$PWD/$build/bench/udmg-reencrypt-bench
admin_url=$UDMG_TEST_POSTGRES_URL
server=${admin_url%/*}
dataset_url=$server/udmg_bench_dataset
run_url=$server/udmg_bench_run
work=$(mktemp -d /tmp/udmg-bench-pg.XXXXXX)
results=$work/results.jsonl
: >"$results"

source scripts/bench-common.sh
sql() { pg_sql "$admin_url" "$1"; }
drop_databases() {
  sql "DROP DATABASE IF EXISTS udmg_bench_run WITH (FORCE)" || true
  sql "DROP DATABASE IF EXISTS udmg_bench_dataset WITH (FORCE)" || true
}
trap drop_databases EXIT

fresh_copy() {
  sql "DROP DATABASE IF EXISTS udmg_bench_run WITH (FORCE)"
  sql "CREATE DATABASE udmg_bench_run TEMPLATE udmg_bench_dataset"
  if [[ -n ${BENCH_SYNCHRONOUS_COMMIT:-} ]]; then
    sql "ALTER DATABASE udmg_bench_run SET synchronous_commit = $BENCH_SYNCHRONOUS_COMMIT"
  fi
}

for rows in "${sizes[@]}"; do
  range_rows=${BENCH_RANGE_ROWS:-$((rows / 20 > 0 ? rows / 20 : 1))}
  drop_databases
  sql "CREATE DATABASE udmg_bench_dataset"
  echo "== $rows rows: generating the dataset" >&2
  "$bin" generate "$dataset_url" "$rows"
  for mode in "${modes[@]}"; do
    runs=$repeat
    if [[ $mode == naive ]]; then
      ((rows <= naive_max)) || continue
      runs=1
    fi
    for ((i = 1; i <= runs; i++)); do
      fresh_copy
      line=$("$bin" run "$mode" "$run_url" "$batch" "$in_flight" "$range_rows")
      echo "$line" >&2
      echo "{\"size\":$rows,${line#\{}" >>"$results"
      case $mode in
        pipeline* | naive*) "$bin" verify "$run_url" "$rows" 2 ;;
        pgcrypto) "$bin" verify-pgcrypto "$run_url" "$rows" 100 ;;
      esac
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
def name(mode):
    if mode == "pipeline": return "pipeline, 1 connection (one `reencrypt` job)"
    if mode.startswith("pipeline-"):
        n = mode[len("pipeline-"):]
        return f"pipeline, {n} connections ({n} `reencrypt --shared` processes)"
    return {"naive": "(a) naive, row by row, autocommit CAS",
            "naive-tx": "(a') naive, row by row, one transaction",
            "rewrite": "(b) no-crypto client rewrite (Store, same batches)",
            "sql": "(c) in-database rewrite `secret || ''`",
            "pgcrypto": "pgcrypto in-database re-encryption"}[mode]
order = lambda m: (0, int(m.split("-")[1]) if "-" in m else 1) if m.startswith("pipeline") else \
    (1, ["rewrite", "naive-tx", "naive", "sql", "pgcrypto"].index(m))
# Each mode's time over the fair naive loop (a'), the no-crypto client rewrite (b), the in-database
# rewrite (c) and the pgcrypto peer.
print("| rows | mode | seconds | client CPU s | rows/s | time / (a') | time / (b) | time / (c) | "
      "time / pgcrypto | client peak RSS MiB |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for size in sorted({r["size"] for r in runs}):
    bases = [median(size, m, "seconds") for m in ("naive-tx", "rewrite", "sql", "pgcrypto")]
    for mode in sorted({m for (s, m) in by if s == size}, key=order):
        s = median(size, mode, "seconds")
        rss = median(size, mode, "peak_rss_kib") / 1024
        cpu = median(size, mode, "cpu_seconds")
        ratios = " | ".join(f"{s / b:.2f}x" if b else "" for b in bases)
        print(f"| {size:,} | {name(mode)} | {s:.3f} | {cpu:.2f} | {size / s:,.0f} | {ratios} "
              f"| {rss:.1f} |")
PY
echo "raw results: $results" >&2
