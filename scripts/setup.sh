#!/usr/bin/env bash
# Installs what a fresh Debian machine with Node 20 lacks for Fennec, then builds.
# Safe to run again: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# promtool only (a static binary) from Debian's prometheus package: installing the package would
# also install and start a Prometheus server.
install_promtool() {
  local tmp; tmp=$(mktemp -d)
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null && dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool)
  as_root install -m 0755 "$tmp/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$tmp"
}

# nginx for the tests of the rendered sites (they run their own nginx on loopback ports). The
# package's postinst would start a server on port 80 (and fail the install if it is taken): a
# temporary policy-rc.d tells it not to start anything.
install_nginx() {
  local policy=/usr/sbin/policy-rc.d created=0 rc=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null; as_root chmod 0755 "$policy"; created=1
  fi
  apt_install nginx || rc=$?
  if [ "$created" = 1 ]; then as_root rm -f "$policy"; fi
  return "$rc"
}

# Each binary named here is a real dependency of a run or of the tests (see README).
for want in "$@" redis-server; do
  case "$want" in
    redis-server) command -v redis-server >/dev/null || { echo "setup: installing redis-server"; apt_install redis-server; } ;;
    chromium) command -v chromium >/dev/null || { echo "setup: installing chromium"; apt_install chromium; } ;;
    nginx) [ -x /usr/sbin/nginx ] || { echo "setup: installing nginx"; install_nginx; } ;;
    promtool) command -v promtool >/dev/null || { echo "setup: installing promtool"; install_promtool; } ;;
  esac
done

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund
fi

npm run --silent build
