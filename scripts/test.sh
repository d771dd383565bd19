#!/usr/bin/env bash
# Builds and runs every test on both backends: a release build (then packaged, installed, run and
# purged: scripts/package-test.sh), then the same suite under
# AddressSanitizer and UndefinedBehaviorSanitizer, then the tests that start threads
# (labels pipeline, threads) under ThreadSanitizer with an instrumented oneTBB,
# then every libFuzzer harness for a bounded time (scripts/fuzz.sh, UDMG_FUZZ_SECONDS each).
# Each test that touches a database runs on SQLite and on a throwaway PostgreSQL 15 started here
# (scripts/postgres.sh: loopback, a free port, its own temp directory) and stopped at exit, also on
# failure or Ctrl-C. UDMG_REQUIRE_POSTGRES=1 makes a PostgreSQL test that cannot reach the server
# fail instead of skip. With UDMG_TEST_POSTGRES_URL already set, that server is used instead.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

if [[ -z ${UDMG_TEST_POSTGRES_URL:-} ]]; then
  eval "$(scripts/postgres.sh start)"
  trap 'scripts/postgres.sh stop "$UDMG_TEST_POSTGRES_DIR"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
fi
export UDMG_TEST_POSTGRES_URL UDMG_REQUIRE_POSTGRES=1
# The metrics tests drive real promtool, Prometheus, Pushgateway and node_exporter binaries
# (scripts/setup.sh installs them): missing ones fail here instead of skipping. So does Python's
# cryptography, the independent implementation of the interop tests.
export UDMG_REQUIRE_METRICS_TOOLS=1 UDMG_REQUIRE_PYTHON=1
# The one known leak (libpqxx 6.4 drops libpq's PGresult when a connection breaks mid-query),
# suppressed by name for every test and every udmg-server they start; see the file.
# After each ctest stage, scripts/check-test-log.py fails the run if its log shows a test's key,
# and scripts/check-skips.py if a test skipped outside its allowlist (ctest counts a skip as a
# pass). --no-tests=error: a stage that finds no test at all fails too.
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-libpq.supp:print_suppressions=0"

echo "== release build and tests (SQLite and PostgreSQL)"
scripts/build.sh build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUDMG_WERROR=ON
ctest --test-dir build/release --no-tests=error --output-on-failure -j"$jobs"
scripts/check-test-log.py build/release
scripts/check-skips.py build/release

# The release build, packaged: no second build (scripts/package-test.sh, docs/install.md).
echo "== Debian package: cpack, dpkg -i, runbook with the installed binary, units, purge"
scripts/package-test.sh build/release

echo "== address,undefined sanitizers (SQLite and PostgreSQL)"
scripts/build.sh build/asan -DCMAKE_BUILD_TYPE=Debug -DUDMG_SANITIZE=address,undefined -DUDMG_WERROR=ON
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --no-tests=error --output-on-failure -j"$jobs"
scripts/check-test-log.py build/asan
scripts/check-skips.py build/asan

# The tests that start threads: the pipeline's, and those labelled threads (library, metrics
# exposer and registry, the job's HTTP outputs and control routes, the job runner with sweep).
# They run with a oneTBB built with TSan from Debian's source of the installed version
# (scripts/tsan-tbb.sh, kept in build/tbb-tsan), so that races between flow-graph stage bodies are
# reported too; no report is suppressed.
echo "== thread sanitizer: pipeline and threaded tests (SQLite and PostgreSQL)"
tbb_tsan=$(scripts/tsan-tbb.sh build/tbb-tsan)
UDMG_BUILD_TARGETS=udmg_tsan_tests \
  scripts/build.sh build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUDMG_SANITIZE=thread \
    -DUDMG_WERROR=ON -DUDMG_TBB_LIBRARY_DIR="$tbb_tsan"
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build/tsan -L 'pipeline|threads' --no-tests=error \
  --output-on-failure -j"$jobs"
scripts/check-test-log.py build/tsan
scripts/check-skips.py build/tsan

# Each harness on its committed corpus for a few seconds, two at a time: any crash, leak,
# sanitizer report or failed property fails the run (docs/fuzzing.md; scripts/fuzz.sh 3600 for
# a long run).
fuzz_seconds=${UDMG_FUZZ_SECONDS:-15}
echo "== fuzzing: every harness for $fuzz_seconds s"
scripts/fuzz.sh "$fuzz_seconds"
