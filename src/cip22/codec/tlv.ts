/** TLV payloads (spec §3): T u8 | L u16 | V (L bytes). */
import { Cip22ProtocolError } from './errors.js';
import { describeFrameType } from './frame.js';

export interface Tlv {
  readonly tag: number;
  readonly value: Buffer;
}

export type Cip22Version = '1.2' | '2.0';

/** Tags at or above this are extensions, ignored by v2.0 receivers that do not know them. */
export const EXTENSION_TAG_MIN = 0x80;
const MAX_TLV_VALUE = 0xffff;

export function hexTag(tag: number): string {
  return `0x${tag.toString(16).padStart(2, '0').toUpperCase()}`;
}

export function encodeTlvs(items: readonly Tlv[]): Buffer {
  let length = 0;
  for (const { tag, value } of items) {
    if (!Number.isInteger(tag) || tag < 0 || tag > 0xff)
      throw new RangeError(`TLV tag must be a u8, got ${tag}`);
    if (value.length > MAX_TLV_VALUE)
      throw new RangeError(`TLV ${hexTag(tag)}: value of ${value.length} bytes exceeds the u16 length field`);
    length += 3 + value.length;
  }
  const out = Buffer.allocUnsafe(length);
  let o = 0;
  for (const { tag, value } of items) {
    out[o] = tag;
    out.writeUInt16BE(value.length, o + 1);
    out.set(value, o + 3);
    o += 3 + value.length;
  }
  return out;
}

function where(frameType: number | undefined): string {
  return frameType === undefined ? 'TLV block' : describeFrameType(frameType);
}

/**
 * Every TLV of `payload` in order (values are views into `payload`); a TLV cut short is a
 * protocol error ('truncated-tlv').
 */
export function parseTlvs(payload: Buffer, frameType?: number): Tlv[] {
  const out: Tlv[] = [];
  let o = 0;
  while (o < payload.length) {
    const tag = payload[o]!; // o < payload.length
    if (payload.length - o < 3) {
      throw new Cip22ProtocolError(
        'truncated-tlv',
        `${where(frameType)}: TLV ${hexTag(tag)} at offset ${o} has no complete length field`,
        { frameType, tag },
      );
    }
    const length = payload.readUInt16BE(o + 1);
    if (payload.length - o - 3 < length) {
      throw new Cip22ProtocolError(
        'truncated-tlv',
        `${where(frameType)}: TLV ${hexTag(tag)} at offset ${o} declares ${length} bytes, ${payload.length - o - 3} remain`,
        { frameType, tag },
      );
    }
    out.push({ tag, value: payload.subarray(o + 3, o + 3 + length) });
    o += 3 + length;
  }
  return out;
}

/**
 * The TLVs of `payload` whose tag is in `known`, in order. Unknown tags: ignored in v1.2;
 * in v2.0 a tag below 0x80 is a protocol error ('unknown-tag'), a tag ≥ 0x80 an ignored
 * extension.
 */
export function decodeTlvs(
  payload: Buffer,
  version: Cip22Version,
  known: ReadonlySet<number>,
  frameType?: number,
): Tlv[] {
  const out: Tlv[] = [];
  for (const tlv of parseTlvs(payload, frameType)) {
    if (known.has(tlv.tag)) {
      out.push(tlv);
    } else if (version === '2.0' && tlv.tag < EXTENSION_TAG_MIN) {
      throw new Cip22ProtocolError(
        'unknown-tag',
        `${where(frameType)}: unknown tag ${hexTag(tlv.tag)} (v2.0 accepts unknown tags only from 0x80 up)`,
        { frameType, tag: tlv.tag },
      );
    }
  }
  return out;
}
