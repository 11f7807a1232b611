/**
 * A write the server takes but clamps (GoodClamped: the value stored is not the one asked
 * for) is not a plain success: it rejects with EDGE_ERR_OPCUA_WRITE_CLAMPED naming the tag.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../../src/core/clock.js';
import type { EdgeError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/ports.js';
import { opcuaDeviceSchema } from '../../src/drivers/opcua/config.js';
import { OpcuaDevice } from '../../src/drivers/opcua/device.js';
import { TestOpcuaServer } from '../helpers/opcua.js';
import { tempDir } from '../helpers/tmp.js';

let server: TestOpcuaServer;
const pki = tempDir('edge-opcua-clamped-');
before(async () => {
  server = await TestOpcuaServer.start([
    { name: 'speed', dataType: 'Double', value: 10, writable: true, clamp: [0, 50] },
  ]);
});
after(async () => {
  await server.stop();
  pki.remove();
});

it('opcua: a write answered GoodClamped rejects with EDGE_ERR_OPCUA_WRITE_CLAMPED naming the tag; an in-range one succeeds', async () => {
  const config = opcuaDeviceSchema.parse({
    name: 'ua',
    driver: 'opcua',
    endpoint: server.endpoint,
    pkiDir: pki.path,
    connectTimeoutMs: 20_000,
    tags: [{ name: 'speed', nodeId: 'ns=1;s=speed', dataType: 'Double', writable: true }],
  });
  const d = new OpcuaDevice(config, { clock: systemClock, logger: silentLogger, random: () => 0.5 });
  try {
    await d.start();
    await d.write('speed', 42);
    assert.equal(await server.get('speed'), 42);
    await assert.rejects(d.write('speed', 80), (e: EdgeError) => {
      assert.equal(e.code, 'EDGE_ERR_OPCUA_WRITE_CLAMPED');
      assert.equal(e.context.tag, 'speed');
      assert.equal(e.context.opcuaStatus, 'GoodClamped');
      assert.equal(e.context.requested, 80);
      assert.match(e.message, /"speed"/);
      return true;
    });
    // The server did store a value: the clamped one, which the error said was not 80.
    assert.equal(await server.get('speed'), 50);
  } finally {
    await d.stop();
  }
});
