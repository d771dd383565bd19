# Sourced (not run) by the benchmark scripts — scripts/soak.sh, scripts/bench.sh,
# scripts/bench-postgres.sh, bench/ab_rotate.sh — from the project's root: what they share. Defines
# a variable and functions only.

# The benchmark's K0 (bench/e2e_dataset.cc kBenchRootKeyHex): not a secret, the data is thrown
# away. Export it as UDMG_SECURITY_PASSPHRASE_KEY to run udmg-server on a benchmark dataset.
bench_root_key_hex=0b5e1c7a9f3d2e4b6a8c0d1f2e3b4a5c6d7e8f90a1b2c3d4e5f60718293a4b5c

# read_bench_settings: the settings scripts/bench.sh and scripts/bench-postgres.sh share, from the
# environment their headers describe, into build, batch, in_flight, repeat and naive_max.
read_bench_settings() {
  build=${BENCH_BUILD_DIR:-build/release}
  batch=${BENCH_BATCH_SIZE:-1000}
  in_flight=${BENCH_IN_FLIGHT:-4}
  repeat=${BENCH_REPEAT:-3}
  naive_max=${BENCH_NAIVE_MAX_ROWS:-1000000}
}

# pg_sql URL STATEMENT: runs one statement on the database at URL, quietly; exits non-zero on an
# error.
pg_sql() {
  PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "$2" \
    >/dev/null
}

# pg_recreate_database ADMIN_URL NAME [TEMPLATE]: drops the database NAME on ADMIN_URL's server if
# it exists and creates it again, empty or as a copy of the database TEMPLATE.
pg_recreate_database() {
  local admin_url=$1 name=$2 template=${3:-}
  pg_sql "$admin_url" "DROP DATABASE IF EXISTS $name WITH (FORCE)"
  pg_sql "$admin_url" "CREATE DATABASE $name${template:+ TEMPLATE $template}"
}

# generate_values_dataset BENCH DATABASE ROWS: DATABASE — a SQLite file path (replaced), or the
# postgresql:// URL of an empty database — gets ROWS 64-byte values under master v1 with v2
# active (BENCH is udmg-reencrypt-bench; its output goes to stderr). On PostgreSQL then
# VACUUM (FREEZE, ANALYZE) and a CHECKPOINT, so no run pays for hint bits or missing statistics.
generate_values_dataset() {
  local bench=$1 database=$2 rows=$3
  if [[ $database == postgres*://* ]]; then
    "$bench" generate-values "$database" "$rows" >&2
    pg_sql "$database" "VACUUM (FREEZE, ANALYZE) credentials"
    pg_sql "$database" "CHECKPOINT"
  else
    rm -f "$database" "$database"-*  # with its -wal, -shm or -journal file
    "$bench" generate-values "$database" "$rows" >&2
  fi
}

# new_values_dataset BENCH BACKEND ROWS FILE NAME: a values dataset of ROWS rows
# (generate_values_dataset) made anew for BACKEND: in the SQLite file FILE (sqlite), or in the
# database NAME, created anew on the server of UDMG_TEST_POSTGRES_URL (postgresql).
new_values_dataset() {
  local bench=$1 backend=$2 rows=$3 file=$4 name=$5
  if [[ $backend == sqlite ]]; then
    generate_values_dataset "$bench" "$file" "$rows"
  else
    pg_recreate_database "$UDMG_TEST_POSTGRES_URL" "$name"
    generate_values_dataset "$bench" "${UDMG_TEST_POSTGRES_URL%/*}/$name" "$rows"
  fi
}

# record_bench_run RESULTS ROWS BENCH ARGS...: one `BENCH run ARGS...` (udmg-reencrypt-bench); its
# JSON line goes to stderr and, with "size": ROWS added, to the JSON-lines file RESULTS.
record_bench_run() {
  local results=$1 rows=$2 bench=$3 line
  shift 3
  line=$("$bench" run "$@")
  echo "$line" >&2
  echo "{\"size\":$rows,${line#\{}" >>"$results"
}
