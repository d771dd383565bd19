#!/usr/bin/env bash
# Runs every libFuzzer harness of fuzz/ (docs/fuzzing.md):
#   scripts/fuzz.sh [SECONDS_PER_HARNESS [HARNESS...]]     default 20 s, every harness
# Builds build/fuzz with clang (UDMG_FUZZ=ON: address and undefined-behaviour sanitizers, leak
# detection; warnings as errors): the harnesses and udmg-server with every library it links, the
# build where clang's -Wthread-safety checks the locking (docs/architecture.md). Then runs each harness for that long on a copy of fuzz/corpus/HARNESS/ (the
# committed corpus is never written), plus the seeds taken from ../shared/testdata at run time.
# Runs UDMG_FUZZ_JOBS harnesses at a time (default: one per core). Prints one line per harness
# (executions, coverage, corpus size) and exits non-zero if any harness reported anything: the
# input that did it is kept in build/fuzz/artifacts/, with the command to replay it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
build=build/fuzz
jobs=${UDMG_FUZZ_JOBS:-$(nproc)}

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DUDMG_FUZZ=ON -DUDMG_WERROR=ON \
  -DCMAKE_BUILD_TYPE=Fuzz >/dev/null
if ! cmake --build "$build" --target udmg_fuzzers udmg-server -j"$(nproc)" >"$build/build.log" 2>&1; then
  tail -50 "$build/build.log"
  echo "fuzz: building the harnesses failed (full log: $build/build.log)" >&2
  exit 1
fi

if (($#)); then
  harnesses=("$@")
else
  harnesses=()
  for source in fuzz/*_fuzzer.cc; do harnesses+=("$(basename "$source" .cc)"); done
fi
for name in "${harnesses[@]}"; do
  [[ -x $build/fuzz/$name ]] || { echo "fuzz: no harness $name in $build/fuzz" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/udmg-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
artifacts="$PWD/$build/artifacts"
mkdir -p "$artifacts"
testdata=${UDMG_TESTDATA_DIR:-$PWD/../shared/testdata}

# Every finding stops the run with a report: leaks, UBSan (halt_on_error), ASan, a FUZZ_CHECK,
# a timeout (10 s for one input) or running out of memory.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=report_objects=1

run_one() {
  local name=$1 dir="$work/$1"
  mkdir -p "$dir/corpus"
  if [[ -d fuzz/corpus/$name ]]; then cp -r "fuzz/corpus/$name/." "$dir/corpus/"; fi
  if [[ $name == fernet_fuzzer && -d $testdata/fernet ]]; then
    # A seed step that fails fails the harness: it would otherwise run without the spec's tokens.
    if ! python3 fuzz/make_seeds.py --testdata "$testdata" "$work/testdata" >"$dir/log" 2>&1 ||
      ! cp -r "$work/testdata/$name/." "$dir/corpus/" >>"$dir/log" 2>&1; then
      echo "fuzz: the seeds from $testdata/fernet could not be made or copied" >>"$dir/log"
      echo 1 >"$dir/status"
      return
    fi
  fi
  local status=0
  "$build/fuzz/$name" "$dir/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 \
    -error_exitcode=77 -timeout_exitcode=78 -detect_leaks=1 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$name-" >"$dir/log" 2>&1 || status=$?
  echo "$status" >"$dir/status"
}

running=0
for name in "${harnesses[@]}"; do
  run_one "$name" &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=0
for name in "${harnesses[@]}"; do
  dir="$work/$name"
  status=$(cat "$dir/status")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$dir/log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$dir/log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  if [[ $status == 0 ]]; then
    printf '%-24s ok      %10s execs in %ss (%s/s)  cov %s  ft %s  corpus %s  rss %s MB\n' \
      "$name" "${execs:-?}" "$seconds" "$(( ${execs:-0} / (seconds > 0 ? seconds : 1) ))" \
      "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}"
  else
    failed=1
    printf '%-24s FAILED  (exit %s) after %s execs\n' "$name" "$status" "${execs:-?}"
    grep -E 'ERROR:|FUZZ_CHECK|runtime error|SUMMARY|Test unit written|^fuzz:' "$dir/log" |
      head -8 |
      sed 's/^/    /'
    artifact=$(sed -n 's/.*Test unit written to \([^ ]*\).*/\1/p' "$dir/log" | tail -1)
    [[ -n $artifact ]] && echo "    replay: $build/fuzz/$name $artifact"
    cp "$dir/log" "$artifacts/$name.log"
    echo "    full log: $artifacts/$name.log"
  fi
done
exit "$failed"
