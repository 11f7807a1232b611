/**
 * The committed queue of the SQLite outbox. Assigns each record its rowid (queue order,
 * never reused), its per-device `seq` (persisted counter) and its id (`<epoch>-<rowid>`);
 * keeps the size accounting (rows, body bytes) used by stats() and the size policy; runs
 * the batch transaction (multi-row INSERT hot loop, pending-overflow gaps, eviction, seq
 * upserts), read and ack. A failed transaction rolls back and leaves the in-memory state
 * as it was. Every lost record is booked in a gap event (see gaps.ts).
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Clock } from '../core/clock.js';
import type { OnceScan } from '../core/ports.js';
import type { NewRecord, StoredRecord } from '../core/types.js';
import type { StoreConfig } from '../config/sections/store.js';
import { GapBook, parseGap } from './gaps.js';
import { DedupKeys, scanKeys } from './sqlite-dedup.js';
import { CLS_EVENT, CLS_TELEMETRY } from './outbox.js';
import { type GapLog, type SizeLimits, evictOldest, overBounds } from './sqlite-evict.js';
import {
  MULTI_ROWS,
  type QueueStatements,
  applyPragmas,
  loadState,
  prepareStatements,
} from './sqlite-statements.js';

type Db = BetterSqlite3.Database;
type SyncMode = 'FULL' | 'NORMAL';

/** read(): rows fetched beyond what maxBytes admits at the mean body size. */
const READ_BYTES_SLACK = 1.25;
const READ_ROWS_SLACK = 16;

interface DeviceState {
  seq: number;
  /** Batch number in which `prev` was saved (for rollback and the once-per-batch upsert). */
  mark: number;
  prev: number;
  readonly device: string;
}

/** Marks the first record of an appendOnce group: its key and how many records follow with it. */
export interface OnceMark {
  readonly key: string;
  readonly size: number;
}

/** What one committed batch transaction did. `W` is the caller's waiter type. */
export interface BatchResult<W> {
  /** Rows inserted: the batch and the gap events. */
  written: number;
  evictedTelemetry: number;
  evictedEvent: number;
  /** Per-device losses booked by this transaction (evictions and pending drops). */
  gapLogs: GapLog;
  /** Pending drops accounted for, per device, with the seqs reserved for them. */
  readonly droppedRanges: { device: string; fromSeq: number; toSeq: number }[];
  /** The batch's records that had a waiter, with the waiter and the stored record. */
  readonly resolved: [NewRecord, W, StoredRecord][];
  /** First records of appendOnce groups whose key was already stored (nothing written for them). */
  readonly duplicates: NewRecord[];
}

export class SqliteQueue {
  private readonly s: QueueStatements;
  private readonly multiArgs: unknown[] = new Array(MULTI_ROWS * 6);
  private readonly limits: SizeLimits;
  private readonly syncTelemetry: SyncMode;
  private readonly syncEvent: SyncMode;
  private readonly idPrefix: string;
  private readonly devices = new Map<string, DeviceState>();
  private readonly gaps = new GapBook();
  private nextRowid: number;
  private nRows: number;
  private nBytes: number;
  private batchNo = 0;
  private currentSync: SyncMode = 'FULL';
  private readonly syncStatements = new Map<SyncMode, BetterSqlite3.Statement>();
  private readonly dedup: DedupKeys;

  constructor(
    private readonly db: Db,
    config: StoreConfig,
    private readonly clock: Clock,
  ) {
    this.limits = { maxRows: config.maxRows, maxBytes: config.maxBytes };
    this.syncTelemetry = config.synchronous.telemetry === 'normal' ? 'NORMAL' : 'FULL';
    this.syncEvent = config.synchronous.event === 'normal' ? 'NORMAL' : 'FULL';
    applyPragmas(db, config.checkpoint.walMaxBytes);
    const state = loadState(db);
    this.idPrefix = state.idPrefix;
    this.nextRowid = state.nextRowid;
    this.nRows = state.rows;
    this.nBytes = state.bytes;
    for (const [device, seq] of state.seqs) this.devices.set(device, { device, seq, mark: 0, prev: seq });
    this.s = prepareStatements(db);
    this.dedup = new DedupKeys(this.s, state.dedupKeys, config.dedup, clock);
    for (const [rowid, seq, device, body] of this.s.gapRows.iterate() as Iterable<
      [number, number, string, string]
    >) {
      const data = parseGap(body);
      if (data) this.gaps.restore(device, { rowid, seq, bytes: Buffer.byteLength(body, 'utf8'), data });
    }
  }

