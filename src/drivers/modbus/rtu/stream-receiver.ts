/**
 * The receive side of an RTU stream transport (stream-transport.ts): finds the answer to
 * the request on the wire in the received bytes. Bytes go through the heartbeat filter
 * into an RtuResponseReader. When the filtered stream does not hold the expected frame but
 * the filter removed or held bytes during this transaction, the raw bytes since the
 * request are scanned too (a frame whose data happens to contain the heartbeat bytes), and
 * when those hold the heartbeat pattern 2 to 8 times, every subset of the occurrences is
 * tried as "the heartbeats" (a frame with a real heartbeat inside and the same bytes in
 * its data): heartbeat-fallback.ts. No I/O, no timers.
 */
import type { Clock } from '../../../core/clock.js';
import { RtuResponseReader, type Expectation, type RtuFrame } from './frame.js';
import { HeartbeatFilter } from './heartbeat.js';
import { findFrameAmongHeartbeats } from './heartbeat-fallback.js';

export interface StreamCounters {
  requests: number;
  responses: number;
  exceptions: number;
  timeouts: number;
  crcErrors: number;
  garbageBytes: number;
  echoes: number;
  heartbeats: number;
  lastHeartbeatAt: number | undefined;
  /** Frames found only in the unfiltered stream (heartbeat bytes inside the data). */
  rawMatches: number;
  /** Frames found by stripping only some heartbeat-like occurrences. */
  subsetMatches: number;
  /** Requests refused at once because the link was down. */
  linkDownFailures: number;
}

/** What one received chunk gave. */
export interface Received {
  /** The expected answer, when it is complete. */
  frame: RtuFrame | undefined;
  /** Data bytes (heartbeats aside) of the chunk up to the end of the frame. */
  awaited: number;
  /** Bytes after the frame: awaited by no request (a late answer's successor). */
  trailing: number;
}

/** Raw bytes kept per transaction for the fallback scans, at most. */
const MAX_RAW = 1024;

export class StreamReceiver {
  private readonly reader: RtuResponseReader;
  private filter: HeartbeatFilter | undefined;
  private expectation: Expectation | undefined;
  /** Raw bytes since the request (heartbeat filter configured). */
  private raw: Buffer | undefined;
  /** The heartbeat filter removed or held bytes of this transaction. */
  private altered = false;
  /** Reused for every chunk: the caller reads it before the next one. */
  private readonly out: Received = { frame: undefined, awaited: 0, trailing: 0 };

  constructor(
    private readonly counters: StreamCounters,
    private readonly clock: Clock,
    private readonly heartbeat: Buffer | undefined,
  ) {
    // the reader counts garbage, CRC errors and echoes straight into the counters
    this.reader = new RtuResponseReader(counters);
    this.filter = heartbeat ? new HeartbeatFilter(heartbeat) : undefined;
  }

  /** A fresh stream (the link came up): held heartbeat bytes and buffered bytes are gone. */
  restart(): void {
    this.filter = this.heartbeat ? new HeartbeatFilter(this.heartbeat) : undefined;
    this.end(false);
  }

  /** A request goes out: from now on its answer is looked for. */
  expect(e: Expectation): void {
    this.reader.expect(e);
    this.expectation = e;
    this.raw = undefined;
    this.altered = false;
  }

  /** Drops the bytes buffered (late ones the Line discards) and returns how many; the transaction goes on. */
  discard(): number {
    const held = this.reader.buffered;
    this.reader.reset(false);
    return held;
  }

  /** Ends the transaction; what is buffered is garbage unless told otherwise. */
  end(countAsGarbage = true): void {
    this.reader.reset(countAsGarbage);
    this.expectation = undefined;
    this.raw = undefined;
    this.altered = false;
  }

  /** Bytes received on the link (heartbeats included); `inTransaction`: a request waits. */
  feed(chunk: Buffer, inTransaction: boolean): Received {
    let data = chunk;
    const filter = this.filter;
    if (filter) {
      const before = filter.count;
      data = filter.feed(chunk);
      if (filter.count > before) {
        this.counters.heartbeats += filter.count - before;
        this.counters.lastHeartbeatAt = this.clock.now();
      }
      if (inTransaction) {
        // raw bytes of this transaction (views: chunks are never mutated)
        let raw = this.raw ? Buffer.concat([this.raw, chunk]) : chunk;
        if (raw.length > MAX_RAW) raw = raw.subarray(raw.length - MAX_RAW);
        this.raw = raw;
        if (data.length !== chunk.length || filter.held.length > 0) this.altered = true;
      }
    }
    const out = this.out;
    out.frame = undefined;
    out.trailing = 0;
    if (data.length > 0) {
      const fed = this.reader.feed(data);
      out.frame = fed.frame;
      out.trailing = fed.trailing ?? 0;
    }
    if (!out.frame && inTransaction && this.altered) this.fallback(out);
    out.awaited = Math.max(0, data.length - out.trailing);
    // the filtered copy of a fallback frame is not garbage
    if (out.frame) this.end(false);
    return out;
  }

  /**
   * The expected frame in the raw bytes of this transaction (heartbeat-like bytes in its
   * data), and how many bytes after it may be another answer.
   */
  private fallback(out: Received): void {
    const e = this.expectation;
    if (!e || !this.raw || !this.heartbeat) return;
    const found = findFrameAmongHeartbeats(this.raw, e, this.heartbeat);
    if (!found) return;
    if (found.via === 'raw') this.counters.rawMatches++;
    else this.counters.subsetMatches++;
    // The filter counted these heartbeat-like bytes as heartbeats: they were data.
    this.counters.heartbeats = Math.max(0, this.counters.heartbeats - found.dataOccurrences);
    out.frame = found.frame;
    out.trailing = found.trailing;
  }
}
