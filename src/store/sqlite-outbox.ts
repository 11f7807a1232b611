/**
 * The durable store-and-forward outbox on SQLite (better-sqlite3, WAL).
 *
 * Producers `append()` into an in-memory pending batch; one transaction commits the
 * batch when it reaches `batch.maxRecords` or `batch.maxLatencyMs` after its first
 * record (group commit). Commit assigns each record its rowid (queue order, never
 * reused), its per-device `seq` (persisted counter) and its id (`<epoch>-<rowid>`).
 * Forwarders `read()` committed records in rowid order and `ack()` them once the broker
 * has them. The store is bounded (rows, body bytes): the oldest telemetry is evicted
 * first, and every eviction leaves a `gap` event per device. See docs/store.md.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { Backoff } from '../core/backoff.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { EdgeError, toEdgeError } from '../core/errors.js';
import type { Logger } from '../core/ports.js';
import type { AgentEvent, NewRecord, RecordClass, StoredRecord } from '../core/types.js';
import type { StoreConfig } from '../config/sections/store.js';
import {
  CLS_EVENT,
  CLS_TELEMETRY,
  EVICT_LOW_WATER,
  type GapTally,
  type Outbox,
  type OutboxStats,
  closedError,
  gapRecord,
  pendingGapRecord,
  tally,
} from './outbox.js';
import { CorruptStoreSignal, moveAside, openChecked, salvage } from './recovery.js';

type Db = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement;

export interface SqliteOutboxDeps {
  readonly clock: Clock;
  readonly logger: Logger;
}

/** What startup recovery did; also carried by the `store-recovered` event. */
export interface RecoveryReport {
  readonly reason: string;
  readonly movedTo: string;
  readonly salvaged: number;
  readonly unreadable: number;
}

/** Device name used for the store's own events (store-recovered). */
export const STORE_EVENT_DEVICE = 'agent';

interface Waiter {
  resolve(record: StoredRecord): void;
  reject(error: Error): void;
}

interface DeviceState {
  seq: number;
  /** Batch number in which `prev` was saved (for rollback and the once-per-batch upsert). */
  mark: number;
  prev: number;
  readonly device: string;
}

type SyncMode = 'FULL' | 'NORMAL';

const RETRY_POLICY = { initialMs: 100, maxMs: 5000, multiplier: 2, jitter: 0.2 };
const EVICT_CHUNK = 1024;
/** Rows per multi-row INSERT in the commit loop (the tail of a batch goes row by row). */
const MULTI_ROWS = 32;

export class SqliteOutbox implements Outbox {
  /**
   * Opens (creating the directory and file when missing), checks integrity, recovers a
   * corrupt file, migrates. Synchronous. Throws EdgeError EDGE_ERR_STORE_MIGRATION
   * (schema newer than this agent) or EDGE_ERR_STORE_OPEN.
   */
  static open(config: StoreConfig, deps: SqliteOutboxDeps): SqliteOutbox {
    const logger = deps.logger.child({ component: 'outbox' });
    const path = resolve(config.path);
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (e) {
      throw new EdgeError('EDGE_ERR_STORE_OPEN', `cannot create directory for ${path}: ${(e as Error).message}`, { cause: e, context: { path } });
    }
    let db: Db;
    let recovery: RecoveryReport | null = null;
    try {
      db = openChecked(path, config.integrityCheck);
    } catch (e) {
      if (!(e instanceof CorruptStoreSignal)) throw e;
      const movedTo = moveAside(path, deps.clock.now());
      logger.error({ code: 'EDGE_ERR_STORE_CORRUPT', reason: e.reason, movedTo }, 'outbox failed its integrity check; moved aside, starting a fresh store');
      db = openChecked(path, 'off');
      const result = salvage(movedTo, db, logger);
      recovery = { reason: e.reason, movedTo, salvaged: result.salvaged, unreadable: result.unreadable };
      logger.error({ code: 'EDGE_ERR_STORE_CORRUPT', ...recovery }, 'outbox recovered');
    }
    return new SqliteOutbox(db, path, config, deps.clock, logger, recovery);
  }

