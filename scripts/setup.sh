#!/usr/bin/env bash
# Installs what edge-agent needs on a fresh Debian / Raspberry Pi OS machine:
#   scripts/setup.sh          runtime: Node packages (native addons built from source)
#   scripts/setup.sh --test   plus the real peers the tests start: mosquitto, socat,
#                             python3-pymodbus, openssl, systemd (systemd-analyze)
#   scripts/setup.sh --arm64  plus what the linux-arm64 bundle and its qemu smoke test need:
#                             qemu-user-static, mmdebstrap, the aarch64 cross compiler
#                             (flags combine: --test --arm64)
# Idempotent: skips what is already there. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0 want_arm64=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --arm64) want_arm64=1 ;;
    *) echo "usage: $0 [--test] [--arm64]" >&2; exit 2 ;;
  esac
done

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

need_apt=()
command -v node >/dev/null || need_apt+=(nodejs npm)
command -v g++ >/dev/null || need_apt+=(g++ make python3)
if [ "$want_test" = 1 ]; then
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
  command -v socat >/dev/null || need_apt+=(socat)
  # systemd-notify (the watchdog sink) is tested against a fake notify socket.
  command -v systemd-notify >/dev/null || need_apt+=(systemd)
  command -v openssl >/dev/null || need_apt+=(openssl)
  /usr/bin/python3 -c 'import pymodbus' 2>/dev/null || need_apt+=(python3-pymodbus)
  command -v systemd-analyze >/dev/null || need_apt+=(systemd)
fi
if [ "$want_arm64" = 1 ]; then
  # About 20 s of apt here; the arm64 root itself is made by scripts/bundle-smoke-arm64.sh.
  command -v qemu-aarch64-static >/dev/null || need_apt+=(qemu-user-static)
  command -v mmdebstrap >/dev/null || need_apt+=(mmdebstrap)
  command -v aarch64-linux-gnu-g++ >/dev/null || need_apt+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# mosquitto's Debian package starts a system broker on :1883; tests start their own on
# ephemeral ports and do not need it.

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node >= 20 required, found $(node --version)" >&2
  exit 1
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci (builds better-sqlite3 from source, about 90 s)"
  npm ci --no-audit --no-fund
fi
