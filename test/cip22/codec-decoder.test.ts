/** FrameDecoder: resynchronisation, CRC drops, the length limit, split and glued chunks, bounded buffering. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  FRAME_MAGIC,
  FrameDecoder,
  encodeFrame,
  encodeMessage,
  type DecodedItem,
} from '../../src/cip22/codec/index.js';
import { anyMessage } from './arbitraries.js';

const frameOf = (type: number, payload: number[] | Buffer): Buffer => encodeFrame(type, Buffer.from(payload));
const summary = (items: DecodedItem[]) =>
  items.map((i) => (i.kind === 'frame' ? { type: i.type, payload: i.payload.toString('hex') } : i));

function feed(decoder: FrameDecoder, chunks: Buffer[]): DecodedItem[] {
  return chunks.flatMap((c) => {
    const out = decoder.push(c);
    assert.ok(decoder.bufferedBytes <= decoder.maxPayload + 7, `buffered ${decoder.bufferedBytes}`);
    return out;
  });
}

/** Cuts `buf` at the given offsets. */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of [...points, buf.length]) {
    out.push(buf.subarray(last, p));
    last = p;
  }
  return out;
}

const frames = fc
  .array(anyMessage, { minLength: 1, maxLength: 6 })
  .map((msgs) => msgs.map((m) => encodeMessage(m)).map(({ type, payload }) => encodeFrame(type, payload)));
/** Garbage without 0xC1 cannot hold (part of) a magic, so the expected frames are exact. */
const garbage = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a.map((b) => (b === 0xc1 ? 0 : b))));

test('property: glued frames split at arbitrary points decode to the same frames, with garbage around counted', () => {
  fc.assert(
    fc.property(
      frames,
      garbage,
      garbage,
      fc.array(fc.nat(), { maxLength: 30 }),
      (encoded, prefix, suffix, cuts) => {
        const stream = Buffer.concat([prefix, ...encoded, suffix]);
        const decoder = new FrameDecoder({ maxPayload: 4096 });
        const items = feed(decoder, split(stream, cuts));
        assert.deepEqual(
          summary(items),
          encoded.map((f) => ({ type: f[6], payload: f.subarray(7, -1).toString('hex') })),
        );
        assert.equal(decoder.frames, encoded.length);
        assert.equal(decoder.badCrcFrames, 0);
        assert.equal(decoder.discardedBytes, prefix.length + suffix.length);
        assert.equal(decoder.bufferedBytes, 0);
      },
    ),
    { numRuns: 300, seed: 22 },
  );
});

/** A corrupted length field makes the decoder wait for up to 64 KiB; later traffic (here: idle bytes) completes it. */
const LATER_TRAFFIC = Buffer.alloc(0xffff + 8);

test('property: a corrupted byte loses at most the frame it hits', () => {
  fc.assert(
    fc.property(frames, fc.nat(), fc.integer({ min: 1, max: 255 }), (encoded, at, flip) => {
      const stream = Buffer.concat(encoded);
      const hit = at % stream.length;
      stream[hit]! ^= flip;
      const items = feed(new FrameDecoder({ maxPayload: 0xffff }), [
        ...split(stream, [at, at * 7]),
        LATER_TRAFFIC,
      ]);
      let start = 0;
      const survivors = encoded.filter((f) => {
        const inside = hit >= start && hit < start + f.length;
        start += f.length;
        return !inside;
      });
      const got = summary(items).map((i) => JSON.stringify(i));
      for (const f of survivors)
        assert.ok(got.includes(JSON.stringify({ type: f[6], payload: f.subarray(7, -1).toString('hex') })));
    }),
    { numRuns: 300, seed: 23 },
  );
});

test('bad CRC: dropped, counted, and the search resumes after its magic', () => {
  const good = frameOf(0x06, [0x40, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]);
  const bad = Buffer.from(good);
  bad[bad.length - 1]! ^= 0xff;
  const decoder = new FrameDecoder();
  const items = decoder.push(Buffer.concat([bad, good]));
  assert.deepEqual(summary(items), [{ type: 0x06, payload: good.subarray(7, -1).toString('hex') }]);
  assert.equal(decoder.badCrcFrames, 1);
  assert.equal(decoder.discardedBytes, bad.length - FRAME_MAGIC.length);
});

test('a false magic whose length swallows a real frame does not hide it', () => {
  const good = frameOf(0x0e, [0xa1, 0, 4, 0, 0, 0, 9]);
  const fake = Buffer.from([...FRAME_MAGIC, 0x00, 0x20, 0x07]);
  const decoder = new FrameDecoder();
  const items = feed(decoder, [fake, good, Buffer.alloc(40, 0xee)]);
  assert.deepEqual(summary(items), [{ type: 0x0e, payload: good.subarray(7, -1).toString('hex') }]);
  assert.equal(decoder.badCrcFrames, 1);
});

test('N above maxPayload: one too-long item, then the decoder ignores input', () => {
  const decoder = new FrameDecoder({ maxPayload: 16 });
  const header = Buffer.from([...FRAME_MAGIC, 0x00, 0x11, 0x07]);
  assert.deepEqual(decoder.push(Buffer.concat([Buffer.from([1, 2]), header.subarray(0, 5)])), []);
  assert.deepEqual(decoder.push(header.subarray(5)), [{ kind: 'too-long', length: 17 }]);
  assert.equal(decoder.failed, true);
  assert.deepEqual(decoder.push(frameOf(0x0e, [0xa1, 0, 4, 0, 0, 0, 9])), []);
  assert.equal(decoder.bufferedBytes, 0);
  const exact = new FrameDecoder({ maxPayload: 16 });
  assert.equal(exact.push(frameOf(0x7f, Buffer.alloc(16))).length, 1);
});

test('a magic split over pushes, one byte at a time, is found', () => {
  const good = frameOf(0x0e, [0xa1, 0, 4, 0, 0, 0, 9]);
  const decoder = new FrameDecoder();
  const stream = Buffer.concat([Buffer.from([0xc1, 0xc1, 0x02, 0xc1]), good]);
  const items = feed(
    decoder,
    [...stream].map((b) => Buffer.from([b])),
  );
  assert.equal(items.length, 1);
  assert.equal(decoder.discardedBytes, 4);
});

test('buffering stays bounded under a stream of maximum-length frames cut into odd pieces', () => {
  const decoder = new FrameDecoder({ maxPayload: 300 });
  const big = frameOf(0x7f, Buffer.alloc(300, 7));
  const stream = Buffer.concat([big, big, big, Buffer.from([0xc1, 0x02])]);
  const items = feed(decoder, split(stream, [1, 5, 7, 299, 308, 309, 600, 917]));
  assert.equal(items.length, 3);
  assert.equal(decoder.bufferedBytes, 2);
});

test('the decoder keeps copies: reusing the pushed buffer does not corrupt a pending frame', () => {
  const good = frameOf(0x0e, [0xa1, 0, 4, 0, 0, 0, 9]);
  const scratch = Buffer.from(good.subarray(0, 5));
  const decoder = new FrameDecoder();
  decoder.push(scratch);
  scratch.fill(0);
  assert.equal(decoder.push(good.subarray(5)).length, 1);
});
