/**
 * Tag values as Sparkplug metrics: datatypes from the tag configuration (the value's own
 * type where the config does not say), the value in the field its datatype names, and the
 * quality as metric properties. A bad value is sent with `is_null` and `Quality` 0 (OPC
 * "Bad") plus the agent's error code, so a host never shows it as a good value; a good one
 * carries no property (absence means Good, as in Ignition) except in births, where
 * `Quality` 192 (OPC "Good") is explicit.
 */
import type { AgentDeviceConfig } from '../../drivers/schemas.js';
import type { TagValueType } from '../../core/value-type.js';
import { driverDefinition } from '../../drivers/registry.js';
import { DataType, type DataTypeCode, type Metric, type PropertyValue } from './proto.js';

export const QUALITY_GOOD = 192;
export const QUALITY_BAD = 0;

/** A stored tag value (core/record-codec body entry). */
export interface StoredValue {
  readonly v: unknown;
  readonly q: 'good' | 'bad';
  readonly code?: string;
  readonly reason?: string;
  readonly src?: string;
}

/** One device of the edge node and the datatypes of its configured tags. */
export interface SparkplugDevice {
  readonly name: string;
  readonly tags: ReadonlyMap<string, DataTypeCode>;
}

const SPARKPLUG_TYPES: Readonly<Record<TagValueType, DataTypeCode>> = {
  Boolean: DataType.Boolean,
  Int8: DataType.Int8,
  Int16: DataType.Int16,
  Int32: DataType.Int32,
  Int64: DataType.Int64,
  UInt8: DataType.UInt8,
  UInt16: DataType.UInt16,
  UInt32: DataType.UInt32,
  UInt64: DataType.UInt64,
  Float: DataType.Float,
  Double: DataType.Double,
  String: DataType.String,
};

/** The configured devices as Sparkplug devices and their tags' datatypes. */
export function sparkplugDevices(devices: readonly AgentDeviceConfig[]): SparkplugDevice[] {
  return devices.map((device) => {
    // each driver names its values' types (its definition's tagTypes); none: inferred
    const declared = (driverDefinition(device.driver)?.tagTypes?.(device) ?? new Map()) as ReadonlyMap<
      string,
      TagValueType
    >;
    const tags = new Map<string, DataTypeCode>();
    for (const [name, type] of declared) tags.set(name, SPARKPLUG_TYPES[type]);
    return { name: device.name, tags };
  });
}

/** The datatype of a value whose tag has none configured. */
export function inferDatatype(v: unknown): DataTypeCode {
  if (typeof v === 'boolean') return DataType.Boolean;
  if (typeof v === 'string') return DataType.String;
  if (typeof v === 'number' && Number.isSafeInteger(v))
    return v >= -2_147_483_648 && v <= 2_147_483_647 ? DataType.Int32 : DataType.Int64;
  if (typeof v === 'number') return DataType.Double;
  return DataType.String;
}

const INT_RANGE = {
  [DataType.Int8]: [-128, 127],
  [DataType.Int16]: [-32_768, 32_767],
  [DataType.Int32]: [-2_147_483_648, 2_147_483_647],
  [DataType.UInt8]: [0, 255],
  [DataType.UInt16]: [0, 65_535],
  [DataType.UInt32]: [0, 4_294_967_295],
} as const;

const property = (type: DataTypeCode, v: number | string): PropertyValue =>
  typeof v === 'number' ? { type, intValue: v } : { type, stringValue: v };

/**
 * Sets the value fields of `m` for datatype `dt`. A value that does not fit its datatype
 * (a string from a numeric tag, a fraction for an integer) is published bad with
 * EDGE_ERR_SPARKPLUG_TYPE rather than converted into a different number.
 */
function setValue(m: Metric, dt: DataTypeCode, v: unknown): boolean {
  switch (dt) {
    case DataType.Boolean:
      if (typeof v !== 'boolean') return false;
      m.booleanValue = v;
      return true;
    case DataType.String:
      if (typeof v !== 'string') return false;
      m.stringValue = v;
      return true;
    case DataType.Float:
    case DataType.Double:
      if (typeof v !== 'number') return false;
      if (dt === DataType.Double) m.doubleValue = v;
      else if (Number.isFinite(Math.fround(v))) m.floatValue = v;
      else return false; // beyond float32: it would arrive as Infinity
      return true;
    case DataType.Int8:
    case DataType.Int16:
    case DataType.Int32:
    case DataType.UInt8:
    case DataType.UInt16:
    case DataType.UInt32: {
      // A host keeps only the datatype's bits: 70000 as UInt16 would read as 4464.
      const [min, max] = INT_RANGE[dt];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) return false;
      m.intValue = v >>> 0; // Sparkplug 3.0: signed types travel as their two's complement in uint32
      return true;
    }
    case DataType.Int64:
    case DataType.UInt64:
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) return false;
      if (dt === DataType.UInt64 && v < 0) return false;
      // protobufjs turns a negative number into 0 for a uint64: give it the two's complement.
      m.longValue = v < 0 ? BigInt.asUintN(64, BigInt(v)).toString() : v;
      return true;
  }
}

export interface MetricOptions {
  /** Birth metrics carry the name and an explicit Good quality. */
  readonly birth: boolean;
  readonly historical: boolean;
}

/** One tag value as a metric (alias always; name and datatype in births). */
export function toMetric(
  name: string,
  alias: number,
  dt: DataTypeCode,
  ts: number,
  value: StoredValue | undefined,
  opts: MetricOptions,
): Metric {
  const m: Metric = { alias, timestamp: ts };
  if (opts.birth) {
    m.name = name;
    m.datatype = dt;
  }
  if (opts.historical) m.isHistorical = true;
  const keys: string[] = [];
  const values: PropertyValue[] = [];
  if (value === undefined) {
    m.isNull = true; // in a birth: not read yet
  } else if (value.q === 'good' && setValue(m, dt, value.v)) {
    if (opts.birth) {
      keys.push('Quality');
      values.push(property(DataType.Int32, QUALITY_GOOD));
    }
  } else {
    const typeError = value.q === 'good';
    m.isNull = true;
    keys.push('Quality', 'EDGE_ERR');
    values.push(
      property(DataType.Int32, QUALITY_BAD),
      property(DataType.String, typeError ? 'EDGE_ERR_SPARKPLUG_TYPE' : (value.code ?? 'EDGE_ERR_UNKNOWN')),
    );
    const reason = typeError ? `value ${JSON.stringify(value.v)} does not fit datatype ${dt}` : value.reason;
    if (reason) {
      keys.push('Reason');
      values.push(property(DataType.String, reason));
    }
  }
  if (value?.src !== undefined) {
    keys.push('Source');
    values.push(property(DataType.String, value.src));
  }
  if (keys.length > 0) m.properties = { keys, values };
  return m;
}
