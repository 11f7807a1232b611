/**
 * GHASH (NIST SP 800-38D §6.4) in portable JS: Shoup's 4-bit table method on 32-bit words.
 *
 * Field elements are 4 big-endian int32 words (w0 = bytes 0..3). GCM's bit order makes
 * "multiply by x" a right shift, so multiplying by x^4 shifts one nibble out of w3; that
 * nibble's reduction is REM[nibble], which only touches the top bits of w0. Per key the
 * table M[b] = b·H for every nibble value b is 256 bytes, so one block costs 32 table
 * lookups, shifts and reductions, with no per-bit loop. The 8-bit table (4 KiB per key)
 * halved the lookups, but a gateway keeps two keys per session: 8 MB of tables for a
 * thousand sessions, against ~0.5 µs more per CIP-22 frame (a few blocks) here.
 */

/** R = 11100001 || 0^120: x^128 reduced. */
const R0 = 0xe1000000 | 0;

function mulX(v: Int32Array, o: number): void {
  const carry = v[o + 3]! & 1;
  v[o + 3] = (v[o + 3]! >>> 1) | (v[o + 2]! << 31);
  v[o + 2] = (v[o + 2]! >>> 1) | (v[o + 1]! << 31);
  v[o + 1] = (v[o + 1]! >>> 1) | (v[o]! << 31);
  v[o] = (v[o]! >>> 1) ^ (carry ? R0 : 0);
}

/** REM[d]: the word XORed into w0 when nibble d is shifted out by a multiplication by x^4. */
const REM: Int32Array = (() => {
  const rem = new Int32Array(16);
  const v = new Int32Array(4);
  for (let d = 0; d < 16; d++) {
    v.fill(0);
    v[3] = d;
    for (let i = 0; i < 4; i++) mulX(v, 0);
    rem[d] = v[0]!;
  }
  return rem;
})();

function readWord(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

function writeWordBE(b: Uint8Array, o: number, w: number): void {
  b[o] = w >>> 24;
  b[o + 1] = w >>> 16;
  b[o + 2] = w >>> 8;
  b[o + 3] = w;
}

/** Where Y sits after the table in a Ghash's one Int32Array. */
const Y = 16 * 4;

/** Int32 words of a Ghash's state: the table M, then Y. */
export const GHASH_STATE_WORDS = Y + 4;

/**
 * M[b] = b·H for every nibble b (bit 3 of b is the coefficient of x^0), then Y (4 words),
 * in `m`: one allocation per key, kept for a session's life (two per CIP-22 session).
 */
function buildTable(h: Uint8Array, m: Int32Array): Int32Array {
  m.fill(0);
  for (let k = 0; k < 4; k++) m[8 * 4 + k] = readWord(h, k * 4);
  for (let b = 4; b >= 1; b >>= 1) {
    m.copyWithin(b * 4, b * 8, b * 8 + 4);
    mulX(m, b * 4);
  }
  for (let b = 2; b < 16; b <<= 1) {
    for (let low = 1; low < b; low++) {
      for (let k = 0; k < 4; k++) m[(b + low) * 4 + k] = m[b * 4 + k]! ^ m[low * 4 + k]!;
    }
  }
  return m;
}

/**
 * Y = (Y ^ X)·H for each 16-byte block X of data[start..end) (a multiple of 16 long): Horner
 * over the nibbles of Y ^ X from the last to the first, Z = Z·x^4 ^ M[nibble] (in a byte,
 * the low nibble holds the higher powers of x, so it comes first).
 */
function absorb(m: Int32Array, d: Uint8Array, start: number, end: number): void {
  let z0 = m[Y]!;
  let z1 = m[Y + 1]!;
  let z2 = m[Y + 2]!;
  let z3 = m[Y + 3]!;
  for (let o = start; o < end; o += 16) {
    const a0 = z0 ^ readWord(d, o);
    const a1 = z1 ^ readWord(d, o + 4);
    const a2 = z2 ^ readWord(d, o + 8);
    const a3 = z3 ^ readWord(d, o + 12);
    z0 = z1 = z2 = z3 = 0;
    for (let w = 3; w >= 0; w--) {
      const word = w === 3 ? a3 : w === 2 ? a2 : w === 1 ? a1 : a0;
      for (let shift = 0; shift < 32; shift += 4) {
        // The very first nibble starts from Z = 0: its shift is a no-op, kept for one loop body.
        const r = REM[z3 & 0xf]!;
        z3 = (z3 >>> 4) | (z2 << 28);
        z2 = (z2 >>> 4) | (z1 << 28);
        z1 = (z1 >>> 4) | (z0 << 28);
        z0 = (z0 >>> 4) ^ r;
        const i = ((word >>> shift) & 0xf) << 2;
        z0 ^= m[i]!;
        z1 ^= m[i + 1]!;
        z2 ^= m[i + 2]!;
        z3 ^= m[i + 3]!;
      }
    }
  }
  m[Y] = z0;
  m[Y + 1] = z1;
  m[Y + 2] = z2;
  m[Y + 3] = z3;
}

/**
 * The last partial block or the length block being absorbed: single-threaded and never
 * kept between calls, so one for all keys (a pad per key was a typed array and, once a
 * DataView wrote into it, a backing store of its own, per session direction).
 */
const pad = new Uint8Array(16);

/** GHASH state for one hash subkey H; reusable across messages (`reset`). */
export class Ghash {
  /** The table M, then Y: buildTable. */
  private readonly m: Int32Array;

  /** `state`: GHASH_STATE_WORDS words to keep the state in (a view into its owner's allocation). */
  constructor(h: Uint8Array, state: Int32Array = new Int32Array(GHASH_STATE_WORDS)) {
    if (h.length !== 16) throw new RangeError(`GHASH subkey must be 16 bytes, got ${h.length}`);
    if (state.length !== GHASH_STATE_WORDS)
      throw new RangeError(`GHASH state must be ${GHASH_STATE_WORDS} words, got ${state.length}`);
    this.m = buildTable(h, state);
  }

  reset(): this {
    this.m.fill(0, Y, Y + 4);
    return this;
  }

  /** Absorbs `data`, zero-padding its last partial block (as GCM pads AAD and ciphertext). */
  update(data: Uint8Array, start = 0, end = data.length): this {
    const full = start + ((end - start) & ~15);
    if (full > start) absorb(this.m, data, start, full);
    if (full < end) {
      pad.fill(0);
      pad.set(data.subarray(full, end));
      absorb(this.m, pad, 0, 16);
    }
    return this;
  }

  /** Absorbs the length block: bit lengths of AAD and ciphertext, 64 bits each. */
  lengths(aadBytes: number, textBytes: number): this {
    // Written byte by byte: a DataView per message was garbage on every frame.
    writeWordBE(pad, 0, Math.floor((aadBytes * 8) / 0x100000000));
    writeWordBE(pad, 4, (aadBytes * 8) >>> 0);
    writeWordBE(pad, 8, Math.floor((textBytes * 8) / 0x100000000));
    writeWordBE(pad, 12, (textBytes * 8) >>> 0);
    absorb(this.m, pad, 0, 16);
    return this;
  }

  digestInto(out: Uint8Array, offset: number): void {
    for (let k = 0; k < 4; k++) writeWordBE(out, offset + k * 4, this.m[Y + k]!);
  }
}
