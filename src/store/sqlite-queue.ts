/**
 * The committed queue of the SQLite outbox. Assigns each record its rowid (queue order,
 * never reused), its per-device `seq` (persisted counter) and its id (`<epoch>-<rowid>`);
 * keeps the size accounting (rows, body bytes) used by stats() and the size policy; runs
 * the batch transaction (multi-row INSERT hot loop, pending-overflow gaps, eviction, seq
 * upserts), read and ack. A failed transaction rolls back and leaves the in-memory state
 * as it was.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Clock } from '../core/clock.js';
import type { NewRecord, StoredRecord } from '../core/types.js';
import type { StoreConfig } from '../config/sections/store.js';
import { CLS_EVENT, CLS_TELEMETRY, pendingGapRecord } from './outbox.js';
import { type GapLog, type SizeLimits, evictOldest } from './sqlite-evict.js';
import {
  MULTI_ROWS,
  type QueueStatements,
  applyPragmas,
  loadState,
  prepareStatements,
} from './sqlite-statements.js';

type Db = BetterSqlite3.Database;
type SyncMode = 'FULL' | 'NORMAL';

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

const DEDUP_DEFAULTS = { maxAgeMs: 7 * 24 * 3600 * 1000, maxKeys: 1_000_000 };
/** Pruning by age runs at most this often (and whenever the key count is over its bound). */
const DEDUP_PRUNE_INTERVAL_MS = 60_000;

