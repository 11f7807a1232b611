/**
 * The S7 driver against a real peer: node-snap7's S7Server on an ephemeral loopback port.
 * Polls are counted (poller on a ManualClock, or waitFor on the driver), never timed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, systemClock, type Clock } from '../../src/core/clock.js';
import { EdgeError } from '../../src/core/errors.js';
import { DevicePoller } from '../../src/core/poller.js';
import { silentLogger, type Logger } from '../../src/core/ports.js';
import type { AgentEvent, Reading, TagValue } from '../../src/core/types.js';
import { s7DeviceSchema, type S7DeviceConfig } from '../../src/drivers/s7/config.js';
import { S7Device } from '../../src/drivers/s7/device.js';
import { captureLogger } from '../helpers/logger.js';
import { TestS7Server } from '../helpers/snap7.js';
import { waitFor } from '../helpers/wait.js';

type TagInput = { name: string; address: string; intervalMs?: number; writable?: boolean; scale?: number };

function config(port: number, tags: TagInput[], extra: Record<string, unknown> = {}): S7DeviceConfig {
  return s7DeviceSchema.parse({
    name: 'plc',
    driver: 's7',
    connection: { host: '127.0.0.1', port },
    reconnect: { initialMs: 10, maxMs: 50, jitter: 0 },
    quarantine: { initialMs: 20, maxMs: 100, jitter: 0 },
    tags,
    ...extra,
  });
}

async function setup(
  t: { after(fn: () => unknown): void },
  tags: TagInput[],
  extra: Record<string, unknown> = {},
  clock: Clock = systemClock,
  logger: Logger = silentLogger,
) {
  const server = await TestS7Server.start();
  const device = new S7Device(config(server.port, tags, extra), {
    clock,
    logger,
    random: () => 0.5,
  });
  t.after(async () => {
    await device.stop();
    server.stop();
  });
  return { server, device };
}

const byName = (values: readonly TagValue[]): Record<string, unknown> =>
  Object.fromEntries(values.map((v) => [v.tag, v.quality === 'good' ? v.value : { bad: v.code }]));

function db1(): Buffer {
  const b = Buffer.alloc(128);
  b[0] = 0b0000_0101; // X0.0, X0.2
  b[1] = 200; // BYTE1
  b.write('Z', 2, 'latin1'); // CHAR2
  b.writeUInt16BE(0xbeef, 4);
  b.writeInt16BE(-1234, 6);
  b.writeUInt32BE(0xdeadbeef, 8);
  b.writeInt32BE(-100000, 12);
  b.writeFloatBE(50.03, 16);
  b.writeDoubleBE(-2.5e-7, 20);
  b.writeInt16BE(1, 28);
  b.writeInt16BE(2, 30);
  b.writeInt16BE(3, 32);
  b[40] = 10; // STRING[10]
  b[41] = 5;
  b.write('hello', 42, 'latin1');
  return b;
}

describe('S7 driver on a snap7 server', () => {
  it('reads every type from DB, M, I and Q areas in one request', async (t) => {
    const { server, device } = await setup(t, [
      { name: 'x0', address: 'DB1,X0.0' },
      { name: 'x1', address: 'DB1,X0.1' },
      { name: 'x2', address: 'DB1,X0.2' },
      { name: 'byte', address: 'DB1,BYTE1' },
      { name: 'char', address: 'DB1,CHAR2' },
      { name: 'word', address: 'DB1,WORD4' },
      { name: 'int', address: 'DB1,INT6', scale: 0.1 },
      { name: 'dword', address: 'DB1,DWORD8' },
      { name: 'dint', address: 'DB1,DINT12' },
      { name: 'real', address: 'DB1,REAL16' },
      { name: 'lreal', address: 'DB1,LREAL20' },
      { name: 'arr', address: 'DB1,INT28.3' },
      { name: 'bits', address: 'DB1,X0.0.3' },
      { name: 'str', address: 'DB1,S40.10' },
      { name: 'mw', address: 'MW2' },
      { name: 'in', address: 'I0.1' },
      { name: 'out', address: 'QB1' },
    ]);
    server.register('DB', 1, db1());
    server.register('M', 0, Buffer.from([0, 0, 0x12, 0x34]));
    server.register('I', 0, Buffer.from([0b10]));
    server.register('Q', 0, Buffer.from([0, 77]));
    device.init();
    await device.start();
    const values = await device.poll(device.tags().map((x) => x.name));
    assert.deepEqual(byName(values), {
      x0: true,
      x1: false,
      x2: true,
      byte: 200,
      char: 'Z',
      word: 0xbeef,
      int: -123.4,
      dword: 0xdeadbeef,
      dint: -100000,
      real: 50.03,
      lreal: -2.5e-7,
      'arr.0': 1,
      'arr.1': 2,
      'arr.2': 3,
      'bits.0': true,
      'bits.1': false,
      'bits.2': true,
      str: 'hello',
      mw: 0x1234,
      in: true,
      out: 77,
    });
    const status = device.status();
    assert.equal(status.requestsLastPoll, 1);
    assert.equal(status.requestsPerCycle, 1);
    assert.ok(Number(status.pduSize) >= 240);
  });

  it('a missing DB and an out-of-range offset among good tags: codes on those, others keep their rate, no reconnect', async (t) => {
    const clock = new ManualClock();
    const { server, device } = await setup(
      t,
      [
        { name: 'a', address: 'DB1,INT0', intervalMs: 100 },
        { name: 'near', address: 'DB1,INT8', intervalMs: 100 }, // 4 bytes before the bad offset: nodes7 merged and lost it
        { name: 'oor', address: 'DB1,INT12', intervalMs: 100 },
        { name: 'nodb', address: 'DB99,INT0', intervalMs: 100 },
        { name: 'slow', address: 'DB1,INT2', intervalMs: 300 },
      ],
      { quarantine: { initialMs: 250, maxMs: 1000, jitter: 0 } },
      clock,
    );
    const buf = Buffer.alloc(12); // DB1 is 12 bytes: INT12 is past its end
    buf.writeInt16BE(7, 0);
    buf.writeInt16BE(9, 2);
    buf.writeInt16BE(8, 8);
    server.register('DB', 1, buf);
    const readings: Reading[] = [];
    const events: AgentEvent[] = [];
    const poller = new DevicePoller(device, {
      clock,
      logger: silentLogger,
      random: () => 0.5,
      startBackoff: { initialMs: 1000, maxMs: 1000, multiplier: 1, jitter: 0 },
      onReading: (r) => readings.push(r),
      onEvent: (e) => events.push(e),
    });
    t.after(() => poller.stop());
    poller.start();
    await waitFor('first poll', () => poller.stats().polls >= 1);
    for (let step = 1; step <= 12; step++) {
      await clock.advance(100);
      await waitFor(`poll ${step + 1}`, () => poller.stats().polls >= step + 1);
    }
    const seen = (tag: string) => readings.flatMap((r) => r.values.filter((v) => v.tag === tag));
    assert.equal(seen('a').length, 13);
    assert.ok(seen('a').every((v) => v.quality === 'good' && v.value === 7));
    assert.ok(
      seen('near').every((v) => v.quality === 'good' && v.value === 8),
      JSON.stringify(seen('near')),
    );
    assert.equal(seen('slow').length, 5); // t = 0, 300, 600, 900, 1200
    assert.ok(seen('slow').every((v) => v.quality === 'good' && v.value === 9));
    assert.ok(seen('oor').every((v) => v.quality === 'bad' && v.code === 'EDGE_ERR_S7_ITEM_OUT_OF_RANGE'));
    assert.ok(seen('nodb').every((v) => v.quality === 'bad' && v.code === 'EDGE_ERR_S7_ITEM_NOT_FOUND'));
    const status = device.status() as {
      reconnects: number;
      connects: number;
      quarantined: { tag: string; plcCode: number }[];
      probes: number;
    };
    assert.equal(status.reconnects, 0);
    assert.equal(status.connects, 1);
    assert.deepEqual(
      status.quarantined.sort((x, y) => x.tag.localeCompare(y.tag)),
      [
        { tag: 'nodb', plcCode: 0x0a },
        { tag: 'oor', plcCode: 0x05 },
      ],
    );
    assert.ok(status.probes >= 4 && status.probes < 24, `probes ${status.probes}: backoff, not every poll`);
    // Case s7-errors-by-code-counts-quarantined (issue 11 item 5): every bad value counts,
    // also those of a quarantined tag held between probes (only the probes counted before).
    const errorsByCode = (device.status() as { errorsByCode: Record<string, number> }).errorsByCode;
    assert.equal(errorsByCode.EDGE_ERR_S7_ITEM_OUT_OF_RANGE, seen('oor').length);
    assert.equal(errorsByCode.EDGE_ERR_S7_ITEM_NOT_FOUND, seen('nodb').length);
    assert.deepEqual(
      events.map((e) => e.type),
      ['device-online'],
    );
  });

  it('a tag fixed on the PLC (its DB loaded later) comes back by itself, without a reconnect', async (t) => {
    const logger = captureLogger();
    const { server, device } = await setup(
      t,
      [
        { name: 'ok', address: 'DB1,INT0' },
        { name: 'late', address: 'DB5,DINT4' },
      ],
      {},
      systemClock,
      logger,
    );
    server.register('DB', 1, Buffer.alloc(4));
    await device.start();
    const first = byName(await device.poll(['ok', 'late']));
    assert.deepEqual(first, { ok: 0, late: { bad: 'EDGE_ERR_S7_ITEM_NOT_FOUND' } });
    const db5 = Buffer.alloc(8);
    db5.writeInt32BE(123456, 4);
    server.register('DB', 5, db5);
    await waitFor('late tag back', async () => byName(await device.poll(['ok', 'late'])).late === 123456);
    assert.equal(device.status().reconnects, 0);
    assert.deepEqual(device.status().quarantined, []);
    // Case s7-quarantine-release-logged (issue 11 item 6): leaving quarantine is logged.
    const released = logger.lines.filter((l) => l.msg === 's7 tag read again; left quarantine');
    assert.equal(released.length, 1);
    assert.equal(released[0]?.obj.tag, 'late');
  });

  it('server stopped: all tags bad with the reason; restarted: values recover', async (t) => {
    const { server, device } = await setup(t, [
      { name: 'a', address: 'DB1,INT0' },
      { name: 'b', address: 'DB1,REAL2' },
    ]);
    const buf = Buffer.alloc(6);
    buf.writeInt16BE(5, 0);
    server.register('DB', 1, buf);
    await device.start();
    assert.deepEqual(byName(await device.poll(['a', 'b'])), { a: 5, b: 0 });
    server.stop();
    const down = await waitFor('tags bad', async () => {
      const v = await device.poll(['a', 'b']);
      return v.every((x) => x.quality === 'bad') ? v : undefined;
    });
    for (const v of down)
      assert.ok(
        v.quality === 'bad' && /^EDGE_ERR_S7_(DISCONNECTED|CONNECT_REFUSED|TIMEOUT)$/.test(v.code),
        JSON.stringify(v),
      );
    server.start();
    await waitFor('values back', async () => byName(await device.poll(['a', 'b'])).a === 5);
    for (let i = 0; i < 5; i++) await device.poll(['a', 'b']);
    const status = device.status();
    assert.ok(Number(status.reconnects) >= 1);
    assert.equal(status.state, 'up');
    // regression: polls while down used to arm a second reconnect that opened (and leaked) another connection
    assert.equal(status.connects, Number(status.reconnects) + 1);
  });

  it('writes a writable tag once and confirms it; refuses non-writable tags and wrong values without sending', async (t) => {
    const { server, device } = await setup(t, [
      { name: 'set', address: 'DB1,INT0', writable: true, scale: 0.1 },
      { name: 'flag', address: 'DB1,X2.3', writable: true },
      { name: 'arr', address: 'DB1,INT4.3', writable: true },
      { name: 'text', address: 'DB1,S10.8', writable: true },
      { name: 'ro', address: 'DB1,INT20' },
      { name: 'gone', address: 'DB7,INT0', writable: true },
    ]);
    server.register('DB', 1, Buffer.alloc(24));
    await device.start();
    await device.write('set', 123.4);
    await device.write('flag', true);
    await device.write('arr', [1, -2, 3]);
    await device.write('arr.1', 20);
    await device.write('text', 'abc');
    const area = server.area('DB', 1);
    assert.equal(area.readInt16BE(0), 1234);
    assert.equal(area[2], 0b1000);
    assert.deepEqual([area.readInt16BE(4), area.readInt16BE(6), area.readInt16BE(8)], [1, 20, 3]);
    assert.deepEqual([area[10], area[11], area.toString('latin1', 12, 15)], [8, 3, 'abc']); // STRING[8] header: max, actual
    const refused = async (tag: string, value: unknown, code: string, context?: Record<string, unknown>) => {
      await assert.rejects(device.write(tag, value as never), (e: unknown) => {
        assert.ok(e instanceof EdgeError);
        assert.equal(e.code, code);
        assert.match(e.message, new RegExp(tag.replace('.', '\\.')));
        for (const [k, v] of Object.entries(context ?? {})) assert.equal(e.context[k], v);
        return true;
      });
    };
    await refused('ro', 1, 'EDGE_ERR_CMD_NOT_WRITABLE');
    await refused('nosuch', 1, 'EDGE_ERR_CMD_UNKNOWN_TAG');
    await refused('set', 'high', 'EDGE_ERR_CMD_BAD_VALUE');
    await refused('set', 9999, 'EDGE_ERR_CMD_BAD_VALUE'); // 99990 > INT
    await refused('flag', 1, 'EDGE_ERR_CMD_BAD_VALUE');
    await refused('arr', [1, 2], 'EDGE_ERR_CMD_BAD_VALUE');
    await refused('text', 'much too long', 'EDGE_ERR_CMD_BAD_VALUE');
    await refused('gone', 1, 'EDGE_ERR_S7_ITEM_NOT_FOUND', { plcCode: 0x0a });
    assert.equal(server.area('DB', 1).readInt16BE(20), 0);
    assert.equal(device.status().reconnects, 0);
  });

  it('the read that crashed nodes7 (error items between good ones in one request) is decoded', async (t) => {
    const { server, device } = await setup(
      t,
      [
        { name: 'a', address: 'DB1,INT0' },
        { name: 'b', address: 'DB1,INT100' },
        { name: 'c', address: 'DB2,INT0' },
        { name: 'd', address: 'DB1,INT2' },
      ],
      { maxGap: 0 },
    );
    const buf = Buffer.alloc(4);
    buf.writeInt16BE(11, 0);
    buf.writeInt16BE(22, 2);
    server.register('DB', 1, buf);
    await device.start();
    const values = await device.poll(['a', 'b', 'c', 'd']);
    assert.deepEqual(byName(values), {
      a: 11,
      b: { bad: 'EDGE_ERR_S7_ITEM_OUT_OF_RANGE' },
      c: { bad: 'EDGE_ERR_S7_ITEM_NOT_FOUND' },
      d: 22,
    });
    assert.equal(device.status().requestsLastPoll, 1);
  });
});
