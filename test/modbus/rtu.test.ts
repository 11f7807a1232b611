/** RTU against real peers: pymodbus on one end of a socat pty pair, the driver on the other. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialPort } from 'serialport';
import modbusSerial from 'modbus-serial';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { TagValue } from '../../src/core/types.js';
import { modbusDeviceSchema, type ModbusDeviceConfig } from '../../src/drivers/modbus/config.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { startPtyPair } from '../helpers/pymodbus.js';
import { rtuSlavesOnPty } from '../helpers/rtu-slaves.js';
import { waitFor } from '../helpers/wait.js';
import { allTypesLayout } from './layout.js';

const layout = allTypesLayout();
const serial = rtuSlavesOnPty({
  dirPrefix: 'edge-modbus-rtu-',
  baudrate: 19200,
  slaves: { 1: layout.slave, 2: { holding: { values: { 0: [222] } } } },
});

function config(over: Record<string, unknown>): ModbusDeviceConfig {
  return modbusDeviceSchema.parse({
    name: 'rtu1',
    driver: 'modbus',
    connection: { transport: 'rtu', path: serial.pty.a, baudRate: 19200 },
    unitId: 1,
    timeoutMs: 500,
    ...over,
  });
}

function family() {
  return createModbusFamily({ clock: systemClock, logger: silentLogger, random: Math.random });
}

const byTag = (vs: readonly TagValue[]) =>
  Object.fromEntries(vs.map((v) => [v.tag, v.quality === 'good' ? v.value : v.code]));

test('RTU: every data type and order decodes exactly; coalesced into one request per function', async (t) => {
  const fam = family();
  t.after(() => fam.close());
  const d = fam.create(config({ tags: layout.tags }));
  d.init();
  await d.start();
  const names = Object.keys(layout.expected);
  const values = await d.poll(names);
  assert.deepEqual(byTag(values), layout.expected);
  assert.equal(d.status().requests, 4); // coil, discrete, holding, input
});

test('RTU: exception 02 marks only the unmapped tag; an absent slave times out', async (t) => {
  const fam = family();
  t.after(() => fam.close());
  const d = fam.create(
    config({
      tags: [
        { ...layout.tags.find((tag) => tag.name === 'f32_ABCD'), name: 'ok' },
        { name: 'unmapped', function: 'holding', address: 1000 },
      ],
    }),
  );
  const ghost = fam.create(
    config({
      name: 'ghost',
      unitId: 9,
      timeoutMs: 150,
      tags: [{ name: 'x', function: 'holding', address: 0 }],
    }),
  );
  d.init();
  ghost.init();
  await d.start();
  await ghost.start();
  const [vs, gs] = await Promise.all([d.poll(['ok', 'unmapped']), ghost.poll(['x'])]);
  assert.deepEqual(byTag(vs), { ok: layout.expected.f32_ABCD, unmapped: 'EDGE_ERR_MODBUS_ILLEGAL_ADDRESS' });
  assert.deepEqual(byTag(gs), { x: 'EDGE_ERR_MODBUS_TIMEOUT' });
});

test('RTU: a dead slave on a shared bus opens its breaker; the live ones stay good every cycle', async (t) => {
  const fam = family();
  t.after(() => fam.close());
  const tags = [{ name: 'v', function: 'holding', address: 0 }];
  const breaker = { failureThreshold: 2, cooldownMs: 60_000 };
  const devs = [1, 2, 3].map((unitId) =>
    fam.create(config({ name: `s${unitId}`, unitId, timeoutMs: 150, breaker, tags })),
  );
  for (const d of devs) d.init();
  for (const d of devs) await d.start();
  assert.equal(fam.lines().size, 1);
  for (let i = 0; i < 6; i++) {
    const [a, b, c] = await Promise.all(devs.map((d) => d.poll(['v'])));
    assert.equal(a![0]!.value, layout.slave.holding!.values![0]![0], `cycle ${i}`);
    assert.equal(b![0]!.value, 222, `cycle ${i}`);
    assert.equal(
      c![0]!.quality === 'bad' && c![0]!.code,
      i < 2 ? 'EDGE_ERR_MODBUS_TIMEOUT' : 'EDGE_ERR_MODBUS_CIRCUIT_OPEN',
    );
  }
  const dead = devs[2]!.status();
  assert.equal(dead.breaker, 'open');
  assert.equal(dead.requests, 2, 'no bus traffic to the dead slave once open');
  // Once open, a cycle costs only the two live requests: the request count above is that
  // cost, shown without a wall-clock figure.
});

/** CRC-16/MODBUS. */
function crc16(buf: Buffer): number {
  let crc = 0xffff;
  for (const b of buf) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >> 1) ^ 0xa001 : crc >> 1;
  }
  return crc;
}

