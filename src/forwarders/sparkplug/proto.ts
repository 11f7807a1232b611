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

export interface Metric {
  name?: string;
  alias?: number | protobuf.Long;
  timestamp?: number | protobuf.Long;
  datatype?: number;
  isHistorical?: boolean;
  isNull?: boolean;
  properties?: { keys: string[]; values: PropertyValue[] };
  intValue?: number;
  longValue?: number | protobuf.Long;
  floatValue?: number;
  doubleValue?: number;
  booleanValue?: boolean;
  stringValue?: string;
}

export interface Payload {
  timestamp?: number | protobuf.Long;
  metrics?: Metric[];
  seq?: number | protobuf.Long;
}

const root = protobuf.parse(SPARKPLUG_B_PROTO, { keepCase: false }).root;
const PayloadType = root.lookupType('org.eclipse.tahu.protobuf.Payload');

export function encodePayload(payload: Payload): Buffer {
  const bytes = PayloadType.encode(PayloadType.fromObject(payload)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes a payload with 64-bit fields as numbers (timestamps, aliases, seq fit in 2^53). */
export function decodePayload(bytes: Uint8Array): Payload {
  const message = PayloadType.decode(bytes);
  return PayloadType.toObject(message, { longs: Number, defaults: false });
}

/** A 64-bit field decoded by protobufjs as a number. */
export function toNumber(v: number | protobuf.Long | undefined): number | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'number' ? v : (v.unsigned ? v.high >>> 0 : v.high) * 4_294_967_296 + (v.low >>> 0);
}