  /** Committed records in the store. */
  get rows(): number {
    return this.nRows;
  }

  /** Body bytes (UTF-8) of the committed records. */
  get bytes(): number {
    return this.nBytes;
  }

  lastRowid(): number {
    return this.nextRowid - 1;
  }

  /** True when an appendOnce key is committed. */
  hasKey(key: string): boolean {
    return this.s.dedupHas.get(key) !== undefined;
  }

  /** One step through the committed keys that start with `prefix` (see OnceSink.highestOnce). */
  scanKeys(prefix: string, after: string | undefined): OnceScan {
    return scanKeys(this.s, prefix, after);
  }

  oldestTs(): number | null {
    return (this.s.oldest.get() as number | undefined) ?? null;
  }

  /**
   * One transaction: the first `n` records of `batch`, a pending-overflow gap event per
   * device of `dropped`, then eviction while over the bounds. The groups marked in `once`
   * claim their key first; a group whose key is taken is left out whole. Throws (rolled
   * back, state restored) on failure.
   */
  writeBatch<W>(
    batch: readonly NewRecord[],
    n: number,
    dropped: ReadonlyMap<string, number> | null,
    waiters: ReadonlyMap<NewRecord, W>,
    once: ReadonlyMap<NewRecord, OnceMark> | null = null,
  ): BatchResult<W> {
    const mark = ++this.batchNo;
    const touched: DeviceState[] = [];
    const savedRowid = this.nextRowid;
    const savedRows = this.nRows;
    const savedBytes = this.nBytes;
    const savedKeys = this.dedup.count;
    const result: BatchResult<W> = {
      written: 0,
      evictedTelemetry: 0,
      evictedEvent: 0,
      gapLogs: [],
      droppedRanges: [],
      resolved: [],
      duplicates: [],
    };
    try {
      this.setSync(dropped ? 'FULL' : this.syncFor(batch, n, waiters));
      this.s.begin.run();
      this.gaps.begin();
      try {
        if (dropped) this.reserveDropped(dropped, mark, touched, result);
        const kept =
          once !== null && once.size > 0 ? this.dedup.claim(batch, n, once, result.duplicates) : null;
        const records = kept ?? batch;
        const count = kept === null ? n : kept.length;
        this.insertBatch(records, count, mark, touched, waiters.size > 0 ? waiters : null, result.resolved);
        result.written = count;
        this.enforceBounds(result);
        this.writeGaps(mark, touched, result);
        this.dedup.prune();
        for (const st of touched) this.s.upsertSeq.run(st.device, st.seq);
        this.s.lastRowid.run(this.nextRowid - 1);
        this.s.commit.run();
        this.gaps.commit();
      } catch (e) {
        if (this.db.inTransaction) this.s.rollback.run();
        throw e;
      }
    } catch (e) {
      this.gaps.rollback();
      this.nextRowid = savedRowid;
      this.nRows = savedRows;
      this.nBytes = savedBytes;
      this.dedup.count = savedKeys;
      for (const st of touched) st.seq = st.prev;
      throw e;
    }
    return result;
  }

  read(afterRowid: number, limit: number, maxBytes: number, beforeRowid?: number): StoredRecord[] {
    const out: StoredRecord[] = [];
    if (limit <= 0) return out;
    // One all() instead of a row-by-row iterate (a native call per row), with the row
    // count cut down to what maxBytes admits at the store's mean body size, so the
    // rows read past the byte bound stay few.
    const mean = this.nRows > 0 ? this.nBytes / this.nRows : 0;
    const rows =
      mean > 0 ? Math.min(limit, Math.ceil((maxBytes / mean) * READ_BYTES_SLACK) + READ_ROWS_SLACK) : limit;
    const page = this.s.read.all(afterRowid, beforeRowid ?? Number.MAX_SAFE_INTEGER, rows) as [
      number,
      number,
      string,
      number,
      number,
      string,
    ][];
    let total = 0;
    const prefix = this.idPrefix;
    for (const row of page) {
      const body = row[5];
      // The bound is on memory, which holds the body as a JS string: its length (one or two
      // bytes a unit) is the measure, and the payload builder bounds in the same unit;
      // a UTF-8 byte count per row cost as much as the rest of the row's decoding.
      const size = body.length;
      if (out.length > 0 && total + size > maxBytes) break;
      total += size;
      const rowid = row[0];
      out.push({
        rowid,
        id: prefix + rowid,
        seq: row[1],
        device: row[2],
        cls: row[3] === CLS_EVENT ? 'event' : 'telemetry',
        ts: row[4],
        body,
      });
    }
    return out;
  }

