/** Doctor checks of the box itself: serial ports, watchdog, clock. */
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { EdgeConfig } from '../../config/schema.js';
import { driverHostNeeds } from '../../drivers/registry.js';
import { fail, ok, sysPath, warn, type CheckResult, type DoctorEnv } from './env.js';

/** gid → group name from <root>/etc/group. */
async function groupNames(env: DoctorEnv): Promise<Map<number, string>> {
  const text = await readFile(sysPath(env, '/etc/group'), 'utf8').catch(() => '');
  const map = new Map<number, string>();
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name && gid && /^\d+$/.test(gid)) map.set(Number(gid), name);
  }
  return map;
}

/** Read+write for the environment's user by the mode bits (root may do anything). */
function canReadWrite(
  info: Pick<Stats, 'uid' | 'gid' | 'mode'>,
  env: Pick<DoctorEnv, 'uid' | 'groups'>,
): boolean {
  if (env.uid === 0) return true;
  if (info.uid === env.uid) return (info.mode & 0o600) === 0o600;
  if (env.groups.includes(info.gid)) return (info.mode & 0o060) === 0o060;
  return (info.mode & 0o006) === 0o006;
}

export async function checkSerialPorts(config: EdgeConfig, env: DoctorEnv): Promise<CheckResult[]> {
  const paths = new Set(driverHostNeeds(config.devices).serialPorts);
  if (paths.size === 0) return [ok('serial', 'no serial (RTU) devices configured')];
  const groups = await groupNames(env);
  const results: CheckResult[] = [];
  for (const path of paths) {
    const check = `serial ${path}`;
    const file = sysPath(env, path);
    const info = await stat(file).catch(() => undefined);
    if (!info) {
      results.push(
        fail(
          check,
          `${path} does not exist`,
          'plug the adapter in; use a stable /dev/serial/by-id/… path (USB numbering changes across boots)',
        ),
      );
      continue;
    }
    const usable = canReadWrite(info, env);
    const group = groups.get(info.gid) ?? String(info.gid);
    if (usable) results.push(ok(check, `${path} readable and writable (group ${group})`));
    else if (!env.groups.includes(info.gid)) {
      results.push(
        fail(
          check,
          `${path} belongs to group ${group}; user ${env.user} is not a member`,
          `sudo usermod -aG ${group} ${env.user} (then log in again / restart the service)`,
        ),
      );
    } else
      results.push(
        fail(
          check,
          `${path} is not readable and writable (mode ${(info.mode & 0o777).toString(8)})`,
          `check the udev rule: MODE="0660", GROUP="${group}"`,
        ),
      );
  }
  return results;
}

/** systemd time spans as printed by `systemctl show`: 0, infinity, 15s, 1min 30s, 500ms. */
export function parseTimespanMs(text: string): number {
  const t = text.trim();
  if (t === '' || t === '0') return 0;
  if (t === 'infinity') return Infinity;
  const units: Record<string, number> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)\s*(us|ms|s|min|h)/g)) total += Number(m[1]) * units[m[2]!]!;
  return total;
}

