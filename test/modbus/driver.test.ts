import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EdgeError } from '../../src/core/errors.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { TagValue } from '../../src/core/types.js';
import { modbusDeviceSchema, type ModbusDeviceConfig } from '../../src/drivers/modbus/config.js';
import { createModbusFamily, type ModbusFamily } from '../../src/drivers/modbus/family.js';
import { modbusDriver } from '../../src/drivers/modbus/index.js';
import { FakeTransport, fakeTransports, type FakeSlave } from './fake-transport.js';

function rig(slaves: Record<number, FakeSlave> = {}) {
  const clock = new ManualClock();
  const transports: FakeTransport[] = [];
  const family = createModbusFamily(
    { clock, logger: silentLogger, random: () => 1 },
    { transportFactory: fakeTransports(clock, slaves, transports) },
  );
  return { clock, family, transports };
}

function device(overrides: Record<string, unknown> = {}): ModbusDeviceConfig {
  return modbusDeviceSchema.parse({
    name: 'dev',
    driver: 'modbus',
    connection: { transport: 'tcp', host: 'gw', port: 502 },
    tags: [{ name: 'a', function: 'holding', address: 0 }],
    ...overrides,
  });
}

/** Advances the manual clock until the promise settles. */
async function settle<T>(clock: ManualClock, p: Promise<T>, maxMs = 600_000): Promise<T> {
  let done = false;
  let out: { v?: T; e?: unknown; failed?: boolean } = {};
  p.then(
    (v) => ((done = true), (out = { v })),
    (e) => ((done = true), (out = { e, failed: true })),
  );
  for (let t = 0; !done && t < maxMs; t += 10) await clock.advance(10);
  assert.ok(done, 'promise did not settle');
  if (out.failed) throw out.e;
  return out.v as T;
}

const codes = (vs: readonly TagValue[]) => vs.map((v) => (v.quality === 'good' ? 'good' : v.code));

async function started(family: ModbusFamily, clock: ManualClock, cfgs: ModbusDeviceConfig[]) {
  const devs = cfgs.map((c) => family.create(c));
  for (const d of devs) d.init();
  for (const d of devs) await settle(clock, d.start());
  return devs;
}

test('modbusDriver definition', async () => {
  assert.equal(modbusDriver.name, 'modbus');
  assert.equal(modbusDriver.schema, modbusDeviceSchema);
  const fam = await modbusDriver.createFamily({
    clock: new ManualClock(),
    logger: silentLogger,
    random: Math.random,
  });
  assert.equal(typeof fam.create, 'function');
});

test('coalesced poll decodes values; status counts requests', async () => {
  const { clock, family, transports } = rig({
    1: { holding: { 0: 7, 1: 0xffff, 2: 0x3fc0, 3: 0 }, coil: { 5: true } },
  });
  const [d] = await started(family, clock, [
    device({
      tags: [
        { name: 'a', function: 'holding', address: 0 },
        { name: 'b', function: 'holding', address: 1, type: 'i16' },
        { name: 'c', function: 'holding', address: 2, type: 'f32', scale: 2 },
        { name: 'k', function: 'coil', address: 5, type: 'bool' },
      ],
    }),
  ]);
  const values = await settle(clock, d!.poll(['c', 'a', 'b', 'k']));
  assert.deepEqual(
    values.map((v) => [v.tag, v.value]),
    [
      ['c', 3],
      ['a', 7],
      ['b', -1],
      ['k', true],
    ],
  );
  assert.equal(transports[0]!.sent.length, 2);
  const st = d!.status();
  assert.equal(st.requests, 2);
  assert.equal(st.breaker, 'closed');
  assert.equal(st.line.state, 'up');
  assert.equal(typeof st.lastLatencyMs, 'number');
  await family.close();
});

test('one request failing (exception 02) marks only its tags; exceptions do not trip the breaker', async () => {
  const { clock, family } = rig({ 1: { holding: { 0: 1 }, illegalFrom: 1000 } });
  const [d] = await started(family, clock, [
    device({
      breaker: { failureThreshold: 1, cooldownMs: 1000 },
      tags: [
        { name: 'ok', function: 'holding', address: 0 },
        { name: 'missing', function: 'holding', address: 1000 },
      ],
    }),
  ]);
  for (let i = 0; i < 3; i++) {
    const vs = await settle(clock, d!.poll(['ok', 'missing']));
    assert.deepEqual(codes(vs), ['good', 'EDGE_ERR_MODBUS_ILLEGAL_ADDRESS']);
  }
  const st = d!.status();
  assert.equal(st.breaker, 'closed');
  assert.equal(st.errorsByCode.EDGE_ERR_MODBUS_ILLEGAL_ADDRESS, 3);
  await family.close();
});

