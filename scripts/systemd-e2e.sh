#!/usr/bin/env bash
# The deploy/ units under a real systemd (issue 12 item 1): boots a Debian trixie root with
# systemd-nspawn -b (systemd as the container's PID 1, no host systemd needed) and, inside,
# scripts/systemd-e2e/guest.sh shows that
#   1. deploy/install.sh installs a bundle and edge-agent.service starts (ExecStartPre passes),
#   2. a request written by the agent's uid starts edge-agent-ota.service through
#      edge-agent-ota.path and the update is applied (current -> the new release),
#   3. a release file modified after install makes ExecStartPre fail the start.
#   scripts/systemd-e2e.sh [--root DIR] [--make-root] [--root-only] [--keep DIR]
# The root (default .cache/systemd-root, or $EDGE_SYSTEMD_ROOT) is made with mmdebstrap
# when missing and never changed by a run: nspawn --ephemeral boots a throwaway copy.
# Prints the guest's result lines; exits 0 only when all three steps passed.
# Needs root, mmdebstrap and systemd-nspawn (scripts/setup.sh --systemd-e2e).
set -euo pipefail
cd "$(dirname "$0")/.."

root="${EDGE_SYSTEMD_ROOT:-.cache/systemd-root}" make_root=0 root_only=0 keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --make-root) make_root=1; shift ;;
    --root-only) root_only=1; shift ;;
    --keep) keep="$2"; shift 2 ;;
    *) echo "usage: $0 [--root DIR] [--make-root] [--root-only] [--keep DIR]" >&2; exit 2 ;;
  esac
done
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# The root's package set and e2e.service (below); a change to either makes a new root (the
# stamp records what it was made with): bump the unit's number when editing the unit.
packages="systemd,systemd-sysv,dbus,nodejs"
stamp="$packages e2e-unit-1"
if [ "$make_root" = 1 ] || [ "$(cat "$root/.e2e-stamp" 2>/dev/null)" != "$stamp" ]; then
  t0=$(now)
  rm -rf "$root.tmp"
  mkdir -p "$(dirname "$root")"
  # Made aside and renamed: an interrupted run never leaves a half root that looks usable.
  mmdebstrap --quiet --variant=minbase --include="$packages" trixie "$root.tmp" "$mirror"
  cat >"$root.tmp/etc/systemd/system/e2e.service" <<'UNIT'
[Unit]
Description=edge-agent systemd e2e driver (scripts/systemd-e2e/guest.sh)
After=multi-user.target
ConditionPathExists=/e2e/guest.sh

[Service]
Type=oneshot
ExecStart=/bin/bash /e2e/guest.sh
StandardOutput=journal+console
UNIT
  ln -s ../e2e.service "$root.tmp/etc/systemd/system/multi-user.target.wants/e2e.service"
  echo "$stamp" >"$root.tmp/.e2e-stamp"
  rm -rf "$root"
  mv "$root.tmp" "$root"
  echo "systemd-e2e: trixie root in $root ($(du -sh "$root" | cut -f1)) made in $(since "$t0")"
fi
if [ "$root_only" = 1 ]; then exit 0; fi

work=$(mktemp -d /tmp/edge-systemd-e2e-XXXXXX)
cleanup() { if [ -n "$keep" ]; then rm -rf "$keep" && cp -a "$work" "$keep"; fi; rm -rf "$work"; }
trap cleanup EXIT
chmod 0755 "$work"
mkdir -p "$work/bundles" "$work/out" "$work/deploy"

t0=$(now)
EDGE_BUNDLE_SKIP_TSC="${EDGE_BUNDLE_SKIP_TSC:-0}" scripts/bundle.sh keygen "$work/key" >/dev/null
export EDGE_BUNDLE_SKIP_TSC=1
v1=$(scripts/bundle.sh --target linux-x64 --version 1.0.0 --key "$work/key/ed25519-private.pem" --out "$work/bundles" | tail -1)
v2=$(scripts/bundle.sh --target linux-x64 --version 1.1.0 --key "$work/key/ed25519-private.pem" --out "$work/bundles" | tail -1)
mv "$v1" "$work/bundles/v1.tar.gz"
mv "$v2" "$work/bundles/v2.tar.gz"
cp "$work/key/ed25519-public.pem" "$work/key.pem"
rm -rf "$work/key"
cp -a deploy/. "$work/deploy/"
cp scripts/systemd-e2e/guest.sh scripts/systemd-e2e/request.mjs "$work/"
# No devices, no broker: the agent opens its store, serves health on an ephemeral port, idles.
printf 'agent:\n  id: e2e-1\n  site: site-1\nhttp:\n  port: 0\n' >"$work/config.yaml"
echo "systemd-e2e: two signed bundles built in $(since "$t0")"

t0=$(now)
# Without a host systemd (sd_booted: /run/systemd/system) there is no machined to register
# with nor a scope to create: --register=no --keep-unit. --ephemeral: the
# cached root stays pristine. --private-network: the guest needs none, and with its own
# network namespace (and CAP_NET_ADMIN in it) the units' PrivateNetwork= takes effect.
# The guest powers itself off when guest.sh is done.
host_systemd=()
[ -d /run/systemd/system ] || host_systemd=(--register=no --keep-unit)
code=0
timeout --kill-after=10 240 systemd-nspawn --quiet --boot --ephemeral "${host_systemd[@]}" \
  --private-network \
  --directory="$root" --bind="$work:/e2e" --console=pipe \
  >"$work/out/console.log" 2>&1 </dev/null || code=$?
echo "systemd-e2e: guest booted, ran and powered off in $(since "$t0") (nspawn exit $code)"
if [ ! -s "$work/out/result" ]; then
  echo "systemd-e2e: the guest wrote no result; console:" >&2
  tail -50 "$work/out/console.log" >&2
  exit 1
fi
cat "$work/out/result"
if grep -q '^FAIL' "$work/out/result" || [ "$(grep -c '^ok [123] ' "$work/out/result")" != 3 ]; then
  for f in install.log request.log restart.log journal.txt; do
    [ -s "$work/out/$f" ] && { echo "--- $f" >&2; tail -40 "$work/out/$f" >&2; }
  done
  exit 1
fi
echo "systemd-e2e: ok"
