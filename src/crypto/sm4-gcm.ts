/**
 * SM4-GCM (RFC 8998 §A: GCM, NIST SP 800-38D, with the SM4 block cipher): 16-byte key,
 * 12-byte IV, 16-byte tag. Sealed output = ciphertext || tag.
 *
 * Node 20's OpenSSL has no `sm4-gcm`; when the runtime lists it we use it, otherwise GCM
 * is composed from the JS SM4 (sm4.ts, round keys made once per key) and the JS GHASH:
 *   H    = E(K, 0^128)                     (once per key)
 *   J0   = IV || 00000001
 *   [S || K1 || K2 ...] = E(K, J0), E(K, inc32(J0)), … : S is the tag mask and
 *          C = P XOR K1 K2 …. Creating an `sm4-ctr` cipher per message was most of the
 *          per-frame cipher cost of a session; a native `sm4-ecb` cipher per key (what
 *          came next) was ~0.7 KB of native objects per key, two keys per session.
 *   tag  = GHASH_H(A, C) XOR S
 */
import { createCipheriv, createDecipheriv, getCiphers, timingSafeEqual } from 'node:crypto';
import { GHASH_STATE_WORDS, Ghash } from './ghash.js';
import { sm4EncryptWords, sm4RoundKeys } from './sm4.js';

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

const EMPTY = Buffer.alloc(0);

function checkIv(iv: Uint8Array): void {
  if (iv.length !== SM4_GCM_IV_LENGTH)
    throw new Sm4GcmError('SM4GCM_BAD_IV', `SM4-GCM IV must be ${SM4_GCM_IV_LENGTH} bytes, got ${iv.length}`);
}

/** Keystream blocks made at a time: bounds the scratch buffer for long messages. */
const CHUNK_BLOCKS = 256;
/** Keystream of the message being sealed or opened (single-threaded, never kept). */
const keystream = Buffer.alloc(CHUNK_BLOCKS * 16);
/** The tag mask E(K, J0) of the message being sealed (single-threaded, never kept). */
const maskBlock = Buffer.alloc(16);

/** One SM4-GCM key with its block cipher and GHASH table: keep one per session direction. */
export class Sm4GcmKey {
  readonly implementation: Sm4GcmImplementation;
  /** Native implementation only: the composed one keeps no copy, its cipher holds the key schedule. */
  private readonly key: Buffer | undefined;
  private readonly ghash: Ghash | undefined;
  /** SM4 round keys (composed implementation). */
  private readonly rk: Int32Array | undefined;

  constructor(key: Uint8Array, options: { implementation?: Sm4GcmImplementation } = {}) {
    if (key.length !== SM4_KEY_LENGTH)
      throw new Sm4GcmError('SM4GCM_BAD_KEY', `SM4 key must be ${SM4_KEY_LENGTH} bytes, got ${key.length}`);
    this.implementation = options.implementation ?? (NATIVE_SM4_GCM ? 'native' : 'composed');
    if (this.implementation === 'native' && !NATIVE_SM4_GCM)
      throw new Error('this runtime has no native sm4-gcm');
    if (this.implementation === 'composed') {
      // No copy of the key is kept: a gateway holds two keys per session, and each copy was a
      // Buffer, an ArrayBuffer and a native backing store for the session's life.
      // Round keys and GHASH state in one allocation (an ArrayBuffer and its backing store each).
      const words = new Int32Array(32 + GHASH_STATE_WORDS);
      this.rk = words.subarray(0, 32);
      this.rk.set(sm4RoundKeys(key));
      const h = Buffer.alloc(16);
      sm4EncryptWords(this.rk, 0, 0, 0, 0, h, 0);
      this.ghash = new Ghash(h, words.subarray(32));
    } else {
      // Its own 16 bytes, not a slice of Node's 8 KiB buffer pool that it would keep alive.
      this.key = Buffer.allocUnsafeSlow(SM4_KEY_LENGTH);
      this.key.set(key);
    }
  }

  /** Returns ciphertext || 16-byte tag. */
  seal(iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = EMPTY): Buffer {
    checkIv(iv);
    if (plaintext.length > MAX_PLAINTEXT)
      throw new Sm4GcmError('SM4GCM_TOO_LONG', `SM4-GCM plaintext longer than ${MAX_PLAINTEXT} bytes`);
    if (this.implementation === 'native') return this.nativeSeal(iv, plaintext, aad);
    const out = Buffer.allocUnsafe(plaintext.length + SM4_GCM_TAG_LENGTH);
    this.sealInto(out, 0, iv, plaintext, aad);
    return out;
  }

