/**
 * The drain bookkeeping of the MQTT forwarder, free of I/O: the backlog and live lanes
 * (cursors into the outbox, messages built but not yet sent), the drain policy that
 * picks between them and the bounded window of messages awaiting their PUBACK.
 *
 * At each connection the watermark is the outbox's last rowid: records ≤ watermark form
 * the backlog lane (built with replay = true), newer ones the live lane. 'interleave'
 * alternates free slots between the lanes so live data is not starved behind a long
 * backlog; 'fifo' drains the backlog lane first, then live. Records are read through
 * the injected `read`/`build` functions, a window's worth at a time.
 *
 * Pipelined: prefetch() reads and builds the next chunk while the current one is still
 * being sent, so the turn that handles a PUBACK only takes a built message (next() still
 * reads at once when nothing is ready, e.g. right after a connect or a commit). The
 * window is sized by PUBACK latency and by bytes in flight (window-size.ts).
 *
 * Read-ahead off the loop: when chunks are fetched elsewhere (the reader worker), a chunk
 * holds AHEAD_WINDOWS windows' worth of records and the next one is asked for while fewer
 * than AHEAD_WINDOWS + 1 windows of messages wait, so the reader builds the next chunk
 * while the window drains instead of waiting for the loop's round trip (in the drain
 * bench it idled 17-25 % of the drain, 10-17 % with this). A chunk's byte bound stays one
 * window's, and no read-ahead starts while that many bytes wait: the payload bytes held
 * stay what they were (a chunk's rows stay within READ_MAX_RECORDS).
 */
import type { StoredRecord } from '../../core/types.js';
import type { Chunk } from './chunk-reader.js';
import type { BuiltMessage } from './payload.js';
import { WindowSize } from './window-size.js';

const READ_MAX_RECORDS = 20_000;
const READ_MAX_BYTES = 8 * 1024 * 1024;
/** Windows' worth of records per fetched chunk; a fetch goes out below AHEAD_WINDOWS + 1 windows waiting. */
export const AHEAD_WINDOWS = 2;
/** Payload bytes in flight at most, by default (at least one message always goes). */
export const INFLIGHT_MAX_BYTES = 4 * 1024 * 1024;

export type DrainPolicy = 'interleave' | 'fifo';

export interface DrainWindowOptions {
  readonly drain: DrainPolicy;
  /** Bounds of one message (PayloadBuilder); reads are sized from them and the window. */
  readonly batch: { readonly maxRecords: number; readonly maxBytes: number };
  /** Committed records after `afterRowid` (and before `beforeRowid`), as OutboxSource.read. */
  readonly read: (
    afterRowid: number,
    limit: number,
    maxBytes: number,
    beforeRowid?: number,
  ) => readonly StoredRecord[];
  /** Groups records into messages, as PayloadBuilder.build. */
  readonly build: (records: readonly StoredRecord[], replay: boolean) => BuiltMessage[];
  /** Called once the backlog lane has read everything up to the watermark. */
  readonly onBacklogRead?: (watermark: number) => void;
  /** Payload bytes in flight at most (default INFLIGHT_MAX_BYTES). */
  readonly maxInflightBytes?: number;
  /**
   * Reads and builds a chunk elsewhere (chunk-reader.ts); undefined: use read/build here.
   * Its chunks land later: `onChunk` then (to publish them) or `onChunkError`.
   */
  readonly fetch?: (req: FetchRequest) => Promise<Chunk> | undefined;
  readonly onChunk?: () => void;
  readonly onChunkError?: (error: Error) => void;
  /** The rowids of each in-flight message clear() drops (no PUBACK will come for it). */
  readonly onDropped?: (rowids: readonly number[]) => void;
}

export interface FetchRequest {
  readonly afterRowid: number;
  readonly limit: number;
  readonly maxBytes: number;
  readonly beforeRowid: number | undefined;
  readonly replay: boolean;
}

