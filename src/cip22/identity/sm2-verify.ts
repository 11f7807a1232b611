/**
 * SM2 signature verification (GB/T 32918.2), 2-5x cheaper than sm-crypto-v2's
 * doVerifySignature on the same curve points (issue 16):
 * - e = SM3(Z_A || M) with Node's native SM3, Z_A remembered per (key, signer ID);
 * - [t]P_A not in constant time (t comes from the signature, which is public): a width-5
 *   NAF for a new key (multiplyOnce);
 * - keys that verify again and again (issuing CAs) get a precomputed window table
 *   (`hot`), which makes [t]P_A as cheap as [s]G (~1 ms instead of ~3 ms of CPU);
 * - x1 of [s]G + [t]P_A does not depend on the signer ID, so a certificate tried with
 *   two IDs costs one point multiplication, not two.
 *
 * Why not Node's crypto.verify: OpenSSL 3.0 (Node 20) verifies SM2 natively, but with
 * an empty signer ID and no way to set `distid` from Node (test/cip22/identity-sm2-native
 * .test.ts keeps that fact visible); the spec needs `1234567812345678`, and Z_A is
 * hashed inside the signature, so no input to OpenSSL's check can stand in for it.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as SmCrypto from 'sm-crypto-v2';
import { CURVES } from './algorithms.js';

type Sm2 = typeof SmCrypto.sm2;
type Point = ReturnType<Sm2['precomputePublicKey']>;
interface PointClass {
  readonly BASE: Point;
  readonly ZERO: Point;
  fromHex(hex: string): Point;
}

const N = CURVES.sm2.order;
const A_B_G = Buffer.from(
  'FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC' +
    '28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93' +
    '32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7' +
    'BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0',
  'hex',
);

interface Curve {
  readonly sm2: Sm2;
  /** sm-crypto-v2's point class (its API hands out instances, not the class). */
  readonly Points: PointClass;
}
let loaded: Curve | undefined;

/**
 * sm-crypto-v2, required at the first SM2 operation of this thread, not at import: ~1.3 MB
 * of heap that stays. A gateway with verify workers checks SM2 in the workers, so its main
 * thread never loads it; a P-256-only station loads it nowhere. Synchronous (a CommonJS
 * require), so the callers' API stays synchronous; the first call pays the load once.
 */
function curve(): Curve {
  if (loaded) return loaded;
  const { sm2 } = createRequire(import.meta.url)('sm-crypto-v2') as typeof SmCrypto;
  const Points = sm2.precomputePublicKey(`04${A_B_G.subarray(64).toString('hex')}`, 1)
    .constructor as unknown as PointClass;
  if (typeof Points.fromHex !== 'function' || !Points.BASE || !Points.ZERO)
    throw new Error('sm-crypto-v2 point class not found (library changed?)');
  return (loaded = { sm2, Points });
}

/** The point class; sm2-sign.ts signs with it too. */
export function sm2Points(): PointClass {
  return curve().Points;
}

/** Window of the precomputed tables: w4 measured ~1 ms per [t]P, the table ~11 ms to build. */
const HOT_WINDOW = 4;
/** Bounded: hot keys are issuing CAs under the pinned roots; each table is ~100 kB. */
const HOT_MAX = 16;
const hotKeys = new Map<string, Point>();
const Z_MAX = 1024;
const zCache = new Map<string, Buffer>();

function bounded<V>(map: Map<string, V>, key: string, value: V, max: number): V {
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as string);
  return value;
}

/** Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA), remembered (bounded) per key and ID. */
export function zOf(publicKey65: Buffer, userId: string): Buffer {
  const cacheKey = `${userId}\u0000${publicKey65.toString('latin1')}`;
  const hit = zCache.get(cacheKey);
  if (hit) return hit;
  const id = Buffer.from(userId, 'utf8');
  const entl = Buffer.from([(id.length * 8) >> 8, (id.length * 8) & 0xff]);
  const z = createHash('sm3').update(entl).update(id).update(A_B_G).update(publicKey65.subarray(1)).digest();
  return bounded(zCache, cacheKey, z, Z_MAX);
}

function keyPoint(publicKey65: Buffer, hot: boolean): { point: Point; precomputed: boolean } {
  const id = publicKey65.toString('latin1');
  const cached = hotKeys.get(id);
  if (cached) return { point: cached, precomputed: true };
  const { sm2, Points } = curve();
  if (!hot) return { point: Points.fromHex(publicKey65.toString('hex')), precomputed: false };
  const point = sm2.precomputePublicKey(publicKey65.toString('hex'), HOT_WINDOW);
  return { point: bounded(hotKeys, id, point, HOT_MAX), precomputed: true };
}

/** Width of the NAF of a one-shot [k]P: 8 odd multiples of P, a point addition every ~6 bits. */
const ONCE_WIDTH = 5;

/**
 * [k]P for a key that is used once (a pile's AUTH key), k public (it comes from the
 * signature), so not constant-time: width-5 NAF over a table of P, 3P … 15P. The bit ladder
 * of `multiplyUnsafe` adds at every set bit (~128 additions); this ~43 + 8, about 20 % less
 * CPU for the multiplication that is most of a new-key verification (issue 16 item 4).
 */
export function multiplyOnce(point: Point, k: bigint): Point {
  const twoP = point.double();
  const odd: Point[] = [point];
  for (let i = 1; i < 1 << (ONCE_WIDTH - 2); i++) odd.push(odd[i - 1]!.add(twoP));
  const digits: number[] = [];
  for (let n = k; n > 0n; n >>= 1n) {
    let digit = 0;
    if ((n & 1n) === 1n) {
      digit = Number(n & BigInt((1 << ONCE_WIDTH) - 1));
      if (digit >= 1 << (ONCE_WIDTH - 1)) digit -= 1 << ONCE_WIDTH;
      n -= BigInt(digit);
    }
    digits.push(digit);
  }
  let acc = curve().Points.ZERO;
  for (let i = digits.length - 1; i >= 0; i--) {
    acc = acc.double();
    const digit = digits[i]!;
    if (digit > 0) acc = acc.add(odd[(digit - 1) >> 1]!);
    else if (digit < 0) acc = acc.add(odd[(-digit - 1) >> 1]!.negate());
  }
  return acc;
}

/**
 * True when (r, s) is an SM2 signature of `data` by `publicKey65` under one of
 * `userIds`. The caller has range-checked r and s to [1, n-1] and the key's encoding;
 * an off-curve key throws (the caller answers false).
 */
export function sm2Verifies(
  publicKey65: Buffer,
  data: Buffer,
  r: bigint,
  s: bigint,
  userIds: readonly string[],
  hot = false,
): boolean {
  const t = (r + s) % N;
  if (t === 0n) return false;
  const { point, precomputed } = keyPoint(publicKey65, hot);
  const tP = precomputed ? point.multiply(t) : multiplyOnce(point, t);
  const sum = curve().Points.BASE.multiply(s).add(tP);
  if (sum.is0()) return false;
  const x1 = sum.toAffine().x;
  for (const userId of userIds) {
    const digest = createHash('sm3').update(zOf(publicKey65, userId)).update(data).digest();
    if ((BigInt(`0x${digest.toString('hex')}`) + x1) % N === r) return true;
  }
  return false;
}
