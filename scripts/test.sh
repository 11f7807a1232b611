#!/usr/bin/env bash
# Quick start 2: install what the tests need (real peers included), build, run every test,
# then the linux-arm64 bundle smoke test under qemu (its own step: emulation takes both
# cores for a minute or two and would skew the timing-sensitive tests beside it).
# `scripts/test.sh --no-arm64` skips that last step (and its ~150 MB of arm64 packages).
set -euo pipefail
cd "$(dirname "$0")/.."
arm64=1
if [ "${1:-}" = "--no-arm64" ]; then arm64=0; fi
if [ "$arm64" = 1 ]; then bash scripts/setup.sh --test --arm64; else bash scripts/setup.sh --test; fi
npm test
if [ "$arm64" = 1 ]; then
  bash scripts/bundle-smoke-arm64.sh --root-only
  EDGE_REQUIRE_ARM64=1 node --test dist/test/bundle/arm64.test.js
fi
