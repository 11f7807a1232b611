/** The JS SM4 block cipher: the GB/T 32907 example, and agreement with OpenSSL's sm4-ecb. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, getCiphers } from 'node:crypto';
import fc from 'fast-check';
import { sm4EncryptWords, sm4RoundKeys } from '../../src/crypto/sm4.js';

function encrypt(key: Uint8Array, block: Uint8Array): Buffer {
  const b = Buffer.from(block);
  const out = Buffer.alloc(16);
  sm4EncryptWords(
    sm4RoundKeys(key),
    b.readInt32BE(0),
    b.readInt32BE(4),
    b.readInt32BE(8),
    b.readInt32BE(12),
    out,
    0,
  );
  return out;
}

test('GB/T 32907-2016 example 1: key = plaintext = 0123456789abcdeffedcba9876543210', () => {
  const k = Buffer.from('0123456789abcdeffedcba9876543210', 'hex');
  assert.equal(encrypt(k, k).toString('hex'), '681edf34d206965e86b3e94f536e4246');
});

test('GB/T 32907-2016 example 2: the same block encrypted 1,000,000 times', () => {
  const k = Buffer.from('0123456789abcdeffedcba9876543210', 'hex');
  const rk = sm4RoundKeys(k);
  const b = Buffer.from(k);
  for (let i = 0; i < 1_000_000; i++)
    sm4EncryptWords(rk, b.readInt32BE(0), b.readInt32BE(4), b.readInt32BE(8), b.readInt32BE(12), b, 0);
  assert.equal(b.toString('hex'), '595298c7c6fd271f0402f804c33d3f66');
});

test(
  'property: equals OpenSSL sm4-ecb for any key and block',
  { skip: getCiphers().includes('sm4-ecb') ? false : 'this OpenSSL has no sm4-ecb' },
  () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (key, block) => {
          const native = createCipheriv('sm4-ecb', key, null).setAutoPadding(false).update(block);
          assert.deepEqual(encrypt(key, block), native);
        },
      ),
      { numRuns: 500 },
    );
  },
);

test('a key of another length is a RangeError', () => {
  assert.throws(() => sm4RoundKeys(new Uint8Array(15)), RangeError);
});
