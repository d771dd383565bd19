#!/usr/bin/env bash
# The main job on the embedded default (SQLite), in a fresh directory: init, fill, rotate with
# --reencrypt (the root key K0, then the master key K1), verify. Prints every command it runs.
# DEMO_ROWS=N sets the table size (default 100000); UDMG_SERVER=PATH uses that binary instead of
# building it in build/release (only the binary: the tests and benchmarks are left for test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${UDMG_SERVER:-}" ]]; then
  bin=$(realpath "$UDMG_SERVER")
else
  UDMG_BUILD_TARGETS=udmg-server scripts/build.sh build/release >/dev/null
  bin=$PWD/build/release/cli/udmg-server
fi
rows=${DEMO_ROWS:-100000}
work=$(mktemp -d /tmp/udmg-demo.XXXXXX)
cd "$work"
run() { echo "+ udmg-server ${*:2}"; "$@"; }
step() { printf '\n== %s\n' "$*"; }
export UDMG_SECURITY_PASSPHRASE_KEY=$(openssl rand -hex 32)

step "a keyring and $rows encrypted values"
run "$bin" init
run "$bin" demo --rows "$rows"
run "$bin" status

step "rotate the root key K0 (the new key from a file, never in argv), then re-encrypt"
umask 077
openssl rand -hex 32 > new-k0.hex
run "$bin" rotate-k0 --new-key-file new-k0.hex --reencrypt
export UDMG_SECURITY_PASSPHRASE_KEY=$(cat new-k0.hex)
rm -f new-k0.hex

step "rotate the master key K1 and re-encrypt every value now"
run "$bin" rotate-master-key --reencrypt

step "check: every value decrypts, all under the active version, the job is done"
run "$bin" verify
run "$bin" status
run "$bin" reencrypt --status
echo
echo "demo database: $work/udmg.db"
