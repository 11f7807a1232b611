/**
 * Issue 11 item 6, S7 against node-snap7's S7Server:
 * - s7-write-while-unreachable-is-rejected: a write while the PLC is unreachable sends
 *   nothing, so its command result is `rejected`, not `error`;
 * - s7-reconnect-probe-finds-plc-back: after a long outage the reconnect backoff (here
 *   60 s, the default cap) no longer delays noticing the PLC is back: a bare TCP connect
 *   every `reachabilityProbeMs` triggers the reconnect as soon as the port answers.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { resultFromError } from '../../src/core/command-router.js';
import { silentLogger } from '../../src/core/ports.js';
import { s7DeviceSchema } from '../../src/drivers/s7/config.js';
import { S7Device } from '../../src/drivers/s7/device.js';
import { captureLogger } from '../helpers/logger.js';
import { TestS7Server } from '../helpers/snap7.js';
import { waitFor } from '../helpers/wait.js';

async function rig(
  t: { after(fn: () => unknown): void },
  extra: Record<string, unknown>,
  logger = silentLogger,
) {
  const server = await TestS7Server.start();
  server.register('DB', 1, Buffer.alloc(8));
  const device = new S7Device(
    s7DeviceSchema.parse({
      name: 'plc',
      driver: 's7',
      connection: { host: '127.0.0.1', port: server.port },
      tags: [{ name: 'set', address: 'DB1,INT0', writable: true }],
      ...extra,
    }),
    { clock: systemClock, logger, random: () => 0.5 },
  );
  t.after(async () => {
    await device.stop();
    server.stop();
  });
  await device.start();
  return { server, device };
}

it('s7-write-while-unreachable-is-rejected: nothing was written, so the command result says rejected', async (t) => {
  const { server, device } = await rig(t, { reconnect: { initialMs: 60_000, maxMs: 60_000, jitter: 0 } });
  server.stop();
  await waitFor('link down', async () => (await device.poll(['set']))[0]?.quality === 'bad');
  let thrown: unknown;
  await device.write('set', 7).catch((e: unknown) => (thrown = e));
  const result = resultFromError('c-1', thrown, 0);
  assert.equal(result.status, 'rejected');
  assert.equal(result.code, 'EDGE_ERR_S7_DISCONNECTED');
  assert.match(result.message ?? '', /nothing was written/);
});

it('s7-reconnect-probe-finds-plc-back: a TCP probe ends the 60 s backoff wait as soon as the PLC listens', async (t) => {
  const logger = captureLogger();
  const { server, device } = await rig(
    t,
    { reconnect: { initialMs: 60_000, maxMs: 60_000, jitter: 0 }, reachabilityProbeMs: 50 },
    logger,
  );
  server.stop();
  await waitFor('link down', () => device.status().state === 'down');
  await waitFor('probes fail while the PLC is away', () => Number(device.status().reachabilityProbes) >= 2);
  assert.equal(device.status().connects, 1);
  server.start();
  // Without the probe the next attempt would come after 60 s (waitFor gives up after 10 s).
  await waitFor('reconnected by the probe', () => device.status().state === 'up');
  const s = device.status();
  assert.equal(s.connects, 2);
  assert.equal(s.reachabilityHits, 1);
  assert.equal((await device.poll(['set']))[0]?.quality, 'good');
  assert.ok(logger.lines.some((l) => l.msg === 's7 PLC reachable again (TCP probe); reconnecting now'));
});
