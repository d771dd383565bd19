#!/usr/bin/env bash
# End-to-end re-encryption benchmark on PostgreSQL (figures in docs/performance.md).
#
#   scripts/bench-postgres.sh [ROWS ...]      default: 1000000 (100000 for a quick run)
#
# Uses the server at UDMG_TEST_POSTGRES_URL, or starts a throwaway one (scripts/postgres.sh: fsync
# off, loopback) for the length of the run. For each size and each value mix of BENCH_VALUES
# (uniform: 64-byte values; mixed: the sizes a real table holds, bench/e2e_dataset.h): one dataset
# database (values encrypted under master v1 with the bench's fixed K0, then a rotation, so every
# row is stale; the same plaintexts encrypted by pgcrypto in credentials_pgcrypto for the peer),
# vacuumed and kept as a template; every run gets a fresh copy (CREATE DATABASE ... TEMPLATE), so
# every mode starts from the same state. Each mode runs in its own process (its own peak RSS),
# BENCH_REPEAT times (median kept), the naive loop once:
#   floor       the minimal raw libpq client without crypto: keyset pages, one
#               UPDATE ... FROM unnest($1::bigint[], $2::text[]) compare-and-swap per page
#   floor-rows  the same with a prepared per-row UPDATE ... WHERE id = $2 AND secret = $1, one
#               transaction per page
#   sql         (c) UPDATE credentials SET secret = secret || ''   (no crypto, in the server)
#   pgcrypto    UPDATE credentials_pgcrypto SET secret = encrypt(decrypt(secret, old, 'aes'), new, 'aes')
#   pipeline    one `reencrypt` job (one reader and one writer connection)
#   pipeline-N  N processes sharing one job (`reencrypt --shared`), each with its own connections
#   command     the whole `udmg-server reencrypt`, as an operator runs it
#   python      the Python peer, bench/python_peer.py (cryptography + psycopg2)
#   rewrite     (b) the no-crypto client rewrite through the Store (same fetch and CAS batches)
#   naive       (a) one row at a time through the library, autocommit compare-and-swap per row
#   naive-tx    (a') the same loop in one transaction (SELECT next row, UPDATE it; one COMMIT)
# Every run but sql is verified afterwards: the re-encrypting modes find every row under version
# 2 with its plaintext, the no-crypto rewrites every row under version 1 with its plaintext, the
# pgcrypto run a 1 % sample decrypted under the new key.
# Environment: BENCH_BUILD_DIR (build/release), BENCH_BATCH_SIZE (1000), BENCH_IN_FLIGHT (4),
# BENCH_REPEAT (3), BENCH_VALUES ("uniform mixed"), BENCH_RANGE_ROWS (ROWS/20: key ranges of the
# shared runs, 50000 at 1M, the CLI default), BENCH_NAIVE_MAX_ROWS (1000000), BENCH_MODES (all of
# the above, N = 2 and 4), BENCH_PYTHON (the peer's interpreter: /usr/bin/python3, where setup.sh
# installs its packages), BENCH_SYNCHRONOUS_COMMIT (unset: the server's setting; on|off: set on
# the run database).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-common.sh
read_bench_settings
default_modes="floor floor-rows rewrite sql pgcrypto pipeline pipeline-2 pipeline-4 command"
default_modes+=" python naive-tx naive"
read -r -a modes <<<"${BENCH_MODES:-$default_modes}"
sizes=("$@")
((${#sizes[@]})) || sizes=(1000000)

if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  cmake -S . -B "$build" -G Ninja >/dev/null
  cmake --build "$build" --target udmg-reencrypt-bench udmg-server -j2 >/dev/null
fi
if [[ -z ${UDMG_TEST_POSTGRES_URL:-} ]]; then
  BENCH_SKIP_BUILD=1 exec scripts/postgres.sh run -- "$0" "$@"
fi
bin=$PWD/$build/bench/udmg-reencrypt-bench
udmg_server=$PWD/$build/cli/udmg-server
admin_url=$UDMG_TEST_POSTGRES_URL
server=${admin_url%/*}
dataset_url=$server/udmg_bench_dataset
run_url=$server/udmg_bench_run
work=$(mktemp -d /tmp/udmg-bench-pg.XXXXXX)
results=$work/results.jsonl
: >"$results"

sql() { pg_sql "$admin_url" "$1"; }
drop_databases() {
  sql "DROP DATABASE IF EXISTS udmg_bench_run WITH (FORCE)" || true
  sql "DROP DATABASE IF EXISTS udmg_bench_dataset WITH (FORCE)" || true
}
trap drop_databases EXIT

fresh_copy() {
  pg_recreate_database "$admin_url" udmg_bench_run udmg_bench_dataset
  if [[ -n ${BENCH_SYNCHRONOUS_COMMIT:-} ]]; then
    sql "ALTER DATABASE udmg_bench_run SET synchronous_commit = $BENCH_SYNCHRONOUS_COMMIT"
  fi
}

for rows in "${sizes[@]}"; do
  range_rows=${BENCH_RANGE_ROWS:-$((rows / 20 > 0 ? rows / 20 : 1))}
  for values in "${value_mixes[@]}"; do
    drop_databases
    sql "CREATE DATABASE udmg_bench_dataset"
    echo "== $rows rows, $values values: generating the dataset" >&2
    "$bin" --values "$values" generate "$dataset_url" "$rows"
    for mode in "${modes[@]}"; do
      runs=$(runs_of "$mode" "$rows")
      for ((i = 1; i <= runs; i++)); do
        fresh_copy
        case $mode in
          command | python)
            run_timed_mode "$results" "$rows" "$values" "$mode" "$run_url" "$udmg_server" \
              "$run_url"
            ;;
          *)
            record_bench_run "$results" "$rows" "$values" "$bin" "$mode" "$run_url" "$batch" \
              "$in_flight" "$range_rows"
            ;;
        esac
        case $mode in
          floor* | rewrite) "$bin" --values "$values" verify "$run_url" "$rows" 1 ;;
          pgcrypto) "$bin" --values "$values" verify-pgcrypto "$run_url" "$rows" 100 ;;
          sql) ;;
          *) "$bin" --values "$values" verify "$run_url" "$rows" 2 ;;
        esac
      done
    done
  done
done

python3 bench/bench_results.py postgresql "$results"
echo "raw results: $results" >&2
