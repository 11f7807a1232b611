#!/bin/bash
# Runs inside the booted guest (systemd as PID 1) as e2e.service, root, after multi-user.target
# (scripts/systemd-e2e.sh). /e2e is bind-mounted from the host: bundles, key, config, this
# script; results go to /e2e/out/result, one "ok N ..." or "FAIL N ..." line per step.
set -u
out=/e2e/out
res="$out/result"
: >"$res"
log() { echo "$*" >>"$res"; }
finish() {
  journalctl --no-pager -o short-monotonic -u edge-agent.service -u edge-agent-ota.service \
    -u edge-agent-ota.path >"$out/journal.txt" 2>&1
  log "done"
  systemctl --no-block poweroff
  exit 0
}
fail() { log "FAIL $*"; finish; }
# until DEADLINE_S CMD...: polls a condition the guest cannot be notified of (a symlink
# swapped by another unit); the deadline only bounds a broken run.
until_true() {
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
current() { readlink /opt/edge-agent/current; }
active() { [ "$(systemctl is-active "$1")" = "$2" ]; }
prop() { systemctl show -P "$2" "$1"; }
# How many of the unit's last start's ExecStartPre manifest checks ran and exited 0 (two:
# before and after boot-check). systemctl show records each command's exit status.
checks_passed() {
  prop edge-agent.service ExecStartPre | tee -a "$out/execstartpre.txt" |
    grep -o 'verify-bundle\.mjs installed [^}]*code=exited ; status=0[/ ]' | wc -l
}

log "systemd $(systemctl --version | head -1 | cut -d' ' -f2) node $(node --version) state $(systemctl is-system-running)"

# 1. install.sh on a real systemd: users, units, daemon-reexec, enable, start. The start
#    runs ExecStartPre (verify-bundle.mjs installed) as root before anything of the release.
if ! bash /e2e/deploy/install.sh /e2e/bundles/v1.tar.gz --pubkey /e2e/key.pem \
  --config /e2e/config.yaml >"$out/install.log" 2>&1; then
  fail "1 install.sh failed (install.log)"
fi
[ "$(current)" = releases/1.0.0 ] || fail "1 current is $(current), not releases/1.0.0"
active edge-agent.service active || fail "1 edge-agent.service is $(systemctl is-active edge-agent.service)"
active edge-agent-ota.path active || fail "1 edge-agent-ota.path is $(systemctl is-active edge-agent-ota.path)"
[ "$(checks_passed)" = 2 ] || fail "1 the two ExecStartPre manifest checks did not both run and pass (execstartpre.txt)"
pid=$(prop edge-agent.service MainPID)
log "ok 1 install.sh: current=$(current), edge-agent.service active as $(stat -c %U "/proc/$pid") (pid $pid) after its 2 ExecStartPre manifest checks passed"

# 2. The agent's uid drops a request; edge-agent-ota.path starts the root oneshot, which
#    re-verifies, unpacks, switches and restarts the agent on the new release.
ota_runs=$(prop edge-agent-ota.service NRestarts)
if ! setpriv --reuid=edge-agent --regid=edge-agent --init-groups \
  node /e2e/request.mjs /e2e/bundles/v2.tar.gz >"$out/request.log" 2>&1; then
  fail "2 the agent's request failed (request.log)"
fi
req=$(ls /var/lib/edge-agent/ota/requests/ 2>/dev/null | head -1)
log "ok 2a request as $(id -u edge-agent): $(cat "$out/request.log"); requests/: ${req:-(already taken)}; current still $(current)"
until_true 90 bash -c '[ "$(readlink /opt/edge-agent/current)" = releases/1.1.0 ]' ||
  fail "2 current is still $(current) after 90 s (ota service: $(systemctl is-active edge-agent-ota.service))"
until_true 60 bash -c '[ "$(systemctl is-active edge-agent-ota.service)" = inactive ]' ||
  fail "2 edge-agent-ota.service still $(systemctl is-active edge-agent-ota.service)"
[ "$(prop edge-agent-ota.service Result)" = success ] ||
  fail "2 edge-agent-ota.service result $(prop edge-agent-ota.service Result)"
handled=$(journalctl --no-pager -o cat -u edge-agent-ota.service | grep -m1 'serve-requests:' || true)
until_true 60 active edge-agent.service active ||
  fail "2 edge-agent.service is $(systemctl is-active edge-agent.service) after the switch"
[ "$(checks_passed)" = 2 ] || fail "2 the restarted agent's ExecStartPre checks did not both pass (execstartpre.txt)"
pid=$(prop edge-agent.service MainPID)
# The periodic sweep (edge-agent-ota.timer, OnBootSec=2min) must not be what ran it.
timer=$(prop edge-agent-ota.timer LastTriggerUSec)
[ -z "$timer" ] || [ "$timer" = n/a ] || [ "$timer" = 0 ] || fail "2 edge-agent-ota.timer fired ($timer): the path unit is not shown"
log "ok 2 path unit -> edge-agent-ota.service ($handled; result $(prop edge-agent-ota.service Result)); current=$(current); edge-agent.service active again past its ExecStartPre checks (pid $pid, $(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-400))"

# 3. A release file changed after install: the ExecStartPre check fails the start, so the
#    modified code never runs.
echo '// modified after install' >>/opt/edge-agent/current/dist/src/cli/main.js
if systemctl restart edge-agent.service 2>"$out/restart.log"; then
  fail "3 edge-agent.service started with a modified release"
fi
result=$(prop edge-agent.service Result)
mismatch=$(journalctl --no-pager -o cat -u edge-agent.service | grep -m1 'verify-bundle:.*main\.js' || true)
[ -n "$mismatch" ] || fail "3 no verify-bundle line naming main.js in the journal (result $result)"
log "ok 3 start refused: result=$result, state=$(systemctl is-active edge-agent.service); $mismatch"
systemctl stop edge-agent.service
finish
