/**
 * The stand-in an RTU line gets (serial-deferred.ts): nothing loads before its first
 * connect, it shows the Line exactly the optional methods of the serial transport it
 * stands for, hands every call and event to that transport once loaded, and a module that
 * cannot load fails connect() with EDGE_ERR_MODBUS_CONNECT, which the line retries.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import type { EdgeError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/ports.js';
import type { TagValue } from '../../src/core/types.js';
import { modbusDeviceSchema, type ModbusDeviceConfig } from '../../src/drivers/modbus/config.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import type { ModbusTransport } from '../../src/drivers/modbus/port.js';
import {
  deferredSerialTransport,
  type SerialConnection,
  type SerialLoader,
} from '../../src/drivers/modbus/serial-deferred.js';
import { SerialStreamTransport } from '../../src/drivers/modbus/serial-stream.js';
import { ModbusSerialTransport } from '../../src/drivers/modbus/transport.js';
import { FakeTransport } from './fake-transport.js';

function rtu(echoSuppression: boolean, over: Record<string, unknown> = {}): ModbusDeviceConfig {
  return modbusDeviceSchema.parse({
    name: 'rtu',
    driver: 'modbus',
    connection: { transport: 'rtu', path: '/dev/ttyLAZY0', baudRate: 19200, echoSuppression },
    unitId: 1,
    tags: [{ name: 'a', function: 'holding', address: 0 }],
    ...over,
  });
}

type RtuConnection = Extract<SerialConnection, { transport: 'rtu' }>;

const connection = (echoSuppression: boolean): RtuConnection =>
  rtu(echoSuppression).connection as RtuConnection;

/** Counts its calls; hands out `make()`'s transport. */
function loader(make: () => ModbusTransport | Promise<ModbusTransport>): SerialLoader & { calls: number } {
  const load = Object.assign(async () => (load.calls++, make()), { calls: 0 });
  return load;
}

const OPTIONAL = [
  'writeValues',
  'discardInput',
  'onRx',
  'status',
  'linkDownError',
  'onTimeout',
  'onLost',
  'onLinkUp',
] as const;

const methods = (t: ModbusTransport): string[] =>
  OPTIONAL.filter((m) => typeof (t as unknown as Record<string, unknown>)[m] === 'function');

test('each stand-in has exactly the optional methods of the serial transport it loads', () => {
  const clock = new ManualClock();
  const never = loader(() => Promise.reject(new Error('not loaded in this test')));
  assert.deepEqual(
    methods(deferredSerialTransport(connection(false), clock, never)),
    methods(new ModbusSerialTransport(connection(false), clock)),
  );
  assert.deepEqual(
    methods(deferredSerialTransport(connection(true), clock, never)),
    methods(new SerialStreamTransport(connection(true), clock)),
  );
  // what the Line reads from them: modbus-serial carries writes, the framer shows counters
  assert.ok(methods(deferredSerialTransport(connection(false), clock, never)).includes('writeValues'));
  assert.ok(methods(deferredSerialTransport(connection(true), clock, never)).includes('status'));
  assert.equal(never.calls, 0);
});

test('before its first connect a stand-in loads nothing and answers as its closed transport does', async () => {
  const clock = new ManualClock();
  const load = loader(() => new FakeTransport(clock));
  const plain = deferredSerialTransport(connection(false), clock, load);
  const framed = deferredSerialTransport(connection(true), clock, load);
  const realFramed = new SerialStreamTransport(connection(true), clock);
  assert.deepEqual(framed.status?.(), realFramed.status());
  assert.equal(framed.discardInput?.(), realFramed.discardInput());
  assert.equal(plain.discardInput?.(), new ModbusSerialTransport(connection(false), clock).discardInput());
  for (const t of [plain, framed]) {
    assert.equal(t.isOpen, false);
    await assert.rejects(t.readHolding(1, 0, 1, 100), { code: 'EDGE_ERR_MODBUS_DISCONNECTED' });
    await t.close();
  }
  await assert.rejects(plain.writeValues!(1, 6, 0, [1], 100), { code: 'EDGE_ERR_MODBUS_DISCONNECTED' });
  assert.equal(load.calls, 0);
});

