/**
 * Report by exception (issue 14 item 1): each safety rule with a case that fails if the
 * rule is broken. Time is passed in; the poller cases run on a ManualClock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, delay } from '../../src/core/clock.js';
import { ReportFilter, type DeviceReportPolicy, type ReportPolicy } from '../../src/core/report-filter.js';
import { badValue, goodValue, type TagScalar, type TagValue } from '../../src/core/types.js';
import { deviceReportSchema } from '../../src/config/sections/report.js';
import { FakeDriver } from './fake-driver.js';
import { harness, pollerMetrics } from './poller-harness.js';

const change: DeviceReportPolicy = {
  mode: 'change',
  deadband: { abs: 1 },
  minIntervalMs: 0,
  maxPeriodMs: 60_000,
  tags: {},
};

function tags(values: readonly TagValue[]): string[] {
  return values.map((v) => `${v.tag}=${String(v.value)}${v.quality === 'bad' ? `!${v.code}` : ''}`);
}

/** The held excursions the last filter() reported, as `ts:tag=value`. */
function earlier(f: ReportFilter): string[] {
  return f.takeEarlier().flatMap((r) => tags(r.values).map((t) => `${r.ts}:${t}`));
}

describe('ReportFilter', () => {
  it('reports the first value, then only changes beyond the deadband', () => {
    const f = new ReportFilter(change);
    assert.deepEqual(tags(f.filter([goodValue('p', 10)], 0)), ['p=10']);
    assert.deepEqual(tags(f.filter([goodValue('p', 10.5)], 1000)), []);
    assert.deepEqual(tags(f.filter([goodValue('p', 11)], 2000)), ['p=11']);
    assert.deepEqual(f.stats(), { suppressed: 1, reported: 2 });
  });

  it('compares with the last reported value: slow drift below the deadband per step is reported once it adds up', () => {
    const f = new ReportFilter(change);
    const reported: string[] = [];
    for (let i = 0; i <= 30; i++) reported.push(...tags(f.filter([goodValue('e', 100 + i * 0.1)], i * 1000)));
    // Every step is 0.1 (< deadband 1): a filter comparing with the last *read* value reports nothing after the first.
    assert.equal(reported.length, 4);
    assert.equal(reported[0], 'e=100');
    for (const r of reported.slice(1)) assert.ok(Number(r.slice(2)) - 100 >= 0.99);
  });

  it('drift below the deadband is reported by maxPeriodMs anyway', () => {
    const f = new ReportFilter({ ...change, deadband: { abs: 100 }, maxPeriodMs: 5000 });
    const at: number[] = [];
    for (let t = 0; t <= 12_000; t += 1000)
      if (f.filter([goodValue('e', 1 + t / 1e6)], t).length > 0) at.push(t);
    assert.deepEqual(at, [0, 5000, 10_000]);
  });

  it('a quality change inside the deadband is reported at once, and so is a new error code', () => {
    const f = new ReportFilter({ ...change, minIntervalMs: 10_000 });
    f.filter([goodValue('p', 5)], 0);
    assert.deepEqual(tags(f.filter([badValue('p', 'EDGE_ERR_MODBUS_TIMEOUT', 'x')], 100)), [
      'p=null!EDGE_ERR_MODBUS_TIMEOUT',
    ]);
    assert.deepEqual(tags(f.filter([badValue('p', 'EDGE_ERR_MODBUS_TIMEOUT', 'x')], 200)), []);
    assert.deepEqual(tags(f.filter([badValue('p', 'EDGE_ERR_MODBUS_CRC', 'y')], 300)), [
      'p=null!EDGE_ERR_MODBUS_CRC',
    ]);
    assert.deepEqual(tags(f.filter([goodValue('p', 5)], 400)), ['p=5']);
  });

  it('a change of source (failover) is reported at once', () => {
    const f = new ReportFilter(change);
    f.filter([goodValue('p', 5)], 0);
    assert.equal(f.filter([{ tag: 'p', value: 5, quality: 'good', source: 'secondary' }], 10).length, 1);
  });

  it('minIntervalMs holds a change, which is then reported with the time it was read', () => {
    const f = new ReportFilter({ ...change, minIntervalMs: 5000 });
    f.filter([goodValue('p', 0)], 0);
    assert.equal(f.filter([goodValue('p', 10)], 1000).length, 0);
    assert.deepEqual(tags(f.filter([goodValue('p', 10)], 5000)), [], 'no change since the held one');
    assert.deepEqual(earlier(f), ['1000:p=10']);
  });

  it('excursion-reverted-within-min-interval: a change that reverts within minIntervalMs is reported at the interval end with its own time, then the value it went back to', () => {
    // Before: 0 → 10 → 0 inside one interval was never reported; a consumer never learnt
    // that the value moved. Now every value reported was read at the time it carries.
    const f = new ReportFilter({ ...change, minIntervalMs: 5000 });
    const seen: string[] = [];
    const poll = (value: number, at: number): void => {
      const now = f.filter([goodValue('p', value)], at, undefined, at + 1e9);
      seen.push(...earlier(f).map((e) => `${Number(e.split(':')[0]) - 1e9}:${e.split(':')[1]}`));
      seen.push(...tags(now).map((t) => `${at}:${t}`));
    };
    for (const [value, at] of [
      [0, 0],
      [10, 1000],
      [0, 2000],
      [0, 3000],
      [0, 5000],
      [0, 6000],
      [0, 12_000],
    ])
      poll(value!, at!);
    assert.deepEqual(seen, ['0:p=0', '1000:p=10', '5000:p=0']);
  });

  it('the farthest excursion of an interval is the one reported; the nearer ones are counted as suppressed', () => {
    const f = new ReportFilter({ ...change, minIntervalMs: 5000 });
    f.filter([goodValue('p', 0)], 0);
    for (const [v, at] of [
      [5, 1000],
      [-12, 2000],
      [7, 3000],
      [7, 5000],
    ])
      f.filter([goodValue('p', v!)], at!);
    assert.deepEqual(earlier(f), ['2000:p=-12']);
    assert.deepEqual(
      f.stats(),
      { suppressed: 2, reported: 2 },
      '5 (replaced) and 7@3000 (nearer); 7@5000 is held',
    );
  });

  it('a quality change during a held excursion: the excursion first (its own time), then the bad value at once', () => {
    const f = new ReportFilter({ ...change, minIntervalMs: 5000 });
    f.filter([goodValue('p', 0)], 0);
    f.filter([goodValue('p', 10)], 1000);
    assert.deepEqual(tags(f.filter([badValue('p', 'EDGE_ERR_MODBUS_TIMEOUT', 'x')], 1500)), [
      'p=null!EDGE_ERR_MODBUS_TIMEOUT',
    ]);
    assert.deepEqual(earlier(f), ['1000:p=10']);
  });

  it('a held excursion is reported before the first value after a reset (reconnect, rebirth)', () => {
    const f = new ReportFilter({ ...change, minIntervalMs: 5000 });
    f.filter([goodValue('p', 0)], 0);
    f.filter([goodValue('p', 10)], 1000);
    f.reset();
    assert.deepEqual(tags(f.filter([goodValue('p', 0)], 1200)), ['p=0']);
    assert.deepEqual(earlier(f), ['1000:p=10']);
  });

  it('period mode reports once per maxPeriodMs, booleans and strings compare exactly', () => {
    const f = new ReportFilter({ ...change, mode: 'period', maxPeriodMs: 3000 });
    const at: number[] = [];
    for (let t = 0; t <= 6000; t += 1000) if (f.filter([goodValue('s', t)], t).length > 0) at.push(t);
    assert.deepEqual(at, [0, 3000, 6000]);
    const g = new ReportFilter(change);
    const flips: TagScalar[] = [false, false, true, true, 'a', 'a', 'b'];
    assert.deepEqual(
      flips.map((v, i) => g.filter([goodValue('b', v)], i).length),
      [1, 0, 1, 0, 1, 0, 1],
    );
  });

  it('percent deadband is relative to the last reported value', () => {
    const f = new ReportFilter({ ...change, deadband: { percent: 10 } });
    f.filter([goodValue('t', 200)], 0);
    assert.equal(f.filter([goodValue('t', 219)], 1).length, 0);
    assert.equal(f.filter([goodValue('t', 220)], 2).length, 1);
  });

  it('tags past half their maxPeriodMs ride along with a reported value (one heartbeat record, not one per tag)', () => {
    const f = new ReportFilter({ ...change, maxPeriodMs: 300_000 });
    f.filter([goodValue('a', 1), goodValue('b', 1)], 0);
    assert.deepEqual(tags(f.filter([goodValue('a', 1), goodValue('b', 5)], 100_000)), ['b=5']);
    assert.deepEqual(tags(f.filter([goodValue('a', 1), goodValue('b', 5)], 149_000)), []);
    assert.deepEqual(tags(f.filter([goodValue('a', 1), goodValue('b', 9)], 150_000)), ['a=1', 'b=9']);
    // Nothing to report: no ride-along, and the next heartbeat is still due on time.
    assert.deepEqual(tags(f.filter([goodValue('a', 1), goodValue('b', 9)], 449_000)), []);
    assert.deepEqual(tags(f.filter([goodValue('a', 1), goodValue('b', 9)], 450_000)), ['a=1', 'b=9']);
  });

  it('per-tag overrides: mode all on one tag reports it at every poll', () => {
    const f = new ReportFilter({ ...change, tags: { fast: { mode: 'all' } } });
    f.filter([goodValue('fast', 1), goodValue('slow', 1)], 0);
    assert.deepEqual(tags(f.filter([goodValue('fast', 1), goodValue('slow', 1)], 1)), ['fast=1']);
  });

  it('reset (reconnect) reports every tag again; a clock stepped back does not silence a tag', () => {
    const f = new ReportFilter(change);
    f.filter([goodValue('p', 1)], 10_000);
    f.reset();
    assert.equal(f.filter([goodValue('p', 1)], 10_001).length, 1);
    assert.equal(f.filter([goodValue('p', 1)], 5_000).length, 1);
  });

  it('config defaults: no mode means every poll is reported', () => {
    const p = deviceReportSchema.parse({});
    assert.equal(p.mode, 'all');
    const f = new ReportFilter(p);
    assert.equal(f.filter([goodValue('p', 1)], 0).length, 1);
    assert.equal(f.filter([goodValue('p', 1)], 1).length, 1);
    const policy: ReportPolicy = deviceReportSchema.parse({ mode: 'change' });
    assert.equal(policy.maxPeriodMs, 300_000);
  });
});

