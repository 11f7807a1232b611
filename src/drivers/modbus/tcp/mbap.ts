/**
 * Modbus TCP framing (MBAP header + PDU), pure: request encoding, a splitter that cuts a
 * TCP byte stream into ADUs whatever the segments (split, glued), and the check of an
 * answer against the request it carries the transaction id of.
 *
 * ADU: transaction id (2) · protocol id 0 (2) · length (2, unit id + PDU) · unit id (1) · PDU.
 */
import type { WriteFunctionCode } from '../write.js';

export type ReadFunctionCode = 1 | 2 | 3 | 4;
export type TcpFunctionCode = ReadFunctionCode | WriteFunctionCode;

/** MBAP header bytes before the unit id's byte count starts (tid, protocol, length). */
const HEADER = 6;
/** Largest MBAP length: unit id + a 253-byte PDU. */
export const MAX_MBAP_LENGTH = 254;

/** Largest quantity per request of each function (the Modbus application protocol limits). */
export function maxQuantity(fn: TcpFunctionCode): number {
  switch (fn) {
    case 1:
    case 2:
      return 2000;
    case 15:
      return 1968;
    case 16:
      return 123;
    default:
      return 125;
  }
}

function checkRange(unit: number, address: number, count: number, fn: TcpFunctionCode): void {
  if (!Number.isInteger(unit) || unit < 0 || unit > 255) throw new RangeError(`unit ${unit} out of range`);
  if (!Number.isInteger(address) || address < 0 || address > 0xffff)
    throw new RangeError(`address ${address} out of range`);
  const max = maxQuantity(fn);
  if (!Number.isInteger(count) || count < 1 || count > max)
    throw new RangeError(`quantity ${count} out of range 1..${max}`);
}

function header(tid: number, unit: number, pduLength: number): Buffer {
  const b = Buffer.allocUnsafe(HEADER + 1 + pduLength);
  b[0] = tid >> 8;
  b[1] = tid & 0xff;
  b[2] = 0;
  b[3] = 0;
  b[4] = 0;
  b[5] = 1 + pduLength;
  b[6] = unit;
  return b;
}

/** FC1–4: `tid 0 6 unit fn addr count`, 12 bytes. */
export function readRequest(
  tid: number,
  unit: number,
  fn: ReadFunctionCode,
  address: number,
  count: number,
): Buffer {
  checkRange(unit, address, count, fn);
  const b = header(tid, unit, 5);
  b[7] = fn;
  b[8] = address >> 8;
  b[9] = address & 0xff;
  b[10] = count >> 8;
  b[11] = count & 0xff;
  return b;
}

/** FC05/06 carry one value; FC15/16 a quantity, a byte count and the packed values. */
export function writeRequest(
  tid: number,
  unit: number,
  fc: WriteFunctionCode,
  address: number,
  values: readonly number[] | readonly boolean[],
): Buffer {
  checkRange(unit, address, fc === 5 || fc === 6 ? 1 : values.length, fc);
  if (fc === 5 || fc === 6) {
    const b = header(tid, unit, 5);
    b[7] = fc;
    b.writeUInt16BE(address, 8);
    b.writeUInt16BE(fc === 5 ? (values[0] ? 0xff00 : 0) : Number(values[0]) & 0xffff, 10);
    return b;
  }
  const bytes = fc === 15 ? Math.ceil(values.length / 8) : values.length * 2;
  const b = header(tid, unit, 6 + bytes);
  b[7] = fc;
  b.writeUInt16BE(address, 8);
  b.writeUInt16BE(values.length, 10);
  b[12] = bytes;
  b.fill(0, 13);
  for (let i = 0; i < values.length; i++) {
    if (fc === 16) b.writeUInt16BE(Number(values[i]) & 0xffff, 13 + 2 * i);
    else if (values[i]) b[13 + (i >> 3)]! |= 1 << (i & 7);
  }
  return b;
}

/** What an answer must match: the request's unit, function and quantity (and a write's echo). */
export interface TcpExpectation {
  readonly unit: number;
  readonly fn: TcpFunctionCode;
  /** Registers or bits read / written. */
  readonly count: number;
  readonly address: number;
  /** FC05/06: the value field the answer echoes. */
  readonly echoValue?: number;
}

export type TcpAnswer =
  | { readonly kind: 'read'; readonly data: number[] | boolean[] }
  | { readonly kind: 'written' }
  | { readonly kind: 'exception'; readonly code: number }
  | { readonly kind: 'bad'; readonly why: string };

