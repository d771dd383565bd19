#!/usr/bin/env bash
# Builds into BUILD_DIR (default build/release). Extra arguments go to cmake, e.g.
#   scripts/build.sh build/asan -DUDMG_SANITIZE=address,undefined
# UDMG_BUILD_TARGETS="udmg-server ..." builds only those targets (and what they need).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build/release}
shift || true
cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
targets=()
for target in ${UDMG_BUILD_TARGETS:-}; do targets+=(--target "$target"); done
cmake --build "$dir" -j"$(nproc)" "${targets[@]}"
