/**
 * SM4-GCM (RFC 8998 §A: GCM, NIST SP 800-38D, with the SM4 block cipher): 16-byte key,
 * 12-byte IV, 16-byte tag. Sealed output = ciphertext || tag.
 *
 * Node 20's OpenSSL has no `sm4-gcm`; when the runtime lists it we use it, otherwise GCM
 * is composed from native SM4 and the JS GHASH:
 *   H    = E(K, 0^128)                     (sm4-ecb, once per key)
 *   J0   = IV || 00000001
 *   [S || C] = sm4-ctr from J0 over [0^128 || P]: S = E(K, J0) is the tag mask and C is
 *          P encrypted from J0 + 1, on one native cipher. OpenSSL's CTR increments all 128
 *          bits and GCM only the last 32; they agree while the low word does not wrap,
 *          i.e. for plaintexts under 2^32 − 2 blocks, which `MAX_PLAINTEXT` enforces.
 *   tag  = GHASH_H(A, C) XOR S
 */
import { createCipheriv, createDecipheriv, getCiphers, timingSafeEqual, type Cipher } from 'node:crypto';
import { Ghash } from './ghash.js';

export const SM4_KEY_LENGTH = 16;
export const SM4_GCM_IV_LENGTH = 12;
export const SM4_GCM_TAG_LENGTH = 16;
/** SP 800-38D bound for 96-bit IVs: 2^32 − 2 blocks. */
export const MAX_PLAINTEXT = (2 ** 32 - 2) * 16;

export type Sm4GcmErrorCode =
  'SM4GCM_BAD_TAG' | 'SM4GCM_SHORT_INPUT' | 'SM4GCM_BAD_KEY' | 'SM4GCM_BAD_IV' | 'SM4GCM_TOO_LONG';

export class Sm4GcmError extends Error {
  readonly code: Sm4GcmErrorCode;
  constructor(code: Sm4GcmErrorCode, message: string) {
    super(message);
    this.name = 'Sm4GcmError';
    this.code = code;
  }
}

/** Whether this runtime's OpenSSL provides `sm4-gcm` itself. */
export const NATIVE_SM4_GCM: boolean = getCiphers().includes('sm4-gcm');

export type Sm4GcmImplementation = 'native' | 'composed';

const ZERO_BLOCK = Buffer.alloc(16);
const EMPTY = Buffer.alloc(0);

function checkIv(iv: Uint8Array): void {
  if (iv.length !== SM4_GCM_IV_LENGTH)
    throw new Sm4GcmError('SM4GCM_BAD_IV', `SM4-GCM IV must be ${SM4_GCM_IV_LENGTH} bytes, got ${iv.length}`);
}

/** One SM4-GCM key with its precomputed GHASH table: keep one per session direction. */
export class Sm4GcmKey {
  readonly implementation: Sm4GcmImplementation;
  private readonly key: Buffer;
  private readonly ghash: Ghash | undefined;
  private readonly j0 = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

  constructor(key: Uint8Array, options: { implementation?: Sm4GcmImplementation } = {}) {
    if (key.length !== SM4_KEY_LENGTH)
      throw new Sm4GcmError('SM4GCM_BAD_KEY', `SM4 key must be ${SM4_KEY_LENGTH} bytes, got ${key.length}`);
    this.implementation = options.implementation ?? (NATIVE_SM4_GCM ? 'native' : 'composed');
    if (this.implementation === 'native' && !NATIVE_SM4_GCM)
      throw new Error('this runtime has no native sm4-gcm');
    this.key = Buffer.from(key);
    if (this.implementation === 'composed') {
      const ecb = createCipheriv('sm4-ecb', this.key, null).setAutoPadding(false);
      this.ghash = new Ghash(ecb.update(ZERO_BLOCK));
    }
  }

  /** Returns ciphertext || 16-byte tag. */
  seal(iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = EMPTY): Buffer {
    checkIv(iv);
    if (plaintext.length > MAX_PLAINTEXT)
      throw new Sm4GcmError('SM4GCM_TOO_LONG', `SM4-GCM plaintext longer than ${MAX_PLAINTEXT} bytes`);
    if (this.implementation === 'native') return this.nativeSeal(iv, plaintext, aad);
    const n = plaintext.length;
    const cipher = this.ctrFromJ0(iv);
    const mask = cipher.update(ZERO_BLOCK);
    const out = Buffer.allocUnsafe(n + SM4_GCM_TAG_LENGTH);
    if (n > 0) cipher.update(plaintext).copy(out, 0);
    this.tagInto(out, mask, aad, out.subarray(0, n));
    return out;
  }

