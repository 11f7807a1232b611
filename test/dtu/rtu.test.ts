import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc16, crcValid, withCrc } from '../../src/drivers/modbus/rtu/crc.js';
import {
  buildReadRequest,
  frameBits,
  frameRegisters,
  RtuResponseReader,
  responseByteCount,
  type RtuFrame,
} from '../../src/drivers/modbus/rtu/frame.js';
import { HeartbeatFilter } from '../../src/drivers/modbus/rtu/heartbeat.js';
import { mulberry32, randomChunks } from './prng.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');

/** A read-holding response frame for these registers. */
function holdingResponse(unit: number, values: number[], fn = 3): Buffer {
  const body = [unit, fn, values.length * 2];
  for (const v of values) body.push(v >> 8, v & 0xff);
  return withCrc(Uint8Array.from(body));
}

function feedAll(reader: RtuResponseReader, chunks: Buffer[]): RtuFrame[] {
  const frames: RtuFrame[] = [];
  for (const c of chunks) {
    const r = reader.feed(c);
    if (r.frame) frames.push(r.frame);
  }
  return frames;
}

describe('crc16', () => {
  it('matches known Modbus vectors', () => {
    assert.deepEqual(withCrc(hex('01 03 00 00 00 0A')), hex('01 03 00 00 00 0A C5 CD'));
    assert.deepEqual(withCrc(hex('11 03 00 6B 00 03')), hex('11 03 00 6B 00 03 76 87'));
    assert.deepEqual(withCrc(hex('01 04 00 00 00 01')), hex('01 04 00 00 00 01 31 CA'));
    assert.equal(crc16(Buffer.alloc(0)), 0xffff);
    assert.equal(crc16(Buffer.from('123456789')), 0x4b37); // CRC-16/MODBUS check value
  });
  it('validates a frame and rejects any single-bit flip', () => {
    const f = hex('01 03 00 00 00 0A C5 CD');
    assert.equal(crcValid(f, 0, f.length), true);
    for (let i = 0; i < f.length * 8; i++) {
      const g = Buffer.from(f);
      g[i >> 3]! ^= 1 << (i & 7);
      assert.equal(crcValid(g, 0, g.length), false, `bit ${i}`);
    }
  });
});

describe('buildReadRequest', () => {
  it('builds the four read functions', () => {
    assert.deepEqual(buildReadRequest(1, 3, 0, 10), hex('01 03 00 00 00 0A C5 CD'));
    assert.deepEqual(buildReadRequest(0x11, 3, 0x6b, 3), hex('11 03 00 6B 00 03 76 87'));
    const coils = buildReadRequest(7, 1, 0x1234, 2000);
    assert.deepEqual(coils.subarray(0, 6), hex('07 01 12 34 07 D0'));
    assert.equal(crcValid(coils, 0, 8), true);
  });
  it('rejects out-of-range arguments', () => {
    assert.throws(() => buildReadRequest(256, 3, 0, 1), RangeError);
    assert.throws(() => buildReadRequest(1, 3, 65536, 1), RangeError);
    assert.throws(() => buildReadRequest(1, 3, 0, 126), RangeError);
    assert.throws(() => buildReadRequest(1, 1, 0, 2001), RangeError);
    assert.throws(() => buildReadRequest(1, 4, 0, 0), RangeError);
  });
  it('response sizes', () => {
    assert.equal(responseByteCount(3, 10), 20);
    assert.equal(responseByteCount(1, 9), 2);
    assert.equal(responseByteCount(2, 8), 1);
  });
});

