/**
 * The committed queue of the SQLite outbox. Assigns each record its rowid (queue order,
 * never reused), its per-device `seq` (persisted counter) and its id (`<epoch>-<rowid>`);
 * keeps the size accounting (rows, body bytes) used by stats() and the size policy; runs
 * the batch transaction (multi-row INSERT hot loop, pending-overflow gaps, eviction, seq
 * upserts), read and ack. A failed transaction rolls back and leaves the in-memory state
 * as it was. Every lost record is booked in a gap event (see gaps.ts); a PUBACKed record
 * whose delete is still to come is not lost (sqlite-delivered.ts). The read path is in
 * sqlite-read.ts, the per-transaction `synchronous` mode in sqlite-sync.ts, what a batch
 * transaction is told and reports in sqlite-batch-result.ts.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Clock } from '../core/clock.js';
import type { OnceScan } from '../core/ports.js';
import type { NewRecord, StoredRecord } from '../core/types.js';
import type { StoreConfig } from '../config/sections/store.js';
import type { BatchResult, OnceMark } from './sqlite-batch-result.js';
import { GapBook, parseGap } from './gaps.js';
import { DedupKeys, scanKeys } from './sqlite-dedup.js';
import { type Deleted, DeliveredRows, InflightRows } from './sqlite-delivered.js';
import { CLS_EVENT, CLS_TELEMETRY, storedRecord } from './outbox.js';
import { readPage } from './sqlite-read.js';
import { SyncModes } from './sqlite-sync.js';
import { TailCache } from './sqlite-tail.js';
import { type SizeLimits, evictOldest, overBounds } from './sqlite-evict.js';
import {
  MULTI_ROWS,
  type QueueStatements,
  applyPragmas,
  loadState,
  prepareStatements,
} from './sqlite-statements.js';

type Db = BetterSqlite3.Database;

interface DeviceState {
  seq: number;
  /** Batch number in which `prev` was saved (for rollback and the once-per-batch upsert). */
  mark: number;
  prev: number;
  readonly device: string;
}

export type { BatchResult, OnceMark } from './sqlite-batch-result.js';

export class SqliteQueue {
  private readonly s: QueueStatements;
  private readonly multiArgs: unknown[] = new Array(MULTI_ROWS * 6);
  private readonly limits: SizeLimits;
  private readonly sync: SyncModes;
  private readonly idPrefix: string;
  private readonly devices = new Map<string, DeviceState>();
  private readonly gaps = new GapBook();
  private nextRowid: number;
  private nRows: number;
  private nBytes: number;
  private batchNo = 0;
  private readonly dedup: DedupKeys;
  private readonly delivered: DeliveredRows;
  private readonly inflight = new InflightRows();
  private evicted = 0;
  /** The newest rows as inserted: a live drain reads them without a SELECT (sqlite-tail.ts). */
  private readonly tail: TailCache;
  /** Batches commit NORMAL and report whether they needed FULL; the WAL is synced elsewhere (sqlite-wal-sync.ts). */
  syncOffLoop = false;

  constructor(
    private readonly db: Db,
    config: StoreConfig,
    private readonly clock: Clock,
  ) {
    this.limits = { maxRows: config.maxRows, maxBytes: config.maxBytes };
    this.sync = new SyncModes(db, config);
    applyPragmas(db, config.checkpoint.walMaxBytes);
    const state = loadState(db);
    this.idPrefix = state.idPrefix;
    this.nextRowid = state.nextRowid;
    this.nRows = state.rows;
    this.nBytes = state.bytes;
    for (const [device, seq] of state.seqs) this.devices.set(device, { device, seq, mark: 0, prev: seq });
    this.s = prepareStatements(db);
    this.tail = new TailCache(this.nextRowid);
    this.delivered = new DeliveredRows(this.s, (rowids) => this.deleteAcked(rowids));
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
      needsSync: false,
    };
    try {
      const mode = dropped ? 'FULL' : this.sync.forBatch(batch, n, waiters);
      result.needsSync = this.syncOffLoop && mode === 'FULL';
      this.sync.set(this.syncOffLoop ? 'NORMAL' : mode);
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
      // Its deletes are undone too: the cache cannot tell which rows came back.
      this.tail.rollback(savedRowid);
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
    const mean = this.nRows > 0 ? this.nBytes / this.nRows : 0;
    const req = { afterRowid, limit, maxBytes, beforeRowid };
    return this.tail.read(req, mean) ?? readPage(this.s.read, this.idPrefix, mean, req);
  }

