/**
 * Streaming frame decoder (spec §2): resynchronises on the magic, checks the CRC, enforces
 * the maximum payload length and copes with frames split across or glued together in TCP
 * reads. Policy (docs/cip22.md, "Resynchronisation"):
 * - bytes before a magic are discarded and counted (`discardedBytes`);
 * - a frame whose CRC fails is dropped and counted (`badCrcFrames`) and the search resumes
 *   right after its magic, so a real frame hidden inside a false frame's length is found;
 * - N > maxPayload yields one `too-long` item and the decoder stops: the session must close
 *   (the frame cannot be CRC-checked without buffering N bytes, which is what the limit
 *   forbids).
 * Between pushes the decoder holds at most maxPayload + 7 bytes (an incomplete frame).
 */
import { crc8 } from './crc8.js';
import {
  DEFAULT_MAX_PAYLOAD,
  FRAME_HEADER_LENGTH,
  FRAME_MAGIC,
  FRAME_OVERHEAD,
  MAX_FRAME_PAYLOAD,
} from './frame.js';

export type DecodedItem =
  | { readonly kind: 'frame'; readonly type: number; readonly header: Buffer; readonly payload: Buffer }
  | { readonly kind: 'too-long'; readonly length: number };

/** Receives frames as the decoder finds them (FrameDecoder.feed). */
export interface FrameSink {
  /** header and payload are views valid only during the call: copy what is kept. */
  frame(type: number, header: Buffer, payload: Buffer): void;
  /** N > maxPayload: the decoder has stopped. */
  tooLong(length: number): void;
}

export interface FrameDecoderOptions {
  /** Largest payload N accepted; larger is fatal. Default 4096. */
  readonly maxPayload?: number;
}

/** Length of the longest proper prefix of the magic that `buf` ends with, looking no further back than `from`. */
function magicPrefixAtEnd(buf: Buffer, from: number): number {
  for (let k = Math.min(FRAME_MAGIC.length - 1, buf.length - from); k > 0; k--) {
    if (buf.compare(FRAME_MAGIC, 0, k, buf.length - k) === 0) return k;
  }
  return 0;
}

export class FrameDecoder {
  readonly maxPayload: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Buffered bytes needed before parsing can make progress. */
  private need = 1;
  private stopped = false;
  private discarded = 0;
  private badCrc = 0;
  private decoded = 0;

  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (!Number.isInteger(max) || max < 0 || max > MAX_FRAME_PAYLOAD)
      throw new RangeError(`maxPayload must be an integer in 0..${MAX_FRAME_PAYLOAD}, got ${max}`);
    this.maxPayload = max;
  }

  /** Bytes discarded while searching for a magic. */
  get discardedBytes(): number {
    return this.discarded;
  }

  /** Frames dropped because their CRC failed. */
  get badCrcFrames(): number {
    return this.badCrc;
  }

  /** Good frames decoded. */
  get frames(): number {
    return this.decoded;
  }

  /** Bytes held for the next push (an incomplete frame or magic). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** True after a `too-long` item: further input is ignored. */
  get failed(): boolean {
    return this.stopped;
  }

  /** Ignores all further input (its session has ended). */
  stop(): void {
    this.stopped = true;
    this.chunks = [];
    this.buffered = 0;
  }

  push(chunk: Uint8Array): DecodedItem[] {
    const out: DecodedItem[] = [];
    this.feed(chunk, {
      frame: (type, header, payload) =>
        out.push({ kind: 'frame', type, header: Buffer.from(header), payload: Buffer.from(payload) }),
      tooLong: (length) => out.push({ kind: 'too-long', length }),
    });
    return out;
  }

  /**
   * Like push, without a copy or an object per frame (a session's hot path): frames go to
   * `sink` as views. A sink that throws stops the decoder (the session it feeds ends).
   */
  feed(chunk: Uint8Array, sink: FrameSink): void {
    if (this.stopped || chunk.length === 0) return;
    const input = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    // What is kept is copied: the caller may reuse its buffer, and a slice must not pin a large slab.
    if (this.buffered + input.length < this.need) {
      this.chunks.push(Buffer.from(input));
      this.buffered += input.length;
      return;
    }
    const buf = this.chunks.length === 0 ? input : Buffer.concat([...this.chunks, input]);
    this.chunks = [];
    this.buffered = 0;
    let rest = buf.length;
    try {
      rest = this.parse(buf, sink);
    } catch (error) {
      this.stopped = true;
      throw error;
    }
    if (rest < buf.length && !this.stopped) {
      this.chunks = [Buffer.from(buf.subarray(rest))];
      this.buffered = buf.length - rest;
    }
  }

  /** Decodes what it can from `buf`; returns where the unconsumed rest starts and sets `need`. */
  private parse(buf: Buffer, sink: FrameSink): number {
    let p = 0;
    for (;;) {
      const at = buf.indexOf(FRAME_MAGIC, p);
      if (at < 0) {
        const keep = magicPrefixAtEnd(buf, p);
        this.discarded += buf.length - keep - p;
        // Parse on every push while searching, so garbage is counted as soon as it arrives.
        this.need = 1;
        return buf.length - keep;
      }
      this.discarded += at - p;
      p = at;
      if (buf.length - p < FRAME_HEADER_LENGTH) {
        this.need = FRAME_HEADER_LENGTH;
        return p;
      }
      const n = buf.readUInt16BE(p + 4);
      if (n > this.maxPayload) {
        this.stopped = true;
        sink.tooLong(n);
        return buf.length;
      }
      const total = n + FRAME_OVERHEAD;
      if (buf.length - p < total) {
        this.need = total;
        return p;
      }
      const end = p + FRAME_HEADER_LENGTH + n;
      if (crc8(buf, p, end) === buf[end]) {
        this.decoded++;
        const at = p;
        p += total;
        sink.frame(
          buf[at + 6]!,
          buf.subarray(at, at + FRAME_HEADER_LENGTH),
          buf.subarray(at + FRAME_HEADER_LENGTH, end),
        );
        // The sink may have ended the session (and stopped this decoder) meanwhile.
        if (this.stopped) return buf.length;
      } else {
        this.badCrc++;
        p += FRAME_MAGIC.length;
      }
    }
  }
}
