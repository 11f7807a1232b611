/**
 * Issue 17's field case: a PLC read over S7 (a real snap7 server) whose variables its
 * OPC UA server also exposes (a node-opcua server with the same values). S7 dies → the
 * device reads through OPC UA under the S7 tag names, values marked secondary and still
 * live; S7 comes back → the device returns to S7 after the hysteresis.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { AgentEvent, TagValue } from '../../src/core/types.js';
import { FailoverDriver } from '../../src/drivers/failover/driver.js';
import { tagShapesOf } from '../../src/drivers/failover/shapes.js';
import { opcuaDriver } from '../../src/drivers/opcua/index.js';
import { s7Driver } from '../../src/drivers/s7/index.js';
import { deviceSchema } from '../../src/drivers/schemas.js';
import { TestOpcuaServer } from '../helpers/opcua.js';
import { TestS7Server } from '../helpers/snap7.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { pollUntil as pollUntilOn } from './poll-until.js';

function config(s7Port: number, endpoint: string, pkiDir: string) {
  // The agent's own device schema: an S7 device with an OPC UA secondary, as a config file has it.
  const parsed = deviceSchema.parse({
    name: 'line-plc',
    driver: 's7',
    connection: { host: '127.0.0.1', port: s7Port, rack: 0, slot: 1 },
    // Not tighter: loading node-opcua blocks the event loop for about a second at the first connect.
    requestTimeoutMs: 2000,
    connectTimeoutMs: 2000,
    reconnect: { initialMs: 50, maxMs: 50, jitter: 0 },
    tags: [
      { name: 'voltage', address: 'DB1,INT0', scale: 0.1 },
      { name: 'temp', address: 'DB1,INT2' },
    ],
    failover: {
      secondary: {
        driver: 'opcua',
        endpoint,
        pkiDir,
        intervalMs: 50,
        subscription: { publishingIntervalMs: 50 },
        tags: [
          { name: 'voltage', nodeId: 'ns=1;s=DB1.voltage', dataType: 'Int16', scale: 0.1 },
          { name: 'temp', nodeId: 'ns=1;s=DB1.temp', dataType: 'Int16' },
        ],
      },
      windowMs: 600,
      minSamples: 3,
      probeIntervalMs: 100,
      recoverAfterMs: 500,
    },
  });
  if (parsed.driver !== 's7' || parsed.failover?.secondary.driver !== 'opcua')
    throw new Error('fixture is s7 → opcua');
  return {
    primary: parsed,
    failover: parsed.failover,
    secondary: { ...parsed.failover.secondary, name: 'line-plc.opcua' },
  };
}

const plain = (values: readonly TagValue[]) =>
  values.map((v) => [v.tag, v.quality === 'good' ? v.value : v.code, v.source ?? 'primary']);

describe('failover from S7 to the PLC’s OPC UA server and back', { timeout: 60_000 }, () => {
  let plc: TestS7Server;
  let ua: TestOpcuaServer;
  const pki = tempDir('edge-opcua-failover-');

  before(async () => {
    ua = await TestOpcuaServer.start([
      { name: 'DB1.voltage', dataType: 'Int16', value: 2301 },
      { name: 'DB1.temp', dataType: 'Int16', value: 17 },
    ]);
    plc = await TestS7Server.start();
    const db1 = Buffer.alloc(8);
    db1.writeInt16BE(2301, 0);
    db1.writeInt16BE(17, 2);
    plc.register('DB', 1, db1);
  });
  after(async () => {
    plc?.stop();
    await ua?.stop();
    pki.remove();
  });

  it('switches on S7 link loss to OPC UA values under the S7 names, live, and back after the hysteresis', async () => {
    const clock = systemClock;
    const events: AgentEvent[] = [];
    const deps = { clock, logger: silentLogger, random: () => 0.5 };
    const s7 = await s7Driver.createFamily(deps);
    const opcua = await opcuaDriver.createFamily(deps);
    const { primary, failover, secondary } = config(plc.port, ua.endpoint, pki.path);
    const driver = new FailoverDriver(s7.create(primary), opcua.create(secondary), failover, {
      ...deps,
      startBackoff: primary.reconnect,
      onEvent: (e) => events.push(e),
      tagShapes: {
        primary: tagShapesOf(primary, (c) => s7Driver.tagTypes?.(c as typeof primary)),
        secondary: tagShapesOf(secondary, (c) => opcuaDriver.tagTypes?.(c as typeof secondary)),
      },
    });
    const names = ['voltage', 'temp'];
    const poll = (): Promise<readonly TagValue[]> => driver.poll(names);
    const pollUntil = (what: string, done: (values: readonly TagValue[]) => boolean) =>
      pollUntilOn(driver, names, what, done);
    try {
      driver.init();
      await driver.start();
      // The device starts when either source does: on a loaded machine the S7 connect can time
      // out while node-opcua loads (a second of CPU) and is retried in the background.
      const first = plain(
        await pollUntil('the primary values', (v) => {
          const [tag] = plain(v);
          return tag?.[2] === 'primary' && typeof tag[1] === 'number';
        }),
      );
      assert.deepEqual(first, [
        ['voltage', 230.1, 'primary'],
        ['temp', 17, 'primary'],
      ]);

      plc.stop();
      const values = await pollUntil('the switch to OPC UA', () => driver.active === 'secondary');
      assert.deepEqual(plain(values), [
        ['voltage', 230.1, 'secondary'],
        ['temp', 17, 'secondary'],
      ]);
      assert.deepEqual([events[0]?.type, events[0]?.data?.to], ['source-failover', 'secondary']);

      // Values keep coming from the OPC UA server while S7 is down.
      await ua.set('DB1.temp', 18);
      const live = plain(await pollUntil('the new temp over OPC UA', (v) => plain(v)[1]?.[1] === 18));
      assert.deepEqual(live, [
        ['voltage', 230.1, 'secondary'],
        ['temp', 18, 'secondary'],
      ]);

      const db1 = Buffer.alloc(8);
      db1.writeInt16BE(2301, 0);
      db1.writeInt16BE(18, 2);
      await waitFor(
        'S7 server listening again',
        () => {
          try {
            plc.start();
            plc.set('DB', 1, db1);
            return true;
          } catch {
            return false;
          }
        },
        20_000,
        100,
      );
      await pollUntil('the return to S7', () => driver.active === 'primary');
      assert.deepEqual(plain(await poll()), [
        ['voltage', 230.1, 'primary'],
        ['temp', 18, 'primary'],
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
      await Promise.all([s7.close(), opcua.close()]);
    }
  });
});
