#!/usr/bin/env bash
# Installs edge-agent from a signed bundle on a fresh Raspberry Pi / Debian box (docs/deploy.md).
#   deploy/install.sh BUNDLE.tar.gz [--pubkey KEY.pem] [--config FILE] [--root DIR] [--no-start]
#                     [--agent-user USER:GROUP]
# --pubkey pins a signing key (copied to /etc/edge-agent/ota-keys/<keyId>.pem); without it
# the keys already pinned there are used. The bundle is verified (signature, target, Node
# ABI, then every file's sha256) before anything is switched; units, watchdog drop-in and
# udev rules are taken from the verified release. Re-running is safe.
# Privilege split (docs/security.md): releases are root's and immutable to the agent; the
# agent (edge-agent) owns only /var/lib/edge-agent. This script never runs, follows or keeps
# anything the agent could have written: the service is stopped first, agent-owned or linked
# release trees are discarded, and a re-installed version replaces the tree on disk.
# --root DIR (or ROOT=DIR) installs into a directory tree instead of /: no apt, no users, no
# systemctl/udevadm; ownership only with --agent-user (as root: the tests' real unprivileged uid).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

bundle="" pubkey="" config="" root="${ROOT:-}" start=1 agent_user=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pubkey) pubkey="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --root) root="$2"; shift 2 ;;
    --agent-user) agent_user="$2"; shift 2 ;;
    --no-start) start=0; shift ;;
    -*) echo "install: unknown option $1" >&2; exit 2 ;;
    *) bundle="$1"; shift ;;
  esac
done
[ -n "$bundle" ] || { echo "usage: $0 BUNDLE.tar.gz [--pubkey KEY.pem] [--config FILE] [--root DIR] [--no-start] [--agent-user USER:GROUP]" >&2; exit 2; }
root="${root%/}"
real_system=1
[ -n "$root" ] && real_system=0
[ "$real_system" = 1 ] && agent_user="${agent_user:-edge-agent:edge-agent}"
log() { echo "install: $*"; }
die() { echo "install: $*" >&2; exit 1; }

opt="$root/opt/edge-agent" etc="$root/etc/edge-agent" data="$root/var/lib/edge-agent"
state="$root/var/lib/edge-agent-ota" lib="$root/usr/local/lib/edge-agent"
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
if [ "$real_system" = 1 ]; then
  # The agent must not be running while its former tree is inspected and replaced: a
  # stopped unit (KillMode=control-group) leaves no process to race this script.
  systemctl stop edge-agent-ota.path edge-agent-ota.timer edge-agent-ota.service edge-agent.service 2>/dev/null || true
fi
# own USER:GROUP MODE PATH…: never through a link (chown -h; chmod refuses one), ownership
# only where there is an agent account to speak of.
own() {
  local who="$1" mode="$2"; shift 2
  local p
  for p in "$@"; do
    [ ! -L "$p" ] || die "$p is a symbolic link; refusing to change it"
    chmod "$mode" "$p"
    if [ -n "$agent_user" ]; then
      case "$who" in
        agent) chown -h "$agent_user" "$p" ;;
        root:agent) chown -h "root:${agent_user#*:}" "$p" ;;
        *) chown -h "$who" "$p" ;;
      esac
    fi
  done
}
# A directory root will write into: a real directory, root's, or it is discarded (a link or
# anything the agent owned under the old layout is never followed, kept or reused).
root_dir() {
  local p="$1"
  if [ -L "$p" ] || { [ -e "$p" ] && [ ! -d "$p" ]; }; then
    log "$p is not a directory: removing it"; rm -f -- "$p"
  elif [ -d "$p" ] && [ -n "$agent_user" ] && [ "$(stat -c %u "$p")" != 0 ]; then
    log "$p is not root's (old layout): discarding it"; rm -rf --one-file-system -- "$p"
  fi
  mkdir -p -- "$p"
  own root:root 0755 "$p"
}

mkdir -p "$root/opt" "$root/var/lib" "$root/usr/local/bin" "$etc"
root_dir "$opt"
root_dir "$opt/releases"
root_dir "$state"
root_dir "$lib"
# current/previous: only links of our own form survive; anything else is dropped.
for link in current previous; do
  p="$opt/$link"
  if [ -e "$p" ] || [ -L "$p" ]; then
    t=$(readlink -- "$p" 2>/dev/null || true)
    case "$t" in
      releases/[0-9]*) [ -L "$p" ] && [ -d "$opt/$t" ] && [ ! -L "$opt/$t" ] || { log "dropping $link ($t)"; rm -rf -- "$p"; } ;;
      *) log "dropping $link (${t:-not a link})"; rm -rf -- "$p" ;;
    esac
  fi
