/**
 * What the driver publishes after node-opcua repaired a broken connection, against a real
 * node-opcua server: a network reset through a TCP relay (the server keeps running), a
 * restart after which the server refuses a monitored item, and a server update that changed
 * a node's DataType. Against node-opcua 2.182 the values came back after the reset with the
 * old driver too (its repair brings them); the tests pin that they keep doing so.
 */
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, systemClock, type Clock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { TagValue } from '../../src/core/types.js';
import { opcuaDeviceSchema } from '../../src/drivers/opcua/config.js';
import { OpcuaDevice } from '../../src/drivers/opcua/device.js';
import { TestOpcuaServer, type ServerVariable } from '../helpers/opcua.js';
import { TcpRelay } from '../helpers/opcua-proxy.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const pki = tempDir('edge-opcua-reconnect-');
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  pki.remove();
});

const VARIABLES: ServerVariable[] = [
  { name: 'a', dataType: 'Int32', value: 1 },
  { name: 'b', dataType: 'Int32', value: 2 },
  { name: 'c', dataType: 'Int32', value: 3 },
];
const NAMES = VARIABLES.map((v) => v.name);

async function server(options: Parameters<typeof TestOpcuaServer.start>[1] = {}): Promise<TestOpcuaServer> {
  const s = await TestOpcuaServer.start(VARIABLES, options);
  cleanups.push(() => s.stop());
  return s;
}

function device(endpoint: string, clock: Clock = systemClock): OpcuaDevice {
  const config = opcuaDeviceSchema.parse({
    name: 'ua',
    driver: 'opcua',
    endpoint,
    pkiDir: pki.path,
    intervalMs: 50,
    subscription: { publishingIntervalMs: 50 },
    reconnect: { initialMs: 50, maxMs: 200, jitter: 0 },
    connectTimeoutMs: 20_000,
    tags: NAMES.map((n) => ({ name: n, nodeId: `ns=1;s=${n}`, dataType: 'Int32' })),
  });
  const d = new OpcuaDevice(config, { clock, logger: silentLogger, random: () => 0.5 });
  cleanups.push(() => d.stop());
  return d;
}

const shown = (values: readonly TagValue[]): Record<string, unknown> =>
  Object.fromEntries(values.map((v) => [v.tag, v.quality === 'good' ? v.value : v.code]));

// The injected clock stands still, as one does between a test's steps: the reset and the
// catch-up Read that follows it share a reading, and the Read must still fill the tags.
for (const [name, clock] of [
  ['system clock', systemClock],
  ['injected clock', new ManualClock()],
] as const)
  it(`opcua: after a connection reset (node-opcua repairs the session) every tag is good again with its current value (${name})`, async () => {
    const s = await server();
    const relay = await TcpRelay.start(Number(new URL(s.endpoint.replace('opc.tcp', 'http')).port));
    cleanups.push(() => relay.stop());
    const d = device(relay.endpoint(s.endpoint), clock);
    await d.start();
    assert.deepEqual(shown(await d.poll(NAMES)), { a: 1, b: 2, c: 3 });
    relay.cut();
    await waitFor('node-opcua restored the session', () => (d.status().restored as number) >= 1, 30_000);
    // Only b changes after the reset; a and c keep their values.
    await s.set('b', 20);
    const seen: Record<string, unknown>[] = [];
    await waitFor('every tag good with its current value', async () => {
      const v = shown(await d.poll(NAMES));
      seen.push(v);
      return v.a === 1 && v.b === 20 && v.c === 3;
    });
    // Never a pre-reset value for b once the server had 20 (seen in order: 2 may only precede 20).
    const firstNew = seen.findIndex((v) => v.b === 20);
    assert.ok(
      seen.slice(firstNew).every((v) => v.b === 20),
      JSON.stringify(seen),
    );
    assert.equal(d.status().recreated, 0, 'node-opcua repaired it, the driver did not recreate the client');
  });

it('opcua: a monitored item the restarted server refuses on re-creation is bad with that status, not a stale Read', async () => {
  const s = await server();
  const d = device(s.endpoint);
  await d.start();
  assert.deepEqual(shown(await d.poll(NAMES)), { a: 1, b: 2, c: 3 });
  // The server comes back with a limit of 2 monitored items: node-opcua's re-creation of c fails.
  await s.restart({ maxMonitoredItemsPerSubscription: 2 });
  await waitFor('node-opcua restored the session', () => (d.status().restored as number) >= 1, 60_000);
  const v = await waitFor('a and b good after the restart', async () => {
    const values = await d.poll(NAMES);
    const x = shown(values);
    return x.a === 1 && x.b === 2 ? values : undefined;
  });
  const c = v.find((x) => x.tag === 'c');
  assert.equal(c?.quality, 'bad', JSON.stringify(v));
  assert.equal(c?.quality === 'bad' && c.code, 'EDGE_ERR_OPCUA_BAD_STATUS');
  assert.match(c?.quality === 'bad' ? c.reason : '', /BadTooManyMonitoredItems/);
  // Still bad later: no notification will ever come for it.
  for (let i = 0; i < 5; i++) assert.equal(shown(await d.poll(['c'])).c, 'EDGE_ERR_OPCUA_BAD_STATUS');
});

it('opcua: a node whose DataType changed in a server update (Int32 → Double) is bad TYPE_MISMATCH, never converted', async () => {
  const s = await server();
  const d = device(s.endpoint);
  await d.start();
  assert.deepEqual(shown(await d.poll(NAMES)), { a: 1, b: 2, c: 3 });
  await s.restart({
    variables: VARIABLES.map((v) => (v.name === 'b' ? { ...v, dataType: 'Double', value: 2 } : v)),
  });
  await waitFor('node-opcua restored the session', () => (d.status().restored as number) >= 1, 60_000);
  const seen: Record<string, unknown>[] = [];
  await waitFor('a and c good, b bad', async () => {
    const v = shown(await d.poll(NAMES));
    seen.push(v);
    return v.a === 1 && v.c === 3 && v.b === 'EDGE_ERR_OPCUA_TYPE_MISMATCH';
  });
  await s.set('b', 2.5);
  for (let i = 0; i < 5; i++) seen.push(shown(await d.poll(NAMES)));
  assert.ok(
    seen.every((v) => typeof v.b === 'string'),
    `b published good after the DataType change: ${JSON.stringify(seen)}`,
  );
});
