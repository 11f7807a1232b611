/**
 * Issue 11 items 1 and 6 on a manual clock: the Line's quiet horizon after an RTU
 * timeout, the confirmation of the first answer after it, and what a dead slave costs.
 * The fake transport models RTU without transaction ids (fake-transport.ts `delays`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { TagValue } from '../../src/core/types.js';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { lateHorizonMs } from '../../src/drivers/modbus/late-guard.js';
import { FakeTransport, type FakeSlave } from './fake-transport.js';
import { settle } from './scripted-line.js';

const RTU = { transport: 'rtu', path: '/dev/ttyFAKE', baudRate: 19200 };
const GAP = 2; // 3.5 characters at 19200 baud is 1.8 ms: the 2 ms floor

function rig(slaves: Record<number, FakeSlave>) {
  const clock = new ManualClock();
  let transport: FakeTransport | undefined;
  const family = createModbusFamily(
    { clock, logger: silentLogger, random: () => 1 },
    {
      transportFactory: () => {
        transport = new FakeTransport(clock);
        for (const [id, s] of Object.entries(slaves)) transport.slaves.set(Number(id), s);
        return transport;
      },
    },
  );
  const bus = (): FakeTransport => {
    assert.ok(transport);
    return transport;
  };
  return { clock, family, bus };
}

const show = (vs: readonly TagValue[]) => vs.map((v) => (v.quality === 'good' ? v.value : v.code));

function meter(unitId: number, timeoutMs: number, addresses: number[]) {
  return modbusDeviceSchema.parse({
    name: `m${unitId}`,
    driver: 'modbus',
    connection: RTU,
    unitId,
    timeoutMs,
    breaker: { failureThreshold: 100 },
    tags: addresses.map((address) => ({ name: `r${address}`, function: 'holding', address })),
  });
}

test('dead-slave-cost (issue 11 item 6): a dead slave costs exactly twice its timeout plus the gap per turn', async () => {
  const { clock, family, bus } = rig({ 1: { holding: { 0: 11 } }, 3: { dead: true } });
  const live = family.create(meter(1, 100, [0]));
  const dead = family.create(meter(3, 100, [0]));
  for (const d of [live, dead]) {
    d.init();
    await settle(clock, d.start());
  }
  const t0 = clock.monotonic();
  const [deadValues] = await settle(clock, Promise.all([dead.poll(['r0']), live.poll(['r0'])]));
  assert.deepEqual(show(deadValues), ['EDGE_ERR_MODBUS_TIMEOUT']);
  const [toDead, toLive] = bus().sent;
  assert.ok(toDead && toLive);
  assert.equal(toDead.unitId, 3);
  assert.equal(toDead.at, t0);
  assert.equal(toLive.at - toDead.at, lateHorizonMs(100, undefined) + GAP);
  assert.equal(toLive.at - toDead.at, 2 * 100 + GAP);
});

test('late-answer-in-horizon: an answer after the timeout is discarded, reported, and not given to the next read', async () => {
  const { clock, family, bus } = rig({ 1: { holding: { 0: 1000, 10: 1010 }, delays: [150] } });
  const d = family.create(meter(1, 100, [0, 10]));
  d.init();
  await settle(clock, d.start());
  const values = await settle(clock, d.poll(['r0', 'r10']));
  assert.deepEqual(show(values), ['EDGE_ERR_MODBUS_LATE_ANSWER', 1010]);
  const [first, second] = bus().sent;
  assert.ok(first && second);
  assert.ok(second.at - first.at >= 200, `second read waited the quiet horizon (${second.at - first.at} ms)`);
  const line = (d.status() as { line: { lateAnswers: number } }).line;
  assert.equal(line.lateAnswers, 1);
});

test('stale-match-beyond-horizon: an answer later than the quiet horizon lands during the fence, never as a value', async () => {
  // r0's answer takes 250 ms: later than the 200 ms horizon. r10 has r0's shape, so a
  // fence read (another shape: two registers) goes first; r0's answer lands while the fence waits and
  // does not fit it; the fence's own answer (50 ms, in order after r0's) clears the unit
  // (first the fresh line's fence and one read answered at once: 1 ms each)
  const { clock, family, bus } = rig({ 1: { holding: { 0: 1000, 10: 1010 }, delays: [1, 1, 250, 50] } });
  const d = family.create(meter(1, 100, [0, 10]));
  d.init();
  await settle(clock, d.start());
  assert.deepEqual(show(await settle(clock, d.poll(['r0']))), [1000]);
  const values = await settle(clock, d.poll(['r0', 'r10']));
  assert.deepEqual(show(values), ['EDGE_ERR_MODBUS_TIMEOUT', 1010]);
  assert.deepEqual(
    bus().sent.map((r) => `${r.fn} ${r.address} x${r.length}`),
    ['holding 0 x2', 'holding 0 x1', 'holding 0 x1', 'holding 0 x2', 'holding 10 x1'],
    'the fresh line fences its unit (FC3, 2 registers) first; then one fence read (a known read ' +
      'of another shape) between the timeout and the next read of the same shape',
  );
  const line = (d.status() as { line: { lateAnswers: number; fences: number } }).line;
  assert.equal(line.lateAnswers, 1, 'the stray answer is counted');
  assert.equal(line.fences, 2);
  const again = await settle(clock, d.poll(['r0', 'r10']));
  assert.deepEqual(show(again), [1000, 1010]);
  assert.equal(bus().sent.length, 7, 'no fence once an answer was conclusive');
});

test('stale-match-learnt: after a late answer beyond the horizon the slave horizon covers its answer time', async () => {
  const { clock, family } = rig({ 1: { holding: { 0: 1000, 10: 1010 }, delays: [250, 50, 1, 250] } });
  const d = family.create(meter(1, 100, [0, 10]));
  d.init();
  await settle(clock, d.start());
  await settle(clock, d.poll(['r0', 'r10']));
  const values = await settle(clock, d.poll(['r0', 'r10']));
  assert.deepEqual(show(values), ['EDGE_ERR_MODBUS_LATE_ANSWER', 1010]);
});

test('dtu-link-up-resets-breakers (issue 11 item 2): link down reads LINK_DOWN, uncharged; the first poll after link-up reads', async () => {
  const slaves: Record<number, FakeSlave> = { 1: { holding: { 0: 7 }, dead: true } };
  const { clock, family, bus } = rig(slaves);
  const d = family.create(
    modbusDeviceSchema.parse({
      name: 'm',
      driver: 'modbus',
      connection: RTU,
      unitId: 1,
      timeoutMs: 100,
      breaker: { failureThreshold: 2, cooldownMs: 600_000 },
      tags: [{ name: 'r0', function: 'holding', address: 0 }],
    }),
  );
  d.init();
  await settle(clock, d.start());
  // silent link: timeouts open the breaker
  for (let i = 0; i < 3; i++) await settle(clock, d.poll(['r0']));
  assert.equal((d.status() as { breaker: string }).breaker, 'open');
  bus().setDtuLink(false);
  const sent = bus().sent.length;
  for (let i = 0; i < 5; i++)
    assert.deepEqual(show(await settle(clock, d.poll(['r0']))), ['EDGE_ERR_DTU_LINK_DOWN']);
  assert.equal(bus().sent.length, sent, 'nothing sent while the link is down');
  assert.equal(
    (d.status() as { consecutiveFailures: number }).consecutiveFailures,
    2,
    'link down is not charged',
  );
  // the DTU registers again (and its slave answers): the very first poll reads, at once
  slaves[1] = { holding: { 0: 7 }, latencyMs: 1 };
  bus().slaves.set(1, slaves[1]);
  bus().setDtuLink(true);
  const upAt = clock.monotonic();
  assert.deepEqual(show(await settle(clock, d.poll(['r0']))), [7]);
  // No cooldown; the slave timed out before the link dropped, so a fence read goes first
  // (a DTU may forward an answer it held): a fence and the read, 2 ms each here.
  assert.ok(clock.monotonic() - upAt <= 20, 'recovery = a fence and one read, no cooldown');
  assert.equal((d.status() as { breaker: string }).breaker, 'closed');
});
