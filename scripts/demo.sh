#!/usr/bin/env bash
# The main job on the embedded default (SQLite), in a fresh directory: init, fill, rotate with
# --reencrypt, verify. Prints every command it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh build/release >/dev/null
bin=$PWD/build/release/cli/udmg-server
rows=${DEMO_ROWS:-100000}
work=$(mktemp -d /tmp/udmg-demo.XXXXXX)
cd "$work"
run() { echo "+ $*"; "$@"; }
export UDMG_SECURITY_PASSPHRASE_KEY=$(openssl rand -hex 32)
run "$bin" init
run "$bin" demo --rows "$rows"
run "$bin" status
NEW_KEY=$(openssl rand -hex 32)
echo "+ $bin rotate-k0 --new-key-file <(new key)"
"$bin" rotate-k0 --new-key-file <(printf '%s\n' "$NEW_KEY")
export UDMG_SECURITY_PASSPHRASE_KEY=$NEW_KEY
run "$bin" rotate-master-key
run "$bin" sweep
run "$bin" verify
run "$bin" status
echo "demo database: $work/udmg.db"
