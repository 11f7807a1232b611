/**
 * AUTH signatures (spec §5.3) and the raw verification shared with certificates.
 * SM2: signing (sm2-sign.ts) and verification (sm2-verify.ts) on sm-crypto-v2's curve points; Node's
 * crypto cannot make or check GB/T 32918.2 signatures with the spec's signer ID.
 * ECDSA P-256: Node's crypto.
 * (r, s) DER is encoded and decoded here, strictly, not by sm-crypto-v2 (its DER
 * reader is lenient and does not range-check r and s).
 */
import { createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { CURVES, SM2_SIGNER_ID, identityError, type IdentityAlg } from './algorithms.js';
import { decodeRsSignature, encodeRsSignature } from './der.js';
import { loadEcPrivateKey } from './private-key.js';
import { type Sm2SigningKey, sm2Sign, sm2SigningKey } from './sm2-sign.js';
import { sm2Points, sm2Verifies } from './sm2-verify.js';

export type DigestName = 'sha256' | 'sha384';

function isUncompressedPoint(publicKey65: Buffer): boolean {
  return Buffer.isBuffer(publicKey65) && publicKey65.length === 65 && publicKey65[0] === 0x04;
}

/**
 * P-256 public keys of certificate issuers by their 65 bytes. Importing one costs as much
 * as a verification (~0.2 ms); an issuing CA's key verifies every first-contact pile
 * certificate. A pile's own key is not kept: it verifies one AUTH_RESP per connection,
 * and a gateway holding a key per pile it has seen paid ~2 KB of native memory each
 * (a thousand piles, 2 MB) to save 0.2 ms per reconnect. Bounded: the oldest key goes first.
 */
const p256Keys = new Map<string, KeyObject>();
const P256_KEYS_MAX = 4096;

function p256PublicKey(publicKey65: Buffer, remember: boolean): KeyObject {
  const id = remember ? publicKey65.toString('latin1') : '';
  const hit = remember ? p256Keys.get(id) : undefined;
  if (hit) return hit;
  const key = createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: publicKey65.subarray(1, 33).toString('base64url'),
      y: publicKey65.subarray(33, 65).toString('base64url'),
    },
    format: 'jwk',
  });
  if (!remember) return key;
  p256Keys.set(id, key);
  if (p256Keys.size > P256_KEYS_MAX) p256Keys.delete(p256Keys.keys().next().value as string);
  return key;
}

/** Whether this P-256 key is held imported (tests: only issuer keys are). */
export function p256KeyRemembered(publicKey65: Buffer): boolean {
  return p256Keys.has(publicKey65.toString('latin1'));
}

/**
 * SM2 verification: true when the signature verifies with one of `userIds` (Z_A =
 * SM3(ENTL || ID || a || b || G || P)). `hot`: the key will verify again (an issuing CA),
 * worth a precomputed table. Returns false, never throws, for any bad key, signature or range.
 */
export function verifySm2(
  publicKey65: Buffer,
  data: Buffer,
  signatureDer: Buffer,
  userIds: readonly string[] = [SM2_SIGNER_ID],
  hot = false,
): boolean {
  sm2Points(); // a library that cannot load throws here, named, not as a bad signature below
  try {
    if (!isUncompressedPoint(publicKey65) || !Buffer.isBuffer(data)) return false;
    const { r, s } = decodeRsSignature(signatureDer, CURVES.sm2.order);
    return sm2Verifies(publicKey65, data, r, s, userIds, hot);
  } catch {
    return false;
  }
}

/**
 * ECDSA over P-256 with the given digest; false, never a throw, on bad input. `remember`:
 * keep the imported key for the next verification (an issuer's key).
 */
export function verifyEcdsaP256(
  publicKey65: Buffer,
  data: Buffer,
  signatureDer: Buffer,
  digest: DigestName = 'sha256',
  remember = true,
): boolean {
  try {
    if (!isUncompressedPoint(publicKey65) || !Buffer.isBuffer(data)) return false;
    decodeRsSignature(signatureDer, CURVES['ecdsa-p256'].order);
    const key = p256PublicKey(publicKey65, remember);
    return nodeVerify(digest, data, { key, dsaEncoding: 'der' }, signatureDer);
  } catch {
    return false;
  }
}

/** A KeyObject's scalar is read (a PKCS#8 export and parse) once, not per signature. */
const loadedKeys = new WeakMap<KeyObject, Sm2SigningKey>();

function sm2Key(privateKey: KeyObject | string): Sm2SigningKey {
  const hit = typeof privateKey === 'string' ? undefined : loadedKeys.get(privateKey);
  if (hit) return hit;
  const { d, publicKey65 } = loadEcPrivateKey('sm2', privateKey);
  let key: Sm2SigningKey;
  try {
    key = sm2SigningKey(d, publicKey65);
  } catch (cause) {
    throw identityError('EDGE_ERR_CIP22_KEY_INVALID', 'private key is not a usable SM2 key', {}, cause);
  }
  if (typeof privateKey !== 'string') loadedKeys.set(privateKey, key);
  return key;
}

/** A loaded P-256 KeyObject signs as it is: exporting it to check the curve cost as much as the signature. */
function p256Key(privateKey: KeyObject | string): KeyObject {
  if (
    typeof privateKey !== 'string' &&
    privateKey.type === 'private' &&
    privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1'
  )
    return privateKey;
  return loadEcPrivateKey('ecdsa-p256', privateKey).keyObject;
}

/** Loads a pile's key for signAuth ahead of its first signature (a pile holds its key loaded). */
export function loadAuthKey(alg: IdentityAlg, privateKey: KeyObject): void {
  if (alg === 'sm2') sm2Key(privateKey);
  else p256Key(privateKey);
}

/**
 * Signs `data` as a CIP-22 pile identity: SM2 (GB/T 32918.2, SM3, signer ID
 * 1234567812345678; sm2-sign.ts) or ECDSA P-256 with SHA-256. Returns DER (r, s).
 */
export function signAuth(alg: IdentityAlg, privateKey: KeyObject | string, data: Buffer): Buffer {
  if (alg === 'ecdsa-p256') return nodeSign('sha256', data, { key: p256Key(privateKey), dsaEncoding: 'der' });
  const { r, s } = sm2Sign(sm2Key(privateKey), data);
  return encodeRsSignature(r, s);
}

/** Verifies an AUTH signature; false (never a throw) for any malformed input. */
export function verifyAuth(
  alg: IdentityAlg,
  publicKey65: Buffer,
  data: Buffer,
  signatureDer: Buffer,
): boolean {
  if (alg === 'sm2') return verifySm2(publicKey65, data, signatureDer);
  if (alg === 'ecdsa-p256') return verifyEcdsaP256(publicKey65, data, signatureDer, 'sha256', false);
  return false;
}
