#!/usr/bin/env bash
# `npm start [-- --nodes N --data DIR --port BASE]`: install what is missing, build, run a local
# cluster in the foreground (Ctrl-C stops every process it started).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/scripts/cluster.js "$@"
