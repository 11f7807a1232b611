/**
 * The SM4 block cipher (GB/T 32907-2016), encryption only: what GCM's counter mode and its
 * hash subkey need. In JS rather than Node's `sm4-ecb` because a gateway keeps two keys per
 * session: a native cipher per key was a CipherBase, its JS stream wrapper and an OpenSSL
 * context (~0.7 KB together, 1.4 MB for a thousand sessions), where the round keys are 128
 * bytes; a frame's few blocks also cost less here than a native call and its output Buffer.
 * Checked against the standard's example and, through SM4-GCM, RFC 8998 and sm-crypto-v2.
 * Timing: S-box lookups are indexed by key-dependent bytes, as in the portable C SM4 and
 * 4-bit GHASH that a native cipher runs on CPUs without SM4/carry-less-multiply
 * instructions (Node 20's OpenSSL has no x86 SM4 assembly); a pile's frames reach them
 * through TLS 1.3 and a JS event loop, whose jitter is orders above a cache miss.
 */

const SBOX = Uint8Array.from(
  Buffer.from(
    'd690e9fecce13db716b614c228fb2c052b679a762abe04c3aa441326498606999c4250f491ef987a33540b43edcfac62' +
      'e4b31ca9c908e89580df94fa758f3fa64707a7fcf37317ba83593c19e6854fa8686b81b27164da8bf8eb0f4b70569d35' +
      '1e240e5e6358d1a225227c3b01217887d40046579fd327524c3602e7a0c4c89eeabf8ad240c738b5a3f7f2cef96115a1' +
      'e0ae5da49b341a55ad933230f58cb1e31df6e22e8266ca60c02923ab0d534e6fd5db3745defd8e2f03ff6a726d6c5b51' +
      '8d1baf92bbddbc7f11d95c411f105ad80ac13188a5cd7bbd2d74d012b8e5b4b08969974a0c96777e65b9f109c56ec684' +
      '18f07dec3adc4d2079ee5f3ed7cb3948',
    'hex',
  ),
);

const FK = [0xa3b1bac6, 0x56aa3350, 0x677d9197, 0xb27022dc];

/** CK[i]: bytes (4i + j) * 7 mod 256, j = 0..3. */
const CK = Int32Array.from({ length: 32 }, (_, i) => {
  let w = 0;
  for (let j = 0; j < 4; j++) w = (w << 8) | (((4 * i + j) * 7) & 0xff);
  return w;
});

const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

/** τ: the S-box on each byte of the word. */
function tau(x: number): number {
  return (
    (SBOX[x >>> 24]! << 24) |
    (SBOX[(x >>> 16) & 0xff]! << 16) |
    (SBOX[(x >>> 8) & 0xff]! << 8) |
    SBOX[x & 0xff]!
  );
}

/** T = L(τ(x)) as four byte tables: T(x) = T0[b0] ^ T1[b1] ^ T2[b2] ^ T3[b3] (L is linear). */
const T = ((): Int32Array[] => {
  const tables = [0, 1, 2, 3].map(() => new Int32Array(256));
  for (let b = 0; b < 256; b++) {
    for (let k = 0; k < 4; k++) {
      const s = SBOX[b]! << (24 - 8 * k);
      tables[k]![b] = s ^ rotl(s, 2) ^ rotl(s, 10) ^ rotl(s, 18) ^ rotl(s, 24);
    }
  }
  return tables;
})();
const [T0, T1, T2, T3] = T as [Int32Array, Int32Array, Int32Array, Int32Array];

/** The 32 round keys of a 16-byte key. */
export function sm4RoundKeys(key: Uint8Array): Int32Array {
  if (key.length !== 16) throw new RangeError(`SM4 key must be 16 bytes, got ${key.length}`);
  const k = [0, 1, 2, 3].map(
    (i) =>
      ((key[4 * i]! << 24) | (key[4 * i + 1]! << 16) | (key[4 * i + 2]! << 8) | key[4 * i + 3]!) ^ FK[i]!,
  );
  const rk = new Int32Array(32);
  for (let i = 0; i < 32; i++) {
    const b = tau(k[i + 1]! ^ k[i + 2]! ^ k[i + 3]! ^ CK[i]!);
    k[i + 4] = k[i]! ^ b ^ rotl(b, 13) ^ rotl(b, 23);
    rk[i] = k[i + 4]!;
  }
  return rk;
}

/** E(K, x0 || x1 || x2 || x3) written big-endian to out[o .. o + 16]. */
export function sm4EncryptWords(
  rk: Int32Array,
  x0: number,
  x1: number,
  x2: number,
  x3: number,
  out: Uint8Array,
  o: number,
): void {
  for (let i = 0; i < 32; i += 4) {
    let t = x1 ^ x2 ^ x3 ^ rk[i]!;
    x0 ^= T0[t >>> 24]! ^ T1[(t >>> 16) & 0xff]! ^ T2[(t >>> 8) & 0xff]! ^ T3[t & 0xff]!;
    t = x2 ^ x3 ^ x0 ^ rk[i + 1]!;
    x1 ^= T0[t >>> 24]! ^ T1[(t >>> 16) & 0xff]! ^ T2[(t >>> 8) & 0xff]! ^ T3[t & 0xff]!;
    t = x3 ^ x0 ^ x1 ^ rk[i + 2]!;
    x2 ^= T0[t >>> 24]! ^ T1[(t >>> 16) & 0xff]! ^ T2[(t >>> 8) & 0xff]! ^ T3[t & 0xff]!;
    t = x0 ^ x1 ^ x2 ^ rk[i + 3]!;
    x3 ^= T0[t >>> 24]! ^ T1[(t >>> 16) & 0xff]! ^ T2[(t >>> 8) & 0xff]! ^ T3[t & 0xff]!;
  }
  // The output is the last four words in reverse order (R).
  writeWord(out, o, x3);
  writeWord(out, o + 4, x2);
  writeWord(out, o + 8, x1);
  writeWord(out, o + 12, x0);
}

function writeWord(b: Uint8Array, o: number, w: number): void {
  b[o] = w >>> 24;
  b[o + 1] = w >>> 16;
  b[o + 2] = w >>> 8;
  b[o + 3] = w;
}
