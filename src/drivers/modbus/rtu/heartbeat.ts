/**
 * Removes a DTU's heartbeat bytes from its data stream, including a heartbeat split
 * across chunks: a tail that is a proper prefix of the pattern is held back (at most
 * pattern length − 1 bytes) until the next chunk tells whether it completes it.
 *
 * Known limit: the filter cannot tell a heartbeat from the same bytes inside a Modbus
 * response (e.g. heartbeat `FE` and a register holding 0x00FE). The DTU transport
 * therefore also matches the unfiltered stream, so a frame is found when either the
 * filtered or the raw bytes hold it; only a frame that both contains a real heartbeat
 * and data equal to the heartbeat is lost (it times out). Every removal is counted.
 */
/** The empty buffer (zero length: never written to), shared instead of one per chunk. */
const EMPTY: Buffer = Buffer.alloc(0);

export class HeartbeatFilter {
  private pending: Buffer = EMPTY;
  /** Heartbeats removed so far. */
  count = 0;

  /** What indexOf looks for: a one-byte pattern as a number (a cheaper search than a Buffer). */
  private readonly needle: Buffer | number;

  constructor(private readonly pattern: Buffer) {
    if (pattern.length === 0) throw new RangeError('heartbeat pattern is empty');
    this.needle = pattern.length === 1 ? pattern[0]! : pattern;
  }

  /** Bytes held back (a possible heartbeat start). */
  get held(): Buffer {
    return this.pending;
  }

  /**
   * Data bytes of `chunk` (plus held bytes that turned out to be data), heartbeats
   * removed. May return `chunk` itself or a view of it: do not mutate either.
   */
  feed(chunk: Uint8Array): Buffer {
    const p = this.pattern;
    const buf =
      this.pending.length > 0
        ? Buffer.concat([this.pending, chunk])
        : Buffer.isBuffer(chunk)
          ? chunk
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.pending = EMPTY;
    let out: Buffer[] | undefined;
    let from = 0;
    const needle = this.needle;
    let at = buf.indexOf(needle);
    while (at >= 0) {
      (out ??= []).push(buf.subarray(from, at));
      this.count++;
      from = at + p.length;
      at = buf.indexOf(needle, from);
    }
    // hold the longest tail that is a proper prefix of the pattern
    let keep = 0;
    for (let n = Math.min(p.length - 1, buf.length - from); n > 0; n--) {
      if (buf.compare(p, 0, n, buf.length - n, buf.length) === 0) {
        keep = n;
        break;
      }
    }
    const end = buf.length - keep;
    if (keep > 0) this.pending = Buffer.from(buf.subarray(end));
    if (!out) return from === 0 && end === buf.length ? buf : buf.subarray(from, end);
    out.push(buf.subarray(from, end));
    return Buffer.concat(out);
  }

  /** Releases the held bytes as data (e.g. the link closed). */
  flush(): Buffer {
    const held = this.pending;
    this.pending = EMPTY;
    return held;
  }
}
