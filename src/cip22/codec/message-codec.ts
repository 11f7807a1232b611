/** encodeMessage / decodeMessage: typed frames to TLV payloads and back, checked. */
import { sm3 } from '../../crypto/hash.js';
import { Cip22ProtocolError } from './errors.js';
import { decodeField, encodeField, fieldError, type FieldSpec } from './fields.js';
import { describeFrameType, frameTypeName } from './frame.js';
import {
  MESSAGE_DEFAULTS,
  MESSAGE_SPECS,
  frameTypeOf,
  type Cip22Message,
  type Cip22MessageType,
} from './messages.js';
import { encodeTlvs, decodeTlvs, hexTag, type Cip22Version, type Tlv } from './tlv.js';

interface CompiledSpec {
  readonly name: Cip22MessageType;
  readonly fields: ReadonlyMap<number, FieldSpec>;
  readonly known: ReadonlySet<number>;
}

const BY_ID = new Map<number, CompiledSpec>(
  (Object.keys(MESSAGE_SPECS) as Cip22MessageType[]).map((name) => {
    const fields = new Map(MESSAGE_SPECS[name].map((f) => [f.tag, f]));
    return [frameTypeOf(name), { name, fields, known: new Set(fields.keys()) }];
  }),
);

/** The TLV tags a frame type defines (its `known` set for decodeTlvs). */
export function knownTags(type: number): ReadonlySet<number> | undefined {
  return BY_ID.get(type)?.known;
}

export function encodeMessage(msg: Cip22Message): { type: number; payload: Buffer } {
  const type = frameTypeOf(msg.type);
  const spec = MESSAGE_SPECS[msg.type];
  if (!spec) throw new RangeError(`unknown message type ${String(msg.type)}`);
  const values = msg as unknown as Readonly<Record<string, unknown>>;
  const items: Tlv[] = [];
  for (const field of spec) {
    const value = values[field.key];
    if (value === undefined) {
      if (field.required)
        throw new RangeError(
          `${describeFrameType(type)}: tag ${hexTag(field.tag)} (${field.key}) is required`,
        );
      continue;
    }
    items.push({ tag: field.tag, value: encodeField({ frameType: type, field }, value) });
  }
  if (msg.type === 'SET_POLICY' && !sm3(items[0]!.value).equals(msg.policyHash)) {
    throw new RangeError(`${describeFrameType(type)}: policyHash is not SM3 of the canonical policy bytes`);
  }
  return { type, payload: encodeTlvs(items) };
}

/**
 * The payload of ACK(msgSeq), byte for byte what encodeMessage gives (tag 0xA1, length 4,
 * u32), without its generic field walk: the gateway sends one per stored frame.
 */
export function ackPayload(msgSeq: number): Buffer {
  if (!Number.isInteger(msgSeq) || msgSeq < 0 || msgSeq > 0xffffffff)
    throw new RangeError(`ACK msg_seq must be a u32, got ${msgSeq}`);
  const out = Buffer.allocUnsafe(7);
  out[0] = 0xa1;
  out.writeUInt16BE(4, 1);
  out.writeUInt32BE(msgSeq, 3);
  return out;
}

/**
 * Decodes and checks one frame payload: required tags present, known tags not repeated,
 * fixed-size fields of exact length, values in range. Throws Cip22ProtocolError naming
 * the frame type and tag.
 */
export function decodeMessage(type: number, payload: Buffer, version: Cip22Version): Cip22Message {
  const spec = BY_ID.get(type);
  if (!spec) {
    throw new Cip22ProtocolError(
      'unknown-frame-type',
      `${describeFrameType(type)} is not a CIP-22 frame type`,
      { frameType: type },
    );
  }
  const out: Record<string, unknown> = { type: spec.name, ...MESSAGE_DEFAULTS[spec.name] };
  const raw = new Map<number, Buffer>();
  for (const tlv of decodeTlvs(payload, version, spec.known, type)) {
    const field = spec.fields.get(tlv.tag)!;
    if (raw.has(tlv.tag))
      throw fieldError({ frameType: type, field }, 'duplicate-tag', 'appears more than once');
    raw.set(tlv.tag, tlv.value);
    out[field.key] = decodeField({ frameType: type, field }, tlv.value);
  }
  for (const field of spec.fields.values()) {
    if (field.required && !raw.has(field.tag))
      throw fieldError({ frameType: type, field }, 'missing-tag', 'required tag is missing');
  }
  if (spec.name === 'SET_POLICY' && !sm3(raw.get(0x70)!).equals(raw.get(0x12)!)) {
    throw fieldError(
      { frameType: type, field: spec.fields.get(0x12)! },
      'bad-value',
      'is not SM3 of the policy bytes (tag 0x70)',
    );
  }
  return out as unknown as Cip22Message;
}

/** Name of a frame type id as used in Cip22Message.type, if it is one. */
export function messageTypeName(type: number): Cip22MessageType | undefined {
  return BY_ID.has(type) ? frameTypeName(type) : undefined;
}
