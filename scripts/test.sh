#!/usr/bin/env bash
# Quick start 2: install what the tests need (real peers included), build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
npm test