/**
 * A slave that answers FC3 with address*1000 + sequence, and answers reads of address 10
 * only after `slowMs` (later than the client's timeout).
 */
async function slowSlave(
  path: string,
  slowMs: number,
): Promise<{ close(): Promise<void>; answered(): number }> {
  const port = new SerialPort({ path, baudRate: 19200, autoOpen: false });
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
  let buf = Buffer.alloc(0);
  let seq = 0;
  let answered = 0;
  let chain = Promise.resolve();
  port.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 8) {
      const frame = buf.subarray(0, 8);
      buf = buf.subarray(8);
      chain = chain.then(async () => {
        const address = frame.readUInt16BE(2);
        const count = frame.readUInt16BE(4);
        const value = address * 1000 + ++seq;
        if (address === 10) await new Promise((r) => setTimeout(r, slowMs));
        const out = Buffer.alloc(3 + 2 * count + 2);
        out[0] = frame[0]!;
        out[1] = 3;
        out[2] = 2 * count;
        for (let i = 0; i < count; i++) out.writeUInt16BE(value & 0xffff, 3 + 2 * i);
        out.writeUInt16LE(crc16(out.subarray(0, out.length - 2)), out.length - 2);
        port.write(out);
        answered++;
      });
    }
  });
  return { close: () => new Promise<void>((res) => port.close(() => res())), answered: () => answered };
}

test('RTU: a late answer after a timeout is discarded and reported, not given to the next request', async (t) => {
  const pair = await startPtyPair(serial.dir, 'late');
  t.after(() => pair.stop());
  const slave = await slowSlave(pair.b, 900);
  t.after(() => slave.close());

  // modbus-serial alone mis-assigns the late frame to the next request of the same shape
  const raw = new modbusSerial.default();
  await raw.connectRTUBuffered(pair.a, { baudRate: 19200 });
  raw.setID(1);
  raw.setTimeout(800);
  await assert.rejects(raw.readHoldingRegisters(10, 1), (e: { errno?: unknown }) => e.errno === 'ETIMEDOUT');
  const stale = await raw.readHoldingRegisters(0, 1);
  assert.ok(stale.data[0]! >= 10_000, `expected the stale answer for address 10, got ${stale.data[0]}`);
  await new Promise<void>((res) => raw.close(() => res()));
  await waitFor("the raw run's trailing answer", () => slave.answered() >= 2, 5000); // both requests answered, the late one included

  const fam = family();
  t.after(() => fam.close());
  const d = fam.create(
    config({
      connection: { transport: 'rtu', path: pair.a, baudRate: 19200 },
      timeoutMs: 800, // the answer comes 100 ms after the timeout, inside the quiet horizon
      tags: [
        { name: 'fast', function: 'holding', address: 0 },
        { name: 'slow', function: 'holding', address: 10 },
      ],
    }),
  );
  d.init();
  await d.start();
  // the fresh line fences the unit first (a read of another shape), then reads
  const [primed] = await d.poll(['fast']);
  assert.equal(primed!.quality, 'good');
  const [slow] = await d.poll(['slow']);
  assert.equal(slow!.quality === 'bad' && slow!.code, 'EDGE_ERR_MODBUS_LATE_ANSWER');
  const [fast] = await d.poll(['fast']);
  assert.equal(fast!.quality, 'good');
  assert.ok((fast!.value as number) < 1000, `fast read got ${fast!.value} (a late answer for address 10)`);
});
