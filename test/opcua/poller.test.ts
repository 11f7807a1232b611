/**
 * The OPC UA driver under the agent's poller: its link-down codes (declared in the
 * driver's definition, nowhere else) take the device offline when the server dies, the
 * readings published meanwhile carry no good value, and the device comes back online
 * with fresh values when the server returns.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { DevicePoller } from '../../src/core/poller.js';
import { silentLogger } from '../../src/core/ports.js';
import type { AgentEvent, Reading } from '../../src/core/types.js';
import { opcuaDeviceSchema } from '../../src/drivers/opcua/config.js';
import { opcuaDriver } from '../../src/drivers/opcua/index.js';
import { TestOpcuaServer } from '../helpers/opcua.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

test('server down → device offline, no good value published; server back → online, values resume', async (t) => {
  const server = await TestOpcuaServer.start([{ name: 'power', dataType: 'Float', value: 3.5 }]);
  const pki = tempDir('edge-opcua-poller-');
  const family = await opcuaDriver.createFamily({
    clock: systemClock,
    logger: silentLogger,
    random: () => 0.5,
  });
  t.after(async () => {
    await family.close();
    await server.stop();
    pki.remove();
  });
  const device = family.create(
    opcuaDeviceSchema.parse({
      name: 'meter-ua',
      driver: 'opcua',
      endpoint: server.endpoint,
      pkiDir: pki.path,
      intervalMs: 50,
      subscription: { publishingIntervalMs: 50 },
      reconnect: { initialMs: 50, maxMs: 200, jitter: 0 },
      tags: [{ name: 'power', nodeId: 'ns=1;s=power', dataType: 'Float' }],
    }),
  );
  const readings: Reading[] = [];
  const events: AgentEvent[] = [];
  const poller = new DevicePoller(device, {
    clock: systemClock,
    logger: silentLogger,
    random: () => 0.5,
    startBackoff: { initialMs: 100, maxMs: 100, multiplier: 1, jitter: 0 },
    onReading: (r) => readings.push(r),
    onEvent: (e) => events.push(e),
  });
  t.after(() => poller.stop());
  poller.start();
  // The first connect makes the client certificate (openssl) and loads node-opcua: seconds on a loaded box.
  await waitFor(
    'online with the value',
    () => readings.some((r) => r.values.some((v) => v.quality === 'good' && v.value === 3.5)),
    60_000,
  );

  await server.kill();
  await waitFor('offline', () => poller.stats().state === 'offline', 20_000);
  const firstBad = readings.findIndex((r) => r.values.every((v) => v.quality === 'bad'));
  const down = readings.length;
  await waitFor('more polls while down', () => readings.length >= down + 5);
  const whileDown = readings.slice(firstBad);
  assert.ok(
    whileDown.every((r) => r.values.every((v) => v.quality === 'bad')),
    'a good value was published while the server was down',
  );
  assert.ok(poller.stats().errorsByCode.EDGE_ERR_OPCUA_DISCONNECTED);

  await server.restart();
  await server.set('power', 4.25);
  await waitFor(
    'online with the new value',
    () =>
      poller.stats().state === 'online' &&
      readings.some((r) => r.values.some((v) => v.quality === 'good' && v.value === 4.25)),
    60_000,
  );
  assert.ok(
    events.some((e) => /offline/.test(e.type)),
    JSON.stringify(events.map((e) => e.type)),
  );
});
