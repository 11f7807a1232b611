/**
 * node-opcua loads only when an OPC UA device connects: a Modbus-only agent (the child
 * of test/agent/lazy-imports.test.ts, a fresh process) never loads it, and in this
 * process importing the driver loads nothing until a device starts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { opcuaDeviceSchema } from '../../src/drivers/opcua/config.js';
import { opcuaDriver } from '../../src/drivers/opcua/index.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

const CHILD = new URL('../agent/fixtures/lazy-child.js', import.meta.url).pathname;

const loadedOpcua = (): string[] =>
  Object.keys(createRequire(import.meta.url).cache).filter((f) => /node_modules\/node-opcua/.test(f));

test('a Modbus-only agent does not load node-opcua', async (t) => {
  const dir = tempDir('edge-agent-lazy-opcua-');
  t.after(() => dir.remove());
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [CHILD, JSON.stringify({ dir: dir.path, modbusPort: await freePort(), http: false })],
    { timeout: 60_000 },
  );
  const { packages } = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { packages: string[] };
  assert.ok(packages.includes('better-sqlite3'), `the probe sees CommonJS loads: ${packages.join(' ')}`);
  assert.deepEqual(
    packages.filter((p) => p.startsWith('node-opcua')),
    [],
  );
});

test('the driver loads node-opcua only when a device is configured: its family start (before the pollers) or the device start', async (t) => {
  const pki = tempDir('edge-opcua-lazy-');
  t.after(() => pki.remove());
  assert.equal(opcuaDriver.name, 'opcua');
  assert.deepEqual(loadedOpcua(), [], 'importing the driver loaded node-opcua');
  const family = await opcuaDriver.createFamily({
    clock: systemClock,
    logger: silentLogger,
    random: () => 0.5,
  });
  await family.start?.();
  assert.deepEqual(loadedOpcua(), [], 'starting a family without devices loaded node-opcua');
  const device = family.create(
    opcuaDeviceSchema.parse({
      name: 'ua',
      driver: 'opcua',
      endpoint: `opc.tcp://127.0.0.1:${await freePort()}`,
      pkiDir: pki.path,
      connectTimeoutMs: 2000,
      tags: [{ name: 't', nodeId: 'ns=1;s=t', dataType: 'Double' }],
    }),
  );
  device.init();
  assert.deepEqual(loadedOpcua(), [], 'creating a device loaded node-opcua');
  await family.start?.();
  assert.ok(loadedOpcua().length > 0, 'the family start (agent start, before the pollers) loaded node-opcua');
  await assert.rejects(device.start(), /EDGE_ERR_OPCUA_CONNECT|ECONNREFUSED|connect/i);
  await family.close();
});
