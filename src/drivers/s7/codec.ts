/**
 * Pure conversion between a point's bytes (S7 is big endian) and its value, both ways.
 * A point is one scalar: a tag, or one element of an array tag.
 */
import { badValue, goodValue, type TagValue } from '../../core/types.js';
import { shortestF32, withoutFloatNoise } from '../../core/float.js';
import { elementBytes, type S7Address } from './address.js';
// the codes this module names are registered there (their natures, link-down flags)
import './error-codes.js';

export interface S7Point {
  /** Published name: the tag's name, `name.i` for element i of an array tag. */
  readonly name: string;
  /** The configured tag this point belongs to. */
  readonly tag: string;
  readonly address: S7Address;
  readonly scale: number;
  readonly offset: number;
  readonly intervalMs: number;
}

const DECODE = 'EDGE_ERR_S7_DECODE';

/** Bytes a scalar point occupies (a BOOL reads its whole byte). */
export function pointBytes(a: S7Address): number {
  return a.type === 'BOOL' ? 1 : elementBytes(a);
}

function scaled(p: S7Point, raw: number): TagValue {
  const value = p.scale === 1 && p.offset === 0 ? raw : withoutFloatNoise(raw * p.scale + p.offset);
  if (!Number.isFinite(value))
    return badValue(p.name, DECODE, `${p.address.type} value is not finite (${value})`);
  return goodValue(p.name, value);
}

/** Decodes the point from exactly its bytes. */
export function decodePoint(p: S7Point, b: Buffer): TagValue {
  if (b.length < pointBytes(p.address))
    return badValue(p.name, DECODE, `${b.length} bytes for a ${p.address.type}`);
  switch (p.address.type) {
    case 'BOOL':
      return goodValue(p.name, ((b[0]! >> p.address.bit) & 1) === 1);
    case 'BYTE':
      return scaled(p, b[0]!);
    case 'CHAR':
      return goodValue(p.name, b.toString('latin1', 0, 1));
    case 'WORD':
    case 'TIMER':
    case 'COUNTER':
      return scaled(p, b.readUInt16BE(0));
    case 'INT':
      return scaled(p, b.readInt16BE(0));
    case 'DWORD':
      return scaled(p, b.readUInt32BE(0));
    case 'DINT':
      return scaled(p, b.readInt32BE(0));
    case 'REAL': {
      const raw = b.readFloatBE(0);
      return Number.isFinite(raw)
        ? scaled(p, shortestF32(raw))
        : badValue(p.name, DECODE, `REAL value is ${raw}`);
    }
    case 'LREAL': {
      const raw = b.readDoubleBE(0);
      return Number.isFinite(raw) ? scaled(p, raw) : badValue(p.name, DECODE, `LREAL value is ${raw}`);
    }
    case 'LINT': {
      const raw = b.readBigInt64BE(0);
      if (raw > BigInt(Number.MAX_SAFE_INTEGER) || raw < BigInt(Number.MIN_SAFE_INTEGER)) {
        return badValue(p.name, DECODE, `LINT ${raw} is beyond the exact range of a JSON number`);
      }
      return scaled(p, Number(raw));
    }
    case 'STRING':
      return decodeString(p, b);
  }
}

/** S7 STRING: max length byte, actual length byte, then the characters. */
function decodeString(p: S7Point, b: Buffer): TagValue {
  const declared = b[0]!;
  const actual = b[1]!;
  if (actual > declared || actual > b.length - 2) {
    return badValue(
      p.name,
      DECODE,
      `STRING header says ${actual} of ${declared} characters in ${b.length - 2} bytes`,
    );
  }
  return goodValue(p.name, b.toString('latin1', 2, 2 + actual));
}

const INTEGER_RANGES: Partial<Record<S7Address['type'], readonly [number, number]>> = {
  BYTE: [0, 0xff],
  WORD: [0, 0xffff],
  TIMER: [0, 0xffff],
  COUNTER: [0, 0xffff],
  INT: [-0x8000, 0x7fff],
  DWORD: [0, 0xffffffff],
  DINT: [-0x80000000, 0x7fffffff],
  LINT: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/**
 * The bytes to write for `value` (in the tag's units: scale/offset are inverted), or
 * the reason it does not fit the type. BOOL yields one byte holding 0/1 (a bit write).
 */
export function encodePoint(p: S7Point, value: unknown): Buffer | string {
  const type = p.address.type;
  if (type === 'BOOL')
    return typeof value === 'boolean'
      ? Buffer.from([value ? 1 : 0])
      : `expects a boolean, got ${describe(value)}`;
  if (type === 'STRING' || type === 'CHAR') return encodeText(p, value);
  if (typeof value !== 'number' || !Number.isFinite(value))
    return `expects a finite number, got ${describe(value)}`;
  const raw = p.scale === 1 && p.offset === 0 ? value : (value - p.offset) / p.scale;
  const b = Buffer.alloc(pointBytes(p.address));
  if (type === 'REAL') {
    if (Math.abs(raw) > 3.4028234663852886e38) return `${value} is beyond the REAL range`;
    b.writeFloatBE(raw);
    return b;
  }
  if (type === 'LREAL') {
    b.writeDoubleBE(raw);
    return b;
  }
  const rounded = Math.round(raw);
  if (Math.abs(raw - rounded) > 1e-6) return `${value} is not a whole ${type} value (raw ${raw})`;
  const [min, max] = INTEGER_RANGES[type]!;
  if (rounded < min || rounded > max) return `${value} is outside the ${type} range ${min}..${max}`;
  switch (type) {
    case 'BYTE':
      b.writeUInt8(rounded);
      break;
    case 'WORD':
    case 'TIMER':
    case 'COUNTER':
      b.writeUInt16BE(rounded);
      break;
    case 'INT':
      b.writeInt16BE(rounded);
      break;
    case 'DWORD':
      b.writeUInt32BE(rounded);
      break;
    case 'DINT':
      b.writeInt32BE(rounded);
      break;
    case 'LINT':
      b.writeBigInt64BE(BigInt(rounded));
      break;
  }
  return b;
}

function encodeText(p: S7Point, value: unknown): Buffer | string {
  if (typeof value !== 'string') return `expects a string, got ${describe(value)}`;
  if (!/^[\x20-\x7e\xa0-\xff\t]*$/.test(value)) return 'has characters outside Latin-1 printable text';
  if (p.address.type === 'CHAR')
    return value.length === 1
      ? Buffer.from(value, 'latin1')
      : `expects exactly one character, got ${value.length}`;
  const max = p.address.strLen;
  if (value.length > max) return `${value.length} characters exceed the declared STRING[${max}]`;
  const b = Buffer.alloc(2 + value.length);
  b[0] = max;
  b[1] = value.length;
  b.write(value, 2, 'latin1');
  return b;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return value === null ? 'null' : `${typeof value} ${JSON.stringify(value)}`;
}
