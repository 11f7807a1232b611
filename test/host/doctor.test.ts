import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema, type EdgeConfigInput } from '../../src/config/schema.js';
import { doctorExitCode, formatResults, runDoctor } from '../../src/host/doctor/doctor.js';
import type { CheckResult, DoctorEnv, ExecResult } from '../../src/host/doctor/env.js';
import { checkBroker, checkCertificates } from '../../src/host/doctor/network-checks.js';
import { checkDisk } from '../../src/host/doctor/storage-checks.js';
import {
  checkClock,
  checkSerialPorts,
  checkWatchdog,
  parseTimespanMs,
} from '../../src/host/doctor/system-checks.js';
import { createTestCerts } from '../helpers/certs.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';

const fixture = join(process.cwd(), 'src/host/doctor/testcases/pi-field');
const MB = 1024 * 1024;

function fieldRoot(t: { after(fn: () => void): void }): string {
  const tmp = tempDir('edge-agent-doctor-');
  t.after(() => tmp.remove());
  cpSync(fixture, tmp.path, { recursive: true });
  return tmp.path;
}

function env(root: string, over: Partial<DoctorEnv> = {}, commands: Record<string, string> = {}): DoctorEnv {
  return {
    root,
    env: {},
    uid: 1000,
    user: 'edge',
    groups: [1000],
    exec: async (command, args): Promise<ExecResult | undefined> => {
      const key = [command, ...args].join(' ');
      return key in commands ? { code: 0, stdout: commands[key]! } : undefined;
    },
    now: () => Date.parse('2025-06-01T12:00:00Z'),
    diskSpace: async () => ({ free: 4000 * MB, total: 16000 * MB }),
    timeoutMs: 3_000,
    ...over,
  };
}

const config = (input: EdgeConfigInput) => configSchema.parse(input);
const rtu = (path: string): EdgeConfigInput => ({
  devices: [
    {
      name: 'meter-1',
      driver: 'modbus',
      connection: { transport: 'rtu', path },
      tags: [{ name: 'v', function: 'holding', address: 0, type: 'u16' }],
    },
  ],
});
const byCheck = (results: CheckResult[], check: string) => results.find((r) => r.check === check);

test('serial: missing port fails; wrong group names the group and the usermod fix; member is ok', async (t) => {
  const root = fieldRoot(t);
  const port = join(root, 'dev/ttyUSB0');
  chownSync(port, 0, 20);
  chmodSync(port, 0o660);
  const cfg = config(rtu('/dev/ttyUSB0'));
  const outsider = await checkSerialPorts(cfg, env(root));
  assert.equal(outsider[0]!.status, 'fail');
  assert.match(outsider[0]!.message, /group dialout; user edge is not a member/);
  assert.match(outsider[0]!.fix ?? '', /usermod -aG dialout edge/);
  const member = await checkSerialPorts(cfg, env(root, { groups: [1000, 20] }));
  assert.equal(member[0]!.status, 'ok');
  const missing = await checkSerialPorts(config(rtu('/dev/ttyAMA9')), env(root));
  assert.equal(missing[0]!.status, 'fail');
  assert.match(missing[0]!.fix ?? '', /by-id/);
});

