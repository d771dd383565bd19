#!/usr/bin/env bash
# Builds oneTBB's libtbb.so.12 with ThreadSanitizer, from the Debian source of the very version
# installed, into OUT_DIR/lib (default build/tbb-tsan), and prints that directory:
#   scripts/tsan-tbb.sh [OUT_DIR]
# Debian's libtbb is not instrumented, so TSan cannot see the synchronization inside it (task
# spawning, wait_for_all) and would report the flow graph's hand-offs between stage bodies as
# races; with this library it sees them, and a real race between two stage bodies is reported
# (docs/reencryption.md, "ThreadSanitizer"). The TSan build of scripts/test.sh links against it
# (-DUDMG_TBB_LIBRARY_DIR). Kept across runs: rebuilt only when the installed version changes.
# The source comes from Debian's archive through a private apt configuration under OUT_DIR
# (deb-src lines derived from the system's Debian sources), so the system's apt is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build/tbb-tsan}")
version=$(dpkg-query -W -f '${Version}' libtbb-dev)
if [[ -f $out/lib/libtbb.so.12 && $(cat "$out/version" 2>/dev/null) == "$version" ]]; then
  echo "$out/lib"
  exit 0
fi
rm -rf "$out"
mkdir -p "$out/apt/sources.list.d" "$out/apt/lists/partial" "$out/apt/cache/archives/partial" \
  "$out/src"
log=$out/build.log

# deb-src entries for the Debian archives the system installs from (deb822 and one-line forms).
shopt -s nullglob
for file in /etc/apt/sources.list.d/*.sources; do
  grep -q 'debian\.org' "$file" || continue
  sed 's/^Types: .*/Types: deb-src/' "$file" >"$out/apt/sources.list.d/$(basename "$file")"
done
for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [[ -f $file ]] || continue
  grep -E '^deb .*debian\.org' "$file" | sed 's/^deb /deb-src /' \
    >>"$out/apt/sources.list.d/debian-src.list" || true
done
apt_options=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$out/apt/sources.list.d"
  -o "Dir::State::Lists=$out/apt/lists" -o "Dir::Cache=$out/apt/cache"
  -o APT::Sandbox::User=root -q)

fail() {
  tail -30 "$log" >&2
  echo "tsan-tbb: $1 (full log: $log)" >&2
  exit 1
}
apt-get "${apt_options[@]}" update >>"$log" 2>&1 || fail "apt-get update of the deb-src lists failed"
(cd "$out/src" && apt-get "${apt_options[@]}" source "onetbb=$version") >>"$log" 2>&1 ||
  fail "fetching the source of onetbb $version failed"
source_dir=$(find "$out/src" -mindepth 1 -maxdepth 1 -type d -name 'onetbb-*' | head -1)
[[ -n $source_dir ]] || fail "no onetbb source directory after apt-get source"

# Only the core library: tbbmalloc and the tests are not needed, the flow graph is header-only.
cmake -S "$source_dir" -B "$out/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTBB_SANITIZE=thread -DTBB_TEST=OFF -DTBB_EXAMPLES=OFF -DTBB_STRICT=OFF -DTBBMALLOC_BUILD=OFF \
  >>"$log" 2>&1 || fail "configuring oneTBB failed"
cmake --build "$out/build" --target tbb -j"$(nproc)" >>"$log" 2>&1 || fail "building oneTBB failed"
library=$(find "$out/build" -name 'libtbb.so.12*' -type f | head -1)
[[ -n $library ]] || fail "the oneTBB build produced no libtbb.so.12"
mkdir -p "$out/lib"
cp "$library" "$out/lib/libtbb.so.12"
ln -sf libtbb.so.12 "$out/lib/libtbb.so"
echo "$version" >"$out/version"
echo "$out/lib"
