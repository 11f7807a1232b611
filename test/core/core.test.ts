import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from '../../src/core/backoff.js';
import { CircuitBreaker } from '../../src/core/breaker.js';
import { ManualClock } from '../../src/core/clock.js';
import { agentSchema } from '../../src/config/sections/agent.js';
import { TagSchedule, devicePhase } from '../../src/core/schedule.js';
import { FakeDriver } from './fake-driver.js';
import { harness } from './poller-harness.js';

describe('Backoff', () => {
  it('grows exponentially up to the cap, jitter stays inside [d*(1-j), d]', () => {
    const noJitter = new Backoff({ initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0 });
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map(() => noJitter.next()),
      [100, 200, 400, 800, 1000, 1000],
    );
    const low = new Backoff({ initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0.5 }, () => 0);
    const high = new Backoff({ initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0.5 }, () => 0.999999);
    assert.deepEqual(
      [1, 2, 3, 4, 5].map(() => low.next()),
      [50, 100, 200, 400, 500],
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5].map(() => high.next()),
      [100, 200, 400, 800, 1000],
    );
  });
  it('reset starts over', () => {
    const b = new Backoff({ initialMs: 10, maxMs: 100, multiplier: 3, jitter: 0 });
    b.next();
    b.next();
    b.reset();
    assert.equal(b.next(), 10);
  });
});

describe('CircuitBreaker', () => {
  it('opens after the threshold, half-opens after cooldown, closes on success, re-opens on a failed probe', async () => {
    const clock = new ManualClock();
    const b = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1000 }, () => clock.now());
    assert.equal(b.recordFailure(), false);
    assert.equal(b.recordFailure(), false);
    assert.equal(b.recordFailure(), true);
    assert.equal(b.state, 'open');
    assert.equal(b.allows(), false);
    await clock.advance(1000);
    assert.equal(b.state, 'half-open');
    assert.equal(b.allows(), true);
    assert.equal(b.recordFailure(), true, 'a failed probe re-opens');
    assert.equal(b.state, 'open');
    await clock.advance(1000);
    b.recordSuccess();
    assert.equal(b.state, 'closed');
    assert.equal(b.consecutiveFailures, 0);
  });
});

describe('TagSchedule', () => {
  it('falls due on the interval grid and skips missed slots', () => {
    const s = new TagSchedule(
      [
        { name: 'fast', intervalMs: 100 },
        { name: 'slow', intervalMs: 1000 },
      ],
      10_000,
    );
    assert.deepEqual(s.due(10_000).sort(), ['fast', 'slow']);
    assert.equal(s.nextWake(), 10_100);
    assert.deepEqual(s.due(10_100), ['fast']);
    assert.deepEqual(s.due(10_150), []);
    assert.deepEqual(s.due(10_950).sort(), ['fast'], 'late poll: one catch-up, not eight');
    assert.equal(s.nextWake(), 11_000);
    assert.deepEqual(s.due(11_000).sort(), ['fast', 'slow']);
  });

  it('schedule-arrays: a name given twice is one tag with its last interval; intervalOf knows only scheduled tags', () => {
    const s = new TagSchedule(
      [
        { name: 'a', intervalMs: 100 },
        { name: 'b', intervalMs: 500 },
        { name: 'a', intervalMs: 250 },
      ],
      0,
    );
    assert.deepEqual(s.due(0), ['a', 'b'], 'once each, in first-seen order');
    assert.equal(s.intervalOf('a'), 250);
    assert.equal(s.intervalOf('b'), 500);
    assert.equal(s.intervalOf('c'), undefined);
    assert.equal(s.nextWake(), 250);
    assert.deepEqual(s.due(249.5), []);
    assert.deepEqual(s.due(250.25), ['a'], 'fractional monotonic times');
    assert.equal(s.nextWake(), 500);
    assert.equal(new TagSchedule([], 0).nextWake(), Infinity);
  });
});