  /** Deletes the given rowids (as contiguous ranges) in one transaction. Throws on failure. */
  deleteAcked(rowids: readonly number[]): void {
    const sorted = Float64Array.from(rowids).sort();
    let rows = 0;
    let bytes = 0;
    // An ack is not fsynced: losing it to a power cut only sends its records again (at
    // least once, same ids), and the WAL is ordered, so the next synced commit (an append
    // or a checkpoint) makes it durable too. An fsync per ack blocked the event loop
    // between PUBACKs (0.6 ms here, far more on an SD card).
    const restore = this.currentSync;
    this.setSync('NORMAL');
    this.s.begin.run();
    try {
      let start = sorted[0];
      let end = start;
      for (let i = 1; i <= sorted.length; i++) {
        const r = i < sorted.length ? sorted[i] : NaN;
        if (r === end || r === end! + 1) {
          end = r;
          continue;
        }
        const [c, b] = this.s.ackSum.get(start, end) as [number, number];
        if (c > 0) {
          this.s.ackDelete.run(start, end);
          rows += c;
          bytes += b;
        }
        start = end = r;
      }
      this.s.commit.run();
    } catch (e) {
      if (this.db.inTransaction) this.s.rollback.run();
      throw e;
    } finally {
      // Left as found; the next batch sets its own mode, and so does the command ledger.
      this.setSync(restore);
    }
    this.nRows -= rows;
    this.nBytes -= bytes;
    this.gaps.ackedSorted(sorted);
  }

  // ---------------------------------------------------------------- inside the transaction

