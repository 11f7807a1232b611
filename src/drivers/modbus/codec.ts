/**
 * Pure decoding of Modbus registers and bits to tag values (and the inverse, used by
 * tests and fixtures). Word order: order of the 16-bit words of a 32/64-bit value
 * (big = high word first). Byte order: order of the two bytes inside each register
 * (big = high byte first, as Modbus transmits). The four usual names:
 * ABCD = big/big, CDAB = word little, BADC = byte little, DCBA = both little.
 */
import { badValue, goodValue, type TagScalar, type TagValue } from '../../core/types.js';
import type { ModbusDataType } from './config.js';
// the codes this module names are registered there (their natures, link-down flags)
import './error-codes.js';
import { shortestF32, withoutFloatNoise } from '../../core/float.js';

// shared with the other drivers from core/float.ts; kept here for existing imports
export { shortestF32, withoutFloatNoise } from '../../core/float.js';

export type Order = 'big' | 'little';

/** The parts of a tag config the codec needs. */
export interface CodecTag {
  readonly name: string;
  readonly type: ModbusDataType;
  readonly wordOrder: Order;
  readonly byteOrder: Order;
  readonly bit?: number;
  readonly scale: number;
  readonly offset: number;
  readonly length?: number;
}

export const ORDER_NAMES = {
  ABCD: { wordOrder: 'big', byteOrder: 'big' },
  CDAB: { wordOrder: 'little', byteOrder: 'big' },
  BADC: { wordOrder: 'big', byteOrder: 'little' },
  DCBA: { wordOrder: 'little', byteOrder: 'little' },
} as const satisfies Record<string, { wordOrder: Order; byteOrder: Order }>;

const DECODE = 'EDGE_ERR_MODBUS_DECODE';

/** Bytes of the value, most significant first, from registers in the given orders. */
export function registersToBytes(regs: ArrayLike<number>, wordOrder: Order, byteOrder: Order): Buffer {
  const n = regs.length;
  const out = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) {
    const reg = regs[wordOrder === 'big' ? i : n - 1 - i]! & 0xffff;
    const hi = reg >> 8;
    const lo = reg & 0xff;
    out[i * 2] = byteOrder === 'big' ? hi : lo;
    out[i * 2 + 1] = byteOrder === 'big' ? lo : hi;
  }
  return out;
}

/** Inverse of registersToBytes. */
function bytesToRegisters(bytes: Buffer, wordOrder: Order, byteOrder: Order): number[] {
  const n = bytes.length / 2;
  const regs = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const a = bytes[i * 2]!;
    const b = bytes[i * 2 + 1]!;
    const reg = byteOrder === 'big' ? (a << 8) | b : (b << 8) | a;
    regs[wordOrder === 'big' ? i : n - 1 - i] = reg;
  }
  return regs;
}

function scaled(tag: CodecTag, raw: number): TagValue {
  const value = tag.scale === 1 && tag.offset === 0 ? raw : withoutFloatNoise(raw * tag.scale + tag.offset);
  if (!Number.isFinite(value))
    return badValue(tag.name, DECODE, `${tag.type} value is not finite (${value})`);
  return goodValue(tag.name, value);
}

/**
 * Decodes a tag from its registers: registerCount(type, length) of them, starting at
 * `at` in `regs` (a whole response can be passed without copying).
 */
export function decodeRegisters(tag: CodecTag, regs: ArrayLike<number>, at = 0): TagValue {
  switch (tag.type) {
    case 'bool': {
      const reg = regs[at]! & 0xffff;
      return goodValue(tag.name, tag.bit === undefined ? reg !== 0 : ((reg >> tag.bit) & 1) === 1);
    }
    case 'string':
      return decodeString(
        tag,
        at === 0 && regs.length === tag.length
          ? regs
          : Array.prototype.slice.call(regs, at, at + (tag.length ?? 1)),
      );
    case 'u16':
    case 'i16': {
      let reg = regs[at]! & 0xffff;
      if (tag.byteOrder === 'little') reg = ((reg & 0xff) << 8) | (reg >> 8);
      return scaled(tag, tag.type === 'i16' && reg >= 0x8000 ? reg - 0x10000 : reg);
    }
    case 'u32':
    case 'i32':
    case 'f32':
    case 'f64':
      break; // multi-word: below
  }
  const words = tag.type === 'f64' ? 4 : 2;
  const own = at === 0 && regs.length === words ? regs : Array.prototype.slice.call(regs, at, at + words);
  const bytes = registersToBytes(own, tag.wordOrder, tag.byteOrder);
  switch (tag.type) {
    case 'u32':
      return scaled(tag, bytes.readUInt32BE(0));
    case 'i32':
      return scaled(tag, bytes.readInt32BE(0));
    case 'f32': {
      const raw = bytes.readFloatBE(0);
      if (!Number.isFinite(raw)) return badValue(tag.name, DECODE, `f32 register value is ${raw}`);
      return scaled(tag, shortestF32(raw));
    }
    case 'f64': {
      const raw = bytes.readDoubleBE(0);
      if (!Number.isFinite(raw)) return badValue(tag.name, DECODE, `f64 register value is ${raw}`);
      return scaled(tag, raw);
    }
  }
}

function decodeString(tag: CodecTag, regs: ArrayLike<number>): TagValue {
  // Strings: characters in register order; byteOrder decides which byte of a register
  // comes first. wordOrder does not apply.
  const bytes = registersToBytes(regs, 'big', tag.byteOrder);
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0 || bytes[end - 1] === 0x20)) end--;
  for (let i = 0; i < end; i++) {
    const c = bytes[i]!;
    if (c > 0x7e || (c < 0x20 && c !== 0x09)) {
      return badValue(
        tag.name,
        DECODE,
        `string has a non-printable or non-ASCII byte 0x${c.toString(16)} at ${i}`,
      );
    }
  }
  return goodValue(tag.name, bytes.toString('latin1', 0, end));
}

/** Decodes a coil or discrete input. */
export function decodeBit(tag: Pick<CodecTag, 'name'>, bit: boolean): TagValue {
  return goodValue(tag.name, bit);
}

/**
 * Registers that represent `value` for this tag (scale/offset are inverted; integer
 * types are rounded). For tests, fixtures and simulators.
 */
export function encodeRegisters(tag: CodecTag, value: TagScalar, registers?: number): number[] {
  if (tag.type === 'bool') {
    if (tag.bit !== undefined) return [value ? 1 << tag.bit : 0];
    return [value ? 1 : 0];
  }
  if (tag.type === 'string') {
    const count = registers ?? tag.length ?? 1;
    const bytes = Buffer.alloc(count * 2);
    bytes.write(String(value ?? ''), 'latin1');
    return bytesToRegisters(bytes, 'big', tag.byteOrder);
  }
  const raw = (Number(value) - tag.offset) / tag.scale;
  const size = tag.type === 'u16' || tag.type === 'i16' ? 2 : tag.type === 'f64' ? 8 : 4;
  const bytes = Buffer.alloc(size);
  switch (tag.type) {
    case 'u16':
      bytes.writeUInt16BE(Math.round(raw) & 0xffff);
      break;
    case 'i16':
      bytes.writeInt16BE(Math.round(raw));
      break;
    case 'u32':
      bytes.writeUInt32BE(Math.round(raw) >>> 0);
      break;
    case 'i32':
      bytes.writeInt32BE(Math.round(raw));
      break;
    case 'f32':
      bytes.writeFloatBE(raw);
      break;
    case 'f64':
      bytes.writeDoubleBE(raw);
      break;
  }
  return bytesToRegisters(bytes, tag.wordOrder, tag.byteOrder);
}
