/** SM3 (GB/T 32905), HMAC-SM3 and KDF2-HMAC-SM3, on Node's native SM3. */
import { createHash, createHmac } from 'node:crypto';

export const SM3_LENGTH = 32;

export function sm3(data: Uint8Array): Buffer {
  return createHash('sm3').update(data).digest();
}

export function hmacSm3(key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac('sm3', key).update(data).digest();
}

/**
 * KDF2 with HMAC-SM3 as the PRF (CIP-22 §6):
 * T_i = HMAC-SM3(key = secret, data = salt || BE32(i)), i = 1, 2, …; OKM = T_1 || T_2 || …
 * cut to `length` bytes.
 */
export function kdf2Sm3(secret: Uint8Array, salt: Uint8Array, length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0 || length > 255 * SM3_LENGTH) {
    throw new RangeError(`kdf2Sm3: length must be an integer in 0..${255 * SM3_LENGTH}, got ${length}`);
  }
  const blocks = Math.ceil(length / SM3_LENGTH);
  const out = Buffer.alloc(blocks * SM3_LENGTH);
  const counter = Buffer.alloc(4);
  for (let i = 1; i <= blocks; i++) {
    counter.writeUInt32BE(i);
    createHmac('sm3', secret)
      .update(salt)
      .update(counter)
      .digest()
      .copy(out, (i - 1) * SM3_LENGTH);
  }
  return out.subarray(0, length);
}
