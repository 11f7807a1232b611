/**
 * The in-flight window of the drain, sized by PUBACK latency and by bytes (no I/O).
 *
 * Messages: between 1 and the configured `inflightWindow` (capped by the broker's receive
 * maximum). A PUBACK latency far above the lowest one seen (4×, and at least 50 ms)
 * means messages queue somewhere (a slow link, the broker) without adding throughput,
 * so the window shrinks by one; a window that was full when a PUBACK came in less than
 * half that grows by one. The floor keeps our own event-loop pauses (a chunk being read
 * and built) from shrinking a window that a fast local link needs.
 * Bytes: at most `maxBytes` of payload in flight (always at least one message), so a
 * window of large messages does not hold megabytes of RAM and of socket buffer.
 */

/** Latencies below this never shrink the window. */
const TARGET_FLOOR_MS = 50;
/** Latency target as a multiple of the base (lowest) latency. */
const TARGET_FACTOR = 4;
/** Base latency is re-learned after this many PUBACKs (routes and broker load change). */
const BASE_SAMPLES = 512;

export interface WindowSizeOptions {
  /** Upper bound on messages in flight. */
  readonly maxMessages: number;
  /** Upper bound on payload bytes in flight (one message may exceed it alone). */
  readonly maxBytes: number;
}

export class WindowSize {
  private size: number;
  private base = Infinity;
  private nextBase = Infinity;
  private samples = 0;
  private sinceChange = 0;

  constructor(private readonly opts: WindowSizeOptions) {
    this.size = Math.max(1, opts.maxMessages);
  }

  /** Messages allowed in flight now. */
  get messages(): number {
    return this.size;
  }

  get maxBytes(): number {
    return this.opts.maxBytes;
  }

  /** Lowest PUBACK latency of the current sample period (Infinity before the first). */
  get baseLatencyMs(): number {
    return this.base;
  }

  /** True while a slot is free and the bytes in flight are under the bound (or nothing is in flight). */
  hasRoom(inflight: number, inflightBytes: number): boolean {
    return inflight === 0 || (inflight < this.size && inflightBytes < this.opts.maxBytes);
  }

  /** True when one more message of `bytes` may go out with `inflight` messages of `inflightBytes`. */
  admits(inflight: number, inflightBytes: number, bytes: number): boolean {
    if (inflight === 0) return true;
    return inflight < this.size && inflightBytes + bytes <= this.opts.maxBytes;
  }

  /**
   * A PUBACK after `latencyMs`; `full` when the window had no free slot when it came.
   * Changes the size by at most one per window's worth of PUBACKs, so each change is
   * judged on latencies measured with the previous size.
   */
  acked(latencyMs: number, full: boolean): void {
    if (latencyMs < this.nextBase) this.nextBase = latencyMs;
    if (latencyMs < this.base) this.base = latencyMs;
    if (++this.samples >= BASE_SAMPLES) {
      this.base = this.nextBase;
      this.nextBase = Infinity;
      this.samples = 0;
    }
    if (++this.sinceChange < this.size) return;
    this.sinceChange = 0;
    const target = Math.max(TARGET_FLOOR_MS, TARGET_FACTOR * this.base);
    if (latencyMs > target && this.size > 1) {
      this.size--;
    } else if (latencyMs < target / 2 && full && this.size < this.opts.maxMessages) {
      this.size++;
    }
  }
}