  readonly path: string;
  /** Non-null when startup found the file corrupt and recovered it. */
  readonly recovery: RecoveryReport | null;

  private readonly db: Db;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly maxRecords: number;
  private readonly maxLatencyMs: number;
  private readonly maxPending: number;
  private readonly maxRows: number;
  private readonly maxBytes: number;
  private readonly walMaxBytes: number;
  private readonly checkpointIntervalMs: number;
  private readonly syncTelemetry: SyncMode;
  private readonly syncEvent: SyncMode;
  private readonly idPrefix: string;

  private readonly sInsert: Statement;
  private readonly sInsertMulti: Statement;
  private readonly multiArgs: unknown[] = new Array(MULTI_ROWS * 6);
  private readonly sUpsertSeq: Statement;
  private readonly sLastRowid: Statement;
  private readonly sRead: Statement;
  private readonly sEvictSelect: Statement;
  private readonly sEvictDelete: Statement;
  private readonly sAckSum: Statement;
  private readonly sAckDelete: Statement;
  private readonly sOldest: Statement;
  private readonly sBegin: Statement;
  private readonly sCommit: Statement;
  private readonly sRollback: Statement;

  private nextRowid: number;
  private rows: number;
  private bytes: number;
  private readonly devices = new Map<string, DeviceState>();
  private batchNo = 0;
  private currentSync: SyncMode = 'FULL';

  private pending: NewRecord[] = [];
  private readonly waiters = new Map<NewRecord, Waiter>();
  private readonly droppedByDevice = new Map<string, number>();
  private latencyTimer: TimerHandle | null = null;
  private retryTimer: TimerHandle | null = null;
  private checkpointTimer: TimerHandle | null = null;
  private readonly backoff = new Backoff(RETRY_POLICY);
  private failing = false;
  private committing = false;
  private lastFailure: EdgeError | null = null;
  private readonly listeners = new Set<() => void>();
  private recoveryEvent: AgentEvent | null;
  private closed = false;
  private closing: Promise<void> | null = null;

  private committedTotal = 0;
  private committedBatches = 0;
  private evictedTelemetry = 0;
  private evictedEvent = 0;
  private droppedPending = 0;
  private checkpoints = 0;
  private lastCommitMs = 0;
  private healthy = true;
  private lastError: string | null = null;