done
# The agent's own area: a link it planted there is removed, never followed (the agent is stopped).
if [ -L "$data/ota" ]; then rm -f -- "$data/ota"; fi
mkdir -p "$data/ota"
own agent 0750 "$data" "$data/ota"
# Config (may hold secrets) readable by the agent, writable by root only; keys root-only too.
own root:agent 0750 "$etc"
mkdir -p "$keys"
own root:root 0755 "$keys"
if [ -n "$pubkey" ]; then
  key_id=$(node -e '
    const { createHash, createPublicKey } = require("node:crypto");
    const der = createPublicKey(require("node:fs").readFileSync(process.argv[1])).export({ format: "der", type: "spki" });
    process.stdout.write(createHash("sha256").update(der.subarray(der.length - 32)).digest("hex").slice(0, 16));' "$pubkey")
  install -m 0644 "$pubkey" "$keys/$key_id.pem"
  log "pinned signing key $key_id"
fi

# Verify in a scratch dir beside releases/ (same file system: the final step is a rename),
# inside root's $opt: nothing else can reach it.
incoming=$(mktemp -d "$opt/.incoming-XXXXXX")
trap 'rm -rf -- "$incoming"' EXIT
tar -xzf "$bundle" -C "$incoming" --no-same-owner manifest.json manifest.sig
version=$(node "$here/verify-bundle.mjs" manifest "$incoming" "$keys" --target "$target" --abi "$abi")
# Only the members the signed manifest names are extracted; GNU tar refuses ../ and absolute names.
tar -xzf "$bundle" -C "$incoming" --no-same-owner -T "$incoming/files.list"
node "$here/verify-bundle.mjs" tree "$incoming"
fresh="$incoming/release"
# Everything installed below comes from the verified tree: a release from before the
# privilege split lacks the OTA units and is refused before anything is switched.
for f in deploy/edge-agent.service deploy/edge-agent-ota.service deploy/edge-agent-ota.path \
  deploy/edge-agent-ota.timer deploy/verify-bundle.mjs deploy/99-edge-agent.rules \
  deploy/system.conf.d/edge-agent-watchdog.conf firmware-config/minimal.yaml; do
  [ -f "$fresh/$f" ] || die "release $version lacks $f (older than this installer: use its own deploy/install.sh)"
done
# The verified manifest goes with the tree: ExecStartPre checks the release against it.
mkdir "$fresh/.edge-ota"
cp -- "$incoming/manifest.json" "$incoming/manifest.sig" "$fresh/.edge-ota/"
chmod -R u=rwX,go=rX -- "$fresh"
if [ -n "$agent_user" ]; then chown -R -h root:root -- "$fresh"; fi
log "verified edge-agent $version ($target, Node ABI $abi)"

release="$opt/releases/$version"
if [ -e "$release" ] || [ -L "$release" ]; then
  # Never kept: the tree on disk is replaced by the one just verified. An atomic exchange
  # (renameat2 RENAME_EXCHANGE) so `current` never points at a missing tree, even when
  # this is the version it runs.
  case "$(uname -m)" in aarch64) nr=276 ;; *) nr=316 ;; esac
  perl -e 'exit(syscall($ARGV[0], -100, $ARGV[1], -100, $ARGV[2], 2) == 0 ? 0 : 1)' \
    "$nr" "$fresh" "$release" || die "cannot exchange $release with the verified tree"
  log "releases/$version replaced by the verified tree"
else
  mv -T -- "$fresh" "$release"
fi
sync -f "$opt/releases/." 2>/dev/null || sync

# The unit's ExecStartPre checks releases with this copy, outside any release tree.
install -m 0644 -- "$release/deploy/verify-bundle.mjs" "$lib/verify-bundle.mjs"
if [ -n "$config" ]; then
  # main.js runs as root only now: from the verified, root-owned tree.
  node "$release/dist/src/cli/main.js" check-config --schema-only "$config"
  install -m 0640 -- "$config" "$etc/config.yaml"
  if [ -n "$agent_user" ]; then chown "root:${agent_user#*:}" "$etc/config.yaml"; fi
fi
install -m 0644 -- "$release/firmware-config/minimal.yaml" "$etc/config.example.yaml"

# Symlinks: relative targets (valid from any root), swapped by rename so `current` always resolves.
old=$(readlink "$opt/current" 2>/dev/null || true)
if [ "$old" != "releases/$version" ]; then
  if [ -n "$old" ]; then
    ln -sfn "$old" "$opt/previous.new" && mv -T "$opt/previous.new" "$opt/previous"
  fi
  ln -sfn "releases/$version" "$opt/current.new" && mv -T "$opt/current.new" "$opt/current"
fi
ln -sfn /opt/edge-agent/current/bin/edge-agent "$root/usr/local/bin/edge-agent"
log "current -> releases/$version${old:+ (previous -> $old)}"

for unit in edge-agent.service edge-agent-ota.service edge-agent-ota.path edge-agent-ota.timer; do
  install -D -m 0644 -- "$release/deploy/$unit" "$root/etc/systemd/system/$unit"
done
install -D -m 0644 "$release/deploy/system.conf.d/edge-agent-watchdog.conf" "$root/etc/systemd/system.conf.d/edge-agent-watchdog.conf"
install -D -m 0644 "$release/deploy/99-edge-agent.rules" "$root/etc/udev/rules.d/99-edge-agent.rules"

if [ "$real_system" = 0 ]; then
  log "installed into $root (no systemctl, no udevadm)"
  exit 0
fi
udevadm control --reload-rules && udevadm trigger --subsystem-match=tty --subsystem-match=gpio --subsystem-match=leds || true
# RuntimeWatchdogSec is read by PID 1 at start: re-execute it so the hardware watchdog arms now.
systemctl daemon-reexec
systemctl enable edge-agent.service edge-agent-ota.path edge-agent-ota.timer edge-agent-ota.service
systemctl start edge-agent-ota.path edge-agent-ota.timer
if [ ! -f "$etc/config.yaml" ]; then
  log "no $etc/config.yaml yet: write one (see config.example.yaml), then: systemctl start edge-agent"
elif [ "$start" = 1 ]; then
  systemctl restart edge-agent.service
  log "started: systemctl status edge-agent; journalctl -u edge-agent -f"
fi