test('watchdog: systemd owning /dev/watchdog is ok in systemd mode and a failure in device mode; unit settings checked', async (t) => {
  const root = fieldRoot(t);
  const commands = {
    'systemctl show -p RuntimeWatchdogUSec': 'RuntimeWatchdogUSec=15s\n',
    'systemctl show edge-agent.service -p Type -p NotifyAccess -p WatchdogUSec':
      'Type=notify\nNotifyAccess=main\nWatchdogUSec=30s\n',
  };
  const sd = await checkWatchdog(config({}), env(root, {}, commands));
  assert.equal(byCheck(sd, 'watchdog hardware')?.status, 'ok');
  const svc = byCheck(sd, 'watchdog service');
  assert.equal(svc?.status, 'warn');
  assert.match(svc?.message ?? '', /NotifyAccess=main \(need all/);
  const dev = await checkWatchdog(config({ watchdog: { mode: 'device' } }), env(root, {}, commands));
  assert.equal(dev[0]!.status, 'fail');
  assert.match(dev[0]!.message, /systemd owns \/dev\/watchdog/);
  const off = await checkWatchdog(
    config({}),
    env(root, {}, { 'systemctl show -p RuntimeWatchdogUSec': 'RuntimeWatchdogUSec=0\n' }),
  );
  assert.equal(byCheck(off, 'watchdog hardware')?.status, 'warn');
  assert.equal(parseTimespanMs('1min 30s'), 90_000);
  assert.equal(parseTimespanMs('infinity'), Infinity);
});

test('clock: before 2024 fails, NTP state from timedatectl', async () => {
  const early = await checkClock(
    env(
      '/',
      { now: () => Date.parse('1970-01-01T00:00:42Z') },
      { 'timedatectl show -p NTPSynchronized --value': 'no\n' },
    ),
  );
  assert.equal(early[0]!.status, 'fail');
  assert.equal(early[1]!.status, 'warn');
  const good = await checkClock(env('/', {}, { 'timedatectl show -p NTPSynchronized --value': 'yes\n' }));
  assert.deepEqual(
    good.map((r) => r.status),
    ['ok', 'ok'],
  );
});

test('disk: free space vs store bound, noatime on the data partition, journald bounded', async (t) => {
  const root = fieldRoot(t);
  const onData = config({ store: { path: '/var/lib/edge-agent/outbox.db' } });
  const res = await checkDisk(onData, env(root));
  assert.deepEqual(
    res.map((r) => [r.check, r.status]),
    [
      ['disk', 'ok'],
      ['mount', 'ok'],
      ['journald', 'ok'],
    ],
  );
  const tight = await checkDisk(
    onData,
    env(root, { diskSpace: async () => ({ free: 300 * MB, total: 16000 * MB }) }),
  );
  assert.equal(tight[0]!.status, 'warn');
  const full = await checkDisk(
    onData,
    env(root, { diskSpace: async () => ({ free: 10 * MB, total: 16000 * MB }) }),
  );
  assert.equal(full[0]!.status, 'fail');
  const onRoot = await checkDisk(config({ store: { path: '/opt/outbox.db' } }), env(root));
  assert.equal(byCheck(onRoot, 'mount')?.status, 'warn');
  writeFileSync(join(root, 'etc/systemd/journald.conf.d/edge-agent.conf'), '[Journal]\n');
  const unbounded = await checkDisk(onData, env(root));
  assert.equal(byCheck(unbounded, 'journald')?.status, 'warn');
});

test('broker (real mosquitto, TLS 1.3) reachable; wrong CA and closed port fail; certificate expiry warns under 30 days', async (t) => {
  const certs = createTestCerts();
  t.after(() => certs.remove());
  const broker = await startMosquitto({
    tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey },
  });
  t.after(() => broker.close());
  const tls = { ca: certs.ca, cert: certs.clientCert, key: { file: certs.clientKey } };
  const good = config({ mqtt: { url: `mqtts://127.0.0.1:${broker.tlsPort}`, tls } });
  const now = { now: () => Date.now() };
  const reach = await checkBroker(good, env('/', now));
  assert.equal(reach[0]!.status, 'ok', reach[0]!.message);
  assert.match(reach[0]!.message, /TLSv1\.3/);
  const other = createTestCerts('another-ca');
  t.after(() => other.remove());
  const wrongCa = await checkBroker(
    config({ mqtt: { url: `mqtts://127.0.0.1:${broker.tlsPort}`, tls: { ...tls, ca: other.ca } } }),
    env('/', now),
  );
  assert.equal(wrongCa[0]!.status, 'fail');
  await broker.stop();
  const down = await checkBroker(good, env('/', now));
  assert.equal(down[0]!.status, 'fail');
  assert.match(down[0]!.message, /ECONNREFUSED/);
  // The test certificates live 2 days: under the 30-day warning.
  const soon = await checkCertificates(good, env('/', now));
  assert.deepEqual(
    soon.map((r) => r.status),
    ['warn', 'warn'],
  );
  assert.match(soon[0]!.message, /expires in [01] days/);
  const later = await checkCertificates(good, env('/', { now: () => Date.now() + 3 * 86_400_000 }));
  assert.deepEqual(
    later.map((r) => r.status),
    ['fail', 'fail'],
  );
});

test('runDoctor: every area reported, exit code 0/1/2, fixes printed', async (t) => {
  const root = fieldRoot(t);
  const results = await runDoctor(
    config({
      store: { path: '/var/lib/edge-agent/outbox.db' },
      led: { backend: 'sysfs-led', name: 'status' },
    }),
    env(root),
  );
  const checks = new Set(results.map((r) => r.check));
  for (const c of [
    'serial',
    'led',
    'watchdog hardware',
    'clock',
    'ntp',
    'disk',
    'mount',
    'journald',
    'broker',
    'certificates',
  ])
    assert.ok(checks.has(c), c);
  assert.equal(byCheck(results, 'led')?.status, 'ok');
  assert.equal(doctorExitCode(results), 1);
  assert.equal(doctorExitCode([{ check: 'x', status: 'ok', message: '' }]), 0);
  assert.equal(doctorExitCode([...results, { check: 'x', status: 'fail', message: 'm', fix: 'f' }]), 2);
  const text = formatResults(results).join('\n');
  assert.match(text, /WARN +broker +no mqtt.url/);
  assert.match(text, /fix: set mqtt.url/);
});
