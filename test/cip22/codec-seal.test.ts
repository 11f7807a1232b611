/** Session sealing (spec §6): nonce layout, sealed round trips, replay/reorder/tamper → bad-tag. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Sm4GcmKey } from '../../src/crypto/index.js';
import {
  Cip22ProtocolError,
  FrameDecoder,
  decodeMessage,
  deriveSessionKeys,
  encodeMessage,
  openFrame,
  sealFrame,
  sealedNonce,
} from '../../src/cip22/codec/index.js';
import { anyMessage } from './arbitraries.js';
import { SPEC_VECTORS as V } from './spec-vectors.js';

const keys = deriveSessionKeys(V.kdf.z, V.kdf.deviceId, V.kdf.sessionId);
const badTag = (e: unknown): boolean =>
  e instanceof Cip22ProtocolError && e.reasonName === 'bad-tag' && e.reason === 0x000b;

test('nonce = iv XOR (00000000 || BE64(seq)), for number and bigint seqs', () => {
  const iv = Buffer.from('000102030405060708090A0B', 'hex');
  assert.equal(sealedNonce(iv, 0).toString('hex'), iv.toString('hex'));
  assert.equal(sealedNonce(iv, 1).toString('hex'), '000102030405060708090a0a');
  assert.equal(sealedNonce(iv, 0x1_0000_0001).toString('hex'), '000102030405060608090a0a');
  assert.equal(sealedNonce(iv, 0xffffffffffffffffn).toString('hex'), '00010203fbfaf9f8f7f6f5f4');
  assert.throws(() => sealedNonce(iv, -1), RangeError);
  assert.throws(() => sealedNonce(iv, 2 ** 64), RangeError);
  assert.throws(() => sealedNonce(iv, 2n ** 64n), RangeError);
  assert.throws(() => sealedNonce(iv.subarray(1), 0), RangeError);
});

test('property: every message sealed at any seq comes out of the decoder and opens to itself', () => {
  const up = new Sm4GcmKey(keys.kUp);
  fc.assert(
    fc.property(anyMessage, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (msg, seq) => {
      const { type, payload } = encodeMessage(msg);
      const frame = sealFrame(up, keys.ivUp, seq, type, payload);
      assert.equal(frame.readUInt16BE(4), payload.length + 16);
      const [item] = new FrameDecoder({ maxPayload: 0xffff }).push(frame);
      assert.ok(item!.kind === 'frame');
      assert.deepEqual(
        decodeMessage(item!.type, openFrame(keys.kUp, keys.ivUp, seq, item!.header, item!.payload), '2.0'),
        msg,
      );
    }),
    { numRuns: 200, seed: 6 },
  );
});

test("replayed, dropped or reordered frames, the other direction's key, and tampered headers fail with bad-tag", () => {
  const { type, payload } = encodeMessage({ type: 'ACK', msgSeq: 1 });
  const frames = [0, 1, 2].map((seq) => sealFrame(keys.kDown, keys.ivDown, seq, type, payload));
  const parts = (f: Buffer) => [f.subarray(0, 7), f.subarray(7, -1)] as const;
  assert.throws(() => openFrame(keys.kDown, keys.ivDown, 1, ...parts(frames[0]!)), badTag); // replay of seq 0 at seq 1
  assert.throws(() => openFrame(keys.kDown, keys.ivDown, 1, ...parts(frames[2]!)), badTag); // seq 1 dropped
  assert.throws(() => openFrame(keys.kDown, keys.ivDown, 0, ...parts(frames[1]!)), badTag); // reordered
  assert.throws(() => openFrame(keys.kUp, keys.ivDown, 0, ...parts(frames[0]!)), badTag);
  const [header, sealed] = parts(frames[0]!);
  const retyped = Buffer.from(header);
  retyped[6] = 0x07;
  assert.throws(
    () => openFrame(keys.kDown, keys.ivDown, 0, retyped, sealed),
    (e: unknown) => badTag(e) && /STATUS \(0x07\)/.test((e as Error).message),
  );
  assert.throws(() => openFrame(keys.kDown, keys.ivDown, 0, header, sealed.subarray(0, 10)), badTag);
  assert.deepEqual(openFrame(keys.kDown, keys.ivDown, 0, header, sealed), payload);
});