interface Lane {
  readonly name: 'backlog' | 'live';
  cursor: number;
  /** Exclusive upper bound (watermark + 1) for the backlog lane. */
  readonly before: number | undefined;
  pending: BuiltMessage[];
  done: boolean;
  /** A fetch of this lane is on its way. */
  fetching: boolean;
}

export interface InflightEntry {
  readonly msg: BuiltMessage;
  /** Caller's clock reading when the message was sent. */
  readonly sentAt: number;
  readonly bytes: number;
}

function lane(name: Lane['name'], cursor: number, before: number | undefined, done: boolean): Lane {
  return { name, cursor, before, pending: [], done, fetching: false };
}

/** The lane's lowest rowid not yet sent: its first built message's, else the first unread. */
function laneFloor(lane: Lane): number {
  const unread = lane.done ? Infinity : lane.cursor + 1;
  return Math.min(unread, lane.pending[0]?.rowids[0] ?? Infinity);
}

function wireBytes(msg: BuiltMessage): number {
  return msg.bytes?.length ?? msg.payload.length;
}

export class DrainWindow {
  private sizer = new WindowSize({ maxMessages: 1, maxBytes: INFLIGHT_MAX_BYTES });
  private wm = 0;
  private backlog: Lane = lane('backlog', 0, 1, true);
  private live: Lane = lane('live', 0, undefined, false);
  /** Bumped by reset() and clear(): a chunk fetched before is dropped. */
  private epoch = 0;
  /** Outbox commits seen: an empty live fetch only means "nothing new" when none came since. */
  private commits = 0;
  private liveMaybe = true;
  private preferLive = true;
  private readonly inflight = new Map<number, InflightEntry>();
  private seq = 0;
  private records = 0;
  private bytes = 0;
  private peak = 0;

  constructor(private readonly opts: DrainWindowOptions) {}

  /** Slots of the window (messages in flight at most). */
  get window(): number {
    return this.sizer.messages;
  }

  get inflightBytes(): number {
    return this.bytes;
  }

  get watermark(): number {
    return this.wm;
  }

  get inflightMessages(): number {
    return this.inflight.size;
  }

  get inflightRecords(): number {
    return this.records;
  }

  get peakInflightMessages(): number {
    return this.peak;
  }

  /** True while the backlog lane still has records to read or send. */
  get backlogPending(): boolean {
    return !this.backlog.done;
  }

  /** A new connection: lanes split at `watermark`, `size` slots (at least 1). */
  reset(watermark: number, size: number): void {
    this.sizer = new WindowSize({
      maxMessages: Math.max(1, size),
      maxBytes: this.opts.maxInflightBytes ?? INFLIGHT_MAX_BYTES,
    });
    this.wm = watermark;
    this.epoch++;
    this.backlog = lane('backlog', 0, watermark + 1, watermark === 0);
    this.live = lane('live', watermark, undefined, false);
    this.liveMaybe = true;
    this.preferLive = true;
  }

  /** Connection lost: drops everything unacked (it is read again after the next reset). */
  clear(): void {
    this.epoch++;
    this.backlog.fetching = this.live.fetching = false;
    if (this.opts.onDropped) for (const e of this.inflight.values()) this.opts.onDropped(e.msg.rowids);
    this.inflight.clear();
    this.records = 0;
    this.bytes = 0;
    this.backlog.pending = [];
    this.live.pending = [];
  }

  /**
   * The outbox evicted records: what was read but not sent may be gone (booked lost), so
   * it must not go out. Drops the built messages and any fetch on its way, and reads each
   * lane again from its oldest unsent record (records in flight after it may go twice,
   * with the same ids; in-flight records themselves are never evicted).
   */
  evicted(): void {
    this.epoch++;
    for (const lane of [this.backlog, this.live]) {
      lane.fetching = false;
      let first = Infinity;
      for (const m of lane.pending) for (const r of m.rowids) if (r < first) first = r;
      lane.pending = [];
      if (first === Infinity) continue;
      lane.cursor = first - 1;
      lane.done = false;
    }
    this.liveMaybe = true;
  }

