#!/usr/bin/env bash
# Builds and runs every test: a release build, then the same suite under AddressSanitizer and
# UndefinedBehaviorSanitizer, then the pipeline tests under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== release build and tests"
scripts/build.sh build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
ctest --test-dir build/release --output-on-failure -j"$jobs"

echo "== address,undefined sanitizers"
scripts/build.sh build/asan -DCMAKE_BUILD_TYPE=Debug -DUDMG_SANITIZE=address,undefined
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j"$jobs"

echo "== thread sanitizer: pipeline tests"
scripts/build.sh build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUDMG_SANITIZE=thread
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build/tsan -L pipeline --output-on-failure -j"$jobs"
