#!/usr/bin/env bash
# Soak: re-encryption of millions of rows by the real udmg-server, memory sampled over time
# (figures in docs/performance.md). Not run in CI.
#
#   scripts/soak.sh [--backend sqlite|postgresql] [ROWS ...]     default: sqlite, 1000000 10000000
# Bad arguments (a backend other than sqlite|postgresql, ROWS not a positive integer): exit 2. A
# failed verify: exit 5.
#
# For each size and each value mix of SOAK_VALUES (default "uniform mixed": 64-byte values, and
# the sizes a real table holds, bench/e2e_dataset.h): the benchmark dataset
# (udmg-reencrypt-bench generate-values: values under master v1, v2 active, the bench's fixed K0;
# not timed), then, as an operator would, on a copy of it,
#   udmg-server rotate-master-key --reencrypt --metrics-listen 127.0.0.1:0
# under bench/soak_sampler.py, which records VmRSS/VmHWM and the migrated-rows counter every
# SOAK_INTERVAL seconds (default 1), then `udmg-server verify` (must exit 0 with every value on
# v3) and the benchmark's own check that every value decrypts to its plaintext. Then, each once on
# a fresh copy of the same dataset and verified, the modes of SOAK_MODES (default "floor rewrite
# sql pipeline command python": scripts/bench.sh describes them; "" runs none), so the soak's
# sizes have the floor and the peer beside the engine too.
# PostgreSQL: the server at UDMG_TEST_POSTGRES_URL, or a throwaway one (scripts/postgres.sh, fsync
# off) stopped at exit. The dataset lives in a database udmg_soak_dataset, each run in a copy of it,
# udmg_soak, both dropped at exit.
# Output: SOAK_OUT (default a new /tmp/udmg-soak.XXXXXX) holds samples-BACKEND-VALUES-ROWS.jsonl,
# summary.jsonl (its "backend" is "BACKEND, VALUES", so each mix has its own peak RSS ratio) and
# modes.jsonl; the modes' table (bench/bench_results.py), then the soak's table and the peak RSS
# ratio (largest size / smallest, PASS <= 1.10) go to stdout. Environment: SOAK_BUILD_DIR
# (build/release), SOAK_SKIP_BUILD, SOAK_INTERVAL, SOAK_VALUES, SOAK_MODES, and for the modes
# BENCH_BATCH_SIZE (1000), BENCH_IN_FLIGHT (4) and BENCH_PYTHON (scripts/bench.sh).
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
read -r -a value_mixes <<<"${SOAK_VALUES:-uniform mixed}"
for values in "${value_mixes[@]}"; do
  [[ $values == uniform || $values == mixed ]] || {
    echo "soak.sh: SOAK_VALUES must name uniform and/or mixed, got '$values'" >&2
    exit 2
  }
done
read -r -a modes <<<"${SOAK_MODES-floor rewrite sql pipeline command python}"
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
# batch, in_flight and peer_python for the modes; value_mixes is the soak's own (SOAK_VALUES).
soak_mixes=("${value_mixes[@]}")
read_bench_settings
value_mixes=("${soak_mixes[@]}")
export UDMG_SECURITY_PASSPHRASE_KEY=$bench_root_key_hex
: >"$out/modes.jsonl"

sql() { pg_sql "$UDMG_TEST_POSTGRES_URL" "$1"; }
cleanup() {
  rm -rf "$work"
  if [[ $backend == postgresql ]]; then
    sql "DROP DATABASE IF EXISTS udmg_soak WITH (FORCE)" || true
    sql "DROP DATABASE IF EXISTS udmg_soak_dataset WITH (FORCE)" || true
  fi
}
trap cleanup EXIT

# new_dataset ROWS VALUES: the dataset every run of this size and mix copies (fresh_copy).
new_dataset() {
  new_values_dataset "$bench" "$backend" "$1" "$work/dataset.db" udmg_soak_dataset "$2"
}

# fresh_copy: a copy of the dataset to run on; db is its udmg-server --db, bench_db the
# udmg-reencrypt-bench DB (a file path or the URL).
fresh_copy() {
  if [[ $backend == sqlite ]]; then
    rm -f "$work/soak.db" "$work/soak.db"-*
    cp "$work/dataset.db" "$work/soak.db"
    db=sqlite:$work/soak.db
    bench_db=$work/soak.db
  else
    pg_recreate_database "$UDMG_TEST_POSTGRES_URL" udmg_soak udmg_soak_dataset
    db=${UDMG_TEST_POSTGRES_URL%/*}/udmg_soak
    bench_db=$db
  fi
}

# run_modes ROWS VALUES: each mode of SOAK_MODES once on a fresh copy, recorded in modes.jsonl and
# verified (the re-encrypting modes: every row under v2; floor and rewrite: still under v1).
run_modes() {
  local rows=$1 values=$2 mode
  for mode in "${modes[@]}"; do
    echo "== $backend, $rows rows, $values values: $mode" >&2
    fresh_copy
    case $mode in
      command | python)
        run_timed_mode "$out/modes.jsonl" "$rows" "$values" "$mode" "$db" "$server" "$bench_db"
        ;;
      *)
        record_bench_run "$out/modes.jsonl" "$rows" "$values" "$bench" "$mode" "$bench_db" \
          "$batch" "$in_flight"
        ;;
    esac
    case $mode in
      floor* | rewrite) "$bench" --values "$values" verify "$bench_db" "$rows" 1 ;;
      sql | pgcrypto) ;;
      *) "$bench" --values "$values" verify "$bench_db" "$rows" 2 ;;
    esac
  done
}

for rows in "${sizes[@]}"; do
  for values in "${value_mixes[@]}"; do
    echo "== $backend, $rows rows, $values values: generating the dataset (not timed)" >&2
    new_dataset "$rows" "$values"
    fresh_copy
    samples=$out/samples-$backend-$values-$rows.jsonl
    echo "== $backend, $rows rows, $values values: rotate-master-key --reencrypt" >&2
    summary=$(python3 "$sampler" run --rows "$rows" --samples "$samples" \
      --interval "${SOAK_INTERVAL:-1}" -- \
      "$server" --db "$db" rotate-master-key --reencrypt --metrics-listen 127.0.0.1:0 \
        --metrics-linger 0)
    echo "== $backend, $rows rows, $values values: verify" >&2
    verify=FAIL
    if report=$("$server" --db "$db" verify) && echo "$report" >&2 &&
      grep -qx "credentials.secret: ok $rows (v3 $rows), plaintext 0, failed 0" <<<"$report" &&
      "$bench" --values "$values" verify "$bench_db" "$rows" 3; then
      verify=PASS
    fi
    labelled="{\"backend\":\"$backend, $values\",\"values\":\"$values\",\"verify\":\"$verify\","
    echo "$labelled${summary#\{}" >>"$out/summary.jsonl"
    [[ $verify == PASS ]] || { echo "soak.sh: verify failed at $rows rows ($values)" >&2; exit 5; }
    run_modes "$rows" "$values"
  done
done

if [[ -s $out/modes.jsonl ]]; then
  python3 bench/bench_results.py "$backend" "$out/modes.jsonl"
  echo
fi
python3 "$sampler" report "$out/summary.jsonl"
echo "samples and summary: $out" >&2