test('connect loads once; calls and the listeners registered before it reach the loaded transport', async () => {
  const clock = new ManualClock();
  const inner = new FakeTransport(clock);
  inner.slaves.set(1, { holding: { 0: 42 }, latencyMs: 0 });
  const load = loader(() => inner);
  const t = deferredSerialTransport(connection(false), clock, load);
  const rx: unknown[][] = [];
  const closed: (Error | undefined)[] = [];
  t.onRx?.((...args) => rx.push(args));
  t.onClose((err) => closed.push(err));
  await Promise.all([t.connect(), t.connect()]);
  assert.equal(load.calls, 1);
  assert.equal(t.isOpen, true);
  const read = t.readHolding(1, 0, 1, 100);
  await clock.advance(1);
  assert.deepEqual(await read, [42]);
  inner.receive(3, false);
  inner.receive(5);
  assert.deepEqual(rx, [
    [3, false],
    [5, undefined],
  ]);
  t.discardInput?.();
  assert.equal(inner.discards, 1);
  inner.drop();
  assert.equal(closed.length, 1);
  assert.equal(t.isOpen, false);
  await t.connect();
  assert.equal(load.calls, 1, 'a reconnect reuses the loaded transport');
  assert.equal(inner.connectAttempts.length, 3);
  await t.close();
  assert.equal(inner.isOpen, false);
});

test('fixture close-while-loading: a close() during the first load wins; the port is not opened behind it', async () => {
  const clock = new ManualClock();
  const inner = new FakeTransport(clock);
  let release: () => void = () => undefined;
  const loaded = new Promise<void>((resolve) => (release = resolve));
  const load = loader(async () => {
    await loaded;
    return inner;
  });
  const t = deferredSerialTransport(connection(false), clock, load);
  const connecting = t.connect();
  await t.close();
  release();
  await assert.rejects(connecting, { code: 'EDGE_ERR_MODBUS_DISCONNECTED' });
  assert.equal(inner.connectAttempts.length, 0);
  assert.equal(t.isOpen, false);
  await t.connect();
  assert.equal(t.isOpen, true, 'a connect after the close opens as usual');
  await t.close();
});

const codes = (vs: readonly TagValue[]): string[] =>
  vs.map((v) => (v.quality === 'good' ? 'good' : String(v.code)));

test('a serial module that cannot load: start fails retryably with EDGE_ERR_MODBUS_CONNECT; the next start loads again', async () => {
  const clock = new ManualClock();
  const inner = new FakeTransport(clock);
  inner.slaves.set(1, { holding: { 0: 7 }, latencyMs: 0 });
  let binding = false;
  const load = loader(() => {
    if (!binding) throw new Error('No native build was found for platform=linux');
    return inner;
  });
  const family = createModbusFamily(
    { clock, logger: silentLogger, random: () => 1 },
    { transportFactory: (c, k) => deferredSerialTransport(c as SerialConnection, k, load) },
  );
  const d = family.create(rtu(false));
  d.init();
  await assert.rejects(d.start(), (e: EdgeError) => {
    assert.equal(e.code, 'EDGE_ERR_DRIVER_START');
    assert.equal(e.retryable, true);
    assert.equal(e.context.code, 'EDGE_ERR_MODBUS_CONNECT');
    assert.match(String((e.cause as Error).message), /serial port \/dev\/ttyLAZY0: No native build/);
    return true;
  });
  assert.deepEqual(codes(await d.poll(['a'])), ['EDGE_ERR_MODBUS_DISCONNECTED']);
  binding = true;
  await d.start();
  assert.equal(load.calls, 2);
  const poll = d.poll(['a']);
  await clock.advance(10);
  assert.deepEqual(codes(await poll), ['good']);
  await family.close();
});
