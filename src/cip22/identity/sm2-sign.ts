/**
 * SM2 signing (GB/T 32918.2) for the pile side (the simulator, `edge-agent pile-sim`):
 * e = SM3(Z_A || M) with Node's native SM3 and Z_A remembered per key (sm2-verify.ts),
 * [k]G with sm-crypto-v2's constant-time multiplication (k is secret), (1 + d)^-1 once
 * per key. sm-crypto-v2's doSignature hashes in JS and round-trips [k]G through hex:
 * ~1.5 ms of CPU per signature against ~0.45 ms here, and in an SM2 handshake bench that
 * was the largest part of the client's own cost (issue 16).
 */
import { createHash, randomBytes } from 'node:crypto';
import { CURVES, SM2_SIGNER_ID } from './algorithms.js';
import { sm2Points, zOf } from './sm2-verify.js';

const N = CURVES.sm2.order;

export interface Sm2SigningKey {
  readonly d: bigint;
  readonly publicKey65: Buffer;
  /** (1 + d)^-1 mod n. */
  readonly inverse: bigint;
}

const toBigInt = (bytes: Buffer): bigint => BigInt(`0x${bytes.toString('hex') || '0'}`);

/** a^-1 mod m for 0 < a < m, m prime (extended Euclid). */
function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [a, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % m) + m) % m;
}

/**
 * The signing form of a private scalar; its public point is computed when not given.
 * Throws (a plain Error: the caller names the key) for a scalar outside [1, n-2].
 */
export function sm2SigningKey(d32: Buffer, publicKey65?: Buffer): Sm2SigningKey {
  const d = toBigInt(d32);
  if (d < 1n || d > N - 2n) throw new Error('SM2 private scalar out of range');
  const pub = publicKey65 ?? Buffer.from(sm2Points().BASE.multiply(d).toHex(false), 'hex');
  return { d, publicKey65: pub, inverse: modInverse(d + 1n, N) };
}

function secretScalar(): bigint {
  for (;;) {
    const k = toBigInt(randomBytes(32));
    if (k > 0n && k < N) return k;
  }
}

/** (r, s) of an SM2 signature of `data` with the CIP-22 signer ID (1234567812345678). */
export function sm2Sign(key: Sm2SigningKey, data: Buffer): { r: bigint; s: bigint } {
  const z = zOf(key.publicKey65, SM2_SIGNER_ID);
  const e = toBigInt(createHash('sm3').update(z).update(data).digest());
  for (;;) {
    const k = secretScalar();
    const r = (e + sm2Points().BASE.multiply(k).toAffine().x) % N;
    if (r === 0n || r + k === N) continue;
    const s = (key.inverse * ((((k - r * key.d) % N) + N) % N)) % N;
    if (s !== 0n) return { r, s };
  }
}