/** A driver whose values the test sets. */
class ValueDriver extends FakeDriver {
  values = new Map<string, TagScalar>();
  override async poll(names: readonly string[]): Promise<readonly TagValue[]> {
    const base = await super.poll(names);
    return base.map((v) => (v.quality === 'good' ? goodValue(v.tag, this.values.get(v.tag) ?? 0) : v));
  }
}

describe('DevicePoller with report', () => {
  function run(report: DeviceReportPolicy | undefined) {
    const clock = new ManualClock(0);
    const driver = new ValueDriver('meter', [
      { name: 'e', intervalMs: 1000 },
      { name: 'st', intervalMs: 1000 },
    ]);
    driver.values.set('e', 100);
    driver.values.set('st', true);
    return { clock, driver, ...harness(driver, clock, report ? { report } : {}) };
  }

  it('without report every poll becomes a reading (today)', async () => {
    const { clock, readings, poller } = run(undefined);
    poller.start();
    await clock.advance(4000);
    await poller.stop();
    assert.equal(readings.length, 5);
    assert.ok(readings.every((r) => r.values.length === 2));
    assert.equal(poller.stats().suppressedValues, 0);
  });

  it('suppresses unchanged values, reports the first values after the device is back, never filters events, counts in /metrics', async () => {
    const { clock, driver, readings, events, poller } = run(change);
    poller.start();
    await clock.advance(3000); // polls at 0..3000: only the first reported
    assert.equal(readings.length, 1);
    driver.down = true;
    await clock.advance(2000); // quality change reported once, then suppressed
    assert.equal(readings.length, 2);
    assert.deepEqual(tags(readings[1]?.values ?? []), [
      'e=null!EDGE_ERR_MODBUS_TIMEOUT',
      'st=null!EDGE_ERR_MODBUS_TIMEOUT',
    ]);
    driver.down = false;
    await clock.advance(1000);
    assert.deepEqual(tags(readings[2]?.values ?? []), ['e=100', 'st=true']);
    driver.values.set('st', false);
    await clock.advance(1000);
    assert.deepEqual(tags(readings[3]?.values ?? []), ['st=false']);
    await poller.stop();
    assert.deepEqual(
      events.map((e) => e.type),
      ['device-online', 'device-offline', 'device-online'],
    );
    const suppressed = poller.stats().suppressedValues;
    assert.equal(suppressed, 2 * 8 - (2 + 2 + 2 + 1));
    const text = await pollerMetrics(poller);
    assert.match(text, new RegExp(`^edge_suppressed_values_total\\{device="meter"\\} ${suppressed}$`, 'm'));
  });

  it('the poller publishes a reverted excursion as a reading of its own, with the time it was read', async () => {
    const { clock, driver, readings, poller } = run({ ...change, minIntervalMs: 3000 });
    poller.start();
    await clock.advance(0); // e=100, st=true at 0
    driver.values.set('e', 150);
    await clock.advance(1000); // read at 1000, held
    driver.values.set('e', 100);
    await clock.advance(3000); // back at 2000; the interval ends at 3000
    await poller.stop();
    assert.deepEqual(
      readings.map((r) => `${r.ts}:${tags(r.values).join(',')}`),
      // 150 read at 1000 and gone by 2000: reported at the interval end (3000) with its own
      // time; the 100 it went back to, read at 3000, one interval later.
      ['0:e=100,st=true', '1000:e=150', '3000:e=100'],
    );
  });

  it('a change still held when the poller stops (a reload, a shutdown) is reported, with the time it was read', async () => {
    const { clock, driver, readings, poller } = run({ ...change, minIntervalMs: 60_000 });
    poller.start();
    await clock.advance(0);
    driver.values.set('e', 150);
    await clock.advance(1000);
    assert.equal(readings.length, 1, 'held');
    await poller.stop();
    assert.deepEqual(
      readings.map((r) => `${r.ts}:${tags(r.values).join(',')}`),
      ['0:e=100,st=true', '1000:e=150'],
    );
  });

  it('max-period-late-by-a-poll: a tag polled every second is reported at least every maxPeriodMs although one poll was slower', async () => {
    // The first poll takes 30 ms, the others none: the poll at 5000 ends 4970 ms after the
    // report, under maxPeriodMs; the next poll comes 1000 ms later, so waiting for it left
    // the tag silent for 6 s (a consumer's "dead" alarm at maxPeriodMs fired on a healthy agent).
    const clock = new ManualClock(0);
    const driver = new SlowFirstPollDriver(clock, 'meter', [{ name: 'e', intervalMs: 1000 }]);
    driver.values.set('e', 100);
    const { readings, poller } = harness(driver, clock, { report: { ...change, maxPeriodMs: 5000 } });
    poller.start();
    await clock.advance(20_000);
    await poller.stop();
    const at = readings.map((r) => r.ts);
    assert.ok(at.length >= 4, `reports at ${at.join(', ')}`);
    for (let i = 1; i < at.length; i++) {
      const gap = (at[i] ?? 0) - (at[i - 1] ?? 0);
      assert.ok(gap <= 5000, `reports at ${at.join(', ')}: ${gap} ms without a report`);
    }
  });

  it('wall-clock-stepped-back-stops-polling: after the wall clock steps back an hour, every tag is still reported within maxPeriodMs', async () => {
    // The poll schedule ran on the wall clock: stepped back (NTP correcting an RTC that ran
    // ahead), the next slot lay an hour away and the device was neither polled nor reported.
    const clock = new SteppedClock(1_700_000_000_000);
    const driver = new ValueDriver('meter', [{ name: 'e', intervalMs: 1000 }]);
    driver.values.set('e', 100);
    const { readings, poller } = harness(driver, clock, { report: { ...change, maxPeriodMs: 5000 } });
    poller.start();
    await clock.advance(2000);
    const before = readings.length;
    clock.step = -3_600_000;
    await clock.advance(6000);
    await poller.stop();
    assert.ok(readings.length > before, `${readings.length - before} reports in the 6 s after the step`);
  });

  it('the first value after a driver restart is reported even when unchanged', async () => {
    const { clock, readings, poller } = run(change);
    poller.start();
    await clock.advance(2000);
    await poller.stop();
    const before = readings.length;
    poller.start();
    await clock.advance(0);
    assert.equal(readings.length, before + 1);
    await poller.stop();
  });
});

/** The first poll answers after 30 ms, every later one at once. */
class SlowFirstPollDriver extends ValueDriver {
  private first = true;
  constructor(
    private readonly clock: ManualClock,
    ...args: ConstructorParameters<typeof ValueDriver>
  ) {
    super(...args);
  }
  override async poll(names: readonly string[]): Promise<readonly TagValue[]> {
    if (this.first) {
      this.first = false;
      await delay(this.clock, 30);
    }
    return super.poll(names);
  }
}

/** A ManualClock whose wall time can be stepped (NTP) while monotonic time runs on. */
class SteppedClock extends ManualClock {
  step = 0;
  override now(): number {
    return super.now() + this.step;
  }
}
