#!/usr/bin/env bash
# Release bundles (see docs/deploy.md):
#   scripts/bundle.sh --target linux-x64|linux-arm64 --version V --key ed25519-private.pem \
#                     [--min-previous V] --out DIR
#   scripts/bundle.sh keygen DIR
# Compiles the TypeScript first (set EDGE_BUNDLE_SKIP_TSC=1 when dist/ is known fresh).
# SOURCE_DATE_EPOCH defaults to the last commit's time: the same commit, key and target give
# a byte-identical bundle (Ed25519 signatures are deterministic).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${EDGE_BUNDLE_SKIP_TSC:-0}" != 1 ]; then npx tsc -p tsconfig.json; fi
# The station page's error texts (docs/ is not in the bundle).
if [ "${1:-}" != keygen ]; then node dist/scripts/gen-web-errors.js; fi
if [ "${1:-}" = keygen ]; then exec node dist/scripts/bundle/cli.js "$@"; fi
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
  export SOURCE_DATE_EPOCH
fi
exec node dist/scripts/bundle/cli.js build "$@"