/** What one committed batch transaction did. `W` is the caller's waiter type. */
export interface BatchResult<W> {
  /** Rows inserted: the batch, pending-overflow gaps and eviction gaps. */
  written: number;
  evictedTelemetry: number;
  evictedEvent: number;
  readonly gapLogs: GapLog[];
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
  private nextRowid: number;
  private nRows: number;
  private nBytes: number;
  private batchNo = 0;
  private currentSync: SyncMode = 'FULL';
  private readonly dedupLimits: { readonly maxAgeMs: number; readonly maxKeys: number };
  private dedupKeys: number;
  private lastPrune = Number.NEGATIVE_INFINITY;

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
    this.dedupKeys = state.dedupKeys;
    this.dedupLimits = config.dedup ?? DEDUP_DEFAULTS;
    for (const [device, seq] of state.seqs) this.devices.set(device, { device, seq, mark: 0, prev: seq });
    this.s = prepareStatements(db);
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
    const savedKeys = this.dedupKeys;
    const result: BatchResult<W> = {
      written: 0,
      evictedTelemetry: 0,
      evictedEvent: 0,
      gapLogs: [],
      resolved: [],
      duplicates: [],
    };
    try {
      this.setSync(dropped ? 'FULL' : this.syncFor(batch, n));
      this.s.begin.run();
      try {
        const kept =
          once !== null && once.size > 0 ? this.claimKeys(batch, n, once, result.duplicates) : null;
        const records = kept ?? batch;
        const count = kept === null ? n : kept.length;
        this.insertBatch(records, count, mark, touched, waiters.size > 0 ? waiters : null, result.resolved);
        result.written = count;
        if (dropped) {
          const now = this.clock.now();
          for (const [device, count] of dropped)
            this.insertOne(pendingGapRecord(device, now, count), mark, touched);
          result.written += dropped.size;
        }
        this.enforceBounds(mark, touched, result);
        if (this.dedupKeys > 0) this.pruneKeys();
        for (const st of touched) this.s.upsertSeq.run(st.device, st.seq);
        this.s.lastRowid.run(this.nextRowid - 1);
        this.s.commit.run();
      } catch (e) {
        if (this.db.inTransaction) this.s.rollback.run();
        throw e;
      }
    } catch (e) {
      this.nextRowid = savedRowid;
      this.nRows = savedRows;
      this.nBytes = savedBytes;
      this.dedupKeys = savedKeys;
      for (const st of touched) st.seq = st.prev;
      throw e;
    }
    return result;
  }

  read(afterRowid: number, limit: number, maxBytes: number, beforeRowid?: number): StoredRecord[] {
    const out: StoredRecord[] = [];
    if (limit <= 0) return out;
    let total = 0;
    const prefix = this.idPrefix;
    for (const row of this.s.read.iterate(
      afterRowid,
      beforeRowid ?? Number.MAX_SAFE_INTEGER,
      limit,
    ) as Iterable<[number, number, string, number, number, string]>) {
      const body = row[5];
      const size = Buffer.byteLength(body, 'utf8');
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
    }
    this.nRows -= rows;
    this.nBytes -= bytes;
  }

  // ---------------------------------------------------------------- inside the transaction

  /**
   * Inserts the key of every group marked in `once`; returns the batch without the groups
   * whose key was already there (null when there were none), noting their first records.
   */
  private claimKeys(
    batch: readonly NewRecord[],
    n: number,
    once: ReadonlyMap<NewRecord, OnceMark>,
    duplicates: NewRecord[],
  ): NewRecord[] | null {
    const now = this.clock.now();
    let kept: NewRecord[] | null = null;
    for (let i = 0; i < n; i++) {
      const r = batch[i]!;
      const group = once.get(r);
      if (group === undefined || this.s.dedupInsert.run(group.key, now).changes === 1) {
        if (group !== undefined) this.dedupKeys++;
        kept?.push(r);
        continue;
      }
      duplicates.push(r);
      kept ??= batch.slice(0, i);
      i += group.size - 1;
    }
    return kept;
  }

  /** Drops keys past their retention age, then the oldest while over the count bound. */
  private pruneKeys(): void {
    const now = this.clock.now();
    const { maxAgeMs, maxKeys } = this.dedupLimits;
    if (this.dedupKeys <= maxKeys && now - this.lastPrune < DEDUP_PRUNE_INTERVAL_MS) return;
    this.lastPrune = now;
    this.dedupKeys -= this.s.dedupPruneAge.run(now - maxAgeMs).changes;
    if (this.dedupKeys > maxKeys)
      this.dedupKeys -= this.s.dedupPruneOldest.run(this.dedupKeys - maxKeys).changes;
  }

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
    const devices = this.devices;
    let rowid = this.nextRowid;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const r = all[i]!;
      const device = r.device;
      let st = devices.get(device);
      if (st === undefined) {
        st = { device, seq: 0, mark: 0, prev: 0 };
        devices.set(device, st);
      }
      if (st.mark !== mark) {
        st.mark = mark;
        st.prev = st.seq;
        touched.push(st);
      }
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

  /** Inserts a store-generated record (gap event). */
  private insertOne(r: NewRecord, mark: number, touched: DeviceState[]): void {
    let st = this.devices.get(r.device);
    if (st === undefined) {
      st = { device: r.device, seq: 0, mark: 0, prev: 0 };
      this.devices.set(r.device, st);
    }
    if (st.mark !== mark) {
      st.mark = mark;
      st.prev = st.seq;
      touched.push(st);
    }
    const rowid = this.nextRowid++;
    this.s.insert.run(rowid, ++st.seq, r.device, r.cls === 'event' ? CLS_EVENT : CLS_TELEMETRY, r.ts, r.body);
    this.nRows++;
    this.nBytes += Buffer.byteLength(r.body, 'utf8');
  }

  /** Evicts (at most 3 passes, gap events included) while over maxRows or maxBytes. */
  private enforceBounds<W>(mark: number, touched: DeviceState[], result: BatchResult<W>): void {
    const { maxRows, maxBytes } = this.limits;
    for (let pass = 0; pass < 3 && (this.nRows > maxRows || this.nBytes > maxBytes); pass++) {
      const ev = evictOldest(this.s, this.nRows, this.nBytes, this.limits, this.clock.now());
      this.nRows = ev.rows;
      this.nBytes = ev.bytes;
      for (const g of ev.gaps) this.insertOne(g, mark, touched);
      result.evictedTelemetry += ev.telemetry;
      result.evictedEvent += ev.event;
      result.written += ev.gaps.length;
      result.gapLogs.push(...ev.logs);
    }
  }

  private syncFor(batch: readonly NewRecord[], n: number): SyncMode {
    if (this.syncTelemetry === this.syncEvent) return this.syncTelemetry;
    let hasTelemetry = false;
    let hasEvent = false;
    for (let i = 0; i < n && !(hasTelemetry && hasEvent); i++) {
      if (batch[i]!.cls === 'event') hasEvent = true;
      else hasTelemetry = true;
    }
    if ((hasEvent && this.syncEvent === 'FULL') || (hasTelemetry && this.syncTelemetry === 'FULL'))
      return 'FULL';
    return 'NORMAL';
  }

  private setSync(sync: SyncMode): void {
    if (sync === this.currentSync) return;
    this.db.pragma(`synchronous = ${sync}`);
    this.currentSync = sync;
  }
}
