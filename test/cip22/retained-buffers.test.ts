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