describe('TagSchedule phase (agent.pollSpread)', () => {
  it('poll-spread-phase: slots shift by the phase, tags of one device stay coalesced', () => {
    const s = new TagSchedule(
      [
        { name: 'fast', intervalMs: 100 },
        { name: 'slow', intervalMs: 300 },
      ],
      10_000,
      40,
    );
    assert.deepEqual(s.due(10_000).sort(), ['fast', 'slow'], 'first poll at start');
    assert.equal(s.nextWake(), 10_040);
    assert.deepEqual(s.due(10_040), ['fast']);
    assert.deepEqual(s.due(10_140), ['fast']);
    assert.equal(s.nextWake(), 10_240);
    assert.deepEqual(s.due(10_240).sort(), ['fast', 'slow'], '10_240 = 34 × 300 + 40');
  });

  it('poll-spread-devices: phases are stable and spread over the interval', () => {
    assert.equal(devicePhase('m1', 1000), devicePhase('m1', 1000));
    const phases = Array.from({ length: 100 }, (_, i) => devicePhase(`m${i}`, 1000));
    assert.ok(phases.every((p) => p >= 0 && p < 1000));
    const tenths = new Set(phases.map((p) => Math.floor(p / 100)));
    assert.equal(tenths.size, 10, `every tenth of the second holds some device: ${[...tenths].join(',')}`);
  });

  it('poll-spread-default: spreading is the default, over 10 slots; false keeps every device aligned', () => {
    assert.deepEqual(
      (({ pollSpread, pollSpreadSlots }) => ({ pollSpread, pollSpreadSlots }))(agentSchema.parse({})),
      { pollSpread: true, pollSpreadSlots: 10 },
    );
    assert.equal(agentSchema.parse({ pollSpread: false }).pollSpread, false);
    assert.throws(() => agentSchema.parse({ pollSpreadSlots: 0 }));
  });

  it('poll-spread-slots: phases are whole slots of the interval, each slot holds some device', () => {
    const phases = Array.from({ length: 100 }, (_, i) => devicePhase(`m${i}`, 1000, 10));
    assert.deepEqual(
      [...new Set(phases)].sort((a, b) => a - b),
      [0, 100, 200, 300, 400, 500, 600, 700, 800, 900],
      'devices in one slot start their polls in the same timer turn and share a commit',
    );
    assert.deepEqual(
      Array.from({ length: 5 }, (_, i) => devicePhase(`m${i}`, 1000, 1000)),
      Array.from({ length: 5 }, (_, i) => Math.floor(devicePhase(`m${i}`, 1000, 1000))),
      'whole milliseconds',
    );
    assert.ok(new Set(Array.from({ length: 100 }, (_, i) => devicePhase(`m${i}`, 1000, 1000))).size > 80);
    assert.equal(devicePhase('m1', 1000, 1), 0, 'one slot: aligned');
    assert.ok(devicePhase('m1', 7, 10) < 7, 'more slots than milliseconds: a phase per millisecond');
  });
});