  /**
   * The broker acknowledged these rows; deleteAcked() follows. Until then the size policy
   * deletes them before evicting and books no gap for them, and a device's open gap
   * among them is closed (the next loss opens a new one).
   */
  markDelivered(rowids: readonly number[]): void {
    this.inflight.remove(rowids);
    this.delivered.mark(rowids);
    this.gaps.acked((rowid) => this.delivered.has(rowid));
  }

  /** Published, PUBACK awaited: the size policy skips these rows until markDelivered/unsent (same array). */
  markSending(rowids: readonly number[]): void {
    this.inflight.add(rowids);
    // A gap event on its way is closed: the next loss opens a new one rather than folding
    // this one in (the consumer may get both; each counts its own losses once).
    this.gaps.acked((rowid) => rowids.includes(rowid));
  }

  /** The publish of markSending(rowids) gets no PUBACK (connection lost): evictable again. */
  markUnsent(rowids: readonly number[]): void {
    this.inflight.remove(rowids);
  }

  /** Records evicted by the size policy since open. */
  get evictions(): number {
    return this.evicted;
  }

  /** Deletes the given rowids (as contiguous ranges) in one transaction. Throws on failure. */
  deleteAcked(rowids: readonly number[]): void {
    const sorted = Float64Array.from(rowids).sort();
    // An ack is not fsynced: losing it to a power cut only sends its records again (at
    // least once, same ids), and the WAL is ordered, so the next synced commit (an append
    // or a checkpoint) makes it durable too. An fsync per ack blocked the event loop
    // between PUBACKs (0.6 ms here, far more on an SD card).
    const restore = this.sync.current;
    this.sync.set('NORMAL');
    this.s.begin.run();
    let deleted: Deleted;
    try {
      deleted = this.delivered.deleteSorted(sorted);
      this.s.commit.run();
    } catch (e) {
      if (this.db.inTransaction) this.s.rollback.run();
      throw e;
    } finally {
      // Left as found; the next batch sets its own mode, and so does the command ledger.
      this.sync.set(restore);
    }
    this.applyDeleted(sorted, deleted);
  }

  /**
   * `sorted` (ascending) were deleted, `deleted` counting the rows that were still there:
   * by deleteAcked, or by another connection (the ack worker) in a transaction of its own.
   */
  applyDeleted(sorted: Float64Array, deleted: Deleted): void {
    this.nRows -= deleted.rows;
    this.nBytes -= deleted.bytes;
    this.delivered.forget(sorted);
    this.gaps.ackedSorted(sorted);
    this.tail.deleted(sorted);
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
      const stored = storedRecord(r, this.idPrefix, rowid, seq);
      this.tail.push(stored);
      if (waiters !== null) {
        const w = waiters.get(r);
        if (w !== undefined) resolved.push([r, w, stored]);
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
    this.tail.push(storedRecord(r, this.idPrefix, rowid, seq));
    this.nRows++;
    this.nBytes += Buffer.byteLength(r.body, 'utf8');
    return { rowid, seq };
  }

  /**
   * Evicts while the store plus the gap rows it must write is over maxRows or maxBytes;
   * rows already delivered (PUBACKed, delete pending) go first and are no loss.
   */
  private enforceBounds<W>(result: BatchResult<W>): void {
    if (this.delivered.size > 0 && overBounds(this.nRows, this.nBytes, this.gaps, this.limits)) {
      const gone = this.delivered.deleteMarked();
      this.nRows -= gone.rows;
      this.nBytes -= gone.bytes;
      this.tail.clear();
    }
    let inflight: ReadonlySet<number> | undefined;
    for (let pass = 0; pass < 4 && overBounds(this.nRows, this.nBytes, this.gaps, this.limits); pass++) {
      inflight ??= this.inflight.snapshot();
      const ev = evictOldest(this.s, this.nRows, this.nBytes, this.limits, this.gaps, inflight);
      if (ev.rows === this.nRows) break;
      this.tail.clear();
      this.evicted += this.nRows - ev.rows; // a rolled-back one too: it only makes readers re-read
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
        this.tail.deleted(Float64Array.of(w.replaces.rowid));
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

  /** The connection's next commits are fsynced (a writer outside the batch transactions). */
  fullSync(): void {
    this.sync.set('FULL');
  }
}
