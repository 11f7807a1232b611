/**
 * The value a DCMD metric carries, as the command router's JSON `value`. Signed integers
 * travel as their two's complement in uint32 (Sparkplug 3.0); the datatype (the metric's,
 * else the tag's from its birth) says how to read them back. A metric without a value
 * gives undefined: the router refuses the command as invalid.
 */
import { DataType, toBigInt, type Metric } from './proto.js';

export function commandValue(m: Metric, tagDatatype: number | undefined): unknown {
  const dt = m.datatype ?? tagDatatype;
  if (m.isNull) return null;
  if (m.booleanValue !== undefined) return m.booleanValue;
  if (m.stringValue !== undefined) return m.stringValue;
  if (m.floatValue !== undefined) return m.floatValue;
  if (m.doubleValue !== undefined) return m.doubleValue;
  const long = toBigInt(m.longValue);
  if (long !== undefined) {
    // Int64 travels as its two's complement in the uint64; beyond 2^53 it cannot be written exactly.
    const v = dt === DataType.Int64 ? BigInt.asIntN(64, long) : long;
    return v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER) ? undefined : Number(v);
  }
  if (m.intValue !== undefined) {
    const v = m.intValue;
    switch (dt) {
      case DataType.Int8:
        return (v << 24) >> 24;
      case DataType.Int16:
        return (v << 16) >> 16;
      case DataType.Int32:
        return v | 0;
      default:
        return v;
    }
  }
  return undefined;
}
