/**
 * Issue 11, item 2 ("silent-dtu-link-down-not-circuit-open"): a DTU that falls silent
 * (heartbeats overdue, then closed after its missed heartbeats) must make its devices read
 * EDGE_ERR_DTU_LINK_DOWN, not the CIRCUIT_OPEN their breakers reached on the silence's
 * timeouts, and they must read good values on the very first poll after the DTU registers
 * again, not after `breaker.cooldownMs`. The manual-clock twin (breaker reset on link-up)
 * is `dtu-link-up-resets-breakers` in test/modbus/late-answer-unit.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TagValue } from '../../src/core/types.js';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import { registerValue, startLateSlave, type LateSlave } from '../helpers/late-slave.js';
import { startPtyPair, type PtyPair } from '../helpers/pymodbus.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { startDtuLink } from './helpers.js';

const BAUD = 38400;
let dir: ReturnType<typeof tempDir> | undefined;
let pty: PtyPair | undefined;
let slave: LateSlave | undefined;

before(async () => {
  dir = tempDir('edge-dtu-recovery-');
  pty = await startPtyPair(dir.path, 'dturec');
  slave = await startLateSlave(pty.b, BAUD, () => 0);
});

after(async () => {
  await slave?.close();
  await pty?.stop();
  dir?.remove();
});

const codes = (vs: readonly TagValue[]): unknown[] => [
  ...new Set(vs.map((v) => (v.quality === 'good' ? 'good' : v.code))),
];

// The timings keep the ratios that make the case. A read that times out takes two
// TIMEOUT_MS (the timeout, then the line's quiet for a late answer). The first read's
// timeout comes before the link's heartbeats are overdue (1.5 × HEARTBEAT_MS), the second's
// after, and the link closes (MISSED × HEARTBEAT_MS of silence) only after a third read
// has begun: without the link's verdict two timeouts would open the breaker (threshold 2)
// while the link is up, and the third read would say CIRCUIT_OPEN. They were 60/100/3: a
// good read through pty, simulator, TCP and hub took up to 57 ms on an idle box (88 ms at
// load 26), so a busy host timed out the reads that must be good. Timer lateness under
// load only makes the silence longer, which the link reads as silence all the same.
const TIMEOUT_MS = 500;
const HEARTBEAT_MS = 400;
const MISSED = 8;
assert.ok(TIMEOUT_MS < 1.5 * HEARTBEAT_MS && 1.5 * HEARTBEAT_MS < 3 * TIMEOUT_MS);
assert.ok(4 * TIMEOUT_MS + 500 < MISSED * HEARTBEAT_MS);

test('silent-dtu-link-down-not-circuit-open: link down reads LINK_DOWN; the first poll after re-registration is good', async (t) => {
  const { hub, fam, sim } = await startDtuLink(
    t,
    {
      server: { host: '127.0.0.1', port: 0, registrationTimeoutMs: 10_000 },
      links: [
        {
          name: 'north',
          mode: 'server',
          registration: { ascii: 'DTU-REC' },
          heartbeat: { ascii: 'HB' },
          heartbeatIntervalMs: HEARTBEAT_MS,
          missedHeartbeats: MISSED,
        },
      ],
    },
    {
      serial: { path: pty!.a, baudRate: BAUD },
      registration: 'ascii:DTU-REC',
      heartbeat: 'ascii:HB',
      heartbeatIntervalMs: HEARTBEAT_MS / 4,
      reconnectDelayMs: 50,
      seed: 2,
    },
  );
  const north = () => {
    const st = hub.status().north;
    assert.ok(st, 'link north');
    return st;
  };
  await waitFor('registered', () => hub.status().north?.up === true);
  const d = fam.create(
    modbusDeviceSchema.parse({
      name: 'meter',
      driver: 'modbus',
      connection: { transport: 'dtu', dtu: 'north' },
      unitId: 5,
      timeoutMs: TIMEOUT_MS,
      // a cooldown far beyond the test: only a reset on link-up can close the breaker
      breaker: { failureThreshold: 2, cooldownMs: 600_000 },
      tags: [
        { name: 'a', function: 'holding', address: 0 },
        { name: 'b', function: 'holding', address: 1 },
      ],
    }),
  );
  d.init();
  await d.start();
  const good = [registerValue(5, 0), registerValue(5, 1)];
  const before = await d.poll(['a', 'b']);
  assert.deepEqual(
    before.map((v) => (v.quality === 'good' ? v.value : v.code)),
    good,
    JSON.stringify(before.map((v) => (v.quality === 'good' ? v.value : v.reason))),
  );

  // the DTU falls silent: timeouts open the breaker, then the hub closes the link
  sim.setFaults({ silent: true });
  const regs = north().registrations;
  const seen = new Set<unknown>();
  await waitFor(
    'the silent link closed',
    async () => {
      for (const c of codes(await d.poll(['a', 'b']))) seen.add(c);
      return !north().up;
    },
    30_000,
    10,
  );
  // once a heartbeat is overdue the timeouts are the link's: LINK_DOWN, the breaker is not charged
  assert.ok(!seen.has('EDGE_ERR_MODBUS_CIRCUIT_OPEN'), `no CIRCUIT_OPEN in the silence: ${[...seen].join()}`);
  assert.ok(seen.has('EDGE_ERR_DTU_LINK_DOWN'), `LINK_DOWN in the silence: ${[...seen].join()}`);
  assert.ok((d.status() as { consecutiveFailures: number }).consecutiveFailures < 2, 'breaker not charged');
  assert.deepEqual(codes(await d.poll(['a', 'b'])), ['EDGE_ERR_DTU_LINK_DOWN']);
  assert.deepEqual(codes(await d.poll(['a', 'b'])), ['EDGE_ERR_DTU_LINK_DOWN']);

  // it speaks again and re-registers: the very first poll reads
  sim.setFaults({});
  await waitFor('re-registered', () => north().up && north().registrations > regs, 30_000, 1);
  const registeredAt = Date.now();
  const first = await d.poll(['a', 'b']);
  const recoveryMs = Date.now() - registeredAt;
  assert.deepEqual(
    first.map((v) => (v.quality === 'good' ? v.value : v.code)),
    good,
    'the first poll after re-registration',
  );
  t.diagnostic(`recovery: the first poll after re-registration, ${recoveryMs} ms after it`);
  assert.equal((d.status() as { breaker: string }).breaker, 'closed');
});