async function systemctlShow(env: DoctorEnv, args: string[]): Promise<Map<string, string> | undefined> {
  const r = await env.exec('systemctl', ['show', ...args]);
  if (!r || r.code !== 0) return undefined;
  return new Map(
    r.stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

export async function checkWatchdog(
  config: EdgeConfig,
  env: DoctorEnv,
  unit = 'edge-agent.service',
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const device = config.watchdog.device;
  const hasDevice = await stat(sysPath(env, device)).then(
    () => true,
    () => false,
  );
  const manager = await systemctlShow(env, ['-p', 'RuntimeWatchdogUSec']);
  const runtimeMs = manager ? parseTimespanMs(manager.get('RuntimeWatchdogUSec') ?? '0') : undefined;
  const systemdOwns = runtimeMs !== undefined && runtimeMs > 0 && runtimeMs !== Infinity;
  if (config.watchdog.mode === 'device') {
    if (!hasDevice)
      results.push(
        fail(
          'watchdog device',
          `${device} does not exist`,
          'enable the driver (Raspberry Pi: dtparam=watchdog=on in config.txt)',
        ),
      );
    else if (systemdOwns)
      results.push(
        fail(
          'watchdog device',
          `watchdog.mode is device but systemd owns ${device} (RuntimeWatchdogSec=${manager?.get('RuntimeWatchdogUSec')}); opening it fails with EBUSY`,
          'use watchdog.mode: systemd, or remove RuntimeWatchdogSec',
        ),
      );
    else
      results.push(
        ok(
          'watchdog device',
          `${device} present; the agent feeds it every ${config.watchdog.deviceFeedMs} ms`,
        ),
      );
    return results;
  }
  if (runtimeMs === undefined)
    results.push(
      warn(
        'watchdog hardware',
        'systemctl not available (or systemd not running): cannot tell whether PID 1 owns the hardware watchdog',
        'on systemd boxes set RuntimeWatchdogSec (the bundle installs a drop-in)',
      ),
    );
  else if (systemdOwns)
    results.push(
      ok(
        'watchdog hardware',
        `systemd feeds ${device} (RuntimeWatchdogSec=${manager?.get('RuntimeWatchdogUSec')})`,
      ),
    );
  else if (hasDevice)
    results.push(
      warn(
        'watchdog hardware',
        `${device} exists but systemd does not use it (RuntimeWatchdogSec off): a hung kernel is not reset`,
        'install deploy/ RuntimeWatchdogSec drop-in (e.g. 15s; bcm2835 allows at most ~15 s) and systemctl daemon-reexec',
      ),
    );
  else
    results.push(
      warn(
        'watchdog hardware',
        `no ${device}: no hardware reset on a hung kernel`,
        'Raspberry Pi: dtparam=watchdog=on',
      ),
    );
  const svc = await systemctlShow(env, [unit, '-p', 'Type', '-p', 'NotifyAccess', '-p', 'WatchdogUSec']);
  if (env.env.NOTIFY_SOCKET)
    results.push(
      ok('watchdog service', `running under systemd (WATCHDOG_USEC=${env.env.WATCHDOG_USEC ?? 'unset'})`),
    );
  else if (!svc)
    results.push(
      warn(
        'watchdog service',
        `cannot read ${unit} (systemctl missing or unit not installed)`,
        'install deploy/edge-agent.service',
      ),
    );
  else {
    const problems: string[] = [];
    if (svc.get('Type') !== 'notify') problems.push(`Type=${svc.get('Type') ?? '?'} (need notify)`);
    if (svc.get('NotifyAccess') !== 'all')
      problems.push(
        `NotifyAccess=${svc.get('NotifyAccess') ?? '?'} (need all: systemd-notify is a child process)`,
      );
    if (parseTimespanMs(svc.get('WatchdogUSec') ?? '0') === 0) problems.push('WatchdogSec not set');
    if (problems.length === 0)
      results.push(
        ok(
          'watchdog service',
          `${unit}: Type=notify, NotifyAccess=all, WatchdogSec=${svc.get('WatchdogUSec')}`,
        ),
      );
    else
      results.push(
        warn(
          'watchdog service',
          `${unit}: ${problems.join('; ')}`,
          'use deploy/edge-agent.service (Type=notify, NotifyAccess=all, WatchdogSec=30)',
        ),
      );
  }
  return results;
}

export async function checkClock(env: DoctorEnv): Promise<CheckResult[]> {
  const year = new Date(env.now()).getUTCFullYear();
  const results: CheckResult[] = [];
  if (year < 2024)
    results.push(
      fail(
        'clock',
        `system time is ${new Date(env.now()).toISOString()} (no RTC, not synced yet?)`,
        'wait for NTP, or fit an RTC; certificates and record timestamps depend on it',
      ),
    );
  else results.push(ok('clock', `system time ${new Date(env.now()).toISOString()}`));
  const r = await env.exec('timedatectl', ['show', '-p', 'NTPSynchronized', '--value']);
  if (!r || r.code !== 0)
    results.push(
      warn(
        'ntp',
        'timedatectl not available: cannot tell whether the clock is synchronised',
        'install systemd-timesyncd (or chrony)',
      ),
    );
  else if (r.stdout.trim() === 'yes') results.push(ok('ntp', 'clock synchronised (NTP)'));
  else
    results.push(
      warn(
        'ntp',
        'clock not synchronised',
        'timedatectl set-ntp true; check that UDP 123 (or the site NTP server) is reachable',
      ),
    );
  return results;
}
