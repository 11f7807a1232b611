/**
 * A strict, minimal DER reader for the few places where the exact bytes matter: the
 * signed TBS of a certificate (verified as received, never re-encoded), ECDSA/SM2
 * (r, s) signatures and PKCS#8 EC private keys. Every bound is checked; a bad input
 * throws DerError, which callers turn into their typed EdgeError.
 */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

export interface Tlv {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the content. */
  readonly end: number;
}

export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  SEQUENCE: 0x30,
} as const;

/** Reads one TLV at `offset` that must end within `limit` (default: the buffer end). */
function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError(`truncated TLV header at ${offset}`);
  // offset + 2 <= limit <= buf.length: both header bytes exist.
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at ${offset}`);
  const first = buf[offset + 1]!;
  let length = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0) throw new DerError(`indefinite length at ${offset}`);
    if (count > 3) throw new DerError(`length of ${count} bytes at ${offset}`);
    if (contentStart + count > limit) throw new DerError(`truncated length at ${offset}`);
    length = 0;
    for (let i = 0; i < count; i += 1) length = length * 256 + buf[contentStart + i]!;
    if (buf[contentStart] === 0 || length < 0x80) throw new DerError(`non-minimal length at ${offset}`);
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError(`content past the end at ${offset} (tag 0x${tag.toString(16)})`);
  return { tag, start: offset, contentStart, end };
}

export function expectTlv(buf: Uint8Array, offset: number, tag: number, limit = buf.length): Tlv {
  const tlv = readTlv(buf, offset, limit);
  if (tlv.tag !== tag) {
    throw new DerError(`expected tag 0x${tag.toString(16)} at ${offset}, found 0x${tlv.tag.toString(16)}`);
  }
  return tlv;
}

/** The TLVs directly inside a constructed TLV; they must fill it exactly. */
export function childrenOf(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let offset = parent.contentStart;
  while (offset < parent.end) {
    const child = readTlv(buf, offset, parent.end);
    out.push(child);
    offset = child.end;
  }
  return out;
}

export function contentOf(buf: Buffer, tlv: Tlv): Buffer {
  return buf.subarray(tlv.contentStart, tlv.end);
}

/** A non-negative DER INTEGER (minimal encoding) as a bigint. */
function readUnsignedInteger(buf: Buffer, tlv: Tlv): bigint {
  if (tlv.tag !== TAG.INTEGER) throw new DerError(`expected INTEGER at ${tlv.start}`);
  const bytes = contentOf(buf, tlv);
  if (bytes.length === 0) throw new DerError(`empty INTEGER at ${tlv.start}`);
  if (bytes[0]! & 0x80) throw new DerError(`negative INTEGER at ${tlv.start}`);
  if (bytes.length > 1 && bytes[0] === 0 && (bytes[1]! & 0x80) === 0) {
    throw new DerError(`non-minimal INTEGER at ${tlv.start}`);
  }
  return BigInt(`0x${bytes.toString('hex')}`);
}

function integerBytes(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const raw = Buffer.from(hex, 'hex');
  return raw[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), raw]) : raw;
}

function lengthBytes(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  if (length < 0x100) return Buffer.from([0x81, length]);
  return Buffer.from([0x82, length >> 8, length & 0xff]);
}

function encodeTlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), lengthBytes(content.length), content]);
}

/** DER `SEQUENCE { INTEGER r, INTEGER s }`. */
export function encodeRsSignature(r: bigint, s: bigint): Buffer {
  return encodeTlv(
    TAG.SEQUENCE,
    Buffer.concat([encodeTlv(TAG.INTEGER, integerBytes(r)), encodeTlv(TAG.INTEGER, integerBytes(s))]),
  );
}

/**
 * Decodes a DER (r, s) signature strictly (exact length, minimal integers) and checks
 * 1 <= r, s < n, as GB/T 32918.2 (B1, B2) and FIPS 186 require before any arithmetic.
 */
export function decodeRsSignature(sig: Buffer, order: bigint): { r: bigint; s: bigint } {
  const seq = expectTlv(sig, 0, TAG.SEQUENCE);
  if (seq.end !== sig.length) throw new DerError('trailing bytes after the signature');
  const parts = childrenOf(sig, seq);
  if (parts.length !== 2) throw new DerError(`signature has ${parts.length} elements, expected 2`);
  const r = readUnsignedInteger(sig, parts[0]!);
  const s = readUnsignedInteger(sig, parts[1]!);
  if (r < 1n || r >= order || s < 1n || s >= order) throw new DerError('signature r or s out of range');
  return { r, s };
}