  /** An outbox commit: the live lane may have new records. */
  notifyCommit(): void {
    this.commits++;
    this.liveMaybe = true;
  }

  hasRoom(): boolean {
    return this.sizer.hasRoom(this.inflight.size, this.bytes);
  }

  /**
   * The next message to send, by the drain policy; undefined when no lane has one or
   * when it would exceed the bytes in flight.
   */
  next(): BuiltMessage | undefined {
    const lane = this.pickLane();
    const msg = lane?.pending[0];
    if (!lane || !msg || !this.sizer.admits(this.inflight.size, this.bytes, wireBytes(msg))) return undefined;
    this.preferLive = lane === this.backlog;
    return lane.pending.shift();
  }

  /** Registers `msg` as in flight; returns its id for settle(). */
  add(msg: BuiltMessage, sentAt: number): number {
    const id = ++this.seq;
    const bytes = wireBytes(msg);
    this.inflight.set(id, { msg, sentAt, bytes });
    this.records += msg.rowids.length;
    this.bytes += bytes;
    if (this.inflight.size > this.peak) this.peak = this.inflight.size;
    return id;
  }

  /**
   * Takes a message out of the window (its PUBACK came); undefined when unknown. With
   * `now` (the clock of add()), its latency sizes the window.
   */
  settle(id: number, now?: number): InflightEntry | undefined {
    const entry = this.inflight.get(id);
    if (!entry) return undefined;
    const full = this.inflight.size >= this.sizer.messages;
    this.inflight.delete(id);
    this.records -= entry.msg.rowids.length;
    this.bytes -= entry.bytes;
    if (now !== undefined) this.sizer.acked(now - entry.sentAt, full);
    return entry;
  }

  /**
   * Reads and builds the next chunk of each lane that has less than a window's worth of
   * messages ready (backlog lane first under 'fifo'); true when anything was read.
   */
  prefetch(): boolean {
    let read = false;
    for (const lane of this.opts.drain === 'fifo' ? [this.backlog] : [this.live, this.backlog]) {
      if (this.low(lane) && this.readable(lane)) read = this.readChunk(lane) || read;
    }
    if (this.opts.drain === 'fifo' && this.backlog.done && this.low(this.live))
      read = (this.readable(this.live) && this.readChunk(this.live)) || read;
    return read;
  }

  /** Fewer messages wait in the lane than prefetch() keeps ready (by count and, reading ahead, bytes). */
  private low(lane: Lane): boolean {
    const size = this.sizer.messages;
    if (!this.opts.fetch) return lane.pending.length < size;
    if (lane.pending.length >= size * (AHEAD_WINDOWS + 1)) return false;
    let bytes = 0;
    for (const m of lane.pending) bytes += wireBytes(m);
    return bytes < this.chunkBytes();
  }

  /** One chunk's byte bound: a window's worth of messages, within READ_MAX_BYTES. */
  private chunkBytes(): number {
    const { maxBytes } = this.opts.batch;
    return Math.min(maxBytes * this.sizer.messages, Math.max(maxBytes, READ_MAX_BYTES));
  }

  /**
   * Whether a PUBACKed rowid has no row of its lane below it still unacknowledged (in
   * flight, built, or unread): the acked rows below that floor are whole runs, each
   * deleted as one range, where deleting a message's own rowids deletes a comb.
   */
  ackedBelowFloor(): (rowid: number) => boolean {
    let backlog = laneFloor(this.backlog);
    let live = laneFloor(this.live);
    for (const { msg } of this.inflight.values()) {
      const first = msg.rowids[0] ?? Infinity; // ascending: built in rowid order
      if (msg.replay) backlog = Math.min(backlog, first);
      else live = Math.min(live, first);
    }
    const wm = this.wm;
    return (rowid) => rowid < (rowid <= wm ? backlog : live);
  }

