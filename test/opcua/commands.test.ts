/**
 * Writes to an OPC UA server through the agent's command router, under the same allow
 * rules as Modbus and S7: the device's allowWrites, the tag's `writable` and range, and
 * the server's own verdict. The server's value is read back to show what was written.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { MemoryCommandChannel } from '../../src/core/command-channel.js';
import type { CommandResult } from '../../src/core/command-result.js';
import { CommandRouter } from '../../src/core/command-router.js';
import type { OutboxSink } from '../../src/core/ports.js';
import type { NewRecord, StoredRecord } from '../../src/core/types.js';
import { silentLogger } from '../../src/core/ports.js';
import { opcuaDeviceSchema } from '../../src/drivers/opcua/config.js';
import { opcuaDriver } from '../../src/drivers/opcua/index.js';
import { TestOpcuaServer } from '../helpers/opcua.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const sink: OutboxSink = {
  append: () => undefined,
  appendDurable: (record: NewRecord): Promise<StoredRecord> =>
    Promise.resolve({ ...record, rowid: 1, id: '1', seq: 1 }),
};

test('command router → OPC UA: allowed write done; not writable, out of range, not allowed and server-refused writes rejected', async (t) => {
  const server = await TestOpcuaServer.start([
    { name: 'setpoint', dataType: 'Double', value: 10, writable: true },
    { name: 'temp', dataType: 'Double', value: 21 },
    { name: 'locked', dataType: 'Int16', value: 3 },
  ]);
  const pki = tempDir('edge-opcua-cmd-');
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
  const config = (name: string) =>
    opcuaDeviceSchema.parse({
      name,
      driver: 'opcua',
      endpoint: server.endpoint,
      pkiDir: pki.path,
      tags: [
        { name: 'setpoint', nodeId: 'ns=1;s=setpoint', dataType: 'Double', writable: true, max: 80 },
        { name: 'temp', nodeId: 'ns=1;s=temp', dataType: 'Double' },
        { name: 'locked', nodeId: 'ns=1;s=locked', dataType: 'Int16', writable: true },
      ],
    });
  const line = family.create(config('line'));
  const other = family.create(config('other'));
  await line.start();
  await other.start();
  const channel = new MemoryCommandChannel('edge/site-1');
  const router = new CommandRouter(
    [
      { device: 'line', driver: line, allowWrites: true },
      { device: 'other', driver: other, allowWrites: false },
    ],
    { timeoutMs: 5000, maxPendingPerDevice: 4, dedupeSize: 16, maxPayloadBytes: 1024, requireExpiry: false },
    { channel, sink, clock: systemClock, logger: silentLogger },
  );
  router.start();
  t.after(() => router.stop());
  const results = (): CommandResult[] =>
    channel.published
      .filter((p) => p.topic.endsWith('/cmd/result'))
      .map((p) => JSON.parse(p.payload.toString()) as CommandResult);
  const send = (device: string, id: string, tag: string, value: unknown): void =>
    channel.inject(`${device}/cmd`, JSON.stringify({ id, tag, value }));

  send('line', 'ok', 'setpoint', 42.5);
  send('line', 'ro', 'temp', 1);
  send('line', 'range', 'setpoint', 90);
  send('line', 'server', 'locked', 5);
  send('other', 'denied', 'setpoint', 1);
  await waitFor('five results', () => results().length >= 5);
  const byId = Object.fromEntries(results().map((r) => [r.id, [r.status, r.code ?? null]]));
  assert.deepEqual(byId, {
    ok: ['done', null],
    ro: ['rejected', 'EDGE_ERR_CMD_NOT_WRITABLE'],
    range: ['rejected', 'EDGE_ERR_CMD_BAD_VALUE'],
    server: ['error', 'EDGE_ERR_OPCUA_WRITE_REFUSED'],
    denied: ['rejected', 'EDGE_ERR_CMD_NOT_ALLOWED'],
  });
  assert.equal(await server.get('setpoint'), 42.5);
  assert.equal(await server.get('temp'), 21);
  assert.equal(await server.get('locked'), 3);
});