describe('DevicePoller', () => {
  it('polls each tag at its own interval, grouping tags that fall due together', async () => {
    const clock = new ManualClock(0);
    const driver = new FakeDriver('m1', [
      { name: 'a', intervalMs: 100 },
      { name: 'b', intervalMs: 300 },
    ]);
    const { poller, readings } = harness(driver, clock);
    poller.start();
    await clock.advance(600);
    await poller.stop();
    assert.deepEqual(
      driver.polled.map((t) => t.sort().join('+')),
      ['a+b', 'a', 'a', 'a+b', 'a', 'a', 'a+b'],
    );
    assert.equal(readings.length, 7);
    assert.deepEqual(
      readings.map((r) => r.ts),
      [0, 100, 200, 300, 400, 500, 600],
    );
    assert.equal(driver.stopped, 1);
    assert.equal(clock.pendingCount, 0, 'no timer left after stop');
  });

  it('retries start with capped backoff, then reports online (startup-no-offline: no offline event before the first online)', async () => {
    const clock = new ManualClock(0);
    const driver = new FakeDriver('m1', [{ name: 'a', intervalMs: 1000 }]);
    driver.startFailures = 4;
    const { poller, events } = harness(driver, clock);
    poller.start();
    await clock.advance(0);
    assert.equal(driver.startCalls, 1);
    assert.equal(poller.stats().state, 'offline');
    await clock.advance(1000 + 2000 + 4000 - 1);
    assert.equal(driver.startCalls, 3);
    await clock.advance(1 + 8000);
    assert.equal(driver.startCalls, 5);
    assert.equal(poller.stats().state, 'online');
    assert.deepEqual(
      events.map((e) => e.type),
      ['device-online'],
    );
    assert.equal(poller.stats().errorsByCode.EDGE_ERR_MODBUS_CONNECT, 4);
    await poller.stop();
  });

  it('turns link-down readings into one offline event and recovery into one online event', async () => {
    const clock = new ManualClock(0);
    const driver = new FakeDriver('m1', [{ name: 'a', intervalMs: 100 }]);
    const { poller, events, readings } = harness(driver, clock);
    poller.start();
    await clock.advance(100);
    driver.down = true;
    await clock.advance(300);
    driver.down = false;
    await clock.advance(100);
    await poller.stop();
    assert.deepEqual(
      events.map((e) => e.type),
      ['device-online', 'device-offline', 'device-online'],
    );
    const bad = readings.filter((r) => r.values[0]!.quality === 'bad');
    assert.equal(bad.length, 3, 'bad readings are still recorded, with their code');
    assert.equal(poller.stats().errorsByCode.EDGE_ERR_MODBUS_TIMEOUT, 3);
  });

  it('offline-debounce-polls: isolated failed polls emit nothing; offline after the configured run', async () => {
    const clock = new ManualClock(0);
    const driver = new FakeDriver('m1', [{ name: 'a', intervalMs: 100 }]);
    const { poller, events } = harness(driver, clock, { offline: { afterFailedPolls: 3, afterMs: 0 } });
    poller.start();
    await clock.advance(0);
    for (let i = 0; i < 10; i++) {
      driver.down = true; // 2 failed polls in a row, then a good one: no flapping
      await clock.advance(200);
      driver.down = false;
      await clock.advance(100);
    }
    assert.deepEqual(
      events.map((e) => e.type),
      ['device-online'],
    );
    driver.down = true;
    await clock.advance(200);
    assert.equal(events.length, 1, 'two failed polls are not offline yet');
    await clock.advance(100);
    assert.deepEqual(
      events.map((e) => e.type),
      ['device-online', 'device-offline'],
    );
    driver.down = false;
    await clock.advance(100);
    assert.deepEqual(
      events.map((e) => e.type),
      ['device-online', 'device-offline', 'device-online'],
      'online after one good poll',
    );
    await poller.stop();
  });

  it('offline-debounce-time: a run of failed polls that lasts afterMs is offline even below the count', async () => {
    const clock = new ManualClock(0);
    const driver = new FakeDriver('m1', [{ name: 'a', intervalMs: 1000 }]);
    const { poller, events } = harness(driver, clock, { offline: { afterFailedPolls: 10, afterMs: 2500 } });
    poller.start();
    await clock.advance(0);
    driver.down = true;
    await clock.advance(1000 + 1000); // failed polls at 1000 and 2000: the run lasts 1000 ms
    assert.deepEqual(
      events.map((e) => e.type),
      ['device-online'],
    );
    await clock.advance(2000); // 3000, 4000: the run lasts 3000 ms >= 2500
    assert.deepEqual(
      events.map((e) => e.type),
      ['device-online', 'device-offline'],
    );
    await poller.stop();
  });

  it('startup-no-offline: a device whose link never came up emits no offline event (state offline); online on its first good poll', async () => {
    const clock = new ManualClock(0);
    const driver = new FakeDriver('m1', [{ name: 'a', intervalMs: 100 }]);
    driver.down = true;
    const { poller, events } = harness(driver, clock, { offline: { afterFailedPolls: 3, afterMs: 0 } });
    poller.start();
    await clock.advance(1000);
    assert.equal(events.length, 0, 'no offline event at start-up');
    assert.equal(poller.stats().state, 'offline');
    driver.down = false;
    await clock.advance(100);
    assert.deepEqual(
      events.map((e) => e.type),
      ['device-online'],
    );
    await poller.stop();
  });

  it('a driver that throws gets bad values, not a dead poller; the other device is untouched', async () => {
    const clock = new ManualClock(0);
    const broken = new FakeDriver('broken', [{ name: 'a', intervalMs: 100 }]);
    broken.throwOnPoll = true;
    const healthy = new FakeDriver('healthy', [{ name: 'a', intervalMs: 100 }]);
    const one = harness(broken, clock);
    const two = harness(healthy, clock);
    one.poller.start();
    two.poller.start();
    await clock.advance(500);
    await Promise.all([one.poller.stop(), two.poller.stop()]);
    assert.equal(one.readings.length, 6);
    assert.ok(
      one.readings.every(
        (r) => r.values[0]!.quality === 'bad' && r.values[0]!.code === 'EDGE_ERR_DRIVER_POLL',
      ),
    );
    assert.equal(two.readings.length, 6);
    assert.ok(two.readings.every((r) => r.values[0]!.quality === 'good'));
  });
});
