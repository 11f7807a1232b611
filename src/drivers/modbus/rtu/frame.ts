/**
 * Modbus RTU framing for byte streams that are not a serial port (a DTU's TCP socket):
 * request building and a streaming response reader. Pure: no I/O, no timers.
 */
import { crcValid, withCrc } from './crc.js';

/** Read function codes: 1 coils, 2 discrete inputs, 3 holding registers, 4 input registers. */
export type ReadFunctionCode = 1 | 2 | 3 | 4;

/** `unit fn addrHi addrLo countHi countLo crcLo crcHi`. */
export function buildReadRequest(unit: number, fn: ReadFunctionCode, address: number, count: number): Buffer {
  if (!Number.isInteger(unit) || unit < 0 || unit > 255) throw new RangeError(`unit ${unit} out of range`);
  if (!Number.isInteger(address) || address < 0 || address > 0xffff)
    throw new RangeError(`address ${address} out of range`);
  const max = fn === 1 || fn === 2 ? 2000 : 125;
  if (!Number.isInteger(count) || count < 1 || count > max)
    throw new RangeError(`count ${count} out of range 1..${max}`);
  return withCrc(Uint8Array.of(unit, fn, address >> 8, address & 0xff, count >> 8, count & 0xff));
}

/** Data bytes of a normal response to a read of `count` bits/registers. */
export function responseByteCount(fn: ReadFunctionCode, count: number): number {
  return fn === 1 || fn === 2 ? Math.ceil(count / 8) : count * 2;
}

export interface Expectation {
  readonly unit: number;
  readonly fn: ReadFunctionCode;
  readonly count: number;
  /** Request bytes: an exact copy at the start of the stream is an echo, dropped. */
  readonly echo?: Uint8Array;
}

export type RtuFrame =
  | {
      readonly kind: 'data';
      readonly unit: number;
      readonly fn: number;
      readonly data: Buffer;
      readonly raw: Buffer;
    }
  | {
      readonly kind: 'exception';
      readonly unit: number;
      readonly fn: number;
      readonly code: number;
      readonly raw: Buffer;
    };

export interface ReaderCounters {
  /** Bytes dropped that were not part of the expected frame. */
  garbageBytes: number;
  /** Candidates with the expected unit, function and length whose CRC failed. */
  crcErrors: number;
  /** Echoes of the request dropped (echo suppression). */
  echoes: number;
}

type Scan =
  | {
      readonly found: true;
      readonly start: number;
      readonly end: number;
      readonly exception: boolean;
      readonly crcErrors: number;
    }
  | { readonly found: false; readonly resume: number; readonly crcErrors: number };

/**
 * Looks for the first complete frame answering `e` in buf. `resume` is the first offset
 * that could still start the frame (everything before it is garbage).
 */
export function scanForResponse(buf: Uint8Array, e: Expectation): Scan {
  const byteCount = responseByteCount(e.fn, e.count);
  const dataLen = 5 + byteCount;
  const excFn = e.fn | 0x80;
  let crcErrors = 0;
  // First plausible but incomplete candidate: scanning goes on past it (a complete frame
  // further on wins: a short exception frame may follow garbage that looks like a header).
  let incomplete = -1;
  let crcErrorsAfterIncomplete = 0;
  const wait = (i: number): void => {
    if (incomplete < 0) incomplete = i;
  };
  const bad = (): void => {
    if (incomplete < 0) crcErrors++;
    else crcErrorsAfterIncomplete++;
  };
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] !== e.unit) continue;
    if (i + 1 >= buf.length) {
      wait(i);
      break;
    }
    const f = buf[i + 1];
    if (f === e.fn) {
      if (i + 2 >= buf.length) {
        wait(i);
        continue;
      }
      if (buf[i + 2] !== byteCount) continue;
      if (i + dataLen > buf.length) {
        wait(i);
        continue;
      }
      if (crcValid(buf, i, i + dataLen))
        return {
          found: true,
          start: i,
          end: i + dataLen,
          exception: false,
          crcErrors: crcErrors + crcErrorsAfterIncomplete,
        };
      bad();
    } else if (f === excFn) {
      if (i + 5 > buf.length) {
        wait(i);
        continue;
      }
      if (crcValid(buf, i, i + 5))
        return {
          found: true,
          start: i,
          end: i + 5,
          exception: true,
          crcErrors: crcErrors + crcErrorsAfterIncomplete,
        };
      bad();
    }
  }
  // bad candidates after `incomplete` are looked at again with the next chunk: not counted yet
  return { found: false, resume: incomplete < 0 ? buf.length : incomplete, crcErrors };
}

/**
 * Streaming reader of one response at a time. `expect()` before the request is written,
 * `feed()` every received chunk; `{frame}` once the expected response (or its exception)
 * is complete with a valid CRC. Garbage before it is dropped and counted; a candidate
 * with a bad CRC is skipped one byte at a time; bytes of an earlier (timed-out) request
 * do not match the new expectation and are dropped as garbage. Bytes fed while nothing
 * is expected are dropped (counted as garbage). `reset()` ends the transaction.
 */