  private constructor(db: Db, path: string, config: StoreConfig, clock: Clock, logger: Logger, recovery: RecoveryReport | null) {
    this.db = db;
    this.path = path;
    this.clock = clock;
    this.log = logger;
    this.recovery = recovery;
    this.maxRecords = config.batch.maxRecords;
    this.maxLatencyMs = config.batch.maxLatencyMs;
    this.maxPending = Math.max(config.maxPendingRecords ?? 200_000, config.batch.maxRecords);
    this.maxRows = config.maxRows;
    this.maxBytes = config.maxBytes;
    this.walMaxBytes = config.checkpoint.walMaxBytes;
    this.checkpointIntervalMs = config.checkpoint.intervalMs;
    this.syncTelemetry = config.synchronous.telemetry === 'normal' ? 'NORMAL' : 'FULL';
    this.syncEvent = config.synchronous.event === 'normal' ? 'NORMAL' : 'FULL';

    db.pragma('synchronous = FULL');
    db.pragma('wal_autocheckpoint = 1000');
    db.pragma(`journal_size_limit = ${this.walMaxBytes}`);
    db.pragma('cache_size = -16000');
    db.pragma('busy_timeout = 5000');

    const meta = new Map<string, unknown>(
      (db.prepare('SELECT key, value FROM meta').raw().all() as [string, unknown][]).map(([k, v]) => [k, v]),
    );
    this.idPrefix = `${String(meta.get('epoch'))}-`;
    const maxRowid = (db.prepare('SELECT max(rowid) FROM records').pluck().get() as number | null) ?? 0;
    this.nextRowid = Math.max(Number(meta.get('last_rowid') ?? 0), maxRowid) + 1;
    const [count, total] = db.prepare('SELECT count(*), total(octet_length(body)) FROM records').raw().get() as [number, number];
    this.rows = count;
    this.bytes = total;
    for (const [device, seq] of db.prepare('SELECT device, seq FROM device_seq').raw().all() as [string, number][]) {
      this.devices.set(device, { device, seq, mark: 0, prev: seq });
    }

    this.sInsert = db.prepare('INSERT INTO records (rowid, seq, device, cls, ts, body) VALUES (?, ?, ?, ?, ?, ?)');
    this.sInsertMulti = db.prepare(
      `INSERT INTO records (rowid, seq, device, cls, ts, body) VALUES ${new Array(MULTI_ROWS).fill('(?, ?, ?, ?, ?, ?)').join(', ')}`,
    );
    this.sUpsertSeq = db.prepare('INSERT INTO device_seq (device, seq) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET seq = excluded.seq');
    this.sLastRowid = db.prepare("UPDATE meta SET value = ? WHERE key = 'last_rowid'");
    this.sRead = db.prepare('SELECT rowid, seq, device, cls, ts, body FROM records WHERE rowid > ? AND rowid < ? ORDER BY rowid LIMIT ?').raw();
    this.sEvictSelect = db
      .prepare('SELECT rowid, device, seq, octet_length(body) FROM records WHERE cls = ? AND rowid > ? ORDER BY rowid LIMIT ?')
      .raw();
    this.sEvictDelete = db.prepare('DELETE FROM records WHERE cls = ? AND rowid <= ?');
    this.sAckSum = db.prepare('SELECT count(*), total(octet_length(body)) FROM records WHERE rowid BETWEEN ? AND ?').raw();
    this.sAckDelete = db.prepare('DELETE FROM records WHERE rowid BETWEEN ? AND ?');
    this.sOldest = db.prepare('SELECT ts FROM records ORDER BY rowid LIMIT 1').pluck();
    this.sBegin = db.prepare('BEGIN');
    this.sCommit = db.prepare('COMMIT');
    this.sRollback = db.prepare('ROLLBACK');

    this.recoveryEvent =
      recovery === null
        ? null
        : {
            device: STORE_EVENT_DEVICE,
            ts: clock.now(),
            type: 'store-recovered',
            severity: 'error',
            data: { code: 'EDGE_ERR_STORE_CORRUPT', ...recovery },
          };
    if (recovery !== null) this.lastError = 'EDGE_ERR_STORE_CORRUPT';
    this.armCheckpointTimer();
  }

  /** The `store-recovered` event (once): the agent emits it through the outbox. */
  takeRecoveryEvent(): AgentEvent | null {
    const event = this.recoveryEvent;
    this.recoveryEvent = null;
    return event;
  }

  // ---------------------------------------------------------------- sink

  append(record: NewRecord): void {
    if (this.closed) throw closedError();
    const pending = this.pending;
    pending.push(record);
    const n = pending.length;
    if (n >= this.maxRecords && !this.failing && !this.committing) {
      this.commitPending();
    } else {
      if (n === 1 && this.latencyTimer === null && !this.failing) this.armLatencyTimer();
      if (n > this.maxPending) this.shed();
    }
  }

  appendDurable(record: NewRecord): Promise<StoredRecord> {
    if (this.closed) return Promise.reject(closedError());
    const own: NewRecord = { device: record.device, cls: record.cls, ts: record.ts, body: record.body };
    return new Promise<StoredRecord>((resolve, reject) => {
      this.waiters.set(own, { resolve, reject });
      this.append(own);
    });
  }

