#!/usr/bin/env bash
# `npm run bench -- [options]`: install what is missing, build, run the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/scripts/bench.js "$@"
