#!/usr/bin/env bash
# Installs what edge-agent needs on a fresh Debian / Raspberry Pi OS machine:
#   scripts/setup.sh          runtime: Node packages (native addons built from source)
#   scripts/setup.sh --test   plus the real peers the tests start: mosquitto, socat, openssl,
#                             systemd (systemd-notify, systemd-analyze), mmdebstrap and
#                             systemd-container (systemd-nspawn: test/ota/systemd.test.ts boots
#                             the deploy/ units under a real systemd) and the Python modules
#                             test/helpers/*.py import (pymodbus and the pyserial modules its
#                             server package imports even for TCP), chromium (station page
#                             browser tests) and protobuf-compiler (protoc decodes Sparkplug B)
#   scripts/setup.sh --arm64  plus what the linux-arm64 bundle and its qemu smoke test need:
#                             qemu-user-static, mmdebstrap, the aarch64 cross compiler
#                             (flags combine: --test --arm64)
# Idempotent: skips what is already there, then checks every command and import it relies on,
# so a missing piece fails here with its name rather than later inside a test's before hook.
# Needs root (or sudo) for apt-get.
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

node_help() {
  cat >&2 <<'HELP'
setup: edge-agent needs Node >= 20. Debian 12 / Raspberry Pi OS bookworm ship nodejs 18 in apt,
setup: which is too old, so setup does not install it. Install Node 20 or newer with one of:
setup:   NodeSource:  curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash - && sudo apt-get install -y nodejs
setup:   nvm:         https://github.com/nvm-sh/nvm#installing-and-updating, then: nvm install 20
setup:   tarball:     https://nodejs.org/en/download (linux-x64 or linux-arm64), unpacked onto PATH
setup: then run this script again.
HELP
}

# Major version of v20.1.0, 20.19.2+dfsg-1 or 1:18.20.4-1 (apt epoch).
major() { printf '%s' "$1" | sed -E 's/^[0-9]+://; s/^[^0-9]*([0-9]+).*/\1/'; }

apt_updated=0
apt_install() {
  echo "setup: apt-get install $*"
  if [ "$apt_updated" = 0 ]; then "${sudo_cmd[@]}" apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Node first: everything after it is wasted on a machine that cannot run the project.
if command -v node >/dev/null; then
  if [ "$(major "$(node --version)")" -lt 20 ]; then
    echo "setup: found Node $(node --version) at $(command -v node)" >&2
    node_help
    exit 1
  fi
else
  "${sudo_cmd[@]}" apt-get update -qq
  apt_updated=1
  candidate=$(apt-cache policy nodejs | sed -n 's/^ *Candidate: *//p')
  if [ -z "$candidate" ] || [ "$candidate" = "(none)" ] || [ "$(major "$candidate")" -lt 20 ]; then
    echo "setup: no node on PATH, and apt offers nodejs ${candidate:-(none)}" >&2
    node_help
    exit 1
  fi
  apt_install nodejs
fi
# NodeSource's nodejs bundles npm; Debian's own nodejs (>= 20 from trixie on) does not.
command -v npm >/dev/null || apt_install npm

need_apt=()
command -v g++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
[ -x /usr/bin/python3 ] || need_apt+=(python3)

# The Python test helpers run under /usr/bin/python3 (not a pyenv/venv python), so these are
# Debian packages. pymodbus.server imports serial and serial_asyncio at import time, even for
# Modbus TCP, and Debian's python3-pymodbus only recommends them: install them explicitly.
# setuptools: this machine's /usr/bin/python3 loads its _distutils_hack at every start (a .pth
# file); named so that the helpers run in the same interpreter set-up on a fresh machine.
py_imports=(pymodbus.server pymodbus.client pymodbus.datastore pymodbus.transaction serial serial_asyncio setuptools)
py_package() {
  case "$1" in
    pymodbus*) echo python3-pymodbus ;;
    serial_asyncio) echo python3-serial-asyncio ;;
    serial) echo python3-serial ;;
    setuptools) echo python3-setuptools ;;
    *) echo "setup: no Debian package known for python module $1" >&2; exit 1 ;;
  esac
}
py_has() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import $1" 2>/dev/null; }

# chromium: the station page's browser tests (puppeteer-core drives Debian's build; nothing
# downloads a browser). protoc: the independent decoder of every Sparkplug B message.
test_commands=(mosquitto socat openssl systemd-notify systemd-analyze mmdebstrap systemd-nspawn chromium protoc)
has_command() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ]; }
command_package() {
  case "$1" in
    systemd-notify | systemd-analyze) echo systemd ;;
    systemd-nspawn) echo systemd-container ;;
    protoc) echo protobuf-compiler ;;
    *) echo "$1" ;;
  esac
}

if [ "$want_test" = 1 ]; then
  for c in "${test_commands[@]}"; do has_command "$c" || need_apt+=("$(command_package "$c")"); done
  for m in "${py_imports[@]}"; do py_has "$m" || need_apt+=("$(py_package "$m")"); done
fi
if [ "$want_arm64" = 1 ]; then
  # About 20 s of apt here; the arm64 root itself is made by scripts/bundle-smoke-arm64.sh.
  command -v qemu-aarch64-static >/dev/null || need_apt+=(qemu-user-static)
  command -v mmdebstrap >/dev/null || need_apt+=(mmdebstrap)
  command -v aarch64-linux-gnu-g++ >/dev/null || need_apt+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  # sort -u: one package can be wanted by several checks (systemd, python3-pymodbus).
  mapfile -t need_apt < <(printf '%s\n' "${need_apt[@]}" | sort -u)
  apt_install "${need_apt[@]}"
fi
# mosquitto's Debian package starts a system broker on :1883; tests start their own on
# ephemeral ports and do not need it.

# Verify what was just installed: a package that installed but does not provide what the
# tests use (another Python on PATH, a renamed module) must fail here, by name.
missing=()
if [ "$want_test" = 1 ]; then
  for c in "${test_commands[@]}"; do has_command "$c" || missing+=("command $c"); done
  for m in "${py_imports[@]}"; do py_has "$m" || missing+=("/usr/bin/python3 module $m"); done
fi
if [ ${#missing[@]} -gt 0 ]; then
  printf 'setup: still missing after apt-get: %s\n' "${missing[@]}" >&2
  exit 1
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci (builds better-sqlite3 from source, about 90 s)"
  npm ci --no-audit --no-fund
fi
