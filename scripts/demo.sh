#!/usr/bin/env bash
# Quick start 1: install what the agent needs, build, run a demo station (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run build --silent
exec node dist/src/cli/main.js demo "$@"
