/**
 * A monitored item the server refused (here BadTooManyMonitoredItems) never sends a
 * notification: its tag must stay bad, not take the one-off Read of start() and then
 * publish that value as good forever.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { opcuaDeviceSchema } from '../../src/drivers/opcua/config.js';
import { OpcuaDevice } from '../../src/drivers/opcua/device.js';
import { TestOpcuaServer } from '../helpers/opcua.js';
import { tempDir } from '../helpers/tmp.js';

let server: TestOpcuaServer;
const pki = tempDir('edge-opcua-unmonitored-');
before(async () => {
  server = await TestOpcuaServer.start(
    [
      { name: 'a', dataType: 'Int32', value: 1 },
      { name: 'b', dataType: 'Int32', value: 2 },
      { name: 'c', dataType: 'Int32', value: 3 },
    ],
    { maxMonitoredItemsPerSubscription: 2 },
  );
});
after(async () => {
  await server.stop();
  pki.remove();
});

it('opcua: a tag whose monitored item the server refused stays bad, never the stale start() Read', async () => {
  const config = opcuaDeviceSchema.parse({
    name: 'ua',
    driver: 'opcua',
    endpoint: server.endpoint,
    pkiDir: pki.path,
    intervalMs: 50,
    subscription: { publishingIntervalMs: 50 },
    connectTimeoutMs: 20_000,
    tags: ['a', 'b', 'c'].map((n) => ({ name: n, nodeId: `ns=1;s=${n}`, dataType: 'Int32' })),
  });
  const d = new OpcuaDevice(config, { clock: systemClock, logger: silentLogger, random: () => 0.5 });
  try {
    await d.start();
    const values = await d.poll(['a', 'b', 'c']);
    const bad = values.filter((v) => v.quality === 'bad');
    assert.equal(bad.length, 1, JSON.stringify(values));
    assert.equal(bad[0]?.code, 'EDGE_ERR_OPCUA_BAD_STATUS');
  } finally {
    await d.stop();
  }
});
