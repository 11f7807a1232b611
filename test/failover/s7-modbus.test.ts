/**
 * The field case of issue 4: a PLC read over S7 (a real snap7 server) whose values are
 * also served by its Modbus TCP server (pymodbus, same values). The S7 server stops →
 * the device reads through Modbus under the S7 tag names, with a source-failover event;
 * the S7 server comes back → the device returns to S7 after the hysteresis.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { AgentEvent, TagValue } from '../../src/core/types.js';
import { FailoverDriver } from '../../src/drivers/failover/driver.js';
import { tagShapesOf } from '../../src/drivers/failover/shapes.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { modbusDriver } from '../../src/drivers/modbus/index.js';
import { s7Driver } from '../../src/drivers/s7/index.js';
import { deviceSchema } from '../../src/drivers/schemas.js';
import { freePort } from '../helpers/net.js';
import { startPymodbus, type Peer } from '../helpers/pymodbus.js';
import { TestS7Server } from '../helpers/snap7.js';
import { waitFor } from '../helpers/wait.js';
import { pollUntil as pollUntilOn } from './poll-until.js';

function config(s7Port: number, modbusPort: number) {
  const parsed = deviceSchema.parse({
    name: 'line-plc',
    driver: 's7',
    connection: { host: '127.0.0.1', port: s7Port, rack: 0, slot: 1 },
    requestTimeoutMs: 200,
    connectTimeoutMs: 200,
    reconnect: { initialMs: 50, maxMs: 50, jitter: 0 },
    tags: [
      { name: 'voltage', address: 'DB1,INT0', scale: 0.1 },
      { name: 'temp', address: 'DB1,INT2' },
    ],
    failover: {
      secondary: {
        driver: 'modbus',
        connection: { transport: 'tcp', host: '127.0.0.1', port: modbusPort },
        timeoutMs: 500,
        tags: [
          // i16 as the S7 INTs (the default u16 would read -5 °C as 65531: init() refuses it).
          { name: 'v', function: 'holding', address: 0, type: 'i16', scale: 0.1 },
          { name: 't', function: 'holding', address: 1, type: 'i16' },
        ],
      },
      tagMap: { voltage: 'v', temp: 't' },
      windowMs: 600,
      minSamples: 3,
      probeIntervalMs: 100,
      recoverAfterMs: 500,
    },
  });
  if (parsed.driver !== 's7' || parsed.failover?.secondary.driver !== 'modbus')
    throw new Error('fixture is s7 → modbus');
  return {
    primary: parsed,
    failover: parsed.failover,
    secondary: { ...parsed.failover.secondary, name: 'line-plc.modbus' },
  };
}

const plain = (values: readonly TagValue[]) =>
  values.map((v) => [v.tag, v.quality === 'good' ? v.value : v.code, v.source ?? 'primary']);

describe('failover from S7 to the PLC’s Modbus TCP server and back', { timeout: 30_000 }, () => {
  let plc: TestS7Server;
  let modbus: Peer;
  let modbusPort: number;

  before(async () => {
    // pymodbus first: snap7 binds with SO_REUSEADDR, so a port probe made while it listens
    // can hand its port to the next server.
    modbusPort = await freePort();
    modbus = await startPymodbus({
      transport: 'tcp',
      port: modbusPort,
      slaves: { 1: { holding: { values: { 0: [2301, 17] } } } },
    });
    plc = await TestS7Server.start();
    const db1 = Buffer.alloc(8);
    db1.writeInt16BE(2301, 0);
    db1.writeInt16BE(17, 2);
    plc.register('DB', 1, db1);
  });
  after(async () => {
    plc?.stop();
    await modbus?.stop();
  });

  it('switches on S7 link loss with the same values under the S7 names, and back after the hysteresis', async () => {
    const clock = systemClock;
    const events: AgentEvent[] = [];
    const deps = { clock, logger: silentLogger, random: () => 0.5 };
    const s7 = await s7Driver.createFamily(deps);
    const mb = createModbusFamily(deps);
    const { primary, failover, secondary } = config(plc.port, modbusPort);
    const driver = new FailoverDriver(s7.create(primary), mb.create(secondary), failover, {
      ...deps,
      startBackoff: primary.reconnect,
      onEvent: (e) => events.push(e),
      tagShapes: {
        primary: tagShapesOf(primary, (c) => s7Driver.tagTypes?.(c as typeof primary)),
        secondary: tagShapesOf(secondary, (c) => modbusDriver.tagTypes?.(c as typeof secondary)),
      },
    });
    const names = ['voltage', 'temp'];
    const poll = (): Promise<readonly TagValue[]> => driver.poll(names);
    const pollUntil = (what: string, done: (values: readonly TagValue[]) => boolean) =>
      pollUntilOn(driver, names, what, done);
    try {
      driver.init();
      await driver.start();
      assert.deepEqual(plain(await poll()), [
        ['voltage', 230.1, 'primary'],
        ['temp', 17, 'primary'],
      ]);

      plc.stop();
      const values = await pollUntil('the switch to Modbus', () => driver.active === 'secondary');
      assert.equal(driver.active, 'secondary');
      assert.deepEqual(plain(values), [
        ['voltage', 230.1, 'secondary'],
        ['temp', 17, 'secondary'],
      ]);
      assert.equal(events[0]?.type, 'source-failover');
      assert.equal(events[0]?.data?.to, 'secondary');

      // The port can stay busy for a moment after Stop(): retry until snap7 listens again.
      await waitFor(
        'S7 server listening again',
        () => {
          try {
            plc.start();
            return true;
          } catch {
            return false;
          }
        },
        20_000,
        100,
      );
      const backAt = clock.now();
      await pollUntil('the return to S7', () => driver.active === 'primary');
      assert.equal(driver.active, 'primary');
      assert.ok(clock.now() - backAt >= 500, 'not before recoverAfterMs of healthy probes');
      assert.deepEqual(plain(await poll()), [
        ['voltage', 230.1, 'primary'],
        ['temp', 17, 'primary'],
      ]);
      assert.deepEqual(
        events.map((e) => [e.data?.from, e.data?.to]),
        [
          ['primary', 'secondary'],
          ['secondary', 'primary'],
        ],
      );
    } finally {
      await driver.stop();
      await Promise.all([s7.close(), mb.close()]);
    }
  });
});
