/**
 * The durable store-and-forward outbox on SQLite (better-sqlite3, WAL).
 *
 * Producers `append()` into an in-memory pending batch; one transaction commits the
 * batch when it reaches `batch.maxRecords` or when the event-loop turn of its first
 * record ends (adaptive group commit; `batch.maxLatencyMs` > 0 waits a fixed time instead). Commit assigns each record its rowid (queue order, never
 * reused), its per-device `seq` (persisted counter) and its id (`<epoch>-<rowid>`).
 * Forwarders `read()` committed records in rowid order and `ack()` them once the broker
 * has them. The store is bounded (rows, body bytes): the oldest telemetry is evicted
 * first, and every eviction leaves a `gap` event per device. See docs/store.md.
 *
 * This class opens and recovers the file and wires the parts together:
 * - sqlite-group-commit.ts: pending batch, group commit, retry, pending bound, waiters;
 * - sqlite-queue.ts: the committed queue (rowid/seq/id, size accounting, batch
 *   transaction, read, ack), with its statements in sqlite-statements.ts, its read path
 *   in sqlite-read.ts, its sync modes in sqlite-sync.ts and the PUBACKed rows awaiting
 *   their delete in sqlite-delivered.ts;
 * - sqlite-evict.ts: the size policy (eviction and gap events);
 * - sqlite-checkpoint.ts: WAL checkpoints.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { Clock } from '../core/clock.js';
import { EdgeError, toEdgeError } from '../core/errors.js';
import type { Logger, OnceResult, OnceScan } from '../core/ports.js';
import type { AgentEvent, NewRecord, StoredRecord } from '../core/types.js';
import type { StoreConfig } from '../config/sections/store.js';
import { type Outbox, type OutboxStats, closedError } from './outbox.js';
import { type CommandLedgerLimits, SqliteCommandLedger } from './command-ledger.js';
import { CorruptStoreSignal, moveAside, openChecked, salvage } from './recovery.js';
import { AckThread } from './sqlite-ack-thread.js';
import { Checkpointer } from './sqlite-checkpoint.js';
import { type CommitCounters, newCounters } from './sqlite-counters.js';
import { GroupCommit } from './sqlite-group-commit.js';
import { SqliteQueue } from './sqlite-queue.js';
import { type Fdatasync, WalSync } from './sqlite-wal-sync.js';

type Db = BetterSqlite3.Database;

export interface SqliteOutboxDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * Where a FULL commit's fsync runs: 'thread' (default) on libuv's thread pool, the event
   * loop going on meanwhile (sqlite-wal-sync.ts); 'inline': SQLite's own synchronous=FULL
   * in the loop (the benches' before figure).
   */
  readonly walSync?: 'thread' | 'inline';
  /** The fsync port of the 'thread' mode (tests hold it to see what waits for it). */
  readonly fdatasync?: Fdatasync;
  /**
   * Where ackAsync() deletes: 'thread' (default) in a worker with its own connection
   * (sqlite-ack-thread.ts), the event loop going on; 'inline': in the loop, as ack().
   */
  readonly acks?: 'thread' | 'inline';
  /** Overrides store.checkpoint.worker: 'thread' checkpoints in a worker thread (sqlite-checkpoint.ts), 'inline' in the loop. */
  readonly checkpoints?: 'thread' | 'inline';
}

/** What startup recovery did; also carried by the `store-recovered` event. */
export interface RecoveryReport {
  readonly reason: string;
  readonly movedTo: string;
  readonly salvaged: number;
  readonly unreadable: number;
}

/** The ack worker is ended after this long without a delete. */
export const ACK_THREAD_IDLE_MS = 30_000;