  async flush(): Promise<void> {
    if (this.closed) throw closedError();
    if (!this.commitPending()) {
      throw new EdgeError('EDGE_ERR_STORE_WRITE', `outbox commit failed; ${this.pending.length} records stay pending`, {
        cause: this.lastFailure ?? undefined,
      });
    }
  }

  // ---------------------------------------------------------------- source

  read(afterRowid: number, limit: number, maxBytes: number, beforeRowid?: number): StoredRecord[] {
    if (this.closed) throw closedError();
    const out: StoredRecord[] = [];
    if (limit <= 0) return out;
    let total = 0;
    const prefix = this.idPrefix;
    for (const row of this.sRead.iterate(afterRowid, beforeRowid ?? Number.MAX_SAFE_INTEGER, limit) as Iterable<
      [number, number, string, number, number, string]
    >) {
      const body = row[5];
      const size = Buffer.byteLength(body, 'utf8');
      if (out.length > 0 && total + size > maxBytes) break;
      total += size;
      const rowid = row[0];
      out.push({ rowid, id: prefix + rowid, seq: row[1], device: row[2], cls: row[3] === CLS_EVENT ? 'event' : 'telemetry', ts: row[4], body });
    }
    return out;
  }

  ack(rowids: readonly number[]): void {
    if (this.closed) throw closedError();
    if (rowids.length === 0) return;
    const sorted = Float64Array.from(rowids).sort();
    let rows = 0;
    let bytes = 0;
    try {
      this.sBegin.run();
      try {
        let start = sorted[0];
        let end = start;
        for (let i = 1; i <= sorted.length; i++) {
          const r = i < sorted.length ? sorted[i] : NaN;
          if (r === end || r === end + 1) {
            end = r;
            continue;
          }
          const [c, b] = this.sAckSum.get(start, end) as [number, number];
          if (c > 0) {
            this.sAckDelete.run(start, end);
            rows += c;
            bytes += b;
          }
          start = end = r;
        }
        this.sCommit.run();
      } catch (e) {
        if (this.db.inTransaction) this.sRollback.run();
        throw e;
      }
    } catch (e) {
      const err = toEdgeError(e, 'EDGE_ERR_STORE_WRITE', { op: 'ack' });
      this.lastError = err.code;
      this.log.error({ code: err.code, err: err.message }, 'outbox ack failed');
      throw err;
    }
    this.rows -= rows;
    this.bytes -= bytes;
  }

  lastRowid(): number {
    if (this.closed) throw closedError();
    return this.nextRowid - 1;
  }

