#!/usr/bin/env bash
# The per-row costs a capacity model of a PostgreSQL re-encryption rests on, for 1, 2, 4 … client
# processes sharing one job (udmg-reencrypt-bench run pipeline-N) and for PostgreSQL's own
# rewrite (run sql): wall time, rows/s, the clients' CPU per row, the rest of the machine's CPU
# per row (the server's, when it runs on this machine and nothing else does) and WAL bytes per
# row (pg_current_wal_lsn before and after). docs/performance.md, "Capacity", has the model and
# this machine's figures; run it on a larger machine to redo them there.
#
#   bench/capacity_postgres.sh [ROWS]
# ROWS defaults to 1000000. Environment: CAPACITY_PROCESSES ("1 2 4"), CAPACITY_VALUES ("uniform
# mixed"), CAPACITY_REPEAT (2), AB_BUILD_DIR (build/release) for udmg-reencrypt-bench. The
# server at UDMG_TEST_POSTGRES_URL, or a throwaway one (scripts/postgres.sh, fsync off) stopped
# at exit. Every re-encrypting run is verified (exit 5 when one is not). Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
[[ $rows =~ ^[1-9][0-9]*$ ]] || { echo "capacity_postgres.sh: usage: [ROWS]" >&2; exit 2; }
if [[ -z ${UDMG_TEST_POSTGRES_URL:-} ]]; then
  exec scripts/postgres.sh run -- "$0" "$rows"
fi
source scripts/bench-common.sh
bench=${AB_BUILD_DIR:-build/release}/bench/udmg-reencrypt-bench
server=${UDMG_TEST_POSTGRES_URL%/*}
run_db=$server/udmg_capacity_run
cleanup() {
  pg_sql "$UDMG_TEST_POSTGRES_URL" "DROP DATABASE IF EXISTS udmg_capacity_run WITH (FORCE)" || true
  pg_sql "$UDMG_TEST_POSTGRES_URL" "DROP DATABASE IF EXISTS udmg_capacity_dataset WITH (FORCE)" ||
    true
}
trap cleanup EXIT
# CPU seconds the whole machine spent busy (user, nice, system, irq, softirq).
machine_busy() { awk '/^cpu /{print ($2 + $3 + $4 + $7 + $8) / 100}' /proc/stat; }
wal_lsn() { psql -X -qAt -d "$run_db" -c "SELECT pg_current_wal_lsn()"; }

read -r -a processes <<<"${CAPACITY_PROCESSES:-1 2 4}"
printf '%-8s %-11s %8s %9s %12s %12s %10s\n' values mode seconds rows/s \
  "client µs/r" "server µs/r" "WAL B/r"
for values in ${CAPACITY_VALUES:-uniform mixed}; do
  new_values_dataset "$bench" postgresql "$rows" "" udmg_capacity_dataset "$values" 2>/dev/null
  for ((i = 1; i <= ${CAPACITY_REPEAT:-2}; i++)); do
    for mode in sql "${processes[@]/#/pipeline-}"; do
      [[ $mode == pipeline-1 ]] && mode=pipeline
      pg_recreate_database "$UDMG_TEST_POSTGRES_URL" udmg_capacity_run udmg_capacity_dataset
      pg_sql "$run_db" "CHECKPOINT"
      lsn_before=$(wal_lsn) busy_before=$(machine_busy)
      if [[ $mode == sql ]]; then
        line=$("$bench" --values "$values" run sql "$run_db")
      else
        line=$("$bench" --values "$values" run "$mode" "$run_db" 1000 4 $((rows / 20 + 1)))
      fi
      busy_after=$(machine_busy) lsn_after=$(wal_lsn)
      wal=$(psql -X -qAt -d "$run_db" -c "SELECT pg_wal_lsn_diff('$lsn_after', '$lsn_before')")
      if [[ $mode != sql ]]; then
        "$bench" --values "$values" verify "$run_db" "$rows" 2 >/dev/null ||
          { echo "capacity_postgres.sh: verify failed after $mode" >&2; exit 5; }
      fi
      python3 - "$values" "$mode" "$rows" "$busy_before" "$busy_after" "$wal" "$line" <<'PY'
import json, sys
values, mode, rows, before, after, wal, line = sys.argv[1:]
run, rows = json.loads(line), int(rows)
client = run["cpu_seconds"]
server = float(after) - float(before) - client
print(f"{values:<8} {mode:<11} {run['seconds']:8.3f} {run['rows_per_second']:9d} "
      f"{client / rows * 1e6:12.2f} {server / rows * 1e6:12.2f} {float(wal) / rows:10.0f}")
PY
    done
  done
done
