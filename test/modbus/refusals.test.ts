/**
 * Issue 11 item 3: a coalesced read (maxGap) that covers an unmapped register is refused
 * with exception 02; that must never blank the good tags it carries. Against a real
 * pymodbus server with a hole in its map, and on a manual clock for the re-probe.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { TagValue } from '../../src/core/types.js';
import { modbusDeviceSchema, type ModbusDeviceConfig } from '../../src/drivers/modbus/config.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { captureLogger } from '../helpers/logger.js';
import { freePort } from '../helpers/net.js';
import { startPymodbus, type Peer } from '../helpers/pymodbus.js';
import { FakeTransport, type FakeSlave } from './fake-transport.js';

let port = 0;
let server: Peer | undefined;

before(async () => {
  port = await freePort();
  // The shipped station-tcp.yaml shape: maxGap 4 and a meter whose register 4 is unmapped.
  server = await startPymodbus({
    transport: 'tcp',
    port,
    slaves: { 1: { holding: { size: 20, values: { 0: [10, 11, 12, 13, 0, 15, 16, 17] }, holes: [4] } } },
  });
});

after(async () => {
  await server?.stop();
});

const tags = [0, 1, 2, 6, 7].map((address) => ({ name: `r${address}`, function: 'holding', address }));

function config(over: Record<string, unknown> = {}): ModbusDeviceConfig {
  return modbusDeviceSchema.parse({
    name: 'meter',
    driver: 'modbus',
    connection: { transport: 'tcp', host: '127.0.0.1', port },
    timeoutMs: 2000,
    maxGap: 4,
    quarantine: { initialMs: 600_000, maxMs: 600_000, jitter: 0 },
    tags,
    ...over,
  });
}

const byTag = (vs: readonly TagValue[]) =>
  Object.fromEntries(vs.map((v) => [v.tag, v.quality === 'good' ? v.value : v.code]));
const names = tags.map((t) => t.name);
const good = { r0: 10, r1: 11, r2: 12, r6: 16, r7: 17 };

test('pymodbus: a maxGap read across an unmapped register keeps every tag good, and later polls avoid the hole', async (t) => {
  const logger = captureLogger();
  const fam = createModbusFamily({ clock: systemClock, logger, random: Math.random });
  t.after(() => fam.close());
  const d = fam.create(config());
  d.init();
  await d.start();
  assert.deepEqual(byTag(await d.poll(names)), good);
  const first = d.status();
  // merged 0..8 refused; halves 0..3 and 6..8 both fine → the hole is 3..6
  assert.equal(first.requests, 3);
  assert.deepEqual(first.holes, [{ function: 'holding', from: 3, to: 6, modbusCode: 2 }]);
  assert.match(logger.text(), /refuses reads across this register range/);
  for (let i = 0; i < 3; i++) assert.deepEqual(byTag(await d.poll(names)), good);
  const later = d.status() as { requests: number; errors: number };
  assert.equal(later.requests, 3 + 3 * 2, 'two requests per poll: 0..3 and 6..8');
  assert.equal(later.errors, 0);
});

test('pymodbus: a configured tag on the unmapped register is the only bad one, and is quarantined', async (t) => {
  const fam = createModbusFamily({ clock: systemClock, logger: silentLogger, random: Math.random });
  t.after(() => fam.close());
  const withHole = [...tags, { name: 'r4', function: 'holding', address: 4 }];
  const d = fam.create(config({ tags: withHole }));
  d.init();
  await d.start();
  const all = withHole.map((x) => x.name);
  for (let i = 0; i < 3; i++)
    assert.deepEqual(byTag(await d.poll(all)), { ...good, r4: 'EDGE_ERR_MODBUS_ILLEGAL_ADDRESS' });
  const s = d.status();
  assert.deepEqual(s.quarantined, [{ tag: 'r4', modbusCode: 2 }]);
  assert.deepEqual(s.holes, []);
});

function rig(slave: FakeSlave, logger = captureLogger()) {
  const clock = new ManualClock();
  let fake: FakeTransport | undefined;
  const fam = createModbusFamily(
    { clock, logger, random: () => 1 },
    {
      transportFactory: () => {
        fake = new FakeTransport(clock);
        fake.slaves.set(1, slave);
        return fake;
      },
    },
  );
  const d = fam.create(config({ quarantine: { initialMs: 10_000, maxMs: 40_000, jitter: 0 } }));
  d.init();
  const run = async <T>(p: Promise<T>): Promise<T> => {
    await clock.advance(50);
    return p;
  };
  return { clock, fam, d, run, logger, sent: () => fake?.sent ?? [] };
}

test('a learnt hole is re-probed after its backoff and released (logged) once the device reads across it', async (t) => {
  const slave: FakeSlave = { holding: { 0: 10, 1: 11, 2: 12, 6: 16, 7: 17 }, holes: [4] };
  const { clock, fam, d, run, logger, sent } = rig(slave);
  t.after(() => fam.close());
  await run(d.start());
  assert.deepEqual(byTag(await run(d.poll(names))), good);
  const n1 = sent().length;
  assert.deepEqual(byTag(await run(d.poll(names))), good);
  assert.equal(sent().length - n1, 2, 'held apart before the probe is due');
  // Probe due, still refused: the merged read fails once, is split, and the backoff grows.
  await clock.advance(10_000);
  const n2 = sent().length;
  assert.deepEqual(byTag(await run(d.poll(names))), good);
  assert.equal(sent().length - n2, 3);
  const n3 = sent().length;
  await clock.advance(10_000);
  assert.deepEqual(byTag(await run(d.poll(names))), good);
  assert.equal(sent().length - n3, 2, 'second backoff step (20 s) not over yet');
  // The meter's map is fixed: the next probe reads across, the hole is released and logged.
  slave.holes = [];
  slave.holding = { ...slave.holding, 4: 14 };
  await clock.advance(10_000);
  const n4 = sent().length;
  assert.deepEqual(byTag(await run(d.poll(names))), good);
  assert.equal(sent().length - n4, 1);
  assert.deepEqual(d.status().holes, []);
  assert.match(logger.text(), /register range read again/);
});

test('a quarantined tag is probed alone and leaves quarantine with a log line', async (t) => {
  const slave: FakeSlave = { holding: { 0: 10, 1: 11, 2: 12, 6: 16, 7: 17 }, holes: [6] };
  const { clock, fam, d, run, logger } = rig(slave);
  t.after(() => fam.close());
  await run(d.start());
  assert.deepEqual(byTag(await run(d.poll(names))), { ...good, r6: 'EDGE_ERR_MODBUS_ILLEGAL_ADDRESS' });
  const held = (await run(d.poll(names))).find((v) => v.tag === 'r6');
  assert.equal(held?.quality, 'bad');
  assert.match(held?.quality === 'bad' ? held.reason : '', /quarantined; next probe in/);
  slave.holes = [];
  await clock.advance(10_000);
  assert.deepEqual(byTag(await run(d.poll(names))), good);
  const s = d.status();
  assert.deepEqual(s.quarantined, []);
  assert.equal(s.released, 1);
  const line = logger.lines.find((l) => l.msg === 'modbus tag read again; left quarantine');
  assert.equal(line?.obj.tag, 'r6');
});