test('fair round-robin: requests of devices on one line interleave, one in flight', async () => {
  const { clock, family, transports } = rig({ 1: {}, 2: {}, 3: {} });
  const tags = [0, 100, 200].map((a) => ({ name: `t${a}`, function: 'holding', address: a }));
  const devs = await started(
    family,
    clock,
    [1, 2, 3].map((u) => device({ name: `d${u}`, unitId: u, tags })),
  );
  assert.equal(transports.length, 1, 'one line for one host:port');
  const all = await settle(clock, Promise.all(devs.map((d) => d.poll(['t0', 't100', 't200']))));
  assert.ok(all.every((vs) => codes(vs).every((c) => c === 'good')));
  assert.deepEqual(
    transports[0]!.sent.map((s) => s.unitId),
    [1, 2, 3, 1, 2, 3, 1, 2, 3],
  );
  assert.equal(transports[0]!.maxInFlight, 1);
  await family.close();
});

test('dead slave on a shared RTU bus: breaker opens, live slaves keep good values, half-open probe', async () => {
  const slaves: Record<number, FakeSlave> = {
    1: { holding: { 0: 11 } },
    2: { holding: { 0: 22 } },
    3: { dead: true },
  };
  const { clock, family, transports } = rig(slaves);
  const rtu = { transport: 'rtu', path: '/dev/ttyFAKE', baudRate: 19200 };
  const devs = await started(
    family,
    clock,
    [1, 2, 3].map((u) =>
      device({
        name: `d${u}`,
        unitId: u,
        connection: rtu,
        timeoutMs: 100,
        breaker: { failureThreshold: 2, cooldownMs: 5000 },
      }),
    ),
  );
  const bus = transports[0]!;
  const cycle = () => settle(clock, Promise.all(devs.map((d) => d.poll(['a']))));
  for (let i = 0; i < 5; i++) {
    const before = clock.monotonic();
    const [v1, v2, v3] = await cycle();
    assert.deepEqual([v1![0]!.value, v2![0]!.value], [11, 22], `cycle ${i}`);
    assert.equal(codes(v3!)[0], i < 2 ? 'EDGE_ERR_MODBUS_TIMEOUT' : 'EDGE_ERR_MODBUS_CIRCUIT_OPEN');
    // the dead slave costs its quiet horizon (twice its timeout) per turn, see late-answer-unit tests
    assert.ok(clock.monotonic() - before <= 2 * 100 + 40, `cycle ${i} took ${clock.monotonic() - before} ms`);
  }
  assert.equal(bus.sent.filter((s) => s.unitId === 3).length, 2, 'no traffic to the dead slave while open');
  assert.equal(devs[2]!.status().breaker, 'open');
  assert.ok(bus.discards >= 2, 'late bytes drained after each RTU timeout');
  await clock.advance(5000);
  assert.equal(devs[2]!.status().breaker, 'half-open');
  await cycle(); // probe fails -> open again
  assert.equal(bus.sent.filter((s) => s.unitId === 3).length, 3);
  assert.equal(devs[2]!.status().breaker, 'open');
  slaves[3]!.dead = false;
  slaves[3]!.holding = { 0: 33 };
  await clock.advance(5000);
  const [, , v3] = await cycle();
  assert.equal(v3![0]!.value, 33);
  assert.equal(devs[2]!.status().breaker, 'closed');
  await family.close();
});

test('retries: extra attempts on timeout only', async () => {
  const { clock, family, transports } = rig({ 1: { dead: true } });
  const [d] = await started(family, clock, [device({ retries: 2, timeoutMs: 50 })]);
  const vs = await settle(clock, d!.poll(['a']));
  assert.deepEqual(codes(vs), ['EDGE_ERR_MODBUS_TIMEOUT']);
  assert.equal(transports[0]!.sent.length, 3);
  assert.equal(d!.status().requests, 3);
  assert.equal(d!.status().consecutiveFailures, 1);
  await family.close();
});

test('link lost: polls answer DISCONNECTED at once; reconnect with capped exponential backoff', async () => {
  const { clock, family, transports } = rig({ 1: { holding: { 0: 5 } } });
  const [d] = await started(family, clock, [
    device({ reconnect: { initialMs: 100, maxMs: 400, multiplier: 2, jitter: 0.5 } }),
  ]);
  const bus = transports[0]!;
  bus.failConnects = 4;
  const t0 = clock.monotonic();
  bus.drop();
  const sentBefore = bus.sent.length;
  const vs = await d!.poll(['a']); // no clock advance needed: resolves immediately
  assert.deepEqual(codes(vs), ['EDGE_ERR_MODBUS_DISCONNECTED']);
  assert.equal(bus.sent.length, sentBefore);
  assert.equal(d!.status().line.state, 'down');
  await clock.advance(2000);
  // random() = 1 -> full base delay: 100, 200, 400, 400 (capped), then success
  const deltas = bus.connectAttempts.slice(1).map((t, i, arr) => t - (i === 0 ? t0 : arr[i - 1])!);
  assert.deepEqual(deltas, [100, 200, 400, 400, 400]);
  assert.equal(d!.status().line.state, 'up');
  const again = await settle(clock, d!.poll(['a']));
  assert.equal(again[0]!.value, 5);
  await family.close();
});