  onCommit(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  // ---------------------------------------------------------------- lifecycle

  stats(): OutboxStats {
    let oldestTs: number | null = null;
    if (!this.closed) oldestTs = (this.sOldest.get() as number | undefined) ?? null;
    return {
      rows: this.rows,
      bytes: this.bytes,
      oldestTs,
      committedTotal: this.committedTotal,
      committedBatches: this.committedBatches,
      evicted: { telemetry: this.evictedTelemetry, event: this.evictedEvent },
      droppedPending: this.droppedPending,
      pendingRecords: this.pending.length,
      checkpoints: this.checkpoints,
      walBytes: this.walBytes(),
      lastCommitMs: this.lastCommitMs,
      healthy: this.healthy,
      lastError: this.lastError,
    };
  }

  /** Runs `PRAGMA wal_checkpoint(TRUNCATE)` now; returns true when it completed. */
  checkpoint(): boolean {
    if (this.closed) throw closedError();
    return this.runCheckpoint();
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.closing = (async () => {
      this.cancelTimers();
      const lost = this.pending.length;
      if ((lost > 0 || this.droppedByDevice.size > 0) && !this.commitPending()) {
        const err = new EdgeError('EDGE_ERR_STORE_WRITE', `outbox closed with ${lost} records that could not be committed`, {
          cause: this.lastFailure ?? undefined,
        });
        this.log.error({ code: err.code, lost }, err.message);
        for (const w of this.waiters.values()) w.reject(err);
        this.waiters.clear();
        this.pending = [];
      }
      this.cancelTimers();
      this.runCheckpoint();
      this.db.close();
      this.listeners.clear();
    })();
    return this.closing;
  }

  // ---------------------------------------------------------------- group commit

  private armLatencyTimer(): void {
    this.latencyTimer = this.clock.setTimeout(() => {
      this.latencyTimer = null;
      if (!this.failing && !this.closed) this.commitPending();
    }, this.maxLatencyMs);
  }

  private cancelTimers(): void {
    this.latencyTimer?.cancel();
    this.latencyTimer = null;
    this.retryTimer?.cancel();
    this.retryTimer = null;
    this.checkpointTimer?.cancel();
    this.checkpointTimer = null;
  }

  /** Commits everything pending, in transactions of at most maxRecords. False on failure. */
  private commitPending(): boolean {
    if (this.committing) return false;
    this.latencyTimer?.cancel();
    this.latencyTimer = null;
    while (this.pending.length > 0 || this.droppedByDevice.size > 0) {
      if (!this.commitChunk()) return false;
    }
    return true;
  }

  private syncFor(batch: readonly NewRecord[], n: number): SyncMode {
    if (this.syncTelemetry === this.syncEvent) return this.syncTelemetry;
    let hasTelemetry = false;
    let hasEvent = false;
    for (let i = 0; i < n && !(hasTelemetry && hasEvent); i++) {
      if (batch[i].cls === 'event') hasEvent = true;
      else hasTelemetry = true;
    }
    if ((hasEvent && this.syncEvent === 'FULL') || (hasTelemetry && this.syncTelemetry === 'FULL')) return 'FULL';
    return 'NORMAL';
  }

  private commitChunk(): boolean {
    const all = this.pending;
    const n = Math.min(all.length, this.maxRecords);
    const t0 = this.clock.monotonic();
    const mark = ++this.batchNo;
    const touched: DeviceState[] = [];
    const savedRowid = this.nextRowid;
    const savedRows = this.rows;
    const savedBytes = this.bytes;
    const hasWaiters = this.waiters.size > 0;
    const resolved: [NewRecord, Waiter, StoredRecord][] = [];
    const dropped = this.droppedByDevice.size > 0 ? new Map(this.droppedByDevice) : null;
    let evictedT = 0;
    let evictedE = 0;
    let written = 0;
    const gapLogs: [RecordClass, Map<string, GapTally>][] = [];

    this.committing = true;
    try {
      const sync = dropped ? 'FULL' : this.syncFor(all, n);
      if (sync !== this.currentSync) {
        this.db.pragma(`synchronous = ${sync}`);
        this.currentSync = sync;
      }
      this.sBegin.run();
      try {
        // Hot loop: one prepared insert per record, seq from the in-memory counter.
        const insert = this.sInsert;
        const insertMulti = this.sInsertMulti;
        const args = this.multiArgs;
        const multiEnd = n - (n % MULTI_ROWS);
        let o = 0;
        const devices = this.devices;
        let rowid = this.nextRowid;
        let bytes = 0;
        for (let i = 0; i < n; i++) {
          const r = all[i];
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
            // Full groups go through the multi-row insert: fewer native calls per record.
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
          if (hasWaiters) {
            const w = this.waiters.get(r);
            if (w !== undefined) resolved.push([r, w, { rowid, id: this.idPrefix + rowid, seq, device, cls: r.cls, ts: r.ts, body }]);
          }
          rowid++;
        }
        this.nextRowid = rowid;
        this.rows += n;
        this.bytes += bytes;
        written = n;

        if (dropped) {
          const now = this.clock.now();
          for (const [device, count] of dropped) this.insertOne(pendingGapRecord(device, now, count), mark, touched);
          written += dropped.size;
        }

        for (let pass = 0; pass < 3 && (this.rows > this.maxRows || this.bytes > this.maxBytes); pass++) {
          const res = this.evict(mark, touched);
          evictedT += res.telemetry;
          evictedE += res.event;
          written += res.gaps;
          gapLogs.push(...res.logs);
        }

        for (const st of touched) this.sUpsertSeq.run(st.device, st.seq);
        this.sLastRowid.run(this.nextRowid - 1);
        this.sCommit.run();
      } catch (e) {
        if (this.db.inTransaction) this.sRollback.run();
        throw e;
      }
    } catch (e) {
      this.committing = false;
      this.nextRowid = savedRowid;
      this.rows = savedRows;
      this.bytes = savedBytes;
      for (const st of touched) st.seq = st.prev;
      this.onCommitFailure(e, n);
      return false;
    }
    this.committing = false;

    // Committed: drop the batch from pending, settle waiters, count, notify.
    this.pending = n === all.length ? [] : all.slice(n);
    if (dropped) for (const [device, count] of dropped) {
      const left = (this.droppedByDevice.get(device) ?? 0) - count;
      if (left > 0) this.droppedByDevice.set(device, left);
      else this.droppedByDevice.delete(device);
    }
    for (const [key, w, record] of resolved) {
      this.waiters.delete(key);
      w.resolve(record);
    }
    this.committedTotal += written;
    this.committedBatches++;
    this.evictedTelemetry += evictedT;
    this.evictedEvent += evictedE;
    this.lastCommitMs = this.clock.monotonic() - t0;
    if (this.failing || !this.healthy) {
      this.log.info({ pending: this.pending.length }, 'outbox commits succeed again');
    }
    this.failing = false;
    this.healthy = true;
    this.lastFailure = null;
    this.backoff.reset();
    this.retryTimer?.cancel();
    this.retryTimer = null;
    for (const [cls, tallies] of gapLogs) {
      const devices = Object.fromEntries([...tallies].map(([d, t]) => [d, t.evicted]));
      if (cls === 'event') this.log.error({ code: 'EDGE_ERR_STORE_FULL', devices }, 'outbox full: events evicted (no telemetry left)');
      else this.log.warn({ code: 'EDGE_ERR_STORE_FULL', devices }, 'outbox full: oldest telemetry evicted');
    }
    if (gapLogs.length > 0) this.lastError = 'EDGE_ERR_STORE_FULL';
    if (this.walBytes() > this.walMaxBytes) this.runCheckpoint();
    if (this.pending.length > 0 && this.latencyTimer === null && !this.closed) this.armLatencyTimer();
    this.notify();
    return true;
  }

  /** Inserts a store-generated record inside the open transaction. */
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
    this.sInsert.run(rowid, ++st.seq, r.device, r.cls === 'event' ? CLS_EVENT : CLS_TELEMETRY, r.ts, r.body);
    this.rows++;
    this.bytes += Buffer.byteLength(r.body, 'utf8');
  }

