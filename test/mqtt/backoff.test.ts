import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import type { ReconnectScheduledInfo } from '../../src/forwarders/mqtt/forwarder.js';
import { freePort } from '../helpers/net.js';
import { once, waitFor } from '../helpers/wait.js';
import { FakeOutbox } from './fake-outbox.js';
import { makeForwarder, mqttConfig } from './util.js';

test('broker down: start() resolves; reconnects follow a capped, jittered backoff on the clock', async () => {
  const port = await freePort(); // nothing listens there
  const clock = new ManualClock();
  const randoms = [0, 1, 0.5, 0.25];
  let r = 0;
  const fwd = makeForwarder(
    mqttConfig({
      url: `mqtt://127.0.0.1:${port}`,
      reconnect: { initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0.5 },
    }),
    new FakeOutbox(),
    { clock, random: () => randoms[r++ % randoms.length]! },
  );
  const delays: number[] = [];
  fwd.on('reconnectScheduled', (info: ReconnectScheduledInfo) => delays.push(info.delayMs));
  await fwd.start(); // does not throw

  for (let attempt = 1; attempt <= 8; attempt++) {
    await waitFor(`failure ${attempt}`, () => delays.length === attempt);
    assert.equal(fwd.stats().connectAttempts, attempt);
    // Nothing happens before the timer is due: no reconnect storm.
    await clock.advance(delays[attempt - 1]! - 1);
    assert.equal(fwd.stats().connectAttempts, attempt);
    await clock.advance(1);
    await waitFor(`attempt ${attempt + 1}`, () => fwd.stats().connectAttempts === attempt + 1);
  }
  // base = min(1000, 100·2^k); delay = base·(1 - 0.5) + random·base·0.5
  const bases = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
  const expected = bases.map((b, i) => Math.round(b * 0.5 + randoms[i % randoms.length]! * b * 0.5));
  assert.deepEqual(delays.slice(0, 8), expected);
  assert.ok(
    delays.every((d) => d <= 1000),
    'capped',
  );
  assert.ok(new Set(delays.slice(4, 8)).size > 1, 'jittered at the cap');
  assert.equal(fwd.stats().errorsByCode.EDGE_ERR_MQTT_CONNECT! >= 8, true);

  await fwd.stop();
  assert.equal(clock.pendingCount, 0, 'no timer left after stop()');
});

test('a successful connection resets the backoff', async (t) => {
  const { startMosquitto } = await import('../helpers/mosquitto.js');
  const broker = await startMosquitto();
  t.after(() => broker.close());
  const fwd = makeForwarder(
    mqttConfig({ url: broker.url, reconnect: { initialMs: 100, maxMs: 1000, jitter: 0 } }),
    new FakeOutbox(),
  );
  t.after(() => fwd.stop());
  const delays: number[] = [];
  fwd.on('reconnectScheduled', (info: ReconnectScheduledInfo) => delays.push(info.delayMs));
  await fwd.start();
  await once(fwd, 'connected');
  await broker.stop();
  await waitFor('two failures', () => delays.length >= 3, 5000);
  assert.deepEqual(delays.slice(0, 3), [100, 200, 400]);
  await broker.restart();
  await waitFor('reconnected', () => fwd.stats().connected, 5000);
  const before = delays.length;
  await broker.stop();
  await waitFor('failure after reconnect', () => delays.length > before, 5000);
  assert.equal(delays[before], 100, 'backoff reset after a good connection');
});