  /** Hot loop: seq from the in-memory counter, full groups of MULTI_ROWS through the multi-row insert. */
  private insertBatch<W>(
    all: readonly NewRecord[],
    n: number,
    mark: number,
    touched: DeviceState[],
    waiters: ReadonlyMap<NewRecord, W> | null,
    resolved: [NewRecord, W, StoredRecord][],
  ): void {
    const insert = this.s.insert;
    const insertMulti = this.s.insertMulti;
    const args = this.multiArgs;
    const multiEnd = n - (n % MULTI_ROWS);
    let o = 0;
    let rowid = this.nextRowid;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const r = all[i]!;
      const device = r.device;
      const st = this.touch(device, mark, touched);
      const seq = ++st.seq;
      const body = r.body;
      const cls = r.cls === 'event' ? CLS_EVENT : CLS_TELEMETRY;
      if (i < multiEnd) {
        args[o++] = rowid;
        args[o++] = seq;
        args[o++] = device;
        args[o++] = cls;
        args[o++] = r.ts;
        args[o++] = body;
        if (o === args.length) {
          insertMulti.run(args);
          o = 0;
        }
      } else insert.run(rowid, seq, device, cls, r.ts, body);
      bytes += Buffer.byteLength(body, 'utf8');
      if (waiters !== null) {
        const w = waiters.get(r);
        if (w !== undefined)
          resolved.push([
            r,
            w,
            { rowid, id: this.idPrefix + rowid, seq, device, cls: r.cls, ts: r.ts, body },
          ]);
      }
      rowid++;
    }
    this.nextRowid = rowid;
    this.nRows += n;
    this.nBytes += bytes;
  }

  /** Device state, marked as touched by this batch (its counter is saved for a rollback). */
  private touch(device: string, mark: number, touched: DeviceState[]): DeviceState {
    let st = this.devices.get(device);
    if (st === undefined) {
      st = { device, seq: 0, mark: 0, prev: 0 };
      this.devices.set(device, st);
    }
    if (st.mark !== mark) {
      st.mark = mark;
      st.prev = st.seq;
      touched.push(st);
    }
    return st;
  }

  /**
   * Pending records dropped while commits failed never got a seq: they get theirs now
   * (before the batch, which they preceded), so the consumer sees a hole the gap event
   * names exactly.
   */
  private reserveDropped<W>(
    dropped: ReadonlyMap<string, number>,
    mark: number,
    touched: DeviceState[],
    result: BatchResult<W>,
  ): void {
    for (const [device, count] of dropped) {
      const st = this.touch(device, mark, touched);
      const fromSeq = st.seq + 1;
      st.seq += count;
      this.gaps.dropped(device, fromSeq, st.seq);
      result.droppedRanges.push({ device, fromSeq, toSeq: st.seq });
    }
  }

  /** Inserts a store-generated record (gap event); returns its rowid and seq. */
  private insertOne(r: NewRecord, mark: number, touched: DeviceState[]): { rowid: number; seq: number } {
    const st = this.touch(r.device, mark, touched);
    const rowid = this.nextRowid++;
    const seq = ++st.seq;
    this.s.insert.run(rowid, seq, r.device, r.cls === 'event' ? CLS_EVENT : CLS_TELEMETRY, r.ts, r.body);
    this.nRows++;
    this.nBytes += Buffer.byteLength(r.body, 'utf8');
    return { rowid, seq };
  }

  /** Evicts while the store plus the gap rows it must write is over maxRows or maxBytes. */
  private enforceBounds<W>(result: BatchResult<W>): void {
    for (let pass = 0; pass < 4 && overBounds(this.nRows, this.nBytes, this.gaps, this.limits); pass++) {
      const ev = evictOldest(this.s, this.nRows, this.nBytes, this.limits, this.gaps);
      if (ev.rows === this.nRows) break;
      this.nRows = ev.rows;
      this.nBytes = ev.bytes;
      result.evictedTelemetry += ev.telemetry;
      result.evictedEvent += ev.event;
    }
  }

  /** One gap event per device with losses, replacing (merging) the device's stored one. */
  private writeGaps<W>(mark: number, touched: DeviceState[], result: BatchResult<W>): void {
    if (this.gaps.pendingDevices === 0) return;
    result.gapLogs = this.gaps.losses();
    for (const w of this.gaps.drain(this.clock.now())) {
      if (w.replaces && this.s.deleteRow.run(w.replaces.rowid).changes === 1) {
        this.nRows--;
        this.nBytes -= w.replaces.bytes;
      }
      const { rowid, seq } = this.insertOne(w.record, mark, touched);
      this.gaps.opened(w.device, {
        rowid,
        seq,
        bytes: Buffer.byteLength(w.record.body, 'utf8'),
        data: w.data,
      });
      result.written++;
    }
  }

  /**
   * FULL when a record's class asks for it, and whenever a record has a waiter: a durable
   * append (appendDurable, appendOnce) tells its producer the record is stored, and the
   * producer lets go of it (a CIP-22 pile forgets the frame it got an ACK for), so
   * `normal` only ever applies to fire-and-forget appends.
   */
  private syncFor<W>(batch: readonly NewRecord[], n: number, waiters: ReadonlyMap<NewRecord, W>): SyncMode {
    if (this.syncTelemetry === 'FULL' && this.syncEvent === 'FULL') return 'FULL';
    const awaited = waiters.size > 0;
    let hasTelemetry = false;
    let hasEvent = false;
    for (let i = 0; i < n; i++) {
      const r = batch[i]!;
      if (awaited && waiters.has(r)) return 'FULL';
      if (r.cls === 'event') hasEvent = true;
      else hasTelemetry = true;
      if (!awaited && hasTelemetry && hasEvent) break;
    }
    if ((hasEvent && this.syncEvent === 'FULL') || (hasTelemetry && this.syncTelemetry === 'FULL'))
      return 'FULL';
    return 'NORMAL';
  }

  /** The connection's next commits are fsynced (a writer outside the batch transactions). */
  fullSync(): void {
    this.setSync('FULL');
  }

  private setSync(sync: SyncMode): void {
    if (sync === this.currentSync) return;
    // Prepared once: acks switch the mode twice per transaction.
    let st = this.syncStatements.get(sync);
    if (!st) {
      st = this.db.prepare(`PRAGMA synchronous = ${sync}`);
      this.syncStatements.set(sync, st);
    }
    st.run();
    this.currentSync = sync;
  }
}
