/** TCP against a real pymodbus server on a free port. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { EdgeError } from '../../src/core/errors.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { TagValue } from '../../src/core/types.js';
import { modbusDeviceSchema, type ModbusDeviceConfig } from '../../src/drivers/modbus/config.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { freePort } from '../helpers/net.js';
import { startPymodbus, type Peer, type PymodbusSpec } from '../helpers/pymodbus.js';
import { waitFor } from '../helpers/wait.js';
import { allTypesLayout } from './layout.js';

const layout = allTypesLayout();
let port = 0;
let server: Peer | undefined;
const ramp = Array.from({ length: 200 }, (_, i) => i * 3);
const spec = (): PymodbusSpec => ({
  transport: 'tcp',
  port,
  slaves: { 1: layout.slave, 2: { holding: { size: 300, values: { 0: ramp } } } },
});

before(async () => {
  port = await freePort();
  server = await startPymodbus(spec());
});

after(async () => {
  await server?.stop();
});

function config(over: Record<string, unknown>): ModbusDeviceConfig {
  return modbusDeviceSchema.parse({
    name: 'tcp1',
    driver: 'modbus',
    connection: { transport: 'tcp', host: '127.0.0.1', port },
    timeoutMs: 1000,
    ...over,
  });
}

const family = () => createModbusFamily({ clock: systemClock, logger: silentLogger, random: Math.random });
const byTag = (vs: readonly TagValue[]) =>
  Object.fromEntries(vs.map((v) => [v.tag, v.quality === 'good' ? v.value : v.code]));

test('TCP: every data type and order decodes exactly', async (t) => {
  const fam = family();
  t.after(() => fam.close());
  const d = fam.create(config({ tags: layout.tags }));
  d.init();
  await d.start();
  assert.deepEqual(byTag(await d.poll(Object.keys(layout.expected))), layout.expected);
  assert.equal(d.status().requests, 4);
});

test('TCP: coalescing — 10 adjacent tags in 1 request, a 130-register span in 2', async (t) => {
  const fam = family();
  t.after(() => fam.close());
  const ten = fam.create(
    config({
      name: 'ten',
      unitId: 2,
      tags: ramp.slice(0, 10).map((_, i) => ({ name: `r${i}`, function: 'holding', address: 50 + i })),
    }),
  );
  const span = fam.create(
    config({
      name: 'span',
      unitId: 2,
      tags: ramp.slice(0, 130).map((_, i) => ({ name: `r${i}`, function: 'holding', address: 100 + i })),
    }),
  );
  for (const d of [ten, span]) {
    d.init();
    await d.start();
  }
  const tv = await ten.poll(ten.tags().map((x) => x.name));
  assert.deepEqual(
    tv.map((v) => v.value),
    ramp.slice(50, 60),
  );
  assert.equal(ten.status().requests, 1);
  const sv = await span.poll(span.tags().map((x) => x.name));
  assert.deepEqual(
    sv.map((v) => v.value),
    Array.from({ length: 130 }, (_, i) => (100 + i < 200 ? ramp[100 + i] : 0)),
  );
  assert.equal(span.status().requests, 2);
  assert.equal(fam.lines().size, 1, 'both devices share the host:port line');
});

test(
  'TCP: server killed → DISCONNECTED at once; restarted → reconnect and good values',
  { timeout: 30_000 },
  async (t) => {
    const fam = family();
    t.after(() => fam.close());
    const d = fam.create(
      config({
        unitId: 2,
        timeoutMs: 60_000,
        reconnect: { initialMs: 50, maxMs: 200, multiplier: 2, jitter: 0.5 },
        tags: [{ name: 'v', function: 'holding', address: 7 }],
      }),
    );
    d.init();
    await d.start();
    assert.equal((await d.poll(['v']))[0]!.value, ramp[7]);
    await server!.stop();
    await waitFor('line down', () => d.status().line.state !== 'up');
    // No waiting while the line is down: the request timeout is 60 s and this test's limit 30 s,
    // so a poll that waited for it fails the test by name (and would answer TIMEOUT, not DISCONNECTED).
    const [down] = await d.poll(['v']);
    assert.equal(down!.quality === 'bad' && down!.code, 'EDGE_ERR_MODBUS_DISCONNECTED');
    server = await startPymodbus(spec());
    const back = await waitFor('good value after restart', async () => {
      const [v] = await d.poll(['v']);
      return v!.quality === 'good' ? v : undefined;
    });
    assert.equal(back.value, ramp[7]);
    const { line } = d.status();
    assert.ok('reconnects' in line && line.reconnects >= 1);
  },
);

test('TCP: nothing listening → start() rejects retryably', async () => {
  const fam = family();
  const d = fam.create(
    config({
      connection: { transport: 'tcp', host: '127.0.0.1', port: await freePort() },
      tags: [{ name: 'v', function: 'holding', address: 0 }],
    }),
  );
  d.init();
  await assert.rejects(
    d.start(),
    (e: EdgeError) =>
      e.code === 'EDGE_ERR_DRIVER_START' && e.retryable && e.context.code === 'EDGE_ERR_MODBUS_CONNECT',
  );
  await fam.close();
});
