#!/usr/bin/env bash
# The Debian package, end to end, from a release build that exists already (BUILD_DIR, default
# build/release; only the binary and its man page are brought up to date here): cpack -G DEB,
# dpkg -i, the installed binary through init, rotate, sweep and verify on a scratch SQLite file
# (K0 from a key file, then from a systemd credential directory), the man page under
# `man --warnings`, `systemd-analyze verify` and `security` on the installed units, then
# dpkg --purge and a check that nothing is left behind. Needs root (dpkg); run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
fail() { echo "package-test: FAILED: $*" >&2; exit 1; }
step() { printf '\n-- %s\n' "$*"; }
[[ $EUID -eq 0 ]] || fail "needs root (dpkg -i / --purge)"
if dpkg-query -W -f='${Status}' udmg-server 2>/dev/null | grep -q installed; then
  fail "udmg-server is installed already: dpkg --purge udmg-server first"
fi

step "package"
cmake --build "$build" --target udmg-server udmg_man_page >/dev/null
rm -f "$build"/udmg-server_*.deb "$build"/udmg-server-dbgsym_*.ddeb
(cd "$build" && cpack -G DEB >cpack.log 2>&1) || { cat "$build/cpack.log"; fail "cpack"; }
deb=$(ls "$build"/udmg-server_*.deb)
dbgsym=$(ls "$build"/udmg-server-dbgsym_*.ddeb)
dpkg-deb -c "$deb" | awk '{print $1, $3, $6}'
dpkg-deb -f "$deb" Package Version Depends
echo "debug symbols: $(basename "$dbgsym"), $(du -k "$dbgsym" | cut -f1) KiB"

# Every path where the package or its scripts could leave something, to compare after the purge
# (dpkg's own records excluded). /run/udmg-sweep is listed when it exists.
snapshot() {
  { find /etc /usr /opt /var/lib /run/udmg-sweep -xdev \( -path /var/lib/dpkg -o -path /var/lib/apt \
      -o -path /var/lib/ucf \) -prune -o -print 2>/dev/null || true; } | LC_ALL=C sort
}
before=$(mktemp) after=$(mktemp) work=$(mktemp -d)
trap 'rm -rf "$before" "$after" "$work"; dpkg --purge udmg-server >/dev/null 2>&1 || true' EXIT
snapshot >"$before"

step "install"
dpkg -i "$deb" >/dev/null
bin=/usr/bin/udmg-server
[[ $(command -v udmg-server) == "$bin" ]] || fail "udmg-server is not on PATH"
size=$(stat -c %s "$bin")
echo "installed binary: $size bytes"
# Symbols are in the -dbgsym package only: the installed binary has no .debug_info left.
if readelf -S "$bin" | grep -q '\.debug_info'; then fail "the installed binary is not stripped"; fi
build_id=$(readelf -n "$bin" | awk '/Build ID/ {print $3}')
dpkg-deb -c "$dbgsym" | grep -q "/usr/lib/debug/.build-id/${build_id:0:2}/${build_id:2}.debug" ||
  fail "the dbgsym package has no symbols for build id $build_id"
"$bin" --version

step "runbook with the installed binary (K0 from UDMG_SECURITY_PASSPHRASE_KEY_FILE)"
cd "$work"
umask 077
openssl rand -hex 32 >k0.hex
export UDMG_DATABASE_URL="sqlite:$work/udmg.db" UDMG_SECURITY_PASSPHRASE_KEY_FILE="$work/k0.hex"
run() { echo "+ udmg-server $*"; "$bin" "$@"; }
run init
run demo --rows 500
openssl rand -hex 32 >new-k0.hex
run rotate-k0 --new-key-file new-k0.hex
mv new-k0.hex k0.hex
# The master key's rotation as udmg-sweep.service runs it before its sweep: due, since the demo
# made 500 encryptions under version 1; then not due under the new version.
run policy set --master-max-encryptions 400
run rotate-master-key --if-due | tee if-due.txt
grep -q '^rotation due: master key version 1 ' if-due.txt || fail "--if-due did not rotate"
run rotate-master-key --if-due | tee if-due.txt
grep -q '^rotation not due: master key version 2 ' if-due.txt || fail "--if-due rotated again"
mkdir metrics
run sweep --max-rows 100000 --max-duration 5m --rate 0 --metrics-textfile "$work/metrics/udmg-sweep.prom"
grep -q '^udmg_' metrics/udmg-sweep.prom || fail "the sweep wrote no metrics"
run verify
"$bin" status --json >status.json
python3 - status.json <<'PY' || fail "after the sweep, values are not all on the active master key"
import json, sys
status = json.load(open(sys.argv[1]))
active = str(status["active_master_version"])
for column in status["columns"]:
    assert set(column["versions"]) == {active}, column
assert status["this_node"]["root_key"] == "current", status["this_node"]
PY
echo "every value on master version $(python3 -c 'import json;print(json.load(open("status.json"))["active_master_version"])')"

UDMG_BACKUP_PASSPHRASE=$(openssl rand -hex 16) run passphrase-backup --output backup.udmg

step "the same database, K0 from a systemd credential directory: healthy"
unset UDMG_SECURITY_PASSPHRASE_KEY_FILE
mkdir credentials
install -m 0400 k0.hex credentials/udmg-k0
CREDENTIALS_DIRECTORY="$work/credentials" run doctor >doctor.txt || { cat doctor.txt; fail "doctor"; }
grep 'root_key_env' doctor.txt
grep -q 'systemd credential udmg-k0' doctor.txt || fail "doctor does not name the credential"
cd - >/dev/null

step "man page"
man_page=/usr/share/man/man1/udmg-server.1.gz
warnings=$(MANWIDTH=80 man --warnings -l "$man_page" 2>&1 >/dev/null)
[[ -z $warnings ]] || fail "man --warnings: $warnings"
for section in ENVIRONMENT FILES 'EXIT STATUS' EXAMPLES; do
  MANWIDTH=80 man -l "$man_page" 2>/dev/null | grep -q "^$section" || fail "man page has no $section"
done
echo "renders without warnings; has ENVIRONMENT, FILES, EXIT STATUS, EXAMPLES"

step "bash completion"
bash -c 'source /usr/share/bash-completion/completions/udmg-server
  COMP_WORDS=(udmg-server rot); COMP_CWORD=1; _udmg_server; printf "%s\n" "${COMPREPLY[@]}"' |
  tee "$work/completion.txt"
grep -qx rotate-k0 "$work/completion.txt" || fail "bash completion does not offer rotate-k0"

step "dashboards and alert rules"
promtool check rules /usr/share/udmg-server/alerts/alerts.yml
for dashboard in /usr/share/udmg-server/dashboards/*.json; do
  python3 -m json.tool "$dashboard" >/dev/null || fail "$dashboard is not JSON"
done
echo "dashboards: $(ls /usr/share/udmg-server/dashboards)"

step "systemd units"
units=(/usr/lib/systemd/system/udmg-sweep.service /usr/lib/systemd/system/udmg-sweep.timer)
systemd-analyze verify "${units[@]}" || fail "systemd-analyze verify"
echo "systemd-analyze verify: ok"
systemd-analyze security --offline=yes --no-pager "${units[0]}" | tail -1

step "purge"
dpkg --purge udmg-server >/dev/null
trap 'rm -rf "$before" "$after" "$work"' EXIT
snapshot >"$after"
left=$(LC_ALL=C comm -13 "$before" "$after")
[[ -z $left ]] || fail "left behind after dpkg --purge: $left"
echo "nothing left behind"
