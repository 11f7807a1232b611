/**
 * TLV field kinds of the typed frames: how each value is encoded, and how its bytes are
 * checked (exact lengths of fixed-size fields, ranges) and decoded. Decoding failures are
 * protocol errors naming the frame, tag and field; encoding failures are RangeErrors (a
 * bug on our side, not the peer's).
 */
import { Cip22ProtocolError, type Cip22ReasonName } from './errors.js';
import { describeFrameType } from './frame.js';
import { decodePolicy, encodePolicy, type TariffWindow } from './policy.js';
import { encodeTlvs, hexTag, parseTlvs, type Tlv } from './tlv.js';

export type FieldKind =
  | { readonly kind: 'uint'; readonly bytes: 1 | 2 | 4; readonly min?: number; readonly max?: number }
  | { readonly kind: 'int'; readonly bytes: 2 | 4 }
  | { readonly kind: 'u64' }
  | {
      readonly kind: 'bytes';
      readonly length?: number;
      readonly min?: number;
      readonly max?: number;
      readonly first?: number;
    }
  | { readonly kind: 'text'; readonly min?: number; readonly max?: number; readonly identifier?: boolean }
  | { readonly kind: 'versions' }
  | { readonly kind: 'version' }
  | { readonly kind: 'policy' }
  | { readonly kind: 'tlvs' };

export interface FieldSpec {
  readonly key: string;
  readonly tag: number;
  readonly type: FieldKind;
  readonly required: boolean;
}

export type VersionPair = readonly [major: number, minor: number];

export interface FieldContext {
  readonly frameType: number;
  readonly field: FieldSpec;
}

function label({ frameType, field }: FieldContext): string {
  return `${describeFrameType(frameType)}: tag ${hexTag(field.tag)} (${field.key})`;
}