  /**
   * Inside the commit transaction: deletes the oldest telemetry (then, only when none is
   * left, the oldest events) down to the low-water mark, and writes one gap event per device.
   */
  private evict(mark: number, touched: DeviceState[]): { telemetry: number; event: number; gaps: number; logs: [RecordClass, Map<string, GapTally>][] } {
    const targetRows = Math.floor(this.maxRows * EVICT_LOW_WATER);
    const targetBytes = Math.floor(this.maxBytes * EVICT_LOW_WATER);
    const result = { telemetry: 0, event: 0, gaps: 0, logs: [] as [RecordClass, Map<string, GapTally>][] };
    const gaps: NewRecord[] = [];
    const now = this.clock.now();
    for (const cls of [CLS_TELEMETRY, CLS_EVENT]) {
      if (this.rows <= targetRows && this.bytes <= targetBytes) break;
      const tallies = new Map<string, GapTally>();
      let last = 0;
      let count = 0;
      let done = false;
      while (!done) {
        const chunk = this.sEvictSelect.all(cls, last, EVICT_CHUNK) as [number, string, number, number][];
        if (chunk.length === 0) break;
        for (const [rowid, device, seq, size] of chunk) {
          last = rowid;
          tally(tallies, device, seq);
          this.rows--;
          this.bytes -= size;
          count++;
          if (this.rows <= targetRows && this.bytes <= targetBytes) {
            done = true;
            break;
          }
        }
      }
      if (count === 0) continue;
      this.sEvictDelete.run(cls, last);
      const name: RecordClass = cls === CLS_EVENT ? 'event' : 'telemetry';
      if (cls === CLS_EVENT) result.event += count;
      else result.telemetry += count;
      result.logs.push([name, tallies]);
      for (const [device, t] of tallies) gaps.push(gapRecord(device, now, t, name));
    }
    for (const g of gaps) this.insertOne(g, mark, touched);
    result.gaps = gaps.length;
    return result;
  }

