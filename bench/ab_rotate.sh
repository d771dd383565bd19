#!/usr/bin/env bash
# A/B of two udmg-server binaries on the operator's whole command:
#   udmg-server rotate-master-key --reencrypt --metrics-listen 127.0.0.1:0 --metrics-linger 0 \
#     --no-progress
# (--metrics-linger 0: the listener's default 30 s of serving the final metrics after the job is
# idle time, not the command's work; timed with it, every run measured 30 s more.)
# over the same dataset (udmg-reencrypt-bench generate-values: ROWS values under master v1, v2
# active; 64 bytes each, or with --values mixed the mixed sizes of bench/e2e_dataset.h), RUNS
# times each, alternating A and B so that both see the same machine load.
# Each run starts from a fresh copy of the dataset (a file copy on SQLite, CREATE DATABASE ...
# TEMPLATE on PostgreSQL) and ends with `verify`. Prints each run, the median seconds of A and
# of B, and B / A. Not run in CI.
#
#   bench/ab_rotate.sh [--backend sqlite|postgresql] [--values uniform|mixed] BASELINE CANDIDATE
#                      [ROWS] [RUNS]
# ROWS defaults to 1000000, RUNS to 5. PostgreSQL: the server at UDMG_TEST_POSTGRES_URL, or a
# throwaway one (scripts/postgres.sh, fsync off) stopped at exit. Bad arguments: exit 2; a failed
# verify: exit 5. Environment: AB_BUILD_DIR (build/release) for udmg-reencrypt-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() {
  echo "ab_rotate.sh: usage: [--backend sqlite|postgresql] [--values uniform|mixed] BASELINE" \
    "CANDIDATE [ROWS] [RUNS]" >&2
  exit 2
}
backend=sqlite values=uniform
while [[ ${1:-} == --backend || ${1:-} == --values ]]; do
  case $1 in
    --backend) backend=${2:-} ;;
    --values) values=${2:-} ;;
  esac
  shift 2 || usage
done
[[ $backend == sqlite || $backend == postgresql ]] || usage
[[ $values == uniform || $values == mixed ]] || usage
(($# >= 2 && $# <= 4)) || usage
baseline=$(realpath "$1") candidate=$(realpath "$2") rows=${3:-1000000} runs=${4:-5}
[[ -x $baseline && -x $candidate ]] || usage
[[ $rows =~ ^[1-9][0-9]*$ && $runs =~ ^[1-9][0-9]*$ ]] || usage
if [[ $backend == postgresql && -z ${UDMG_TEST_POSTGRES_URL:-} ]]; then
  exec scripts/postgres.sh run -- "$0" --backend postgresql --values "$values" "$baseline" \
    "$candidate" "$rows" "$runs"
fi
bench=${AB_BUILD_DIR:-build/release}/bench/udmg-reencrypt-bench

source scripts/bench-common.sh
export UDMG_SECURITY_PASSPHRASE_KEY=$bench_root_key_hex

work=$(mktemp -d /tmp/udmg-ab.XXXXXX)
sql() { pg_sql "$UDMG_TEST_POSTGRES_URL" "$1"; }
cleanup() {
  rm -rf "$work"
  if [[ $backend == postgresql ]]; then
    sql "DROP DATABASE IF EXISTS udmg_ab_run WITH (FORCE)" || true
    sql "DROP DATABASE IF EXISTS udmg_ab_dataset WITH (FORCE)" || true
  fi
}
trap cleanup EXIT
new_values_dataset "$bench" "$backend" "$rows" "$work/dataset.db" udmg_ab_dataset "$values"
if [[ $backend == sqlite ]]; then
  db=sqlite:$work/run.db
else
  db=${UDMG_TEST_POSTGRES_URL%/*}/udmg_ab_run
fi

fresh_copy() {
  if [[ $backend == sqlite ]]; then
    rm -f "$work"/run.db*
    cp "$work/dataset.db" "$work/run.db"
    sync
  else
    pg_recreate_database "$UDMG_TEST_POSTGRES_URL" udmg_ab_run udmg_ab_dataset
    sql "CHECKPOINT"
  fi
}

# One timed run of `binary` on a fresh copy of the dataset; prints its seconds.
run_once() {
  local binary=$1
  fresh_copy
  local start end
  start=$(date +%s.%N)
  "$binary" --db "$db" rotate-master-key --reencrypt --no-progress \
    --metrics-listen 127.0.0.1:0 --metrics-linger 0 >/dev/null 2>"$work/stderr" ||
    { cat "$work/stderr" >&2; exit 5; }
  end=$(date +%s.%N)
  "$binary" --db "$db" verify |
    grep -qx "credentials.secret: ok $rows (v3 $rows), plaintext 0, failed 0" ||
    { echo "ab_rotate.sh: verify failed after $binary" >&2; exit 5; }
  python3 -c "print(round($end - $start, 3))"
}

a=() b=()
for ((i = 1; i <= runs; i++)); do
  a+=("$(run_once "$baseline")")
  b+=("$(run_once "$candidate")")
  echo "run $i: A ${a[-1]} s, B ${b[-1]} s" >&2
done
python3 - "${a[*]}" "${b[*]}" <<'EOF'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
ma, mb = statistics.median(a), statistics.median(b)
print(f"median A {ma:.2f} s, median B {mb:.2f} s, B / A = {mb / ma:.3f}")
EOF