  /** Checks the tag of `sealed` (ciphertext || tag) and returns the plaintext; throws Sm4GcmError otherwise. */
  open(iv: Uint8Array, sealed: Uint8Array, aad: Uint8Array = EMPTY): Buffer {
    checkIv(iv);
    if (sealed.length < SM4_GCM_TAG_LENGTH) {
      throw new Sm4GcmError(
        'SM4GCM_SHORT_INPUT',
        `SM4-GCM input of ${sealed.length} bytes is shorter than the ${SM4_GCM_TAG_LENGTH}-byte tag`,
      );
    }
    const n = sealed.length - SM4_GCM_TAG_LENGTH;
    if (n > MAX_PLAINTEXT)
      throw new Sm4GcmError('SM4GCM_TOO_LONG', `SM4-GCM ciphertext longer than ${MAX_PLAINTEXT} bytes`);
    if (this.implementation === 'native') return this.nativeOpen(iv, sealed, n, aad);
    const ciphertext = sealed.subarray(0, n);
    const cipher = this.ctrFromJ0(iv);
    const expected = Buffer.allocUnsafe(SM4_GCM_TAG_LENGTH);
    this.tagInto(expected, cipher.update(ZERO_BLOCK), aad, ciphertext);
    // Decrypt only after the tag checks out: no unauthenticated plaintext ever exists.
    if (!timingSafeEqual(expected, sealed.subarray(n)))
      throw new Sm4GcmError('SM4GCM_BAD_TAG', 'SM4-GCM authentication failed (tag mismatch)');
    return n > 0 ? cipher.update(ciphertext) : Buffer.alloc(0);
  }

  /** Native sm4-ctr positioned at J0 = IV || 00000001: its first block is the tag mask E(K, J0). */
  private ctrFromJ0(iv: Uint8Array): Cipher {
    const j0 = this.j0;
    j0.set(iv, 0);
    return createCipheriv('sm4-ctr', this.key, j0);
  }

  /** Writes GHASH_H(aad, ciphertext) XOR mask to the last 16 bytes of `out`. */
  private tagInto(out: Buffer, mask: Buffer, aad: Uint8Array, ciphertext: Uint8Array): void {
    const g = this.ghash!.reset();
    if (aad.length > 0) g.update(aad);
    g.update(ciphertext);
    g.lengths(aad.length, ciphertext.length);
    const at = out.length - SM4_GCM_TAG_LENGTH;
    g.digestInto(out, at);
    for (let i = 0; i < SM4_GCM_TAG_LENGTH; i++) out[at + i]! ^= mask[i]!;
  }

  private nativeSeal(iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
    const cipher = createCipheriv('sm4-gcm' as 'aes-128-gcm', this.key, iv, {
      authTagLength: SM4_GCM_TAG_LENGTH,
    });
    cipher.setAAD(aad);
    return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  }

  private nativeOpen(iv: Uint8Array, sealed: Uint8Array, n: number, aad: Uint8Array): Buffer {
    const decipher = createDecipheriv('sm4-gcm' as 'aes-128-gcm', this.key, iv, {
      authTagLength: SM4_GCM_TAG_LENGTH,
    });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(n));
    const plaintext = decipher.update(sealed.subarray(0, n));
    try {
      decipher.final();
    } catch {
      plaintext.fill(0);
      throw new Sm4GcmError('SM4GCM_BAD_TAG', 'SM4-GCM authentication failed (tag mismatch)');
    }
    return plaintext;
  }
}

/**
 * A small LRU of prepared keys so that the one-shot functions below do not rebuild the
 * GHASH table (and H) for every message of a session. Pure memoisation: bounded, and no
 * result depends on it.
 */
export class Sm4GcmKeyCache {
  private readonly entries = new Map<string, Sm4GcmKey>();
  constructor(private readonly capacity = 32) {}

  get(key: Uint8Array): Sm4GcmKey {
    const id = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
    let prepared = this.entries.get(id);
    if (prepared) {
      this.entries.delete(id);
    } else {
      prepared = new Sm4GcmKey(key);
      if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(id, prepared);
    return prepared;
  }

  get size(): number {
    return this.entries.size;
  }
}

const sharedKeys = new Sm4GcmKeyCache();

/** SM4-GCM encrypt: returns ciphertext || 16-byte tag. Key 16 bytes, IV 12 bytes. */
export function sm4GcmSeal(
  key: Uint8Array,
  iv: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = EMPTY,
): Buffer {
  return sharedKeys.get(key).seal(iv, plaintext, aad);
}

/** SM4-GCM decrypt of ciphertext || tag; throws Sm4GcmError (code SM4GCM_BAD_TAG, …) when it does not authenticate. */
export function sm4GcmOpen(
  key: Uint8Array,
  iv: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array = EMPTY,
): Buffer {
  return sharedKeys.get(key).open(iv, sealed, aad);
}
