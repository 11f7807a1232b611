/** SM3, HMAC-SM3 and KDF2-HMAC-SM3. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sm3 as smCryptoSm3 } from 'sm-crypto-v2';
import { hmacSm3, kdf2Sm3, sm3 } from '../../src/crypto/index.js';

test('SM3("abc") is the GB/T 32905 example digest', () => {
  assert.equal(
    sm3(Buffer.from('abc')).toString('hex'),
    '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0',
  );
});

test('property: HMAC-SM3 equals sm-crypto-v2', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 200 }), (key, data) => {
      fc.pre(key.length > 0);
      assert.equal(hmacSm3(key, data).toString('hex'), smCryptoSm3(data, { key, mode: 'hmac' }));
    }),
    { numRuns: 200, seed: 0x3 },
  );
});

test('KDF2: every length is a prefix of the longer output, blocks are HMAC(secret, salt || BE32(i))', () => {
  const secret = Buffer.from('secret');
  const salt = Buffer.from('salt');
  const long = kdf2Sm3(secret, salt, 100);
  for (const n of [0, 1, 31, 32, 33, 56, 64, 100])
    assert.deepEqual(kdf2Sm3(secret, salt, n), long.subarray(0, n));
  assert.deepEqual(long.subarray(32, 64), hmacSm3(secret, Buffer.concat([salt, Buffer.from([0, 0, 0, 2])])));
  assert.throws(() => kdf2Sm3(secret, salt, -1), RangeError);
});

test('the package subpath edge-agent/crypto exports the primitives (package.json "exports")', async () => {
  const specifier = 'edge-agent/crypto';
  const api = (await import(specifier)) as Record<string, unknown>;
  for (const name of ['sm3', 'hmacSm3', 'kdf2Sm3', 'sm4GcmSeal', 'sm4GcmOpen', 'Sm4GcmKey', 'Sm4GcmError'])
    assert.equal(typeof api[name], 'function', name);
});