export function fieldError(ctx: FieldContext, reason: Cip22ReasonName, detail: string): Cip22ProtocolError {
  return new Cip22ProtocolError(reason, `${label(ctx)}: ${detail}`, {
    frameType: ctx.frameType,
    tag: ctx.field.tag,
  });
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
/** Control characters and MQTT topic separators/wildcards: a device id becomes a topic level. */
const BAD_ID_CHARS = /[\u0000-\u001f\u007f/+#]/;

function sizeOk(n: number, min = 0, max = Infinity): boolean {
  return n >= min && n <= max;
}

function describeSize(min = 0, max = Infinity): string {
  return max === Infinity ? `at least ${min} bytes` : min === max ? `${min} bytes` : `${min}..${max} bytes`;
}

export function decodeField(ctx: FieldContext, v: Buffer): unknown {
  const t = ctx.field.type;
  const exact = (n: number): void => {
    if (v.length !== n) throw fieldError(ctx, 'bad-length', `expected ${n} bytes, got ${v.length}`);
  };
  switch (t.kind) {
    case 'uint': {
      exact(t.bytes);
      const n = v.readUIntBE(0, t.bytes);
      if ((t.min !== undefined && n < t.min) || (t.max !== undefined && n > t.max)) {
        throw fieldError(
          ctx,
          'bad-value',
          `value ${n} outside ${t.min ?? 0}..${t.max ?? 2 ** (8 * t.bytes) - 1}`,
        );
      }
      return n;
    }
    case 'int':
      exact(t.bytes);
      return v.readIntBE(0, t.bytes);
    case 'u64':
      exact(8);
      return v.readBigUInt64BE(0);
    case 'bytes':
      if (t.length !== undefined) exact(t.length);
      else if (!sizeOk(v.length, t.min, t.max))
        throw fieldError(ctx, 'bad-length', `expected ${describeSize(t.min, t.max)}, got ${v.length}`);
      if (t.first !== undefined && v[0] !== t.first)
        throw fieldError(
          ctx,
          'bad-value',
          `must start with 0x${t.first.toString(16).padStart(2, '0')} (uncompressed point)`,
        );
      return Buffer.from(v);
    case 'text':
      return decodeText(ctx, t, v);
    case 'versions':
      if (v.length === 0 || v.length % 2 !== 0)
        throw fieldError(
          ctx,
          'bad-length',
          `expected a non-empty list of (major, minor) byte pairs, got ${v.length} bytes`,
        );
      return Array.from({ length: v.length / 2 }, (_, i): VersionPair => [v[2 * i]!, v[2 * i + 1]!]);
    case 'version':
      exact(2);
      return [v[0], v[1]] as VersionPair;
    case 'policy': {
      const windows = decodePolicy(v);
      if (typeof windows === 'string')
        throw fieldError(ctx, 'bad-value', `not a canonical tariff policy: ${windows}`);
      return windows;
    }
    case 'tlvs':
      try {
        return parseTlvs(v).map((tlv) => ({ tag: tlv.tag, value: Buffer.from(tlv.value) }));
      } catch (error) {
        throw fieldError(ctx, 'truncated-tlv', `parameter block: ${(error as Error).message}`);
      }
  }
}

function decodeText(ctx: FieldContext, t: Extract<FieldKind, { kind: 'text' }>, v: Buffer): string {
  if (!sizeOk(v.length, t.min, t.max))
    throw fieldError(ctx, 'bad-length', `expected ${describeSize(t.min, t.max)}, got ${v.length}`);
  if (!t.identifier) return v.toString('utf8');
  let text: string;
  try {
    text = strictUtf8.decode(v);
  } catch {
    throw fieldError(ctx, 'bad-value', 'not valid UTF-8');
  }
  if (BAD_ID_CHARS.test(text))
    throw fieldError(ctx, 'bad-value', 'contains a control character or one of / + #');
  return text;
}

function encodeError(ctx: FieldContext, detail: string): RangeError {
  return new RangeError(`${label(ctx)}: ${detail}`);
}

function checkedInt(ctx: FieldContext, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw encodeError(ctx, `expected an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

function sized(ctx: FieldContext, bytes: Buffer, min = 0, max = Infinity): Buffer {
  if (!sizeOk(bytes.length, min, max))
    throw encodeError(ctx, `expected ${describeSize(min, max)}, got ${bytes.length}`);
  return bytes;
}

export function encodeField(ctx: FieldContext, value: unknown): Buffer {
  const t = ctx.field.type;
  switch (t.kind) {
    case 'uint': {
      const out = Buffer.allocUnsafe(t.bytes);
      out.writeUIntBE(checkedInt(ctx, value, t.min ?? 0, t.max ?? 2 ** (8 * t.bytes) - 1), 0, t.bytes);
      return out;
    }
    case 'int': {
      const half = 2 ** (8 * t.bytes - 1);
      const out = Buffer.allocUnsafe(t.bytes);
      out.writeIntBE(checkedInt(ctx, value, -half, half - 1), 0, t.bytes);
      return out;
    }
    case 'u64': {
      if (typeof value !== 'bigint' || value < 0n || value > 0xffffffffffffffffn)
        throw encodeError(ctx, `expected a bigint in 0..2^64-1, got ${String(value)}`);
      const out = Buffer.allocUnsafe(8);
      out.writeBigUInt64BE(value);
      return out;
    }
    case 'bytes': {
      if (!Buffer.isBuffer(value)) throw encodeError(ctx, 'expected a Buffer');
      const bytes =
        t.length !== undefined ? sized(ctx, value, t.length, t.length) : sized(ctx, value, t.min, t.max);
      if (t.first !== undefined && bytes[0] !== t.first)
        throw encodeError(ctx, `must start with 0x${t.first.toString(16).padStart(2, '0')}`);
      return bytes;
    }
    case 'text': {
      if (typeof value !== 'string') throw encodeError(ctx, 'expected a string');
      if (t.identifier && BAD_ID_CHARS.test(value))
        throw encodeError(ctx, 'contains a control character or one of / + #');
      return sized(ctx, Buffer.from(value, 'utf8'), t.min, t.max);
    }
    case 'versions': {
      const pairs = value as readonly VersionPair[];
      if (!Array.isArray(pairs) || pairs.length === 0)
        throw encodeError(ctx, 'expected a non-empty list of versions');
      return Buffer.from(
        pairs.flatMap(([major, minor]) => [checkedInt(ctx, major, 0, 255), checkedInt(ctx, minor, 0, 255)]),
      );
    }
    case 'version': {
      const [major, minor] = value as VersionPair;
      return Buffer.from([checkedInt(ctx, major, 0, 255), checkedInt(ctx, minor, 0, 255)]);
    }
    case 'policy':
      return encodePolicy(value as readonly TariffWindow[]);
    case 'tlvs':
      return encodeTlvs(value as readonly Tlv[]);
  }
}
