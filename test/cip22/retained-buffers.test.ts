/**
 * What a gateway keeps per session and per cached certificate lives in buffers of its own,
 * never in slices of Node's shared 8 KiB pool: one kept 16-byte slice pins its whole slab,
 * and 1,000 sessions pinned ~4 MB of slabs (heap snapshot of the cip22 bench). Bytes stay
 * exactly what they were (the spec vectors are checked in codec-vectors / codec-seal).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unpooled } from '../../src/core/unpooled.js';
import { deriveSessionKeys } from '../../src/cip22/codec/index.js';
import { parseCertificate } from '../../src/cip22/identity/certificate.js';
import { Sm4GcmKey } from '../../src/crypto/sm4-gcm.js';
import { RFC8998_A1 as A1 } from '../crypto/rfc8998.js';
import { cip22Pki } from '../helpers/cip22-pki.js';
import { SPEC_VECTORS as V } from './spec-vectors.js';

/** True when `b` sits in an ArrayBuffer of exactly `bytes` bytes (its own allocation, not the pool). */
function ownsItsMemory(b: Buffer, bytes: number): boolean {
  return b.buffer.byteLength === bytes && b.buffer.byteLength < Buffer.poolSize;
}

test('unpooled: copies in one ArrayBuffer of their own, same bytes, pool untouched', () => {
  const a = Buffer.from('0011', 'hex');
  const b = Buffer.from('223344', 'hex');
  assert.equal(a.buffer.byteLength, Buffer.poolSize, 'precondition: small Buffer.from is pooled');
  const [ca, cb] = unpooled(a, b);
  assert.deepEqual([ca?.toString('hex'), cb?.toString('hex')], ['0011', '223344']);
  assert.equal(ca?.buffer, cb?.buffer);
  assert.ok(ownsItsMemory(ca as Buffer, 5));
  a[0] = 0xff;
  assert.equal(ca?.[0], 0x00, 'a copy, not a view');
});

test('session keys: the spec KDF vector, in 56 bytes of their own', () => {
  const keys = deriveSessionKeys(V.kdf.z, V.kdf.deviceId, V.kdf.sessionId);
  for (const k of [keys.kUp, keys.kDown, keys.ivUp, keys.ivDown]) assert.ok(ownsItsMemory(k, 56));
  const okm = Buffer.concat([keys.kUp, keys.kDown, keys.ivUp, keys.ivDown]);
  assert.equal(okm.toString('hex').toUpperCase(), V.kdf.okm);
});

test('a parsed certificate keeps its DER and parts in one allocation of their own', () => {
  const der = cip22Pki().p256.pile.der;
  const pooledDer = Buffer.from(der); // as a frame payload copy arrives (pooled when small)
  const cert = parseCertificate(pooledDer);
  const parts = [cert.der, cert.tbs, cert.signature, cert.issuerDer, cert.subjectDer, cert.publicKey65];
  const total = cert.der.length + (cert.publicKey65?.length ?? 0);
  for (const p of parts) assert.ok(p && ownsItsMemory(p, total), 'not a slice of the shared pool');
  // The parts are views into the kept DER: the same bytes at the same places.
  for (const p of [cert.tbs, cert.signature, cert.issuerDer, cert.subjectDer]) {
    const at = p.byteOffset - cert.der.byteOffset;
    assert.ok(p.equals(der.subarray(at, at + p.length)));
  }
  assert.ok(cert.der.equals(der));
  assert.equal(cert.publicKey65?.length, 65);
});

test('an SM4-GCM session key keeps no copy of its key; round keys, GHASH table and Y are one allocation', () => {
  const key = Buffer.from(A1.key, 'hex');
  const k = new Sm4GcmKey(key, { implementation: 'composed' });
  const inner = k as unknown as { key?: Buffer; rk: Int32Array; ghash: Record<string, unknown> };
  assert.equal(inner.key, undefined, 'the round keys stand for it');
  const state = Object.values(inner.ghash);
  assert.equal(state.length, 1, 'one field per GHASH key');
  const m = state[0] as Int32Array;
  assert.ok(m instanceof Int32Array && m.length === 16 * 4 + 4, 'the table, then Y');
  assert.equal(inner.rk.length, 32);
  assert.equal(m.buffer, inner.rk.buffer, 'one ArrayBuffer per key');
  assert.equal(m.buffer.byteLength, (32 + 16 * 4 + 4) * 4);
  key.fill(0); // the caller's buffer is not referenced
  const hex = (h: string): Buffer => Buffer.from(h, 'hex');
  for (let i = 0; i < 2; i++) {
    const sealed = k.seal(hex(A1.iv), hex(A1.plaintext), hex(A1.aad));
    assert.equal(sealed.toString('hex').toUpperCase(), A1.ciphertext + A1.tag, `message ${i}: RFC 8998 A.1`);
    assert.deepEqual(k.open(hex(A1.iv), sealed, hex(A1.aad)), hex(A1.plaintext));
  }
});
