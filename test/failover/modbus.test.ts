/**
 * Failover between two real Modbus TCP servers (pymodbus) with the same values: the
 * primary server is stopped → the device switches to the secondary with the same values
 * under its own tag names and a source-failover event; the primary is restarted → it
 * switches back only after the hysteresis. Time is a ManualClock; the peers are real.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { AgentEvent, TagValue } from '../../src/core/types.js';
import { FailoverDriver } from '../../src/drivers/failover/driver.js';
import { tagShapesOf } from '../../src/drivers/failover/shapes.js';
import { createModbusFamily, type ModbusFamily } from '../../src/drivers/modbus/family.js';
import { modbusDriver } from '../../src/drivers/modbus/index.js';
import { deviceSchema } from '../../src/drivers/schemas.js';
import { freePort } from '../helpers/net.js';
import { startAll } from '../helpers/peers.js';
import { startPymodbus, type Peer, type PymodbusSpec } from '../helpers/pymodbus.js';
import { waitFor } from '../helpers/wait.js';

const VALUES = { 0: [2301, 17, 400] };
const spec = (port: number): PymodbusSpec => ({
  transport: 'tcp',
  port,
  slaves: { 1: { holding: { values: VALUES } } },
});

function device(primaryPort: number, secondaryPort: number) {
  const parsed = deviceSchema.parse({
    name: 'plc-1',
    driver: 'modbus',
    connection: { transport: 'tcp', host: '127.0.0.1', port: primaryPort },
    timeoutMs: 500,
    reconnect: { initialMs: 200, maxMs: 200, jitter: 0 },
    tags: [
      { name: 'voltage', function: 'holding', address: 0, scale: 0.1 },
      { name: 'temp', function: 'holding', address: 1 },
      { name: 'only-primary', function: 'holding', address: 2 },
    ],
    failover: {
      secondary: {
        driver: 'modbus',
        connection: { transport: 'tcp', host: '127.0.0.1', port: secondaryPort },
        timeoutMs: 500,
        tags: [
          { name: 'v', function: 'holding', address: 0, scale: 0.1 },
          { name: 't', function: 'holding', address: 1 },
        ],
      },
      tagMap: { voltage: 'v', temp: 't' },
      windowMs: 3000,
      minSamples: 3,
      probeIntervalMs: 1000,
      recoverAfterMs: 4000,
    },
  });
  if (parsed.driver !== 'modbus' || parsed.failover?.secondary.driver !== 'modbus')
    throw new Error('fixture is modbus on both sides');
  return { ...parsed, failover: { ...parsed.failover, secondary: parsed.failover.secondary } };
}

const NAMES = ['voltage', 'temp', 'only-primary'];
const plain = (values: readonly TagValue[]) =>
  values.map((v) =>
    v.quality === 'good' ? [v.tag, v.value, v.source ?? 'primary'] : [v.tag, v.code, v.source ?? 'primary'],
  );

describe('failover between two Modbus TCP servers', { timeout: 60_000 }, () => {
  let primaryPort: number;
  let secondaryPort: number;
  let primary: Peer | undefined;
  let secondary: Peer;

  before(async () => {
    primaryPort = await freePort();
    secondaryPort = await freePort();
    [primary, secondary] = await startAll([
      startPymodbus(spec(primaryPort)),
      startPymodbus(spec(secondaryPort)),
    ]);
  });
  after(async () => {
    await primary?.stop();
    await secondary?.stop();
  });

  it('switches to the secondary when the primary stops, with the same values and an event; back after the hysteresis', async () => {
    const clock = new ManualClock();
    const events: AgentEvent[] = [];
    const config = device(primaryPort, secondaryPort);
    const family: ModbusFamily = createModbusFamily({ clock, logger: silentLogger, random: () => 0.5 });
    const { failover } = config;
    assert.ok(failover);
    const driver = new FailoverDriver(
      family.create(config),
      family.create({ ...failover.secondary, name: 'plc-1.secondary' }),
      failover,
      {
        clock,
        logger: silentLogger,
        random: () => 0.5,
        startBackoff: config.reconnect,
        onEvent: (e) => events.push(e),
        tagShapes: {
          primary: tagShapesOf(config, (c) => modbusDriver.tagTypes?.(c as typeof config)),
          secondary: tagShapesOf(failover.secondary, (c) => modbusDriver.tagTypes?.(c as typeof config)),
        },
      },
    );
    try {
      driver.init();
      await driver.start();
      // The Modbus TCP client's timeouts run on the injected clock: time moves on only
      // once a background probe of the primary has its answer (500 ms is its timeout).
      const probeSettled = () =>
        waitFor('probe settled', () => !(driver as unknown as { probe?: Promise<void> }).probe || undefined);
      const tick = async (): Promise<readonly TagValue[]> => {
        const values = await driver.poll(NAMES);
        await probeSettled();
        await clock.advance(500);
        return values;
      };
      assert.deepEqual(plain(await tick()), [
        ['voltage', 230.1, 'primary'],
        ['temp', 17, 'primary'],
        ['only-primary', 400, 'primary'],
      ]);

      await primary!.stop();
      primary = undefined;
      let values: readonly TagValue[] = [];
      const failedAt = clock.now();
      for (let i = 0; i < 20 && driver.active === 'primary'; i++) values = await tick();
      assert.equal(driver.active, 'secondary');
      assert.ok(clock.now() - failedAt >= 3000, 'not before a whole window');
      assert.deepEqual(plain(values), [
        ['voltage', 230.1, 'secondary'],
        ['temp', 17, 'secondary'],
        ['only-primary', 'EDGE_ERR_FAILOVER_UNMAPPED', 'secondary'],
      ]);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.type, 'source-failover');
      assert.equal(events[0]!.device, 'plc-1');
      assert.deepEqual(
        { ...events[0]!.data, samples: undefined },
        {
          from: 'primary',
          to: 'secondary',
          cause: 'link-down',
          errorRate: 1,
          samples: undefined,
          windowMs: 3000,
          secondary: 'plc-1.secondary',
        },
      );
      const status = driver.status() as { source: string; primary: { link: { line: { state: string } } } };
      assert.equal(status.source, 'secondary');

      primary = await startPymodbus(spec(primaryPort));
      const backAt = clock.now();
      for (let i = 0; i < 60 && driver.active === 'secondary'; i++) {
        values = await tick();
        assert.ok(values.every((v) => v.source === 'secondary'));
      }
      assert.equal(driver.active, 'primary');
      assert.ok(clock.now() - backAt >= 4000, 'not before recoverAfterMs of healthy probes');
      assert.deepEqual(plain(await tick()), [
        ['voltage', 230.1, 'primary'],
        ['temp', 17, 'primary'],
        ['only-primary', 400, 'primary'],
      ]);
      assert.deepEqual(
        events.map((e) => [e.data?.from, e.data?.to, e.data?.cause, e.severity]),
        [
          ['primary', 'secondary', 'link-down', 'warning'],
          ['secondary', 'primary', 'primary-recovered', 'info'],
        ],
      );
    } finally {
      await driver.stop();
      await family.close();
    }
  });
});
