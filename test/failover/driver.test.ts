/** FailoverDriver over fake drivers: start with a dead primary, write routing, init checks. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger, type WriteValue } from '../../src/core/ports.js';
import type { AgentEvent } from '../../src/core/types.js';
import { FailoverDriver } from '../../src/drivers/failover/driver.js';
import { FakeDriver } from '../core/fake-driver.js';

class WriteFake extends FakeDriver {
  readonly written: Array<[string, WriteValue]> = [];
  write = async (tag: string, value: WriteValue): Promise<void> => void this.written.push([tag, value]);
}

const OPTS = {
  errorRateThreshold: 0.5,
  windowMs: 1000,
  minSamples: 2,
  recoverErrorRate: 0.1,
  recoverAfterMs: 1000,
  probeIntervalMs: 500,
};

function setup(primary: FakeDriver, secondary: FakeDriver, tagMap?: Record<string, string>) {
  const clock = new ManualClock();
  const events: AgentEvent[] = [];
  const driver = new FailoverDriver(
    primary,
    secondary,
    { secondary: { driver: 'fake' }, tagMap, ...OPTS },
    {
      clock,
      logger: silentLogger,
      random: () => 0.5,
      startBackoff: { initialMs: 100, maxMs: 100, multiplier: 1, jitter: 0 },
      onEvent: (e) => events.push(e),
      tagShapes: { primary: undefined, secondary: undefined },
    },
  );
  return { clock, events, driver };
}

describe('failover driver', () => {
  it('starts when only the secondary can, and fails over to it after a window', async () => {
    const primary = new FakeDriver('p', [{ name: 'a', intervalMs: 100 }]);
    primary.startFailures = 1000;
    const secondary = new FakeDriver('s', [{ name: 'a', intervalMs: 100 }]);
    const { clock, events, driver } = setup(primary, secondary);
    driver.init();
    await driver.start();
    let values = await driver.poll(['a']);
    assert.equal(values[0]!.quality === 'bad' && values[0]!.code, 'EDGE_ERR_DRIVER_START');
    for (let i = 0; i < 12 && driver.active === 'primary'; i++) {
      await clock.advance(100);
      values = await driver.poll(['a']);
    }
    assert.equal(driver.active, 'secondary');
    assert.equal(values[0]!.quality, 'good');
    assert.equal(values[0]!.source, 'secondary');
    assert.ok(primary.startCalls > 2, 'the primary start is retried in the background');
    assert.equal(events[0]!.data?.cause, 'link-down');
    await driver.stop();
  });

  it('rejects start when neither source starts', async () => {
    const primary = new FakeDriver('p', [{ name: 'a', intervalMs: 100 }]);
    const secondary = new FakeDriver('s', [{ name: 'a', intervalMs: 100 }]);
    primary.startFailures = secondary.startFailures = 1;
    const { driver } = setup(primary, secondary);
    await assert.rejects(driver.start(), (e: { code?: string }) => e.code === 'EDGE_ERR_MODBUS_CONNECT');
    await driver.start();
    await driver.stop();
  });

  it('writes go to the active source only, under its tag name; unmapped or unsupported are refused', async () => {
    const primary = new WriteFake('p', [
      { name: 'sp', intervalMs: 100 },
      { name: 'x', intervalMs: 100 },
    ]);
    const secondary = new WriteFake('s', [{ name: 'setpoint', intervalMs: 100 }]);
    const { clock, driver } = setup(primary, secondary, { sp: 'setpoint' });
    driver.init();
    await driver.start();
    await driver.write!('sp', 1);
    assert.deepEqual(primary.written, [['sp', 1]]);
    await assert.rejects(
      driver.write!('nope', 1),
      (e: { code?: string }) => e.code === 'EDGE_ERR_CMD_UNKNOWN_TAG',
    );
    primary.down = true;
    for (let i = 0; i < 12 && driver.active === 'primary'; i++) {
      await driver.poll(['sp', 'x']);
      await clock.advance(100);
    }
    assert.equal(driver.active, 'secondary');
    await driver.write!('sp', 2);
    assert.deepEqual(secondary.written, [['setpoint', 2]]);
    assert.deepEqual(primary.written, [['sp', 1]], 'never written to the inactive source');
    await assert.rejects(
      driver.write!('x', 3),
      (e: { code?: string }) => e.code === 'EDGE_ERR_CMD_NOT_WRITABLE',
    );
    await driver.stop();

    const readOnly = setup(
      new FakeDriver('p', [{ name: 'a', intervalMs: 100 }]),
      new FakeDriver('s', [{ name: 'a', intervalMs: 100 }]),
    );
    assert.equal(readOnly.driver.write, undefined, 'no write when neither source can');
  });

  it("init() checks the map against the drivers' tags, naming failover.tagMap.X", () => {
    const { driver } = setup(
      new FakeDriver('p', [{ name: 'a', intervalMs: 100 }]),
      new FakeDriver('s', [{ name: 'b', intervalMs: 100 }]),
      { a: 'c' },
    );
    assert.throws(
      () => driver.init(),
      (e: { code?: string; context?: { field?: string } }) =>
        e.code === 'EDGE_ERR_CONFIG_INVALID' && e.context?.field === 'failover.tagMap.a',
    );
  });
});
