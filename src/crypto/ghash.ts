/**
 * GHASH (NIST SP 800-38D §6.4) in portable JS: Shoup's 8-bit table method on 32-bit words.
 *
 * Field elements are 4 big-endian int32 words (w0 = bytes 0..3). GCM's bit order makes
 * "multiply by x" a right shift, so multiplying by x^8 shifts one byte out of w3; that
 * byte's reduction is REM[byte], which only touches the top 16 bits of w0. Per key the
 * table M[b] = b·H for every byte value b (4 KiB), so one block costs 16 table lookups,
 * 16 byte shifts and 16 reductions, with no per-bit loop.
 */

/** R = 11100001 || 0^120: x^128 reduced. */
const R0 = 0xe1000000 | 0;

function mulX(v: Int32Array, o: number): void {
  const carry = v[o + 3] & 1;
  v[o + 3] = (v[o + 3] >>> 1) | (v[o + 2] << 31);
  v[o + 2] = (v[o + 2] >>> 1) | (v[o + 1] << 31);
  v[o + 1] = (v[o + 1] >>> 1) | (v[o] << 31);
  v[o] = (v[o] >>> 1) ^ (carry ? R0 : 0);
}

/** REM[d]: the word XORed into w0 when byte d is shifted out by a multiplication by x^8. */
const REM: Int32Array = (() => {
  const rem = new Int32Array(256);
  const v = new Int32Array(4);
  for (let d = 0; d < 256; d++) {
    v.fill(0);
    v[3] = d;
    for (let i = 0; i < 8; i++) mulX(v, 0);
    rem[d] = v[0];
  }
  return rem;
})();

function readWord(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

/** M[b] = b·H for every byte b (bit 7 of b is the coefficient of x^0). */
function buildTable(h: Uint8Array): Int32Array {
  const m = new Int32Array(256 * 4);
  const at = 0x80 * 4;
  for (let k = 0; k < 4; k++) m[at + k] = readWord(h, k * 4);
  for (let b = 0x40; b >= 1; b >>= 1) {
    m.copyWithin(b * 4, b * 8, b * 8 + 4);
    mulX(m, b * 4);
  }
  for (let b = 2; b < 256; b <<= 1) {
    for (let low = 1; low < b; low++) {
      for (let k = 0; k < 4; k++) m[(b + low) * 4 + k] = m[b * 4 + k] ^ m[low * 4 + k];
    }
  }
  return m;
}

/** GHASH state for one hash subkey H; reusable across messages (`reset`). */
export class Ghash {
  private readonly m: Int32Array;
  private readonly pad = new Uint8Array(16);
  private y0 = 0;
  private y1 = 0;
  private y2 = 0;
  private y3 = 0;

  constructor(h: Uint8Array) {
    if (h.length !== 16) throw new RangeError(`GHASH subkey must be 16 bytes, got ${h.length}`);
    this.m = buildTable(h);
  }

  reset(): this {
    this.y0 = this.y1 = this.y2 = this.y3 = 0;
    return this;
  }

  /** Absorbs `data`, zero-padding its last partial block (as GCM pads AAD and ciphertext). */
  update(data: Uint8Array, start = 0, end = data.length): this {
    const full = start + ((end - start) & ~15);
    for (let o = start; o < full; o += 16) {
      this.block(readWord(data, o), readWord(data, o + 4), readWord(data, o + 8), readWord(data, o + 12));
    }
    if (full < end) {
      const pad = this.pad;
      pad.fill(0);
      pad.set(data.subarray(full, end));
      this.block(readWord(pad, 0), readWord(pad, 4), readWord(pad, 8), readWord(pad, 12));
    }
    return this;
  }

  /** Absorbs the length block: bit lengths of AAD and ciphertext, 64 bits each. */
  lengths(aadBytes: number, textBytes: number): this {
    const aadBits = aadBytes * 8;
    const textBits = textBytes * 8;
    this.block((aadBits / 0x100000000) | 0, aadBits | 0, (textBits / 0x100000000) | 0, textBits | 0);
    return this;
  }

  digestInto(out: Uint8Array, offset: number): void {
    const words = [this.y0, this.y1, this.y2, this.y3];
    for (let i = 0; i < 4; i++) {
      const w = words[i];
      out[offset + i * 4] = w >>> 24;
      out[offset + i * 4 + 1] = w >>> 16;
      out[offset + i * 4 + 2] = w >>> 8;
      out[offset + i * 4 + 3] = w;
    }
  }

  /** Y = (Y ^ X)·H, Horner over the bytes of Y ^ X from the last to the first. */
  private block(x0: number, x1: number, x2: number, x3: number): void {
    const m = this.m;
    const a0 = this.y0 ^ x0;
    const a1 = this.y1 ^ x1;
    const a2 = this.y2 ^ x2;
    const a3 = this.y3 ^ x3;
    let i = (a3 & 0xff) << 2;
    let z0 = m[i];
    let z1 = m[i + 1];
    let z2 = m[i + 2];
    let z3 = m[i + 3];
    for (let k = 1; k < 16; k++) {
      const word = k < 4 ? a3 : k < 8 ? a2 : k < 12 ? a1 : a0;
      const byte = (word >>> ((k & 3) << 3)) & 0xff;
      const rem = REM[z3 & 0xff];
      z3 = (z3 >>> 8) | (z2 << 24);
      z2 = (z2 >>> 8) | (z1 << 24);
      z1 = (z1 >>> 8) | (z0 << 24);
      z0 = (z0 >>> 8) ^ rem;
      i = byte << 2;
      z0 ^= m[i];
      z1 ^= m[i + 1];
      z2 ^= m[i + 2];
      z3 ^= m[i + 3];
    }
    this.y0 = z0;
    this.y1 = z1;
    this.y2 = z2;
    this.y3 = z3;
  }
}
