/**
 * A device's bytes must never crash the agent: a Modbus TCP server answers every request
 * with random or mutated frames (seeded), and every poll must still resolve with one
 * value per tag — good, or bad with a stable code. An uncaught exception inside
 * modbus-serial's socket handler would fail this test (node:test reports it).
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { errorCatalogue } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/ports.js';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { seededRandom } from '../../src/tools/dtu-sim/prng.js';
import { waitFor } from '../helpers/wait.js';

function lineState(status: Readonly<Record<string, unknown>>): unknown {
  return (status.line as { state?: unknown } | undefined)?.state;
}

const POLLS = 400;

function mutatedAnswer(request: Buffer, random: () => number): Buffer {
  const byte = (): number => Math.floor(random() * 256);
  const mode = Math.floor(random() * 5);
  if (mode === 0) return Buffer.from(Array.from({ length: Math.floor(random() * 40) }, byte));
  const n = 10;
  let out = Buffer.alloc(9 + 2 * n);
  request.copy(out, 0, 0, 4);
  out.writeUInt16BE(3 + 2 * n, 4);
  out[6] = request[6]!;
  out[7] = request[7]!;
  out[8] = 2 * n;
  if (mode === 1) out[8] = byte(); // byte count lies
  if (mode === 2) out.writeUInt16BE(Math.floor(random() * 65536), 4); // MBAP length lies
  if (mode === 3) out = Buffer.concat([out.subarray(0, 7), Buffer.from([0x80 | out[7], byte()])]); // odd exception
  if (mode === 4) out = out.subarray(0, Math.floor(random() * out.length)); // truncated
  return out;
}

test('Modbus TCP: random and mutated responses never crash the driver; every poll resolves', async (t) => {
  const random = seededRandom(20261122);
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (request: Buffer) => socket.write(mutatedAnswer(request, random)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const family = createModbusFamily({ clock: systemClock, logger: silentLogger, random });
  t.after(async () => {
    await family.close();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const device = family.create(
    modbusDeviceSchema.parse({
      name: 'fuzzed',
      driver: 'modbus',
      connection: { transport: 'tcp', host: '127.0.0.1', port },
      timeoutMs: 20,
      breaker: { failureThreshold: 100_000, cooldownMs: 1000 },
      reconnect: { initialMs: 5, maxMs: 10, jitter: 0 },
      tags: Array.from({ length: 10 }, (_, i) => ({ name: `r${i}`, function: 'holding', address: i })),
    }),
  );
  device.init();
  await device.start();
  const names = device.tags().map((tag) => tag.name);
  const seen = new Map<string, number>();
  for (let i = 0; i < POLLS; i++) {
    const values = await device.poll(names);
    assert.equal(values.length, names.length);
    for (const v of values) {
      if (v.quality === 'bad') assert.ok(errorCatalogue().has(v.code), `stable code, got ${v.code}`);
    }
    const key = values[0]!.quality === 'good' ? 'good' : values[0]!.code;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    if (key === 'EDGE_ERR_MODBUS_DISCONNECTED')
      await waitFor('line up again', () => lineState(device.status()) === 'up', 5000, 2);
  }
  await device.stop();
  assert.ok(
    (seen.get('EDGE_ERR_MODBUS_BAD_RESPONSE') ?? 0) + (seen.get('EDGE_ERR_MODBUS_TIMEOUT') ?? 0) > POLLS / 4,
    JSON.stringify([...seen]),
  );
});
