#!/usr/bin/env bash
# Installs edge-agent from a signed bundle on a fresh Raspberry Pi / Debian box (docs/deploy.md).
#   deploy/install.sh BUNDLE.tar.gz [--pubkey KEY.pem] [--config FILE] [--root DIR] [--no-start]
# --pubkey pins a signing key (copied to /etc/edge-agent/ota-keys/<keyId>.pem); without it
# the keys already pinned there are used. The bundle is verified (signature, target, Node
# ABI, then every file's sha256) before anything is switched; unit, watchdog drop-in and
# udev rules are taken from the verified release. Re-running is safe.
# --root DIR (or ROOT=DIR) installs into a directory tree instead of /: no apt, no users or
# ownership, no systemctl/udevadm (used by the tests).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

bundle="" pubkey="" config="" root="${ROOT:-}" start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --pubkey) pubkey="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --root) root="$2"; shift 2 ;;
    --no-start) start=0; shift ;;
    -*) echo "install: unknown option $1" >&2; exit 2 ;;
    *) bundle="$1"; shift ;;
  esac
done
[ -n "$bundle" ] || { echo "usage: $0 BUNDLE.tar.gz [--pubkey KEY.pem] [--config FILE] [--root DIR] [--no-start]" >&2; exit 2; }
root="${root%/}"
real_system=1
[ -n "$root" ] && real_system=0
log() { echo "install: $*"; }

opt="$root/opt/edge-agent" etc="$root/etc/edge-agent" data="$root/var/lib/edge-agent"
keys="$etc/ota-keys"

# Debian trixie / Raspberry Pi OS ship Node 20 (ABI 115): the runtime the bundle targets.
if ! command -v node >/dev/null; then
  [ "$real_system" = 1 ] || { echo "install: node not found" >&2; exit 1; }
  log "apt-get install nodejs"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs
fi
case "$(uname -m)" in
  aarch64) target=linux-arm64 ;;
  x86_64) target=linux-x64 ;;
  *) echo "install: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
abi=$(node -p process.versions.modules)

if [ "$real_system" = 1 ]; then
  # gpio exists on Raspberry Pi OS, not on plain Debian; the unit's SupplementaryGroups needs both.
  getent group gpio >/dev/null || groupadd --system gpio
  getent group dialout >/dev/null || groupadd --system dialout
  id edge-agent >/dev/null 2>&1 || useradd --system --user-group --home-dir /var/lib/edge-agent \
    --no-create-home --shell /usr/sbin/nologin --groups dialout,gpio edge-agent
  usermod -a -G dialout,gpio edge-agent
fi
# owner USER:GROUP MODE PATH… (ownership only on a real system)
own() {
  local who="$1" mode="$2"; shift 2
  chmod "$mode" "$@"
  if [ "$real_system" = 1 ]; then chown "$who" "$@"; fi
}

mkdir -p "$opt/releases" "$data" "$keys" "$root/usr/local/bin"
# The agent updates itself: /opt/edge-agent is its (ReadWritePaths=) and holds nothing else.
own edge-agent:edge-agent 0755 "$opt" "$opt/releases"
own edge-agent:edge-agent 0750 "$data"
# Config (may hold secrets) readable by the agent, writable by root only; keys root-only too.
own root:edge-agent 0750 "$etc"
own root:root 0755 "$keys"
if [ -n "$pubkey" ]; then
  key_id=$(node -e '
    const { createHash, createPublicKey } = require("node:crypto");
    const der = createPublicKey(require("node:fs").readFileSync(process.argv[1])).export({ format: "der", type: "spki" });
    process.stdout.write(createHash("sha256").update(der.subarray(der.length - 32)).digest("hex").slice(0, 16));' "$pubkey")
  install -m 0644 "$pubkey" "$keys/$key_id.pem"
  log "pinned signing key $key_id"
fi

# Verify in a scratch dir beside releases/ (same file system: the final step is a rename).
incoming=$(mktemp -d "$opt/.incoming-XXXXXX")
trap 'rm -rf "$incoming"' EXIT
tar -xzf "$bundle" -C "$incoming" --no-same-owner manifest.json manifest.sig
version=$(node "$here/verify-bundle.mjs" manifest "$incoming" "$keys" --target "$target" --abi "$abi")
# Only the members the signed manifest names are extracted; GNU tar refuses ../ and absolute names.
tar -xzf "$bundle" -C "$incoming" --no-same-owner -T "$incoming/files.list"
node "$here/verify-bundle.mjs" tree "$incoming"
log "verified edge-agent $version ($target, Node ABI $abi)"

release="$opt/releases/$version"
if [ -d "$release" ]; then
  log "releases/$version already installed: keeping it"
else
  chmod 0755 "$incoming/release"
  mv "$incoming/release" "$release"
  if [ "$real_system" = 1 ]; then chown -R edge-agent:edge-agent "$release"; fi
fi

if [ -n "$config" ]; then
  node "$release/dist/src/cli/main.js" check-config --schema-only "$config"
  install -m 0640 "$config" "$etc/config.yaml"
  if [ "$real_system" = 1 ]; then chown root:edge-agent "$etc/config.yaml"; fi
fi
install -m 0644 "$release/firmware-config/minimal.yaml" "$etc/config.example.yaml"

# Symlinks: relative targets (valid from any root), swapped by rename so `current` always resolves.
old=$(readlink "$opt/current" 2>/dev/null || true)
if [ "$old" != "releases/$version" ]; then
  if [ -n "$old" ]; then
    ln -sfn "$old" "$opt/previous.new" && mv -T "$opt/previous.new" "$opt/previous"
  fi
  ln -sfn "releases/$version" "$opt/current.new" && mv -T "$opt/current.new" "$opt/current"
fi
if [ "$real_system" = 1 ]; then chown -h edge-agent:edge-agent "$opt/current" "$opt/previous" 2>/dev/null || true; fi
ln -sfn /opt/edge-agent/current/bin/edge-agent "$root/usr/local/bin/edge-agent"
log "current -> releases/$version${old:+ (previous -> $old)}"

install -D -m 0644 "$release/deploy/edge-agent.service" "$root/etc/systemd/system/edge-agent.service"
install -D -m 0644 "$release/deploy/system.conf.d/edge-agent-watchdog.conf" "$root/etc/systemd/system.conf.d/edge-agent-watchdog.conf"
install -D -m 0644 "$release/deploy/99-edge-agent.rules" "$root/etc/udev/rules.d/99-edge-agent.rules"

if [ "$real_system" = 0 ]; then
  log "installed into $root (no systemctl, no udevadm)"
  exit 0
fi
udevadm control --reload-rules && udevadm trigger --subsystem-match=tty --subsystem-match=gpio --subsystem-match=leds || true
# RuntimeWatchdogSec is read by PID 1 at start: re-execute it so the hardware watchdog arms now.
systemctl daemon-reexec
systemctl enable edge-agent.service
if [ ! -f "$etc/config.yaml" ]; then
  log "no $etc/config.yaml yet: write one (see config.example.yaml), then: systemctl start edge-agent"
elif [ "$start" = 1 ]; then
  systemctl restart edge-agent.service
  log "started: systemctl status edge-agent; journalctl -u edge-agent -f"
fi
