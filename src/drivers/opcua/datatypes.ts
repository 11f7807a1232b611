/**
 * Tag datatypes ↔ OPC UA variants, without importing node-opcua (the built-in type ids
 * are fixed by Part 6, 5.1.2). A read value of another type than configured is bad, never
 * coerced: a server that changed its model must not publish misread numbers as good.
 */
import { badValue, goodValue, type TagScalar, type TagValue } from '../../core/types.js';
import { shortestF32, withoutFloatNoise } from '../../core/float.js';
import type { OpcuaTagConfig, OpcuaType } from './config.js';
import { nodeQuality } from './errors.js';

/** Built-in DataType ids (node-opcua's DataType enum has the same numbers). */
export const DATA_TYPE_ID: Readonly<Record<OpcuaType, number>> = {
  Boolean: 1,
  SByte: 2,
  Byte: 3,
  Int16: 4,
  UInt16: 5,
  Int32: 6,
  UInt32: 7,
  Int64: 8,
  UInt64: 9,
  Float: 10,
  Double: 11,
  String: 12,
};

const INT_RANGE: Partial<Record<OpcuaType, readonly [number, number]>> = {
  SByte: [-128, 127],
  Byte: [0, 255],
  Int16: [-32768, 32767],
  UInt16: [0, 65535],
  Int32: [-2147483648, 2147483647],
  UInt32: [0, 4294967295],
  Int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  UInt64: [0, Number.MAX_SAFE_INTEGER],
};

/** The part of a node-opcua Variant the driver looks at. */
export interface VariantLike {
  readonly dataType: number;
  readonly arrayType?: number;
  readonly value: unknown;
}

/** The engineering value, scaled as Modbus and S7 scale (230.1, not 230.10000000000002). */
function scaled(tag: OpcuaTagConfig, raw: number): number {
  const value = tag.dataType === 'Float' ? shortestF32(raw) : raw;
  return tag.scale === 1 && tag.offset === 0 ? value : withoutFloatNoise(value * tag.scale + tag.offset);
}

export type Decoded =
  { readonly ok: true; readonly value: TagScalar } | { readonly ok: false; readonly reason: string };

function int64(value: unknown, signed: boolean): number | undefined {
  // Number() of a BigInt past 2^53 rounds silently: only safe integers decode.
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value === 'bigint') {
    const n = Number(value);
    return Number.isSafeInteger(n) && BigInt(n) === value ? n : undefined;
  }
  // node-opcua carries 64-bit integers as [high, low] 32-bit words.
  if (Array.isArray(value) && value.length === 2) {
    const [hi, lo] = value as [number, number];
    const bits = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    const n = signed ? BigInt.asIntN(64, bits) : bits;
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(n)
      : undefined;
  }
  return undefined;
}

/** The engineering value of a variant read from `tag`'s node, or why it cannot be one. */
export function decodeVariant(tag: OpcuaTagConfig, variant: VariantLike): Decoded {
  if (variant.arrayType !== undefined && variant.arrayType !== 0)
    return { ok: false, reason: `the node holds an array, the tag is a ${tag.dataType} scalar` };
  if (variant.dataType !== DATA_TYPE_ID[tag.dataType])
    return {
      ok: false,
      reason: `the node holds DataType ${variant.dataType}, the tag expects ${tag.dataType}`,
    };
  const v = variant.value;
  switch (tag.dataType) {
    case 'Boolean':
      return typeof v === 'boolean' ? { ok: true, value: v } : { ok: false, reason: 'not a boolean' };
    case 'String':
      return typeof v === 'string' ? { ok: true, value: v } : { ok: false, reason: 'not a string' };
    case 'Int64':
    case 'UInt64': {
      const n = int64(v, tag.dataType === 'Int64');
      if (n === undefined)
        return { ok: false, reason: 'a 64-bit integer outside the safe range of a JSON number' };
      return { ok: true, value: scaled(tag, n) };
    }
    default:
      // ±Infinity has no JSON form (it would publish as null): bad, as S7 does.
      if (typeof v !== 'number' || !Number.isFinite(v))
        return { ok: false, reason: `not a finite number (${String(v)})` };
      const value = scaled(tag, v);
      return Number.isFinite(value)
        ? { ok: true, value }
        : { ok: false, reason: `${v} overflows once scaled` };
  }
}

export type Encoded =
  | { readonly ok: true; readonly variant: { dataType: number; value: number | boolean | string } }
  | { readonly ok: false; readonly reason: string };

/** The variant that writes the engineering value `value` to `tag` (inverse scaling), or why not. */
export function encodeValue(tag: OpcuaTagConfig, value: unknown): Encoded {
  const dataType = DATA_TYPE_ID[tag.dataType];
  if (tag.dataType === 'Boolean')
    return typeof value === 'boolean'
      ? { ok: true, variant: { dataType, value } }
      : { ok: false, reason: 'expects a boolean' };
  if (tag.dataType === 'String')
    return typeof value === 'string'
      ? { ok: true, variant: { dataType, value } }
      : { ok: false, reason: 'expects a string' };
  if (typeof value !== 'number' || !Number.isFinite(value))
    return { ok: false, reason: 'expects a finite number' };
  const raw = (value - tag.offset) / tag.scale;
  // Past float32's range the server would store ±Infinity.
  if (tag.dataType === 'Float' && !Number.isFinite(Math.fround(raw)))
    return { ok: false, reason: `${value} is outside the Float range` };
  if (tag.dataType === 'Float' || tag.dataType === 'Double')
    return { ok: true, variant: { dataType, value: raw } };
  const rounded = Math.round(raw);
  if (Math.abs(raw - rounded) > 1e-9)
    return { ok: false, reason: `${value} is not a whole ${tag.dataType} after scaling` };
  const range = INT_RANGE[tag.dataType];
  if (range && (rounded < range[0] || rounded > range[1]))
    return { ok: false, reason: `${value} is outside ${tag.dataType} (${range[0]}…${range[1]})` };
  return { ok: true, variant: { dataType, value: rounded } };
}

/** A node's answer as node-opcua gives it: a status code and, unless bad, a variant. */
export interface DataValueLike {
  readonly statusCode: { readonly value: number; readonly name: string };
  readonly value?: VariantLike | null;
}

/**
 * A node's DataValue as the tag's value: good only when the status is Good (or Uncertain
 * with `uncertain: good`) and the variant is of the tag's type; else bad with the cause.
 */
export function tagValueOf(tag: OpcuaTagConfig, dv: DataValueLike, uncertain: 'bad' | 'good'): TagValue {
  const status = dv.statusCode;
  const quality = nodeQuality(status);
  const accepted = quality.good || (quality.code === 'EDGE_ERR_OPCUA_UNCERTAIN' && uncertain === 'good');
  if (!quality.good && !accepted) return badValue(tag.name, quality.code, `status ${status.name}`);
  if (!dv.value) return badValue(tag.name, 'EDGE_ERR_OPCUA_NO_DATA', 'no value in the answer');
  const decoded = decodeVariant(tag, dv.value);
  if (!decoded.ok) return badValue(tag.name, 'EDGE_ERR_OPCUA_TYPE_MISMATCH', decoded.reason);
  return goodValue(tag.name, decoded.value);
}