describe('RtuResponseReader', () => {
  const values = [1, 2, 0xfe, 0xfffe, 0x0103];
  const frame = holdingResponse(1, values);

  it('finds a response fed whole', () => {
    const r = new RtuResponseReader();
    r.expect({ unit: 1, fn: 3, count: 5 });
    const out = r.feed(frame);
    assert.ok(out.frame && out.frame.kind === 'data');
    assert.deepEqual(frameRegisters(out.frame.data, 5), values);
    assert.deepEqual(r.counters, { garbageBytes: 0, crcErrors: 0, echoes: 0 });
    assert.equal(r.expecting, undefined);
  });

  it('finds a response split at every byte', () => {
    const r = new RtuResponseReader();
    r.expect({ unit: 1, fn: 3, count: 5 });
    const frames = feedAll(
      r,
      [...frame].map((b) => Buffer.of(b)),
    );
    assert.equal(frames.length, 1);
    assert.deepEqual(frames[0]!.raw, frame);
    assert.equal(r.counters.garbageBytes, 0);
  });

  it('random chunking with garbage prefix (seeded property)', () => {
    const random = mulberry32(42);
    for (let round = 0; round < 500; round++) {
      const count = 1 + Math.floor(random() * 20);
      const vals = Array.from({ length: count }, () => Math.floor(random() * 65536));
      const unit = 1 + Math.floor(random() * 247);
      const f = holdingResponse(unit, vals);
      const garbage = Buffer.from(
        Array.from({ length: Math.floor(random() * 12) }, () => Math.floor(random() * 256)),
      );
      const r = new RtuResponseReader();
      r.expect({ unit, fn: 3, count });
      const frames = feedAll(r, randomChunks(Buffer.concat([garbage, f]), random, 6));
      assert.equal(frames.length, 1, `round ${round}`);
      assert.equal(frames[0]!.kind, 'data');
      assert.deepEqual(frameRegisters((frames[0] as { data: Buffer }).data, count), vals, `round ${round}`);
    }
  });

  it('drops garbage before the frame and counts it', () => {
    const r = new RtuResponseReader();
    r.expect({ unit: 1, fn: 3, count: 5 });
    const out = r.feed(Buffer.concat([hex('00 FF 01 02 03 AA'), frame]));
    assert.ok(out.frame);
    assert.equal(r.counters.garbageBytes, 6);
  });

  it('a bad-CRC candidate is skipped byte by byte; the good frame after it is found', () => {
    const bad = Buffer.from(frame);
    bad[5]! ^= 0x40;
    const r = new RtuResponseReader();
    r.expect({ unit: 1, fn: 3, count: 5 });
    assert.equal(r.feed(bad).frame, undefined);
    const out = r.feed(frame);
    assert.ok(out.frame);
    assert.deepEqual(out.frame.raw, frame);
    assert.equal(r.counters.crcErrors, 1);
    assert.equal(r.counters.garbageBytes, bad.length);
  });

  it('two glued frames: the late one for another unit is garbage, the expected one is returned', () => {
    const late = holdingResponse(2, [9, 9, 9, 9, 9]);
    const r = new RtuResponseReader();
    r.expect({ unit: 1, fn: 3, count: 5 });
    const out = r.feed(Buffer.concat([late, frame]));
    assert.ok(out.frame);
    assert.deepEqual(out.frame.raw, frame);
    assert.equal(r.counters.garbageBytes, late.length);
  });

  it('a late response of a previous request (other count) is consumed as garbage', () => {
    const late = holdingResponse(1, [7, 7]); // previous request read 2 registers
    const r = new RtuResponseReader();
    r.expect({ unit: 1, fn: 3, count: 5 });
    const chunks = randomChunks(Buffer.concat([late, frame]), mulberry32(7), 3);
    const frames = feedAll(r, chunks);
    assert.equal(frames.length, 1);
    assert.deepEqual(frames[0]!.raw, frame);
  });

  it('bytes after reset (a timed-out transaction) or while nothing is expected are dropped', () => {
    const r = new RtuResponseReader();
    r.expect({ unit: 1, fn: 3, count: 5 });
    r.feed(frame.subarray(0, 4));
    r.reset();
    assert.equal(r.counters.garbageBytes, 4);
    assert.equal(r.feed(frame.subarray(4)).frame, undefined);
    assert.equal(r.counters.garbageBytes, frame.length);
  });

  it('exception frames: 0x80|fn, 5 bytes', () => {
    const exc = withCrc(hex('01 83 02'));
    const r = new RtuResponseReader();
    r.expect({ unit: 1, fn: 3, count: 5 });
    const frames = feedAll(
      r,
      [...exc].map((b) => Buffer.of(b)),
    );
    assert.equal(frames.length, 1);
    assert.deepEqual(frames[0], { kind: 'exception', unit: 1, fn: 3, code: 2, raw: exc });
  });

  it('an exception right after garbage that looks like a long header is found', () => {
    const exc = withCrc(hex('01 83 04'));
    const r = new RtuResponseReader();
    r.expect({ unit: 1, fn: 3, count: 5 });
    const out = r.feed(Buffer.concat([hex('01 03 0A'), exc]));
    assert.ok(out.frame);
    assert.equal(out.frame.kind, 'exception');
  });

  it('an exception for another function or unit is ignored', () => {
    const r = new RtuResponseReader();
    r.expect({ unit: 1, fn: 3, count: 5 });
    assert.equal(
      r.feed(Buffer.concat([withCrc(hex('01 84 02')), withCrc(hex('02 83 02'))])).frame,
      undefined,
    );
  });

  it('coils and discrete inputs', () => {
    const f = withCrc(hex('05 01 02 CD 01')); // 10 coils
    const r = new RtuResponseReader();
    r.expect({ unit: 5, fn: 1, count: 10 });
    const out = r.feed(f);
    assert.ok(out.frame && out.frame.kind === 'data');
    assert.deepEqual(frameBits(out.frame.data, 10), [
      true,
      false,
      true,
      true,
      false,
      false,
      true,
      true,
      true,
      false,
    ]);
  });

  it('echo suppression drops an exact echo of the request, even split', () => {
    const req = buildReadRequest(1, 3, 0, 5);
    const r = new RtuResponseReader();
    r.expect({ unit: 1, fn: 3, count: 5, echo: req });
    const frames = feedAll(r, randomChunks(Buffer.concat([req, frame]), mulberry32(3), 3));
    assert.equal(frames.length, 1);
    assert.equal(r.counters.echoes, 1);
    assert.equal(r.counters.garbageBytes, 0);
  });
});

