/** RtuStreamTransport over a fake link, on a ManualClock. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { EdgeError } from '../../src/core/errors.js';
import { withCrc } from '../../src/drivers/modbus/rtu/crc.js';
import { RtuStreamTransport, type StreamPort } from '../../src/drivers/modbus/rtu/stream-transport.js';
import { mulberry32, randomChunks } from './prng.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');

function holdingResponse(unit: number, values: number[]): Buffer {
  const body = [unit, 3, values.length * 2];
  for (const v of values) body.push(v >> 8, v & 0xff);
  return withCrc(Uint8Array.from(body));
}

class FakePort implements StreamPort {
  up = true;
  readonly written: Buffer[] = [];
  write(data: Buffer): void {
    this.written.push(Buffer.from(data));
  }
}

function setup(opts: { heartbeat?: Buffer; echoSuppression?: boolean } = {}) {
  const clock = new ManualClock();
  const port = new FakePort();
  const t = new RtuStreamTransport({ name: 'd1', clock, port, ...opts });
  return { clock, port, t };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof EdgeError, String(err));
    return err.code;
  }
}

describe('RtuStreamTransport', () => {
  it('writes the request and resolves with the registers; latency per slave', async () => {
    const { clock, port, t } = setup();
    await t.connect();
    const p = t.readHolding(1, 0, 3, 1000);
    await clock.advance(0);
    assert.deepEqual(port.written, [hex('01 03 00 00 00 03 05 CB')]);
    await clock.advance(20);
    t.data(holdingResponse(1, [10, 20, 30]));
    assert.deepEqual(await p, [10, 20, 30]);
    assert.deepEqual(t.latency.get(1), { lastMs: 20, avgMs: 20, count: 1 });
    await clock.advance(1000); // the lazy watchdog stops by itself
    assert.equal(clock.pendingCount, 0);
  });

  it('heartbeats inside a frame, random chunks, garbage first', async () => {
    const { clock, t } = setup({ heartbeat: Buffer.from('HB') });
    await t.connect();
    const random = mulberry32(99);
    for (let i = 0; i < 50; i++) {
      const values = [i, 0x4800, 0xfe, i * 3];
      const p = t.readHolding(2, 0, 4, 1000);
      await clock.advance(0);
      const frame = holdingResponse(2, values);
      const at = 1 + Math.floor(random() * (frame.length - 1));
      const stream = Buffer.concat([
        Buffer.from('xx'),
        frame.subarray(0, at),
        Buffer.from('HB'),
        frame.subarray(at),
      ]);
      for (const c of randomChunks(stream, random, 5)) t.data(c);
      assert.deepEqual(await p, values, `round ${i}`);
    }
    assert.equal(t.counters.heartbeats, 50);
    assert.ok(t.counters.garbageBytes >= 100);
  });

  it('a frame whose data contains the heartbeat bytes is still found (raw stream)', async () => {
    const { clock, t } = setup({ heartbeat: hex('FE') });
    await t.connect();
    const p = t.readHolding(1, 0, 2, 1000);
    await clock.advance(0);
    t.data(holdingResponse(1, [0x00fe, 0xfefe]));
    assert.deepEqual(await p, [0x00fe, 0xfefe]);
    assert.equal(t.counters.rawMatches, 1);
  });

  it('timeout → EDGE_ERR_MODBUS_TIMEOUT; the late response is dropped; the next request works', async () => {
    const { clock, t } = setup();
    await t.connect();
    const p1 = codeOf(t.readHolding(1, 0, 2, 500));
    await clock.advance(500);
    assert.equal(await p1, 'EDGE_ERR_MODBUS_TIMEOUT');
    assert.equal(t.counters.timeouts, 1);
    const late = holdingResponse(1, [1, 1]);
    t.data(late.subarray(0, 3));
    const p2 = t.readHolding(1, 0, 2, 500);
    await clock.advance(0);
    // rest of the late frame glued to the new response
    t.data(Buffer.concat([late.subarray(3), holdingResponse(1, [2, 2])]));
    assert.deepEqual(await p2, [2, 2]);
  });

  it('exceptions map to EDGE_ERR_MODBUS_* codes', async () => {
    const { clock, t } = setup();
    await t.connect();
    for (const [code, expected] of [
      [2, 'EDGE_ERR_MODBUS_ILLEGAL_ADDRESS'],
      [4, 'EDGE_ERR_MODBUS_DEVICE_FAILURE'],
      [0x0b, 'EDGE_ERR_MODBUS_GATEWAY_TARGET'],
      [0x33, 'EDGE_ERR_MODBUS_EXCEPTION'],
    ] as const) {
      const p = codeOf(t.readInput(1, 0, 1, 500));
      await clock.advance(0);
      t.data(withCrc(Uint8Array.of(1, 0x84, code)));
      assert.equal(await p, expected);
    }
    assert.equal(t.counters.exceptions, 4);
  });

  it('link down: fails fast with EDGE_ERR_DTU_LINK_DOWN, in flight too; not open → DISCONNECTED', async () => {
    const { clock, port, t } = setup();
    assert.equal(await codeOf(t.readHolding(1, 0, 1, 500)), 'EDGE_ERR_MODBUS_DISCONNECTED');
    await t.connect();
    const inflight = codeOf(t.readHolding(1, 0, 1, 500));
    await clock.advance(0);
    port.up = false;
    t.linkDown('test');
    assert.equal(await inflight, 'EDGE_ERR_DTU_LINK_DOWN');
    assert.equal(await codeOf(t.readHolding(1, 0, 1, 500)), 'EDGE_ERR_DTU_LINK_DOWN');
    await clock.advance(1000); // the lazy watchdog stops by itself
    assert.equal(clock.pendingCount, 0);
    port.up = true;
    t.linkUp();
    const p = t.readHolding(1, 0, 1, 500);
    await clock.advance(0);
    t.data(holdingResponse(1, [5]));
    assert.deepEqual(await p, [5]);
  });

  it('echo suppression', async () => {
    const { clock, port, t } = setup({ echoSuppression: true });
    await t.connect();
    const p = t.readHolding(1, 0x0200, 1, 500);
    await clock.advance(0);
    t.data(port.written[0]!);
    t.data(holdingResponse(1, [77]));
    assert.deepEqual(await p, [77]);
    assert.equal(t.counters.echoes, 1);
  });

  it('requests queue: never two on the wire (keepalive vs line)', async () => {
    const { clock, port, t } = setup();
    await t.connect();
    const a = t.keepalive(1, 0, 500);
    const b = t.readHolding(2, 0, 1, 500);
    await clock.advance(0);
    assert.equal(port.written.length, 1);
    t.data(holdingResponse(1, [1]));
    assert.deepEqual(await a, [1]);
    await clock.advance(0);
    assert.equal(port.written.length, 2);
    t.data(holdingResponse(2, [2]));
    assert.deepEqual(await b, [2]);
  });
});

describe('RtuStreamTransport: heartbeat bytes inside data and a real heartbeat in the same frame', () => {
  it('is found by trying subsets of the occurrences (seeded)', async () => {
    const { clock, t } = setup({ heartbeat: hex('FE') });
    await t.connect();
    const random = mulberry32(5);
    for (let i = 0; i < 40; i++) {
      const values = [0x00fe, i, 0xfe00 | i, 0x1234];
      const p = t.readHolding(1, 0, 4, 1000);
      await clock.advance(0);
      const frame = holdingResponse(1, values);
      const at = 1 + Math.floor(random() * (frame.length - 1));
      const stream = Buffer.concat([frame.subarray(0, at), hex('FE'), frame.subarray(at)]);
      for (const c of randomChunks(stream, random, 4)) t.data(c);
      assert.deepEqual(await p, values, `round ${i}`);
    }
    assert.equal(t.counters.timeouts, 0);
    assert.ok(t.counters.subsetMatches > 0);
    // Case heartbeat-count-excludes-data-bytes: only the 40 real heartbeats are counted,
    // not the FE bytes of the register data (the field saw ~7 % too many heartbeats).
    assert.equal(t.counters.heartbeats, 40);
  });
});

describe('RtuStreamTransport: heartbeat counter', () => {
  it('heartbeat-count-excludes-data-bytes: FE bytes in a response are data, idle FE bytes are heartbeats', async () => {
    const { clock, t } = setup({ heartbeat: hex('FE') });
    await t.connect();
    for (let i = 0; i < 20; i++) {
      t.data(hex('FE')); // idle heartbeat between polls
      const p = t.readHolding(1, 0, 3, 1000);
      await clock.advance(0);
      t.data(holdingResponse(1, [0x00fe, 0xfefe, i]));
      assert.deepEqual(await p, [0x00fe, 0xfefe, i]);
    }
    assert.equal(t.counters.rawMatches, 20);
    assert.equal(t.counters.heartbeats, 20);
  });
});
