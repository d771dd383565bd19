#!/usr/bin/env bash
# Installs every Debian 12 package udmg-server needs to build, test and benchmark. Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential cmake ninja-build pkg-config git openssl
  libssl-dev libsqlite3-dev sqlite3 libtbb-dev libpqxx-dev
  libcli11-dev nlohmann-json3-dev libcpp-httplib-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  python3 python3-cryptography python3-psycopg2
  softhsm2 opensc libp11-kit-dev python3-jsonschema
  help2man dpkg-dev man-db systemd file curl
  postgresql-15 prometheus prometheus-pushgateway prometheus-node-exporter
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Prometheus packages start their servers; tests start their own on free ports instead.
if command -v systemctl >/dev/null 2>&1; then
  for service in prometheus prometheus-pushgateway prometheus-node-exporter; do
    systemctl stop "$service" >/dev/null 2>&1 || true
  done
fi
# An unprivileged user for tests that must run udmg-server as someone other than root
# (tests/e2e/process_hygiene_test.cc: as root, /proc files are root's whether dumpable or not).
if ! id -u udmg-test >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin udmg-test
fi
echo "setup: all packages present"
