import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { watchdogSchema } from '../../src/host/config.js';
import { HealthGate, type ProgressSample } from '../../src/host/watchdog/health-gate.js';
import type { LagSource } from '../../src/host/watchdog/loop-lag.js';
import { MemoryNotifySink } from '../../src/host/watchdog/notify-sink.js';
import { pingIntervalMs, readSystemdEnv, resolveWatchdogMode } from '../../src/host/watchdog/systemd-env.js';
import { Watchdog, watchdogParts } from '../../src/host/watchdog/watchdog.js';
import { FakeWatchdogDevice } from '../../src/host/watchdog/watchdog-device.js';
import { captureLogger } from '../helpers/logger.js';

const config = watchdogSchema.parse({});

/** A world the test moves by hand: loop lag, store counters, poller steps. */
function world() {
  const state = { lag: 0, pending: 0, commits: 0, steps: 0, parked: false };
  const lag: LagSource = { takeMaxMs: () => state.lag, close: () => undefined };
  const sample = (): Omit<ProgressSample, 'loopLagMs'> => ({
    store: { pending: state.pending, commits: state.commits },
    pollers: [{ device: 'meter-1', steps: state.steps, parked: state.parked, stallMs: 60_000 }],
  });
  return { state, lag, sample };
}

test('systemd env: WATCHDOG_USEC gives the interval, a foreign WATCHDOG_PID disables pings, ping at half', () => {
  assert.deepEqual(readSystemdEnv({ NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: '30000000' }, 42), {
    notifySocket: '/run/n',
    watchdogMs: 30_000,
    ignoredReason: undefined,
  });
  assert.equal(
    readSystemdEnv({ NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42).watchdogMs,
    30_000,
  );
  const foreign = readSystemdEnv(
    { NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' },
    42,
  );
  assert.equal(foreign.watchdogMs, undefined);
  assert.match(foreign.ignoredReason ?? '', /WATCHDOG_PID=7/);
  assert.match(readSystemdEnv({ WATCHDOG_USEC: 'soon' }, 1).ignoredReason ?? '', /not a positive integer/);
  assert.equal(pingIntervalMs(30_000), 15_000);
  assert.equal(resolveWatchdogMode(undefined, readSystemdEnv({ NOTIFY_SOCKET: '/run/n' }, 1)), 'systemd');
  assert.equal(resolveWatchdogMode(undefined, readSystemdEnv({}, 1)), 'off');
  assert.equal(resolveWatchdogMode('device', readSystemdEnv({ NOTIFY_SOCKET: '/run/n' }, 1)), 'device');
});

test('watchdogParts: systemd mode without NOTIFY_SOCKET falls back to off with a note', () => {
  const clock = new ManualClock();
  const parts = watchdogParts({ ...config, mode: 'systemd' }, { clock, logger: silentLogger }, {}, 1);
  assert.equal(parts.mode, 'off');
  assert.match(parts.note ?? '', /NOTIFY_SOCKET/);
  const sd = watchdogParts(
    config,
    { clock, logger: silentLogger },
    { NOTIFY_SOCKET: '/run/n', WATCHDOG_USEC: '20000000' },
    1,
  );
  assert.equal(sd.mode, 'systemd');
  assert.equal(sd.intervalMs, 10_000);
  assert.ok(sd.sink);
});

test('gate: a dead device is not a stall, a poll loop that stops stepping is; parked pollers are exempt', () => {
  const gate = new HealthGate({ maxLoopLagMs: 2000, storeStallMs: 60_000 });
  const poller = (steps: number, parked = false) => ({
    loopLagMs: 0,
    pollers: [{ device: 'd', steps, parked, stallMs: 10_000 }],
  });
  assert.equal(gate.check(poller(1), 0).ok, true);
  // The device is down: the loop keeps stepping (bad values, start retries).
  assert.equal(gate.check(poller(2), 9_000).ok, true);
  assert.equal(gate.check(poller(3), 18_000).ok, true);
  // The loop stops stepping.
  assert.equal(gate.check(poller(3), 27_000).ok, true);
  const stuck = gate.check(poller(3), 28_000);
  assert.equal(stuck.ok, false);
  assert.match(stuck.reasons[0]!, /poller d stuck/);
  // Parked after a fatal start error: not expected to step.
  assert.equal(gate.check(poller(3, true), 100_000).ok, true);
});

test('watchdog pings at half WATCHDOG_USEC while the agent makes progress; READY, STATUS, STOPPING', async () => {
  const clock = new ManualClock();
  const sink = new MemoryNotifySink();
  const w = world();
  const dog = new Watchdog(
    config,
    { mode: 'systemd', sink, intervalMs: 15_000 },
    { clock, logger: silentLogger, sample: w.sample, lag: w.lag },
  );
  await dog.start('running: 1 device');
  assert.equal(sink.messages[0], 'READY=1\nSTATUS=running: 1 device');
  for (let i = 1; i <= 4; i++) {
    w.state.steps = i;
    await clock.advance(15_000);
  }
  assert.equal(sink.count('WATCHDOG=1'), 4);
  await dog.stop();
  assert.ok(sink.messages.at(-1)?.startsWith('STOPPING=1'));
  await clock.advance(60_000);
  assert.equal(sink.count('WATCHDOG=1'), 4, 'no ping after stop');
  assert.equal(clock.pendingCount, 0);
});

test('pings stop while the event loop lags and resume when it recovers', async () => {
  const clock = new ManualClock();
  const sink = new MemoryNotifySink();
  const log = captureLogger();
  const w = world();
  const dog = new Watchdog(
    config,
    { mode: 'systemd', sink, intervalMs: 15_000 },
    { clock, logger: log, sample: w.sample, lag: w.lag },
  );
  await dog.start();
  w.state.steps++;
  await clock.advance(15_000);
  assert.equal(sink.count('WATCHDOG=1'), 1);
  w.state.lag = 5_000;
  for (let i = 0; i < 3; i++) {
    w.state.steps++;
    await clock.advance(15_000);
  }
  assert.equal(sink.count('WATCHDOG=1'), 1, 'no ping while the loop lags');
  assert.equal(dog.stats().withheld, 3);
  assert.ok(sink.messages.some((m) => /^STATUS=unhealthy: event loop lag 5000 ms/.test(m)));
  assert.equal(
    log.lines.filter((l) => l.obj.code === 'EDGE_ERR_WATCHDOG_UNHEALTHY').length,
    1,
    'logged once per episode',
  );
  w.state.lag = 10;
  w.state.steps++;
  await clock.advance(15_000);
  assert.equal(sink.count('WATCHDOG=1'), 2);
  assert.ok(sink.messages.includes('STATUS=running'));
  await dog.stop();
});

test('a late tick counts as loop lag (timer drift), even when the histogram saw nothing', async () => {
  const clock = new ManualClock();
  const sink = new MemoryNotifySink();
  const w = world();
  const dog = new Watchdog(
    config,
    { mode: 'systemd', sink, intervalMs: 15_000 },
    { clock, logger: silentLogger, sample: w.sample, lag: w.lag },
  );
  await dog.start();
  const verdict = await dog.tick(3_000);
  assert.equal(verdict.ok, false);
  assert.match(verdict.reasons[0]!, /event loop lag 3000 ms/);
  await dog.stop();
});

test('pings stop when the store is wedged (pending, no commit) and resume once it commits; an idle store is fine', async () => {
  const clock = new ManualClock();
  const sink = new MemoryNotifySink();
  const w = world();
  const dog = new Watchdog(
    config,
    { mode: 'systemd', sink, intervalMs: 15_000 },
    { clock, logger: silentLogger, sample: w.sample, lag: w.lag },
  );
  await dog.start();
  // Idle store for two minutes: nothing pending, no commit needed.
  for (let i = 0; i < 8; i++) {
    w.state.steps++;
    await clock.advance(15_000);
  }
  assert.equal(sink.count('WATCHDOG=1'), 8);
  // Records pile up, no commit succeeds.
  w.state.pending = 500;
  for (let i = 0; i < 6; i++) {
    w.state.steps++;
    await clock.advance(15_000);
  }
  const pingsWhileWedged = sink.count('WATCHDOG=1');
  assert.ok(pingsWhileWedged <= 8 + 4, `pings stop within storeStallMs (${pingsWhileWedged})`);
  assert.equal(dog.stats().healthy, false);
  assert.match(dog.stats().reasons.join(), /store wedged: 500 records pending/);
  w.state.commits++;
  w.state.pending = 0;
  w.state.steps++;
  await clock.advance(15_000);
  assert.equal(sink.count('WATCHDOG=1'), pingsWhileWedged + 1);
  await dog.stop();
});

test('device mode: opens once, feeds, magic-closes on stop; a busy device is EDGE_ERR_WATCHDOG_BUSY naming systemd', async () => {
  const clock = new ManualClock();
  const device = new FakeWatchdogDevice();
  const w = world();
  const dog = new Watchdog(
    config,
    { mode: 'device', device, intervalMs: 5_000 },
    { clock, logger: silentLogger, sample: w.sample, lag: w.lag },
  );
  await dog.start();
  assert.equal(device.opened, true);
  await clock.advance(15_000);
  assert.equal(device.feeds, 3);
  w.state.lag = 9_999;
  await clock.advance(10_000);
  assert.equal(device.feeds, 3, 'no feed while unhealthy: the hardware will reset the box');
  await dog.stop();
  assert.equal(device.magicClosed, true);
  assert.equal(device.opened, false);

  const busy = new FakeWatchdogDevice();
  busy.busy = true;
  const other = new Watchdog(
    config,
    { mode: 'device', device: busy, intervalMs: 5_000 },
    { clock, logger: silentLogger, sample: w.sample, lag: w.lag },
  );
  await assert.rejects(
    other.start(),
    (err: Error & { code?: string }) =>
      err.code === 'EDGE_ERR_WATCHDOG_BUSY' && /RuntimeWatchdogSec/.test(err.message),
  );
});

test('systemd mode without WATCHDOG_USEC: READY and STOPPING only, no timer', async () => {
  const clock = new ManualClock();
  const sink = new MemoryNotifySink();
  const w = world();
  const dog = new Watchdog(
    config,
    { mode: 'systemd', sink, intervalMs: undefined },
    { clock, logger: silentLogger, sample: w.sample },
  );
  await dog.start();
  assert.equal(clock.pendingCount, 0);
  await dog.stop();
  assert.deepEqual(
    sink.messages.map((m) => m.split('\n')[0]),
    ['READY=1', 'STOPPING=1'],
  );
});
