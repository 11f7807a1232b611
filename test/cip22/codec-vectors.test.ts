/** CIP-22 spec §9 test vectors, byte for byte. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sm4GcmSeal } from '../../src/crypto/index.js';
import {
  FrameDecoder,
  crc8,
  decodeMessage,
  deriveSessionKeys,
  encodeFrame,
  encodeMessage,
  openFrame,
  sealFrame,
  type Cip22Message,
} from '../../src/cip22/codec/index.js';
import { RFC8998_A1 } from '../crypto/rfc8998.js';
import { SPEC_VECTORS as V, hex } from './spec-vectors.js';

test('CRC-8 check value', () => {
  assert.equal(crc8(Buffer.from(V.crcCheck.input)), V.crcCheck.crc);
});

test('HELLO frame encodes to the spec bytes and decodes back', () => {
  const msg = V.hello.message as unknown as Cip22Message;
  const { type, payload } = encodeMessage(msg);
  const frame = encodeFrame(type, payload);
  assert.equal(frame.toString('hex').toUpperCase(), V.hello.frame);
  const items = new FrameDecoder().push(hex(V.hello.frame));
  assert.equal(items.length, 1);
  const item = items[0];
  assert.ok(item!.kind === 'frame');
  assert.deepEqual(decodeMessage(item!.type, item!.payload, '2.0'), msg);
});

test('KDF2-HMAC-SM3 OKM and the session keys cut from it', () => {
  const keys = deriveSessionKeys(V.kdf.z, V.kdf.deviceId, V.kdf.sessionId);
  const okm = hex(V.kdf.okm);
  assert.deepEqual(keys, {
    kUp: okm.subarray(0, 16),
    kDown: okm.subarray(16, 32),
    ivUp: okm.subarray(32, 44),
    ivDown: okm.subarray(44, 56),
  });
});

test('sealed STATUS at seq 0 and seq 1, and opening them', () => {
  const { kUp, ivUp } = deriveSessionKeys(V.kdf.z, V.kdf.deviceId, V.kdf.sessionId);
  const msg = V.sealedStatus.message as unknown as Cip22Message;
  const { type, payload } = encodeMessage(msg);
  const frames = [V.sealedStatus.seq0, V.sealedStatus.seq1];
  frames.forEach((expected, seq) => {
    assert.equal(
      sealFrame(kUp, ivUp, seq, type, payload).toString('hex').toUpperCase(),
      expected,
      `seq ${seq}`,
    );
    const [item] = new FrameDecoder().push(hex(expected));
    assert.ok(item!.kind === 'frame');
    const plain = openFrame(kUp, ivUp, seq, item!.header, item!.payload);
    assert.deepEqual(decodeMessage(item!.type, plain, '2.0'), msg);
  });
});

test('SM4-GCM tag of RFC 8998 A.1 as quoted by the spec', () => {
  const sealed = sm4GcmSeal(
    hex(RFC8998_A1.key),
    hex(RFC8998_A1.iv),
    hex(RFC8998_A1.plaintext),
    hex(RFC8998_A1.aad),
  );
  assert.equal(sealed.subarray(-16).toString('hex').toUpperCase(), V.sm4GcmTag);
});
