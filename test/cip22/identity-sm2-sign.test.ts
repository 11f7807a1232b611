/**
 * SM2 signing with native SM3 (sm2-sign.ts, issue 16): its signatures verify with
 * sm-crypto-v2's own verifier (an independent implementation) and with ours, with the
 * CIP-22 signer ID only; a key read without its public point signs the same way.
 * (openssl pkeyutl cross-checks are in identity-signature.test.ts.)
 */
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { describe, it } from 'node:test';
import { sm2 } from 'sm-crypto-v2';
import { SM2_SIGNER_ID, parseCertificate, signAuth, verifyAuth } from '../../src/cip22/identity/index.js';
import { decodeRsSignature } from '../../src/cip22/identity/der.js';
import { CURVES } from '../../src/cip22/identity/algorithms.js';
import { loadEcPrivateKey } from '../../src/cip22/identity/private-key.js';
import { sm2Sign, sm2SigningKey } from '../../src/cip22/identity/sm2-sign.js';
import { cip22Pki } from '../helpers/cip22-pki.js';

const hex = (n: bigint): string => n.toString(16).padStart(64, '0');

describe('SM2 signing (sm2-sign.ts)', () => {
  const pki = cip22Pki();
  const pub65 = parseCertificate(pki.sm2.pile.der).publicKey65 as Buffer;
  const pubHex = pub65.toString('hex');

  it('20 signatures of different messages verify with sm-crypto-v2 and verifyAuth, with 1234567812345678 only', () => {
    const key = createPrivateKey(pki.sm2.pile.key);
    for (let i = 0; i < 20; i++) {
      const message = Buffer.from(`CIP-22 AUTH ${i} ${'x'.repeat(i * 7)}`);
      const der = signAuth('sm2', key, message);
      const { r, s } = decodeRsSignature(der, CURVES.sm2.order);
      const rs = hex(r) + hex(s);
      const opts = { hash: true, der: false, userId: SM2_SIGNER_ID };
      assert.equal(sm2.doVerifySignature(message, rs, pubHex, opts), true, `signature ${i}`);
      assert.equal(
        sm2.doVerifySignature(message, rs, pubHex, { ...opts, userId: '1234567812345679' }),
        false,
      );
      assert.equal(verifyAuth('sm2', pub65, message, der), true);
      assert.equal(verifyAuth('sm2', pub65, Buffer.concat([message, Buffer.from([0])]), der), false);
    }
  });

  it('a key without its public point: the point is computed from d and the signature verifies', () => {
    const { d, publicKey65 } = loadEcPrivateKey('sm2', pki.sm2.pile.key);
    const derived = sm2SigningKey(d);
    assert.deepEqual(derived.publicKey65, publicKey65);
    const message = Buffer.from('no public point in the key file');
    const { r, s } = sm2Sign(derived, message);
    assert.equal(sm2.doVerifySignature(message, hex(r) + hex(s), pubHex, { hash: true, der: false }), true);
  });

  it('refuses a scalar outside [1, n-2]', () => {
    const n = CURVES.sm2.order;
    for (const d of [0n, n - 1n, n])
      assert.throws(() => sm2SigningKey(Buffer.from(hex(d), 'hex')), /out of range/);
  });
});
