/**
 * Pure planning of a Modbus write: checks a command's value against the tag (type,
 * range, scale) and encodes it with the codec's encodeRegisters. Nothing is rounded
 * silently: a value the registers cannot carry exactly (23.45 with scale 0.1, 70000 in a
 * u16) is refused, because writing something else than asked is worse than not writing.
 */
import { outOfRange } from '../../config-kit/write-range.js';
import { EdgeError } from '../../core/errors.js';
import type { WriteValue } from '../../core/ports.js';
import { encodeRegisters } from './codec.js';
import type { ModbusTagConfig } from './config.js';

/** FC05 write single coil, FC06 single register, FC15 multiple coils, FC16 multiple registers. */
export type WriteFunctionCode = 5 | 6 | 15 | 16;

export interface WritePlan {
  readonly fc: WriteFunctionCode;
  readonly address: number;
  readonly values: readonly number[] | readonly boolean[];
}

const INTEGER_RANGES = {
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
} as const;

const F32_MAX = 3.4028234663852886e38;

function refuse(tag: ModbusTagConfig, message: string): never {
  throw new EdgeError('EDGE_ERR_CMD_BAD_VALUE', `tag ${tag.name}: ${message}`, {
    context: { tag: tag.name },
  });
}

function asBoolean(tag: ModbusTagConfig, value: WriteValue): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  return refuse(tag, `expected a boolean (or 0/1), got ${JSON.stringify(value)}`);
}

/** The raw (unscaled) number the registers must hold, checked against the type. */
function rawNumber(tag: ModbusTagConfig, value: WriteValue): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    return refuse(tag, `expected a finite number, got ${JSON.stringify(value)}`);
  const raw = (value - tag.offset) / tag.scale;
  if (tag.type === 'f32' || tag.type === 'f64') {
    if (tag.type === 'f32' && Math.abs(raw) > F32_MAX) refuse(tag, `${value} is out of the f32 range`);
    return raw;
  }
  const rounded = Math.round(raw);
  // scaling leaves float noise (230.1 / 0.1 = 2301.0000000000005); more than that is a real fraction
  if (Math.abs(raw - rounded) > 1e-9 * Math.max(1, Math.abs(raw))) {
    refuse(
      tag,
      `${value} is not representable: the register holds (value - ${tag.offset}) / ${tag.scale} as an integer`,
    );
  }
  const [min, max] = INTEGER_RANGES[tag.type as keyof typeof INTEGER_RANGES];
  if (rounded < min || rounded > max)
    refuse(tag, `${value} is out of range: raw ${rounded} must be ${tag.type} ${min}…${max}`);
  return rounded;
}

function stringValue(tag: ModbusTagConfig, value: WriteValue): string {
  if (typeof value !== 'string') return refuse(tag, `expected a string, got ${JSON.stringify(value)}`);
  const capacity = (tag.length ?? 1) * 2;
  if (value.length > capacity)
    refuse(tag, `string of ${value.length} characters does not fit ${capacity} bytes`);
  if (!/^[\x20-\x7e\t]*$/.test(value)) refuse(tag, 'only printable ASCII can be written');
  return value;
}

/** What to send for writing `value` to `tag`; throws EDGE_ERR_CMD_BAD_VALUE. */
export function planWrite(tag: ModbusTagConfig, value: WriteValue, multiple = false): WritePlan {
  if (Array.isArray(value)) refuse(tag, 'Modbus tags take a single value, not an array');
  const scalar = value as Exclude<WriteValue, readonly unknown[]>;
  const outside = outOfRange(tag, scalar);
  if (outside) refuse(tag, outside);
  if (tag.function === 'coil')
    return { fc: multiple ? 15 : 5, address: tag.address, values: [asBoolean(tag, scalar)] };
  let registers: number[];
  if (tag.type === 'bool') registers = encodeRegisters(tag, asBoolean(tag, scalar));
  else if (tag.type === 'string') registers = encodeRegisters(tag, stringValue(tag, scalar));
  else registers = encodeRegisters({ ...tag, scale: 1, offset: 0 }, rawNumber(tag, scalar));
  return { fc: multiple || registers.length > 1 ? 16 : 6, address: tag.address, values: registers };
}