/** Device name used for the store's own events (store-recovered). */
const STORE_EVENT_DEVICE = 'agent';

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
      throw new EdgeError(
        'EDGE_ERR_STORE_OPEN',
        `cannot create directory for ${path}: ${(e as Error).message}`,
        { cause: e, context: { path } },
      );
    }
    let db: Db;
    let recovery: RecoveryReport | null = null;
    try {
      db = openChecked(path, config.integrityCheck);
    } catch (e) {
      if (!(e instanceof CorruptStoreSignal)) throw e;
      const movedTo = moveAside(path, deps.clock.now());
      logger.error(
        { code: 'EDGE_ERR_STORE_CORRUPT', reason: e.reason, movedTo },
        'outbox failed its integrity check; moved aside, starting a fresh store',
      );
      db = openChecked(path, 'off');
      const result = salvage(movedTo, db, logger);
      recovery = { reason: e.reason, movedTo, salvaged: result.salvaged, unreadable: result.unreadable };
      logger.error({ code: 'EDGE_ERR_STORE_CORRUPT', ...recovery }, 'outbox recovered');
    }
    return new SqliteOutbox(db, path, config, deps, logger, recovery);
  }

  readonly path: string;
  /** Non-null when startup found the file corrupt and recovered it. */
  readonly recovery: RecoveryReport | null;

  private readonly db: Db;
  private readonly log: Logger;
  private readonly queue: SqliteQueue;
  private readonly group: GroupCommit;
  private readonly checkpointer: Checkpointer;
  private readonly walSync: WalSync;
  private readonly counters: CommitCounters;
  private readonly ackThread: AckThread | undefined;
  private recoveryEvent: AgentEvent | null;
  private closed = false;
  private ledger: SqliteCommandLedger | undefined;
  private closing: Promise<void> | null = null;

  private constructor(
    db: Db,
    path: string,
    config: StoreConfig,
    deps: SqliteOutboxDeps,
    logger: Logger,
    recovery: RecoveryReport | null,
  ) {
    const clock = deps.clock;
    this.db = db;
    this.path = path;
    this.log = logger;
    this.recovery = recovery;
    this.queue = new SqliteQueue(db, config, clock);
    this.counters = newCounters(recovery === null ? null : 'EDGE_ERR_STORE_CORRUPT');
    this.checkpointer = new Checkpointer(
      db,
      path,
      config.checkpoint,
      clock,
      logger,
      deps.checkpoints === undefined ? config.checkpoint.worker : deps.checkpoints === 'thread',
    );
    this.walSync = new WalSync(`${path}-wal`, this.queue.lastRowid(), logger, deps.fdatasync);
    if (deps.walSync === 'inline') this.walSync.disable();
    this.group = new GroupCommit(config, {
      queue: this.queue,
      checkpointer: this.checkpointer,
      walSync: this.walSync,
      counters: this.counters,
      clock,
      log: logger,
      path,
    });
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
    if (deps.acks !== 'inline')
      this.ackThread = new AckThread(path, {
        clock,
        idleMs: ACK_THREAD_IDLE_MS,
        autocheckpoint: () => db.pragma('wal_autocheckpoint', { simple: true }) as number,
        onLost: (reason) => logger.warn({ reason }, 'outbox ack worker lost; deleting in the loop'),
      });
    this.checkpointer.start();
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
    this.group.append(record);
  }

  appendDurable(record: NewRecord): Promise<StoredRecord> {
    if (this.closed) return Promise.reject(closedError());
    return this.group.appendDurable(record);
  }

  appendOnce(key: string, records: readonly NewRecord[]): Promise<OnceResult> {
    if (this.closed) return Promise.reject(closedError());
    return this.group.appendOnce(key, records);
  }

  seenOnce(key: string): boolean {
    if (this.closed) throw closedError();
    return this.group.seenOnce(key);
  }

  highestOnce(prefix: string, after?: string): OnceScan {
    if (this.closed) throw closedError();
    return this.group.highestOnce(prefix, after);
  }

  /** Commits what is pending and resolves once it (and every earlier commit) is durable. */
  async flush(): Promise<void> {
    if (this.closed) throw closedError();
    this.group.flush();
    await this.walSync.drained();
  }

  /** The durable ledger of command ids, in this database (one per outbox). */
  commandLedger(limits: CommandLedgerLimits): SqliteCommandLedger {
    if (this.closed) throw closedError();
    this.ledger ??= new SqliteCommandLedger(this.db, limits, () => this.queue.fullSync());
    return this.ledger;
  }

  // ---------------------------------------------------------------- source

  read(afterRowid: number, limit: number, maxBytes: number, beforeRowid?: number): StoredRecord[] {
    if (this.closed) throw closedError();
    // Rows whose commit is not yet on disk are not read: a power cut could take them back.
    const end = this.walSync.durableRowid + 1;
    return this.queue.read(afterRowid, limit, maxBytes, Math.min(beforeRowid ?? end, end));
  }

  ack(rowids: readonly number[]): void {
    if (this.closed) throw closedError();
    if (rowids.length === 0) return;
    try {
      this.queue.deleteAcked(rowids);
      this.checkpointer.noteWrite();
    } catch (e) {
      const err = toEdgeError(e, 'EDGE_ERR_STORE_WRITE', { op: 'ack' });
      this.counters.lastError = err.code;
      this.log.error({ code: err.code, err: err.message }, 'outbox ack failed');
      throw err;
    }
  }

  /**
   * ack() off the event loop: the ack worker deletes the rows in a transaction of its own
   * and the store's accounting follows its answer. Rejects (EDGE_ERR_STORE_WRITE) when the
   * delete failed: the rows stay and are acked again. In the loop when there is no worker.
   */
  ackAsync(rowids: readonly number[]): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    const thread = this.ackThread;
    if (!thread?.usable || rowids.length === 0)
      return new Promise((resolve) => {
        this.ack(rowids); // a throw rejects
        resolve();
      });
    const sorted = Float64Array.from(rowids).sort();
    const kept = sorted.slice(); // the worker takes `sorted`'s buffer
    return thread.delete(sorted).then(
      (deleted) => {
        if (this.closed) return;
        this.queue.applyDeleted(kept, deleted);
        this.checkpointer.noteWrite();
      },
      (e: Error) => {
        const err = toEdgeError(e, 'EDGE_ERR_STORE_WRITE', { op: 'ack' });
        this.counters.lastError = err.code;
        this.log.error({ code: err.code, err: err.message }, 'outbox ack failed');
        throw err;
      },
    );
  }

  /** PUBACKed rows whose ack() follows: delivered, never counted as lost (sqlite-delivered.ts). */
  acked(rowids: readonly number[]): void {
    if (this.closed) throw closedError();
    this.queue.markDelivered(rowids);
  }

  /** Published, PUBACK awaited: not evicted until acked() or unsent() (sqlite-delivered.ts). */
  sending(rowids: readonly number[]): void {
    if (!this.closed) this.queue.markSending(rowids);
  }

  unsent(rowids: readonly number[]): void {
    if (!this.closed) this.queue.markUnsent(rowids);
  }

  evictions(): number {
    return this.queue.evictions;
  }

  /** The last durable rowid: what read() can return. */
  lastRowid(): number {
    if (this.closed) throw closedError();
    return this.walSync.durableRowid;
  }

  onCommit(listener: () => void): () => void {
    return this.group.onCommit(listener);
  }

  // ---------------------------------------------------------------- lifecycle

  /** stats().rows alone: no SELECT, no stat. */
  get rows(): number {
    return this.queue.rows;
  }

  stats(): OutboxStats {
    const c = this.counters;
    return {
      rows: this.queue.rows,
      bytes: this.queue.bytes,
      oldestTs: this.closed ? null : this.queue.oldestTs(),
      committedTotal: c.committedTotal,
      committedBatches: c.committedBatches,
      evicted: { telemetry: c.evictedTelemetry, event: c.evictedEvent },
      droppedPending: c.droppedPending,
      pendingRecords: this.group.pendingCount,
      checkpoints: this.checkpointer.count,
      walBytes: this.checkpointer.walBytes(),
      lastCommitMs: c.lastCommitMs,
      healthy: c.healthy,
      lastError: c.lastError,
    };
  }

  /** Runs `PRAGMA wal_checkpoint(TRUNCATE)` now; returns true when it completed. */
  checkpoint(): boolean {
    if (this.closed) throw closedError();
    return this.checkpointer.run();
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.closing = (async () => {
      const stopping = this.checkpointer.stop();
      this.group.close();
      await this.ackThread?.close(); // the deletes asked for go first
      await this.walSync.drained();
      this.walSync.close();
      await stopping;
      this.checkpointer.run();
      this.db.close();
      this.group.clearListeners();
    })();
    return this.closing;
  }
}