/** Data bytes of a normal answer to a read of `count` bits/registers. */
export function readByteCount(fn: ReadFunctionCode, count: number): number {
  return fn <= 2 ? Math.ceil(count / 8) : count * 2;
}

/**
 * Checks one ADU (as cut by MbapSplitter, transaction id already matched) against its
 * request: unit, function, byte count, MBAP length, a write's echo. Anything else is `bad`:
 * never decoded into values.
 */
export function decodeAnswer(adu: Buffer, e: TcpExpectation): TcpAnswer {
  const unit = adu[6]!;
  const fn = adu[7]!;
  const pduLength = adu.length - HEADER - 1;
  if (unit !== e.unit) return { kind: 'bad', why: `unit ${unit} answered a request to unit ${e.unit}` };
  if (fn === (e.fn | 0x80)) {
    if (pduLength !== 2) return { kind: 'bad', why: `exception answer of ${pduLength} bytes` };
    return { kind: 'exception', code: adu[8]! };
  }
  if (fn !== e.fn) return { kind: 'bad', why: `function ${fn} answered function ${e.fn}` };
  if (e.fn <= 4) return decodeRead(adu, e.fn as ReadFunctionCode, e.count, pduLength);
  if (pduLength !== 5) return { kind: 'bad', why: `write answer of ${pduLength} bytes` };
  const address = adu.readUInt16BE(8);
  const field = adu.readUInt16BE(10);
  const expected = e.fn === 5 || e.fn === 6 ? e.echoValue : e.count;
  if (address !== e.address || field !== expected)
    return { kind: 'bad', why: `write answer echoes ${address}/${field}, not ${e.address}/${expected}` };
  return { kind: 'written' };
}

function decodeRead(adu: Buffer, fn: ReadFunctionCode, count: number, pduLength: number): TcpAnswer {
  const bytes = readByteCount(fn, count);
  if (adu[8] !== bytes || pduLength !== 2 + bytes)
    return {
      kind: 'bad',
      why: `byte count ${adu[8]} (PDU ${pduLength}) for ${count} × fn ${fn}, not ${bytes}`,
    };
  if (fn >= 3) {
    const out = new Array<number>(count);
    for (let i = 0, at = 9; i < count; i++, at += 2) out[i] = (adu[at]! << 8) | adu[at + 1]!;
    return { kind: 'read', data: out };
  }
  const bits = new Array<boolean>(count);
  for (let i = 0; i < count; i++) bits[i] = ((adu[9 + (i >> 3)]! >> (i & 7)) & 1) === 1;
  return { kind: 'read', data: bits };
}

/** The transaction id of an ADU. */
export function transactionId(adu: Buffer): number {
  return (adu[0]! << 8) | adu[1]!;
}

const EMPTY = Buffer.alloc(0);

/**
 * Cuts a TCP byte stream into ADUs by their MBAP length, across split and glued segments.
 * A header with a protocol id other than 0 or a length outside 2..254 means the stream is
 * out of step: nothing after it can be trusted, `push` reports it and the caller drops the
 * connection.
 */
export class MbapSplitter {
  private rest: Buffer = EMPTY;

  /** Bytes held waiting for the rest of an ADU. */
  get buffered(): number {
    return this.rest.length;
  }

  /**
   * Calls `onAdu` for each complete ADU (a view: valid until `onAdu` returns, unless copied)
   * and returns undefined, or the reason the stream lost its framing.
   */
  push(chunk: Buffer, onAdu: (adu: Buffer) => void): string | undefined {
    const buf = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    let at = 0;
    while (buf.length - at >= HEADER + 1) {
      const protocol = (buf[at + 2]! << 8) | buf[at + 3]!;
      const length = (buf[at + 4]! << 8) | buf[at + 5]!;
      if (protocol !== 0 || length < 2 || length > MAX_MBAP_LENGTH) {
        this.rest = EMPTY;
        return `MBAP header with protocol ${protocol}, length ${length}`;
      }
      const end = at + HEADER + length;
      if (end > buf.length) break;
      onAdu(buf.subarray(at, end));
      at = end;
    }
    // a copy of the tail (rarely more than a few bytes): a view would keep the whole chunk alive
    this.rest = at === buf.length ? EMPTY : Buffer.from(buf.subarray(at));
    return undefined;
  }

  reset(): void {
    this.rest = EMPTY;
  }
}