  /**
   * Writes ciphertext || tag to out[offset ..] (plaintext.length + 16 bytes): a frame is
   * sealed in place, without an intermediate buffer. Composed implementation only.
   */
  sealInto(
    out: Buffer,
    offset: number,
    iv: Uint8Array,
    plaintext: Uint8Array,
    aad: Uint8Array = EMPTY,
  ): void {
    checkIv(iv);
    const n = plaintext.length;
    if (n > MAX_PLAINTEXT)
      throw new Sm4GcmError('SM4GCM_TOO_LONG', `SM4-GCM plaintext longer than ${MAX_PLAINTEXT} bytes`);
    if (this.implementation === 'native') return void this.nativeSeal(iv, plaintext, aad).copy(out, offset);
    const mask = this.keystreamXor(iv, plaintext, out, offset);
    const ciphertext = out.subarray(offset, offset + n);
    this.tagInto(out, offset + n, mask, aad, ciphertext);
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
    // A frame fits one native call: mask and keystream together, XORed only after the tag checks.
    const single = n <= (CHUNK_BLOCKS - 1) * 16;
    const ks = single ? this.counterBlocks(iv, 1 + Math.ceil(n / 16)) : this.counterBlocks(iv, 1);
    const expected = Buffer.allocUnsafe(SM4_GCM_TAG_LENGTH);
    this.tagInto(expected, 0, ks, aad, ciphertext);
    // Decrypt only after the tag checks out: no unauthenticated plaintext ever exists.
    if (!timingSafeEqual(expected, sealed.subarray(n)))
      throw new Sm4GcmError('SM4GCM_BAD_TAG', 'SM4-GCM authentication failed (tag mismatch)');
    const plaintext = Buffer.allocUnsafe(n);
    if (!single) this.keystreamXor(iv, ciphertext, plaintext, 0);
    else for (let i = 0; i < n; i++) plaintext[i] = ciphertext[i]! ^ ks[16 + i]!;
    return plaintext;
  }

  /**
   * E(K, J0 + first), E(K, J0 + first + 1), … : `blocks` blocks into the keystream scratch
   * (the counter is inc32: its low 32 bits wrap).
   */
  private counterBlocks(iv: Uint8Array, blocks: number, first = 0): Buffer {
    const rk = this.rk as Int32Array;
    const iv0 = (iv[0]! << 24) | (iv[1]! << 16) | (iv[2]! << 8) | iv[3]!;
    const iv1 = (iv[4]! << 24) | (iv[5]! << 16) | (iv[6]! << 8) | iv[7]!;
    const iv2 = (iv[8]! << 24) | (iv[9]! << 16) | (iv[10]! << 8) | iv[11]!;
    for (let b = 0; b < blocks; b++)
      sm4EncryptWords(rk, iv0, iv1, iv2, (first + b + 1) | 0, keystream, b * 16);
    return keystream;
  }

  /**
   * out[offset ..] = input XOR E(K, J0 + 1), E(K, J0 + 2), …; returns the mask E(K, J0),
   * made with the first chunk.
   */
  private keystreamXor(iv: Uint8Array, input: Uint8Array, out: Buffer, offset: number): Buffer {
    const n = input.length;
    let mask: Buffer | undefined;
    // Block index 0 is J0 (the mask); data block i uses counter 1 + i (inc32, mod 2^32).
    for (let first = 0, done = 0; done < n || mask === undefined; first += CHUNK_BLOCKS) {
      const withMask = mask === undefined ? 1 : 0;
      const blocks = Math.min(CHUNK_BLOCKS, Math.ceil((n - done) / 16) + withMask);
      const ks = this.counterBlocks(iv, blocks, first);
      // The scratch is overwritten by the next chunk: the mask is copied out of it.
      if (withMask) {
        ks.copy(maskBlock, 0, 0, 16);
        mask = maskBlock;
      }
      const take = Math.min(n - done, (blocks - withMask) * 16);
      for (let i = 0, k = withMask * 16; i < take; i++, k++)
        out[offset + done + i] = input[done + i]! ^ ks[k]!;
      done += take;
    }
    return mask;
  }

  /** Writes GHASH_H(aad, ciphertext) XOR mask to out[at .. at + 16]. */
  private tagInto(out: Buffer, at: number, mask: Buffer, aad: Uint8Array, ciphertext: Uint8Array): void {
    const g = this.ghash!.reset();
    if (aad.length > 0) g.update(aad);
    g.update(ciphertext);
    g.lengths(aad.length, ciphertext.length);
    g.digestInto(out, at);
    for (let i = 0; i < SM4_GCM_TAG_LENGTH; i++) out[at + i]! ^= mask[i]!;
  }

  private nativeSeal(iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
    const cipher = createCipheriv('sm4-gcm' as 'aes-128-gcm', this.key as Buffer, iv, {
      authTagLength: SM4_GCM_TAG_LENGTH,
    });
    cipher.setAAD(aad);
    return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  }

  private nativeOpen(iv: Uint8Array, sealed: Uint8Array, n: number, aad: Uint8Array): Buffer {
    const decipher = createDecipheriv('sm4-gcm' as 'aes-128-gcm', this.key as Buffer, iv, {
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
