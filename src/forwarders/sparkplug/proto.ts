/**
 * Sparkplug B payloads, encoded and decoded by protobufjs from Tahu's official .proto
 * (proto-text.ts). Only the fields the agent uses are typed here.
 */
import protobuf from 'protobufjs';
import { SPARKPLUG_B_PROTO } from './proto-text.js';

/** org.eclipse.tahu.protobuf.DataType values the agent publishes. */
export const DataType = {
  Int8: 1,
  Int16: 2,
  Int32: 3,
  Int64: 4,
  UInt8: 5,
  UInt16: 6,
  UInt32: 7,
  UInt64: 8,
  Float: 9,
  Double: 10,
  Boolean: 11,
  String: 12,
} as const;
export type DataTypeName = keyof typeof DataType;
export type DataTypeCode = (typeof DataType)[DataTypeName];

export interface PropertyValue {
  type: number;
  isNull?: boolean;
  intValue?: number;
  stringValue?: string;
}

/** A 64-bit field: a number to encode (a decimal string beyond 2^53); decoded, a decimal string. */
export type Int64Field = number | string | protobuf.Long;

export interface Metric {
  name?: string;
  alias?: Int64Field;
  timestamp?: Int64Field;
  datatype?: number;
  isHistorical?: boolean;
  isNull?: boolean;
  properties?: { keys: string[]; values: PropertyValue[] };
  intValue?: number;
  longValue?: Int64Field;
  floatValue?: number;
  doubleValue?: number;
  booleanValue?: boolean;
  stringValue?: string;
}

export interface Payload {
  timestamp?: Int64Field;
  metrics?: Metric[];
  seq?: Int64Field;
}

const root = protobuf.parse(SPARKPLUG_B_PROTO, { keepCase: false }).root;
const PayloadType = root.lookupType('org.eclipse.tahu.protobuf.Payload');

export function encodePayload(payload: Payload): Buffer {
  const bytes = PayloadType.encode(PayloadType.fromObject(payload)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decodes a payload with 64-bit fields as decimal strings: a uint64 holding a negative Int64
 * (its two's complement) does not survive a trip through a JS number.
 */
export function decodePayload(bytes: Uint8Array): Payload {
  const message = PayloadType.decode(bytes);
  return PayloadType.toObject(message, { longs: String, defaults: false });
}

/** A 64-bit field as a number (timestamps, aliases, seq fit in 2^53). */
export function toNumber(v: Int64Field | undefined): number | undefined {
  const n = toBigInt(v);
  return n === undefined ? undefined : Number(n);
}

/** A 64-bit field exactly, as the unsigned value on the wire. */
export function toBigInt(v: Int64Field | undefined): bigint | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'string') return BigInt(v);
  return BigInt.asUintN(64, (BigInt(v.high) << 32n) | BigInt(v.low >>> 0));
}
