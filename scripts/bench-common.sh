# Sourced (not run) by the benchmark scripts — scripts/soak.sh, scripts/bench.sh,
# scripts/bench-postgres.sh, bench/ab_rotate.sh — from the project's root: what they share. Defines
# a variable and functions only.

# The benchmark's K0 (bench/e2e_dataset.cc kBenchRootKeyHex): not a secret, the data is thrown
# away. Export it as UDMG_SECURITY_PASSPHRASE_KEY to run udmg-server on a benchmark dataset.
bench_root_key_hex=0b5e1c7a9f3d2e4b6a8c0d1f2e3b4a5c6d7e8f90a1b2c3d4e5f60718293a4b5c

# read_bench_settings: the settings scripts/bench.sh and scripts/bench-postgres.sh share, from the
# environment their headers describe, into build, batch, in_flight, repeat, naive_max,
# value_mixes (an array, from BENCH_VALUES: "uniform mixed" by default) and peer_python.
read_bench_settings() {
  build=${BENCH_BUILD_DIR:-build/release}
  batch=${BENCH_BATCH_SIZE:-1000}
  in_flight=${BENCH_IN_FLIGHT:-4}
  repeat=${BENCH_REPEAT:-3}
  naive_max=${BENCH_NAIVE_MAX_ROWS:-1000000}
  read -r -a value_mixes <<<"${BENCH_VALUES:-uniform mixed}"
  local mix
  for mix in "${value_mixes[@]}"; do
    [[ $mix == uniform || $mix == mixed ]] || {
      echo "BENCH_VALUES: uniform and/or mixed, got '$mix'" >&2
      exit 2
    }
  done
  # The interpreter the Debian packages python3-cryptography and python3-psycopg2 install into
  # (scripts/setup.sh), even when another python3 comes first on PATH.
  peer_python=${BENCH_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
}

# runs_of MODE ROWS: how many times MODE runs on ROWS rows (after read_bench_settings): BENCH_REPEAT
# times, the per-row autocommit loop (naive) once, and not at all above BENCH_NAIVE_MAX_ROWS.
runs_of() {
  if [[ $1 != naive ]]; then
    echo "$repeat"
  elif (($2 <= naive_max)); then
    echo 1
  else
    echo 0
  fi
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

# generate_values_dataset BENCH DATABASE ROWS [VALUES]: DATABASE — a SQLite file path (replaced),
# or the postgresql:// URL of an empty database — gets ROWS values of the mix VALUES (uniform, the
# default: 64 bytes each; or mixed) under master v1 with v2 active (BENCH is udmg-reencrypt-bench;
# its output goes to stderr). On PostgreSQL then VACUUM (FREEZE, ANALYZE) and a CHECKPOINT, so no
# run pays for hint bits or missing statistics.
generate_values_dataset() {
  local bench=$1 database=$2 rows=$3 values=${4:-uniform}
  if [[ $database == postgres*://* ]]; then
    "$bench" --values "$values" generate-values "$database" "$rows" >&2
    pg_sql "$database" "VACUUM (FREEZE, ANALYZE) credentials"
    pg_sql "$database" "CHECKPOINT"
  else
    rm -f "$database" "$database"-*  # with its -wal, -shm or -journal file
    "$bench" --values "$values" generate-values "$database" "$rows" >&2
  fi
}

# new_values_dataset BENCH BACKEND ROWS FILE NAME [VALUES]: a values dataset of ROWS rows
# (generate_values_dataset) made anew for BACKEND: in the SQLite file FILE (sqlite), or in the
# database NAME, created anew on the server of UDMG_TEST_POSTGRES_URL (postgresql).
new_values_dataset() {
  local bench=$1 backend=$2 rows=$3 file=$4 name=$5 values=${6:-uniform}
  if [[ $backend == sqlite ]]; then
    generate_values_dataset "$bench" "$file" "$rows" "$values"
  else
    pg_recreate_database "$UDMG_TEST_POSTGRES_URL" "$name"
    generate_values_dataset "$bench" "${UDMG_TEST_POSTGRES_URL%/*}/$name" "$rows" "$values"
  fi
}

# record_line RESULTS ROWS VALUES LINE: the JSON object LINE goes to stderr and, with "size": ROWS
# and "values": VALUES added, to the JSON-lines file RESULTS.
record_line() {
  echo "$4" >&2
  echo "{\"size\":$2,\"values\":\"$3\",${4#\{}" >>"$1"
}

# record_bench_run RESULTS ROWS VALUES BENCH ARGS...: one `BENCH --values VALUES run ARGS...`
# (udmg-reencrypt-bench), recorded (record_line).
record_bench_run() {
  local results=$1 rows=$2 values=$3 bench=$4 line
  shift 4
  line=$("$bench" --values "$values" run "$@")
  record_line "$results" "$rows" "$values" "$line"
}

# record_timed_run RESULTS ROWS VALUES MODE COMMAND...: runs COMMAND (its stdout to stderr) and
# records (record_line) what `udmg-reencrypt-bench run` reports for its own modes: MODE, ROWS, the
# wall time from start to exit, the CPU time and peak RSS of COMMAND and its children. The modes
# that run a whole program (command, python) so count its start-up and key loading too.
record_timed_run() {
  local results=$1 rows=$2 values=$3 mode=$4 line
  shift 4
  line=$(python3 -c '
import json, resource, subprocess, sys, time
mode, rows, command = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
start = time.monotonic()
subprocess.run(command, check=True, stdout=sys.stderr)
seconds = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"mode": mode, "rows": rows, "seconds": round(seconds, 3),
                  "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
                  "rows_per_second": round(rows / seconds), "peak_rss_kib": usage.ru_maxrss},
                 separators=(",", ":")))' "$mode" "$rows" "$@")
  record_line "$results" "$rows" "$values" "$line"
}

# run_timed_mode RESULTS ROWS VALUES MODE DB SERVER BENCH_URL: the modes that run a whole program
# on the dataset, recorded (record_timed_run) — command: `udmg-server reencrypt` (SERVER) as an
# operator runs it on DB (sqlite:PATH or a postgresql:// URL); python: bench/python_peer.py on
# BENCH_URL (the file path or the URL). Both with the settings of read_bench_settings and the
# bench's K0.
run_timed_mode() {
  local results=$1 rows=$2 values=$3 mode=$4 db=$5 server=$6 bench_url=$7
  case $mode in
    command)
      UDMG_SECURITY_PASSPHRASE_KEY=$bench_root_key_hex record_timed_run "$results" "$rows" \
        "$values" command "$server" --db "$db" reencrypt --batch-size "$batch" \
        --batches-in-flight "$in_flight" --no-progress
      ;;
    python)
      UDMG_SECURITY_PASSPHRASE_KEY=$bench_root_key_hex record_timed_run "$results" "$rows" \
        "$values" python "$peer_python" bench/python_peer.py "$bench_url" "$batch"
      ;;
  esac
}