describe('HeartbeatFilter', () => {
  it('removes heartbeats anywhere, counted', () => {
    const f = new HeartbeatFilter(Buffer.from('HB'));
    assert.deepEqual(f.feed(Buffer.from('HBabHBcdHB')), Buffer.from('abcd'));
    assert.equal(f.count, 3);
  });

  it('holds a possible heartbeat start until the next chunk', () => {
    const f = new HeartbeatFilter(Buffer.from('HB'));
    assert.deepEqual(f.feed(Buffer.from('abH')), Buffer.from('ab'));
    assert.deepEqual(f.held, Buffer.from('H'));
    assert.deepEqual(f.feed(Buffer.from('Bcd')), Buffer.from('cd'));
    assert.equal(f.count, 1);
    assert.deepEqual(f.feed(Buffer.from('H')), Buffer.alloc(0));
    assert.deepEqual(f.feed(Buffer.from('x')), Buffer.from('Hx'));
    assert.equal(f.count, 1);
    assert.deepEqual(f.flush(), Buffer.alloc(0));
  });

  it('single-byte heartbeat: nothing is held', () => {
    const f = new HeartbeatFilter(hex('FE'));
    assert.deepEqual(f.feed(hex('01 FE 02 FE')), hex('01 02'));
    assert.equal(f.held.length, 0);
    assert.equal(f.count, 2);
  });

  it('property: random heartbeats inserted, random chunking → exact data back (seeded)', () => {
    const random = mulberry32(1234);
    const patterns = [Buffer.from('HB'), hex('FE'), Buffer.from('PING!'), hex('AA 55 AA')];
    for (let round = 0; round < 400; round++) {
      const p = patterns[round % patterns.length]!;
      // data that never contains the pattern (nor creates it across a heartbeat boundary)
      const alphabet = Buffer.from('0123456789abcdef');
      const data = Buffer.from(
        Array.from({ length: Math.floor(random() * 60) }, () => alphabet[Math.floor(random() * 16)]!),
      );
      const parts: Buffer[] = [];
      let inserted = 0;
      for (let i = 0; i <= data.length; i++) {
        while (random() < 0.1) {
          parts.push(p);
          inserted++;
        }
        if (i < data.length) parts.push(data.subarray(i, i + 1));
      }
      const stream = Buffer.concat(parts);
      const f = new HeartbeatFilter(p);
      const out = Buffer.concat([...randomChunks(stream, random, 7).map((c) => f.feed(c)), f.flush()]);
      assert.deepEqual(out, data, `round ${round}`);
      assert.equal(f.count, inserted, `round ${round}`);
    }
  });
});
