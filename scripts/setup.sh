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

# Each binary named here is a real dependency of a run or of the tests (see README).
for want in "$@" redis-server; do
  case "$want" in
    redis-server) command -v redis-server >/dev/null || { echo "setup: installing redis-server"; apt_install redis-server; } ;;
  esac
done

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund
fi

npm run --silent build
