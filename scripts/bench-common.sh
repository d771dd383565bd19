# Sourced (not run) by the benchmark scripts — scripts/soak.sh, scripts/bench-postgres.sh,
# bench/ab_rotate.sh — from the project's root: what they share. Defines a variable and functions
# only.

# The benchmark's K0 (bench/e2e_dataset.cc kBenchRootKeyHex): not a secret, the data is thrown
# away. Export it as UDMG_SECURITY_PASSPHRASE_KEY to run udmg-server on a benchmark dataset.
bench_root_key_hex=0b5e1c7a9f3d2e4b6a8c0d1f2e3b4a5c6d7e8f90a1b2c3d4e5f60718293a4b5c

# pg_sql URL STATEMENT: runs one statement on the database at URL, quietly; exits non-zero on an
# error.
pg_sql() {
  PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "$2" \
    >/dev/null
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