test('backoff jitter comes from deps.random', async () => {
  const clock = new ManualClock();
  let t: FakeTransport | undefined;
  const family = createModbusFamily(
    { clock, logger: silentLogger, random: () => 0 },
    { transportFactory: () => (t = new FakeTransport(clock)) },
  );
  const d = family.create(
    device({ reconnect: { initialMs: 1000, maxMs: 60000, multiplier: 2, jitter: 0.5 } }),
  );
  d.init();
  await settle(clock, d.start());
  t!.failConnects = 1;
  const t0 = clock.monotonic();
  t!.drop();
  await clock.advance(3000);
  assert.deepEqual(
    t!.connectAttempts.slice(1).map((x) => x - t0),
    [500, 500 + 1000],
  );
  await family.close();
});

test('start() rejects with a retryable EdgeError when the link cannot open; stop() is idempotent', async () => {
  const { clock, family, transports } = rig({ 1: {} });
  const d = family.create(device());
  d.init();
  transports[0]!.failConnects = 1;
  await assert.rejects(
    settle(clock, d.start()),
    (e: EdgeError) => e.code === 'EDGE_ERR_DRIVER_START' && e.retryable === true,
  );
  assert.equal(clock.pendingCount, 0, 'no reconnect timer for a device that is not started');
  const vs = await d.poll(['a']);
  assert.deepEqual(codes(vs), ['EDGE_ERR_MODBUS_DISCONNECTED']);
  await settle(clock, d.start());
  assert.equal(codes(await settle(clock, d.poll(['a'])))[0], 'good');
  await d.stop();
  await d.stop();
  assert.equal(transports[0]!.isOpen, false);
  await family.close();
});

test('devices on one serial path with differing serial settings: init throws naming the field', () => {
  const { family } = rig();
  const a = family.create(
    device({ name: 'a', connection: { transport: 'rtu', path: '/dev/ttyS0', baudRate: 9600 } }),
  );
  const b = family.create(
    device({ name: 'b', unitId: 2, connection: { transport: 'rtu', path: '/dev/ttyS0', baudRate: 19200 } }),
  );
  const c = family.create(
    device({ name: 'c', unitId: 3, connection: { transport: 'rtu', path: '/dev/ttyS0', parity: 'even' } }),
  );
  a.init();
  assert.throws(
    () => b.init(),
    (e: EdgeError) =>
      e.code === 'EDGE_ERR_CONFIG_INVALID' &&
      e.context.field === 'connection.baudRate' &&
      /baudRate/.test(e.message),
  );
  assert.throws(
    () => c.init(),
    (e: EdgeError) => e.context.field === 'connection.parity',
  );
  const other = rig().family.create(
    device({ name: 'b', connection: { transport: 'rtu', path: '/dev/ttyS0', baudRate: 19200 } }),
  );
  other.init(); // another family: another set of lines
});

test('RTU inter-frame gap: requests are spaced by 3.5 character times', async () => {
  const { clock, family, transports } = rig({ 1: { latencyMs: 0 } });
  const tags = [0, 100, 200].map((a) => ({ name: `t${a}`, function: 'holding', address: a }));
  const [d] = await started(family, clock, [
    device({ connection: { transport: 'rtu', path: '/dev/x', baudRate: 1200 }, tags }),
  ]);
  await settle(clock, d!.poll(['t0', 't100', 't200']));
  const at = transports[0]!.sent.map((s) => s.at);
  const gap = (3.5 * 10 * 1000) / 1200; // 29.2 ms
  for (let i = 1; i < at.length; i++) assert.ok(at[i]! - at[i - 1]! >= gap, `gap ${at[i]! - at[i - 1]!}`);
  await family.close();
});

test('unknown tag names are a programming error', async () => {
  const { clock, family } = rig({ 1: {} });
  const [d] = await started(family, clock, [device()]);
  await assert.rejects(d!.poll(['nope']), (e: EdgeError) => e.code === 'EDGE_ERR_CONFIG_INVALID');
  assert.deepEqual(d!.tags(), [{ name: 'a', intervalMs: 1000 }]);
  await family.close();
});

test('TCP: timeouts in a row with no answer re-open the connection', async () => {
  const { clock, family, transports } = rig({ 1: { dead: true } });
  const [d] = await started(family, clock, [
    device({
      timeoutMs: 50,
      reconnect: { initialMs: 100, maxMs: 100, multiplier: 2, jitter: 0 },
      breaker: { failureThreshold: 10, cooldownMs: 1000 },
    }),
  ]);
  const bus = transports[0]!;
  for (let i = 0; i < 2; i++)
    assert.deepEqual(codes(await settle(clock, d!.poll(['a']))), ['EDGE_ERR_MODBUS_TIMEOUT']);
  assert.equal(bus.connectAttempts.length, 1);
  assert.deepEqual(codes(await settle(clock, d!.poll(['a']))), ['EDGE_ERR_MODBUS_TIMEOUT']);
  assert.equal(d!.status().line.state, 'down');
  await clock.advance(100);
  assert.equal(bus.connectAttempts.length, 2);
  assert.equal(d!.status().line.state, 'up');
  await family.close();
});
