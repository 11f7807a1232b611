#!/usr/bin/env bash
# Smoke-tests a linux-arm64 bundle on this (x86) machine: Debian trixie's arm64 nodejs runs
# under qemu user emulation, loading the bundle's cross-built addons.
#   scripts/bundle-smoke-arm64.sh [--bundle FILE] [--root DIR] [--make-root] [--root-only]
# Without --bundle it builds one (throwaway key) with scripts/bundle.sh. The root
# (default .cache/arm64-root, or $EDGE_ARM64_ROOT) is made with mmdebstrap when missing.
#
# How: `qemu-aarch64-static -L ROOT ROOT/usr/bin/node …`. -L is enough: qemu looks paths up
# in ROOT first (the dynamic loader, libnode115, libuv, openssl), /proc and /tmp come from the
# host. No binfmt_misc, no chroot, no root rights needed to run (only to make the root).
# The root is the `extract` variant: nodejs and its dependencies unpacked, no maintainer
# scripts run (they would need binfmt), plus the merged-/usr symlinks (/lib -> usr/lib)
# from mmdebstrap's merged-usr hook, which the loader path /lib/ld-linux-aarch64.so.1 needs.
# Needs: qemu-user-static, mmdebstrap, gcc/g++-aarch64-linux-gnu (scripts/setup.sh --arm64).
set -euo pipefail
cd "$(dirname "$0")/.."

bundle="" root="${EDGE_ARM64_ROOT:-.cache/arm64-root}" make_root=0 root_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle="$2"; shift 2 ;;
    --root) root="$2"; shift 2 ;;
    --make-root) make_root=1; shift ;;
    --root-only) root_only=1; shift ;;
    *) echo "usage: $0 [--bundle FILE] [--root DIR] [--make-root] [--root-only]" >&2; exit 2 ;;
  esac
done
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

if [ "$make_root" = 1 ] || [ ! -x "$root/usr/bin/node" ]; then
  t0=$(now)
  rm -rf "$root.tmp"
  mkdir -p "$(dirname "$root")"
  # Made aside and renamed: an interrupted run never leaves a half root that looks usable.
  mmdebstrap --quiet --arch=arm64 --variant=extract --include=nodejs \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr trixie "$root.tmp" "$mirror"
  rm -rf "$root"
  mv "$root.tmp" "$root"
  echo "smoke: arm64 trixie root in $root ($(du -sh "$root" | cut -f1)) made in $(since "$t0")"
fi
# --root-only: just make sure the root exists (test/bundle/arm64.test.ts does the smoke run).
if [ "$root_only" = 1 ]; then exit 0; fi

work=$(mktemp -d)
agent_pid=""
cleanup() {
  if [ -n "$agent_pid" ]; then kill -KILL "$agent_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$bundle" ]; then
  t0=$(now)
  EDGE_BUNDLE_SKIP_TSC="${EDGE_BUNDLE_SKIP_TSC:-0}" scripts/bundle.sh keygen "$work/key" >/dev/null
  bundle=$(EDGE_BUNDLE_SKIP_TSC=1 scripts/bundle.sh --target linux-arm64 --version 0.0.0-smoke --key "$work/key/ed25519-private.pem" --out "$work")
  echo "smoke: built $(basename "$bundle") ($(du -h "$bundle" | cut -f1)) in $(since "$t0")"
fi

tar -xzf "$bundle" -C "$work"
target=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).target' "$work/manifest.json")
version=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).version' "$work/manifest.json")
[ "$target" = linux-arm64 ] || { echo "smoke: $bundle is for $target, not linux-arm64" >&2; exit 1; }

root=$(readlink -f "$root")
arm_node() { qemu-aarch64-static -L "$root" "$root/usr/bin/node" "$@"; }
cli="$work/release/dist/src/cli/main.js"
t0=$(now)

arch=$(arm_node -p 'process.arch + " node " + process.version + " abi " + process.versions.modules')
echo "smoke: emulated $arch"

# All three native addons load in the emulated arm64 node (serialport picks its armv8 prebuild).
arm_node -e '
  const { createRequire } = require("node:module");
  const req = createRequire(process.argv[1] + "/");
  new (req("better-sqlite3"))(":memory:").prepare("select 1").get();
  req("epoll");
  req("@serialport/bindings-cpp").autoDetect();
' "$work/release/node_modules"
echo "smoke: native addons load: better-sqlite3, epoll, serialport at $(since "$t0")"

got=$(arm_node "$cli" --version)
[ "$got" = "$version" ] || { echo "smoke: --version printed '$got', expected '$version'" >&2; exit 1; }
echo "smoke: --version ok ($got) at $(since "$t0")"

arm_node "$cli" check-config "$work/release/firmware-config/minimal.yaml"
echo "smoke: check-config ok at $(since "$t0")"

# A run with no devices and no broker: the agent opens the SQLite store (better-sqlite3,
# cross-built) before it logs "edge-agent running"; then SIGTERM must stop it cleanly.
mkdir -p "$work/data"
printf 'store:\n  path: %s/data/outbox.db\nhttp:\n  port: 0\n' "$work" >"$work/config.yaml"
# qemu itself, not the arm_node function: $! must be the process that gets the SIGTERM.
qemu-aarch64-static -L "$root" "$root/usr/bin/node" "$cli" run --config "$work/config.yaml" >"$work/run.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 600); do
  grep -q '"msg":"edge-agent running"' "$work/run.log" && break
  kill -0 "$agent_pid" 2>/dev/null || break
  sleep 0.2
done
if ! grep -q '"msg":"edge-agent running"' "$work/run.log"; then
  echo "smoke: the agent did not come up; its log:" >&2
  cat "$work/run.log" >&2
  exit 1
fi
[ -f "$work/data/outbox.db" ] || { echo "smoke: no outbox.db after start" >&2; exit 1; }
echo "smoke: run came up (store open) at $(since "$t0")"
kill -TERM "$agent_pid"
code=0
wait "$agent_pid" || code=$?
agent_pid=""
if [ "$code" != 0 ]; then
  echo "smoke: run exited $code after SIGTERM; its log:" >&2
  cat "$work/run.log" >&2
  exit 1
fi
echo "smoke: run opened the store and stopped cleanly on SIGTERM"
echo "smoke: ok: arm64 bundle $version passed in $(since "$t0")"