  /** Records known but not yet PUBACKed: in flight, built and waiting, unread backlog. */
  outstandingRecords(): number {
    let n = this.records;
    for (const m of this.backlog.pending) n += m.rowids.length;
    for (const m of this.live.pending) n += m.rowids.length;
    if (!this.backlog.done) n += Math.max(0, this.wm - this.backlog.cursor);
    return n;
  }

  /** Rowid distance from the live lane's position to the outbox's `lastRowid`. */
  unreadLive(lastRowid: number): number {
    return Math.max(0, lastRowid - Math.max(this.live.cursor, this.wm));
  }

  private pickLane(): Lane | undefined {
    if (this.opts.drain === 'fifo') {
      if (this.fill(this.backlog)) return this.backlog;
      if (!this.backlog.done) return undefined;
      return this.fill(this.live) ? this.live : undefined;
    }
    const first = this.preferLive ? this.live : this.backlog;
    const second = this.preferLive ? this.backlog : this.live;
    for (const lane of [first, second]) if (this.fill(lane)) return lane;
    return undefined;
  }

  private readable(lane: Lane): boolean {
    return !lane.done && (lane !== this.live || this.liveMaybe);
  }

  /** True when the lane has a message ready, reading the next chunk if needed. */
  private fill(lane: Lane): boolean {
    if (lane.pending.length > 0) return true;
    return this.readable(lane) && this.readChunk(lane);
  }

  /**
   * Reads the lane's next chunk and appends its messages; false at the lane's end, and
   * while a fetch elsewhere is under way (its messages land in landed()).
   */
  private readChunk(lane: Lane): boolean {
    if (lane.fetching) return false;
    // Read a whole window's worth at once (off the loop, AHEAD_WINDOWS), so that with many
    // devices interleaved in rowid order each device's group still fills its messages
    // (bounded: READ_MAX_*).
    const records = (windows: number): number =>
      Math.min(
        this.opts.batch.maxRecords * this.sizer.messages * windows,
        Math.max(this.opts.batch.maxRecords, READ_MAX_RECORDS),
      );
    const bytes = this.chunkBytes();
    const replay = lane === this.backlog;
    const fetched = this.opts.fetch?.({
      afterRowid: lane.cursor,
      limit: records(AHEAD_WINDOWS),
      maxBytes: bytes,
      beforeRowid: lane.before,
      replay,
    });
    if (fetched) {
      this.fetchChunk(lane, fetched);
      return false;
    }
    const read = this.opts.read(lane.cursor, records(1), bytes, lane.before);
    const last = read[read.length - 1]?.rowid ?? 0;
    return this.append(lane, last, last > 0 ? this.opts.build(read, replay) : []);
  }

  private fetchChunk(lane: Lane, fetched: Promise<Chunk>): void {
    lane.fetching = true;
    const epoch = this.epoch;
    const commits = this.commits;
    fetched.then(
      (chunk) => {
        if (epoch !== this.epoch) return;
        lane.fetching = false;
        // A commit while the fetch was out may have added what it did not see.
        if (chunk.last === 0 && lane === this.live && commits !== this.commits) return this.opts.onChunk?.();
        this.append(lane, chunk.last, chunk.messages);
        this.opts.onChunk?.();
      },
      (error: Error) => {
        if (epoch !== this.epoch) return;
        lane.fetching = false;
        this.opts.onChunkError?.(error);
      },
    );
  }

  /** A chunk read up to rowid `last` (0: nothing left in the lane's range). */
  private append(lane: Lane, last: number, built: BuiltMessage[]): boolean {
    if (last === 0) {
      if (lane === this.backlog) {
        lane.done = true;
        this.opts.onBacklogRead?.(this.wm);
      } else this.liveMaybe = false;
      return false;
    }
    lane.cursor = last;
    if (lane.pending.length === 0) lane.pending = built;
    else for (const m of built) lane.pending.push(m);
    return true;
  }
}
