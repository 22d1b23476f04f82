#!/usr/bin/env bash
# `npm test`: install what is missing, build (the end-to-end tests run the built binaries), test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh chromium promtool nginx
npm run --silent lint
exec npx vitest run "$@"
