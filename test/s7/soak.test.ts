/**
 * 1,000 reconnect cycles (the peer accepts, negotiates, then drops the connection on the
 * first read): heap after GC, active handles and timers must not grow between cycle 100
 * and cycle 1000.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { systemClock, type Clock, type TimerHandle } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { s7DeviceSchema } from '../../src/drivers/s7/config.js';
import { S7Device } from '../../src/drivers/s7/device.js';
import { waitFor } from '../helpers/wait.js';
import { FakePlc } from './fake-plc.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The system clock, counting timers that are still pending. */
function countingClock(): Clock & { pending(): number } {
  const live = new Set<TimerHandle>();
  return {
    now: () => systemClock.now(),
    monotonic: () => systemClock.monotonic(),
    setTimeout(fn, ms) {
      const handle = systemClock.setTimeout(() => {
        live.delete(wrapped);
        fn();
      }, ms);
      const wrapped: TimerHandle = { cancel: () => (live.delete(wrapped), handle.cancel()) };
      live.add(wrapped);
      return wrapped;
    },
    pending: () => live.size,
  };
}

function snapshot(clock: { pending(): number }) {
  gc();
  gc();
  const resources = process.getActiveResourcesInfo();
  return {
    heap: process.memoryUsage().heapUsed,
    timers: clock.pending(),
    sockets: resources.filter((r) => r === 'TCPSocketWrap').length,
    resources: resources.length,
  };
}

test(
  '1,000 reconnect cycles: flat heap, no accumulating timers, sockets or listeners',
  { timeout: 120_000 },
  async (t) => {
    const plc = await FakePlc.start({ request: () => 'close' });
    const clock = countingClock();
    const device = new S7Device(
      s7DeviceSchema.parse({
        name: 'plc',
        driver: 's7',
        connection: { host: '127.0.0.1', port: plc.port },
        reconnect: { initialMs: 1, maxMs: 1, jitter: 0 },
        tags: [{ name: 'a', address: 'DB1,INT0' }],
      }),
      { clock, logger: silentLogger, random: () => 0.5 },
    );
    t.after(async () => {
      await device.stop();
      await plc.close();
    });
    await device.start();
    let at100: ReturnType<typeof snapshot> | undefined;
    let at1000: ReturnType<typeof snapshot> | undefined;
    for (let cycle = 1; cycle <= 1000; cycle++) {
      await waitFor(
        `connection ${cycle}`,
        () => device.status().state === 'up' && Number(device.status().connects) >= cycle,
        10_000,
        1,
      );
      const [v] = await device.poll(['a']);
      assert.ok(v!.quality === 'bad');
      if (cycle === 100) at100 = snapshot(clock);
      if (cycle === 1000) at1000 = snapshot(clock);
    }
    assert.ok(at100 && at1000);
    assert.ok(Number(device.status().reconnects) >= 999);
    assert.ok(
      at1000.heap - at100.heap < 4 * 1024 * 1024,
      `heap grew ${((at1000.heap - at100.heap) / 1024).toFixed(0)} KiB: ${JSON.stringify({ at100, at1000 })}`,
    );
    assert.ok(at1000.timers <= at100.timers, JSON.stringify({ at100, at1000 }));
    assert.ok(at1000.sockets <= at100.sockets + 1, JSON.stringify({ at100, at1000 }));
    assert.ok(at1000.resources <= at100.resources + 2, JSON.stringify({ at100, at1000 }));
    assert.ok(plc.sockets.size <= 1);
  },
);
