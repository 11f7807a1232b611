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

  push(chunk: Uint8Array): DecodedItem[] {
    if (this.stopped || chunk.length === 0) return [];
    const input = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    // What is kept is copied: the caller may reuse its buffer, and a slice must not pin a large slab.
    if (this.buffered + input.length < this.need) {
      this.chunks.push(Buffer.from(input));
      this.buffered += input.length;
      return [];
    }
    const buf = this.chunks.length === 0 ? input : Buffer.concat([...this.chunks, input]);
    const out: DecodedItem[] = [];
    const rest = this.parse(buf, out);
    this.chunks = rest < buf.length && !this.stopped ? [Buffer.from(buf.subarray(rest))] : [];
    this.buffered = this.chunks.length > 0 ? buf.length - rest : 0;
    return out;
  }

  /** Decodes what it can from `buf`; returns where the unconsumed rest starts and sets `need`. */
  private parse(buf: Buffer, out: DecodedItem[]): number {
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
        out.push({ kind: 'too-long', length: n });
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
        out.push({
          kind: 'frame',
          type: buf[p + 6]!,
          header: Buffer.from(buf.subarray(p, p + FRAME_HEADER_LENGTH)),
          payload: Buffer.from(buf.subarray(p + FRAME_HEADER_LENGTH, end)),
        });
        p += total;
      } else {
        this.badCrc++;
        p += FRAME_MAGIC.length;
      }
    }
  }
}