  private onCommitFailure(e: unknown, batchSize: number): void {
    const err = toEdgeError(e, 'EDGE_ERR_STORE_WRITE', { path: this.path });
    const wrapped = err.code === 'EDGE_ERR_STORE_WRITE' ? err : new EdgeError('EDGE_ERR_STORE_WRITE', err.message, { cause: e });
    this.lastFailure = wrapped;
    this.healthy = false;
    this.lastError = 'EDGE_ERR_STORE_WRITE';
    this.failing = true;
    this.latencyTimer?.cancel();
    this.latencyTimer = null;
    const sqlite = (e as { code?: unknown } | null)?.code;
    const delayMs = this.closed ? 0 : this.backoff.next();
    this.log.error(
      { code: 'EDGE_ERR_STORE_WRITE', sqlite, err: wrapped.message, batch: batchSize, pending: this.pending.length, retryInMs: delayMs },
      'outbox commit failed; records stay pending',
    );
    if (!this.closed && this.retryTimer === null) {
      this.retryTimer = this.clock.setTimeout(() => {
        this.retryTimer = null;
        if (!this.closed) this.commitPending();
      }, delayMs);
    }
  }

  /** Pending is over its bound (commits failing): drop the oldest pending telemetry, never events. */
  private shed(): void {
    const pending = this.pending;
    for (let i = 0; i < pending.length; i++) {
      const r = pending[i];
      if (r.cls !== 'telemetry') continue;
      pending.splice(i, 1);
      this.droppedPending++;
      this.droppedByDevice.set(r.device, (this.droppedByDevice.get(r.device) ?? 0) + 1);
      const w = this.waiters.get(r);
      if (w !== undefined) {
        this.waiters.delete(r);
        w.reject(new EdgeError('EDGE_ERR_STORE_FULL', 'pending telemetry dropped: outbox cannot commit and its pending buffer is full'));
      }
      if (this.droppedPending === 1 || this.droppedPending % 10_000 === 0) {
        this.log.error(
          { code: 'EDGE_ERR_STORE_FULL', droppedPending: this.droppedPending, maxPendingRecords: this.maxPending },
          'outbox pending buffer full: dropping oldest pending telemetry',
        );
      }
      return;
    }
  }

  private notify(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, 'outbox onCommit listener threw');
      }
    }
  }

  // ---------------------------------------------------------------- checkpoints

  private armCheckpointTimer(): void {
    this.checkpointTimer = this.clock.setTimeout(() => {
      this.checkpointTimer = null;
      if (this.closed) return;
      if (this.walBytes() > 0) this.runCheckpoint();
      this.armCheckpointTimer();
    }, this.checkpointIntervalMs);
  }

  private runCheckpoint(): boolean {
    try {
      const [row] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      if (row && row.busy === 0) {
        this.checkpoints++;
        return true;
      }
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'outbox checkpoint failed');
    }
    return false;
  }

  private walBytes(): number {
    try {
      return statSync(`${this.path}-wal`).size;
    } catch {
      return 0;
    }
  }
}
