/**
 * Gathers Modbus RTU *response* frames from the chunks a serial port delivers.
 *
 * Mode `rtu` (default) parses the length from the header: exception (0x80|fn) 5 bytes;
 * fn 1–4, 0x0C, 0x11, 0x14, 0x15, 0x17: 3 + byteCount + 2; fn 5, 6, 8, 0x0B, 15, 16: 8;
 * fn 0x16: 10. A frame is cut only when its CRC checks; anything it cannot parse (unknown
 * function, bad CRC, non-Modbus bus) is flushed as one frame after a quiet gap of `gapMs`.
 * Mode `gap` cuts by the quiet gap only.
 */
export type FramingMode = 'rtu' | 'gap';

export interface FramerOptions {
  mode?: FramingMode;
  /** Quiet time that ends an unparsed frame (default 5 ms). */
  gapMs?: number;
  /** A buffer longer than this is flushed at once (default 512). */
  maxFrame?: number;
}

function crc16modbus(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i]!;
    for (let b = 0; b < 8; b++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** Appends the CRC (low byte first) to a PDU with its slave id. */
export function withCrc(bytes: Uint8Array): Buffer {
  const crc = crc16modbus(bytes);
  return Buffer.concat([Buffer.from(bytes), Buffer.from([crc & 0xff, crc >>> 8])]);
}

export function crcOk(frame: Uint8Array): boolean {
  if (frame.length < 4) return false;
  const crc = crc16modbus(frame, 0, frame.length - 2);
  return frame[frame.length - 2] === (crc & 0xff) && frame[frame.length - 1] === crc >>> 8;
}

/** Total length of the response frame starting at buf[0]: a number, 'more' (need more bytes) or 'unknown'. */
export function responseLength(buf: Uint8Array): number | 'more' | 'unknown' {
  if (buf.length < 2) return 'more';
  const fn = buf[1]!;
  if (fn & 0x80) return 5;
  switch (fn) {
    case 0x01:
    case 0x02:
    case 0x03:
    case 0x04:
    case 0x0c:
    case 0x11:
    case 0x14:
    case 0x15:
    case 0x17:
      return buf.length < 3 ? 'more' : 3 + buf[2]! + 2;
    case 0x05:
    case 0x06:
    case 0x08:
    case 0x0b:
    case 0x0f:
    case 0x10:
      return 8;
    case 0x16:
      return 10;
    default:
      return 'unknown';
  }
}

export class RtuResponseFramer {
  private buf: Buffer = Buffer.alloc(0);
  private timer: NodeJS.Timeout | undefined;
  private readonly mode: FramingMode;
  private readonly gapMs: number;
  private readonly maxFrame: number;

  /** `onFrame(frame, parsed)`: parsed is true when cut by length + CRC, false when by the gap. */
  constructor(
    private readonly onFrame: (frame: Buffer, parsed: boolean) => void,
    options: FramerOptions = {},
  ) {
    this.mode = options.mode ?? 'rtu';
    this.gapMs = options.gapMs ?? 5;
    this.maxFrame = options.maxFrame ?? 512;
  }

  push(chunk: Uint8Array): void {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    if (this.mode === 'rtu') this.extract();
    if (this.buf.length >= this.maxFrame) this.flush();
    this.clearTimer();
    if (this.buf.length > 0) this.timer = setTimeout(() => this.flush(), this.gapMs);
  }

  /** Emits whatever is buffered as one (unparsed) frame. */
  flush(): void {
    this.clearTimer();
    if (this.buf.length === 0) return;
    const frame = this.buf;
    this.buf = Buffer.alloc(0);
    this.onFrame(frame, false);
  }

  dispose(): void {
    this.clearTimer();
    this.buf = Buffer.alloc(0);
  }

  private extract(): void {
    for (;;) {
      const n = responseLength(this.buf);
      if (typeof n !== 'number' || this.buf.length < n) return;
      const frame = this.buf.subarray(0, n);
      if (!crcOk(frame)) return; // misaligned or corrupt: the gap decides
      this.buf = this.buf.subarray(n);
      this.onFrame(Buffer.from(frame), true);
    }
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