/** The empty buffer (never written to: zero length), shared instead of one per reset. */
const EMPTY: Buffer = Buffer.alloc(0);

/** `chunk` as a Buffer without copying (received chunks already are Buffers). */
function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
}

export class RtuResponseReader {
  private buf: Buffer = EMPTY;
  private expectation: Expectation | undefined;
  private echoPending: Uint8Array | undefined;
  readonly counters: ReaderCounters;

  constructor(counters?: ReaderCounters) {
    this.counters = counters ?? { garbageBytes: 0, crcErrors: 0, echoes: 0 };
  }

  get expecting(): Expectation | undefined {
    return this.expectation;
  }

  /** Bytes buffered for the current transaction. */
  get buffered(): number {
    return this.buf.length;
  }

  expect(e: Expectation): void {
    this.reset();
    this.expectation = e;
    this.echoPending = e.echo && e.echo.length > 0 ? e.echo : undefined;
  }

  /** Drops everything buffered (counted as garbage unless told not to) and the expectation. */
  reset(countAsGarbage = true): void {
    if (countAsGarbage) this.counters.garbageBytes += this.buf.length;
    this.buf = EMPTY;
    this.expectation = undefined;
    this.echoPending = undefined;
  }

  /**
   * `trailing`: bytes after the frame in what was fed, dropped here. They are not this
   * request's (a late answer glued in front of the real one leaves the real one there):
   * the caller hands them to the Line as bytes no request waited for.
   */
  feed(chunk: Uint8Array): { frame?: RtuFrame; trailing?: number } {
    if (chunk.length === 0) return {};
    const e = this.expectation;
    if (!e) {
      this.counters.garbageBytes += chunk.length;
      return {};
    }
    // a view, not a copy: chunks are never mutated (frames are copied out below)
    this.buf = this.buf.length === 0 ? asBuffer(chunk) : Buffer.concat([this.buf, chunk]);
    if (this.echoPending) {
      const echo = this.echoPending;
      const n = Math.min(echo.length, this.buf.length);
      if (Buffer.compare(this.buf.subarray(0, n), Buffer.from(echo.buffer, echo.byteOffset, n)) === 0) {
        if (n < echo.length) return {}; // echo so far: wait for the rest
        this.buf = this.buf.subarray(echo.length);
        this.counters.echoes++;
      }
      this.echoPending = undefined;
    }
    const scan = scanForResponse(this.buf, e);
    this.counters.crcErrors += scan.crcErrors;
    if (!scan.found) {
      // everything before `resume` cannot start the frame; what is kept is shorter than
      // one frame (a plausible header waiting for its tail)
      this.counters.garbageBytes += scan.resume;
      this.buf = this.buf.subarray(scan.resume);
      return {};
    }
    const buf = this.buf;
    let raw: Buffer;
    let trailing = 0;
    if (scan.start === 0 && scan.end === buf.length) {
      // the usual chunk: exactly the frame. Not copied: chunks are never mutated, and a
      // frame is decoded as soon as it is returned, so it holds on to no larger block.
      raw = buf;
    } else {
      const rest = buf.subarray(scan.end);
      const from = answerStart(rest, e.unit, e.fn);
      trailing = from < 0 ? 0 : rest.length - from;
      this.counters.garbageBytes += scan.start + (rest.length - trailing);
      raw = Buffer.from(buf.subarray(scan.start, scan.end));
    }
    this.buf = EMPTY;
    this.expectation = undefined;
    this.echoPending = undefined;
    return { frame: toFrame(raw), trailing };
  }
}

/**
 * Where in `buf` an answer of `unit` to function `fn` (or its exception) may start, or -1:
 * bytes after a frame that cannot start one (bus turnaround noise) are garbage, not a
 * late answer's successor.
 */
export function answerStart(buf: Uint8Array, unit: number, fn: number): number {
  for (let i = buf.indexOf(unit); i >= 0; i = buf.indexOf(unit, i + 1)) {
    const next = buf[i + 1];
    if (next === undefined || next === fn || next === (fn | 0x80)) return i;
  }
  return -1;
}

/** A complete, CRC-checked frame's fields. */
export function toFrame(raw: Buffer): RtuFrame {
  return raw[1]! & 0x80
    ? { kind: 'exception', unit: raw[0]!, fn: raw[1]! & 0x7f, code: raw[2]!, raw }
    : { kind: 'data', unit: raw[0]!, fn: raw[1]!, data: raw.subarray(3, raw.length - 2), raw };
}

/** Registers (big-endian words) of a data frame. */
export function frameRegisters(data: Uint8Array, count: number): number[] {
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = (data[2 * i]! << 8) | data[2 * i + 1]!;
  return out;
}

/** Bits (LSB first in each byte) of a data frame. */
export function frameBits(data: Uint8Array, count: number): boolean[] {
  const out = new Array<boolean>(count);
  for (let i = 0; i < count; i++) out[i] = ((data[i >> 3]! >> (i & 7)) & 1) === 1;
  return out;
}
