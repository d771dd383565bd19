#!/usr/bin/env bash
# Soak: re-encryption of millions of rows by the real udmg-server, memory sampled over time
# (figures in docs/performance.md). Not run in CI.
#
#   scripts/soak.sh [--backend sqlite|postgresql] [ROWS ...]     default: sqlite, 1000000 10000000
# Bad arguments (a backend other than sqlite|postgresql, ROWS not a positive integer): exit 2. A
# failed verify: exit 5.
#
# For each size: the benchmark dataset (udmg-reencrypt-bench generate-values: 64-byte values
# under master v1, v2 active, the bench's fixed K0; not timed), then, as an operator would,
#   udmg-server rotate-master-key --reencrypt --metrics-listen 127.0.0.1:0
# under bench/soak_sampler.py, which records VmRSS/VmHWM and the migrated-rows counter every
# SOAK_INTERVAL seconds (default 1), then `udmg-server verify` (must exit 0 with every value on
# v3) and the benchmark's own check that every value decrypts to its plaintext.
# PostgreSQL: the server at UDMG_TEST_POSTGRES_URL, or a throwaway one (scripts/postgres.sh, fsync
# off) stopped at exit. The dataset lives in a database udmg_soak, dropped at exit.
# Output: SOAK_OUT (default a new /tmp/udmg-soak.XXXXXX) holds samples-BACKEND-ROWS.jsonl and
# summary.jsonl; the table and the peak RSS ratio (largest size / smallest, PASS <= 1.10) go to
# stdout. Environment: SOAK_BUILD_DIR (build/release), SOAK_SKIP_BUILD, SOAK_INTERVAL.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${SOAK_BACKEND:-sqlite}
if [[ ${1:-} == --backend ]]; then
  backend=$2
  shift 2
fi
[[ $backend == sqlite || $backend == postgresql ]] || {
  echo "soak.sh: --backend must be sqlite or postgresql" >&2
  exit 2
}
sizes=("$@")
((${#sizes[@]})) || sizes=(1000000 10000000)
for rows in "${sizes[@]}"; do
  [[ $rows =~ ^[1-9][0-9]*$ ]] || {
    echo "soak.sh: ROWS must be a positive integer, got '$rows'" >&2
    exit 2
  }
done
build=${SOAK_BUILD_DIR:-build/release}

if [[ -z ${SOAK_SKIP_BUILD:-} ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" --target udmg-server udmg-reencrypt-bench -j2 >/dev/null
fi
if [[ $backend == postgresql && -z ${UDMG_TEST_POSTGRES_URL:-} ]]; then
  SOAK_SKIP_BUILD=1 exec scripts/postgres.sh run -- "$0" --backend postgresql "${sizes[@]}"
fi

server=$PWD/$build/cli/udmg-server
bench=$PWD/$build/bench/udmg-reencrypt-bench
sampler=$PWD/bench/soak_sampler.py
out=${SOAK_OUT:-$(mktemp -d /tmp/udmg-soak.XXXXXX)}
mkdir -p "$out"
work=$(mktemp -d /tmp/udmg-soak-data.XXXXXX)
source scripts/bench-common.sh
export UDMG_SECURITY_PASSPHRASE_KEY=$bench_root_key_hex

sql() { pg_sql "$UDMG_TEST_POSTGRES_URL" "$1"; }
cleanup() {
  rm -rf "$work"
  if [[ $backend == postgresql ]]; then sql "DROP DATABASE IF EXISTS udmg_soak WITH (FORCE)" || true; fi
}
trap cleanup EXIT

fresh_dataset() {
  local rows=$1
  new_values_dataset "$bench" "$backend" "$rows" "$work/soak.db" udmg_soak
  if [[ $backend == sqlite ]]; then
    db=sqlite:$work/soak.db
  else
    db=${UDMG_TEST_POSTGRES_URL%/*}/udmg_soak
  fi
}

for rows in "${sizes[@]}"; do
  echo "== $backend, $rows rows: generating the dataset (not timed)" >&2
  fresh_dataset "$rows"
  samples=$out/samples-$backend-$rows.jsonl
  echo "== $backend, $rows rows: rotate-master-key --reencrypt" >&2
  summary=$(python3 "$sampler" run --rows "$rows" --samples "$samples" \
    --interval "${SOAK_INTERVAL:-1}" -- \
    "$server" --db "$db" rotate-master-key --reencrypt --metrics-listen 127.0.0.1:0 \
      --metrics-linger 0)
  echo "== $backend, $rows rows: verify" >&2
  verify=FAIL
  if report=$("$server" --db "$db" verify) && echo "$report" >&2 &&
    grep -qx "credentials.secret: ok $rows (v3 $rows), plaintext 0, failed 0" <<<"$report" &&
    "$bench" verify "${db#sqlite:}" "$rows" 3; then
    verify=PASS
  fi
  echo "{\"backend\":\"$backend\",\"verify\":\"$verify\",${summary#\{}" >>"$out/summary.jsonl"
  [[ $verify == PASS ]] || { echo "soak.sh: verify failed at $rows rows" >&2; exit 5; }
done

python3 "$sampler" report "$out/summary.jsonl"
echo "samples and summary: $out" >&2
