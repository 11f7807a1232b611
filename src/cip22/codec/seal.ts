/**
 * Session sealing (spec §6, v2.0): key schedule and SM4-GCM sealed frames.
 *   OKM = KDF2-HMAC-SM3(Z, device_id || session_id, 56)
 *   k_up = OKM[0:16], k_down = OKM[16:32], iv_up = OKM[32:44], iv_down = OKM[44:56]
 *   nonce(seq) = iv XOR (00000000 || BE64(seq)); AAD = the 7 header bytes (N = len + 16)
 */
import { kdf2Sm3 } from '../../crypto/hash.js';
import { Sm4GcmError, Sm4GcmKey, SM4_GCM_TAG_LENGTH } from '../../crypto/sm4-gcm.js';
import { crc8 } from './crc8.js';
import { unpooled } from '../../core/unpooled.js';
import { Cip22ProtocolError } from './errors.js';
import { FRAME_HEADER_LENGTH, FRAME_OVERHEAD, describeFrameType, writeFrameHeader } from './frame.js';

export interface SessionKeys {
  /** pile → gateway */
  readonly kUp: Buffer;
  /** gateway → pile */
  readonly kDown: Buffer;
  readonly ivUp: Buffer;
  readonly ivDown: Buffer;
}

export const SESSION_OKM_LENGTH = 56;
export const SEAL_OVERHEAD = SM4_GCM_TAG_LENGTH;

export function deriveSessionKeys(z: Buffer, deviceId: string, sessionId: Buffer): SessionKeys {
  const okm = kdf2Sm3(z, Buffer.concat([Buffer.from(deviceId, 'utf8'), sessionId]), SESSION_OKM_LENGTH);
  // Kept for the session's life: not slices of the shared buffer pool (core/unpooled.ts).
  const [own] = unpooled(okm.subarray(0, SESSION_OKM_LENGTH));
  const keys = own as Buffer;
  return {
    kUp: keys.subarray(0, 16),
    kDown: keys.subarray(16, 32),
    ivUp: keys.subarray(32, 44),
    ivDown: keys.subarray(44, 56),
  };
}

const MAX_SEQ = 0xffffffffffffffffn;
const TWO_32 = 2 ** 32;

/** iv XOR (4 zero bytes || BE64(seq)), written to `out` (a new Buffer when absent). */
export function sealedNonce(iv: Buffer, seq: bigint | number, out: Buffer = Buffer.allocUnsafe(12)): Buffer {
  if (iv.length !== 12) throw new RangeError(`session IV must be 12 bytes, got ${iv.length}`);
  let hi: number;
  let lo: number;
  // A number seq (every session's counter) takes no BigInt: this runs twice per frame.
  if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0) {
    hi = Math.floor(seq / TWO_32);
    lo = seq >>> 0;
  } else {
    const s = typeof seq === 'bigint' ? seq : -1n;
    if (s < 0n || s > MAX_SEQ)
      throw new RangeError(`sealed-frame seq must be an integer in 0..2^64-1, got ${String(seq)}`);
    hi = Number(s >> 32n);
    lo = Number(s & 0xffffffffn);
  }
  iv.copy(out, 0, 0, 12);
  out.writeUInt32BE((iv.readUInt32BE(4) ^ hi) >>> 0, 4);
  out.writeUInt32BE((iv.readUInt32BE(8) ^ lo) >>> 0, 8);
  return out;
}

/** Sm4GcmKey.seal/open copy the IV before they return: one scratch nonce serves every frame. */
const scratchNonce = Buffer.alloc(12);

/** A raw 16-byte key, or a prepared Sm4GcmKey (reuses its GHASH table: keep one per direction). */
export type SessionKey = Buffer | Sm4GcmKey;

function prepared(key: SessionKey): Sm4GcmKey {
  return key instanceof Sm4GcmKey ? key : new Sm4GcmKey(key);
}

/** The whole sealed frame: header (N = len + 16, plain type), ciphertext || tag, CRC; sealed in place. */
export function sealFrame(
  key: SessionKey,
  iv: Buffer,
  seq: bigint | number,
  type: number,
  plaintextPayload: Buffer,
): Buffer {
  const n = plaintextPayload.length + SEAL_OVERHEAD;
  const frame = Buffer.allocUnsafe(FRAME_OVERHEAD + n);
  writeFrameHeader(frame, type, n);
  const header = frame.subarray(0, FRAME_HEADER_LENGTH);
  prepared(key).sealInto(
    frame,
    FRAME_HEADER_LENGTH,
    sealedNonce(iv, seq, scratchNonce),
    plaintextPayload,
    header,
  );
  frame[frame.length - 1] = crc8(frame, 0, frame.length - 1);
  return frame;
}

/**
 * Opens a sealed payload received under `header`; a wrong key, seq (replayed, dropped or
 * reordered frame) or tampered byte throws Cip22ProtocolError 'bad-tag'.
 */
export function openFrame(
  key: SessionKey,
  iv: Buffer,
  seq: bigint | number,
  header: Buffer,
  sealedPayload: Buffer,
): Buffer {
  const frameType = header[6]!;
  try {
    return prepared(key).open(sealedNonce(iv, seq, scratchNonce), sealedPayload, header);
  } catch (error) {
    if (!(error instanceof Sm4GcmError)) throw error;
    throw new Cip22ProtocolError(
      'bad-tag',
      `${describeFrameType(frameType)}: sealed payload does not authenticate at seq ${String(seq)} (${error.message})`,
      { frameType },
      { cause: error },
    );
  }
}
