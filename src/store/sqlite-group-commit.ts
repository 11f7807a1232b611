/**
 * Group commit for the SQLite outbox. Producers' records wait in an in-memory pending
 * batch; one transaction commits it when it reaches `batch.maxRecords`, else when the
 * event-loop turn of its first record ends (adaptive: an idle store commits at once), or
 * `batch.maxLatencyMs` after its first record when that is set above 0 (a fixed window).
 * In the adaptive mode a commit never starts less than `batch.minIntervalMs` after the
 * previous one ended (a steady stream of single records would otherwise pay one fsync
 * each), more under a heavy stream (sqlite-commit-pace.ts), and never while the WAL's
 * fdatasync is out (sqlite-wal-sync.ts): what arrives meanwhile commits when it returns
 * (the classic group commit). Durable appends resolve,
 * and listeners hear of a commit, once it is on disk. A failed commit keeps the records
 * pending and retries with backoff; while commits fail, pending is bounded by dropping
 * the oldest pending telemetry (sqlite-shed.ts), recorded by a gap event at the next commit.
 * What a failure reports (error, log line, retry policy) is in sqlite-commit-failure.ts.
 */
import { Backoff } from '../core/backoff.js';
import { type Clock, type TimerHandle, afterTurnOr } from '../core/clock.js';
import { EdgeError } from '../core/errors.js';
import type { Logger, OnceResult, OnceScan } from '../core/ports.js';
import type { NewRecord, StoredRecord } from '../core/types.js';
import type { StoreConfig } from '../config/sections/store.js';
import type { Checkpointer } from './sqlite-checkpoint.js';
import type { GroupCommitDeps, Waiter } from './sqlite-commit-ports.js';
import {
  commitWriteError,
  logCommitFailure,
  RETRY_POLICY,
  syncFailed,
  uncommittedError,
} from './sqlite-commit-failure.js';
import { CommitPace } from './sqlite-commit-pace.js';
import { logEvictions } from './sqlite-evict.js';
import { PendingOnceGroups, type OnceGroup } from './sqlite-once-groups.js';
import type { CommitCounters } from './sqlite-counters.js';
import { logDropsBooked, shedOldestTelemetry, unbookDropped } from './sqlite-shed.js';
import type { BatchResult, SqliteQueue } from './sqlite-queue.js';
import type { WalSync } from './sqlite-wal-sync.js';

export type { GroupCommitDeps } from './sqlite-commit-ports.js';

export class GroupCommit {
  private readonly queue: SqliteQueue;
  private readonly checkpointer: Checkpointer;
  private readonly walSync: WalSync;
  private readonly counters: CommitCounters;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly path: string;
  private readonly maxRecords: number;
  private readonly maxLatencyMs: number;
  private readonly pace: CommitPace;
  /** Monotonic time the last commit ended. */
  private lastCommitAt = -Infinity;
  private readonly maxPending: number;

  private pending: NewRecord[] = [];
  private readonly waiters = new Map<NewRecord, Waiter>();
  private readonly groups = new PendingOnceGroups();
  private readonly droppedByDevice = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  private latencyTimer: TimerHandle | null = null;
  /** Monotonic time latencyTimer fires. */
  private latencyDue = 0;
  private retryTimer: TimerHandle | null = null;
  private readonly backoff = new Backoff(RETRY_POLICY);
  private failing = false;
  private committing = false;
  /** A commit came due while an fdatasync was in flight: it runs when that returns. */
  private gathering = false;
  private closed = false;
  private lastFailure: EdgeError | null = null;

  constructor(config: StoreConfig, deps: GroupCommitDeps) {
    this.queue = deps.queue;
    this.checkpointer = deps.checkpointer;
    this.walSync = deps.walSync;
    this.walSync.onSynced = () => this.afterSync();
    this.checkpointer.onRelease = () => this.afterSync();
    this.counters = deps.counters;
    this.clock = deps.clock;
    this.log = deps.log;
    this.path = deps.path;
    this.maxRecords = config.batch.maxRecords;
    this.maxLatencyMs = config.batch.maxLatencyMs;
    this.pace = new CommitPace(
      config.batch.minIntervalMs,
      config.batch.maxIntervalMs,
      this.clock.monotonic(),
    );
    this.maxPending = Math.max(config.maxPendingRecords ?? 200_000, config.batch.maxRecords);
  }

  /** Records waiting for the next group commit. */
  get pendingCount(): number {
    return this.pending.length;
  }

  append(record: NewRecord, durable = false): void {
    this.pending.push(record);
    this.pace.arrived(1, durable);
    this.afterPush(durable);
  }

  /**
   * Commits when the batch is full, else schedules the commit (sooner when `durable` and
   * telemetry alone had spaced it further); sheds over the pending bound.
   */
  private afterPush(durable: boolean): void {
    const n = this.pending.length;
    if (n >= this.maxRecords && !this.failing && !this.committing) {
      this.commitPending();
    } else {
      // n > 0, not n === 1: an appendOnce group can take an empty batch to several records at once.
      if (n > 0 && this.latencyTimer === null && !this.failing) this.armLatencyTimer();
      else if (durable && this.latencyTimer !== null && this.maxLatencyMs === 0) this.hurry();
      if (n > this.maxPending) this.shed();
    }
  }

  appendDurable(record: NewRecord): Promise<StoredRecord> {
    const own: NewRecord = { device: record.device, cls: record.cls, ts: record.ts, body: record.body };
    return new Promise<StoredRecord>((resolve, reject) => {
      this.waiters.set(own, { resolve, reject });
      this.append(own, true);
    });
  }

  appendOnce(key: string, records: readonly NewRecord[]): Promise<OnceResult> {
    if (records.length === 0)
      return Promise.reject(new EdgeError('EDGE_ERR_STORE_WRITE', 'appendOnce needs at least one record'));
    const members = records.map((r): NewRecord => ({ device: r.device, cls: r.cls, ts: r.ts, body: r.body }));
    return new Promise<OnceResult>((resolve, reject) => {
      const stored: StoredRecord[] = [];
      const group: OnceGroup = { key, size: members.length, members, resolve };
      const waiter: Waiter = {
        resolve: (record) => {
          stored.push(record);
          if (stored.length === members.length) resolve({ duplicate: false, records: stored });
        },
        reject,
      };
      this.groups.add(group);
      for (const m of members) {
        this.waiters.set(m, waiter);
        this.pending.push(m);
      }
      this.pace.arrived(members.length, true);
      this.afterPush(true);
    });
  }

  /** True when `key` waits in a pending group or is committed. */
  seenOnce(key: string): boolean {
    return this.groups.hasKey(key) || this.queue.hasKey(key);
  }

  /** One step of OnceSink.highestOnce: committed keys, and on the first step the pending ones. */
  highestOnce(prefix: string, after?: string): OnceScan {
    const step = this.queue.scanKeys(prefix, after);
    return after === undefined ? { ...step, high: this.groups.highestKey(prefix, step.high) } : step;
  }

  /** Commits everything pending now; throws EDGE_ERR_STORE_WRITE when a commit fails. */
  flush(): void {
    if (!this.commitPending())
      throw uncommittedError(
        `outbox commit failed; ${this.pending.length} records stay pending`,
        this.lastFailure,
      );
  }

  onCommit(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Stops the timers and commits what is pending; when that fails, rejects the durable appends. */
  close(): void {
    this.closed = true;
    this.cancelTimers();
    const lost = this.pending.length;
    if ((lost > 0 || this.droppedByDevice.size > 0) && !this.commitPending()) {
      const err = uncommittedError(
        `outbox closed with ${lost} records that could not be committed`,
        this.lastFailure,
      );
      this.log.error({ code: err.code, lost }, err.message);
      for (const w of this.waiters.values()) w.reject(err);
      this.waiters.clear();
      this.pending = [];
      this.groups.clear();
    }
    this.cancelTimers();
  }

  clearListeners(): void {
    this.listeners.clear();
  }

  // ---------------------------------------------------------------- commit

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

  private commitChunk(): boolean {
    const all = this.pending;
    const n = this.chunkEnd(all);
    const t0 = this.clock.monotonic();
    const dropped = this.droppedByDevice.size > 0 ? new Map(this.droppedByDevice) : null;
    let result: BatchResult<Waiter>;
    this.committing = true;
    const offLoop = this.walSync.usable;
    this.queue.syncOffLoop = offLoop;
    try {
      result = this.queue.writeBatch(all, n, dropped, this.waiters, this.groups.marks());
    } catch (e) {
      this.committing = false;
      this.onCommitFailure(e, n);
      return false;
    }
    this.committing = false;
    const finish = this.settle(all, n, dropped, result);
    this.recordSuccess(result, t0);
    const rowid = this.queue.lastRowid();
    if (offLoop) this.walSync.committed(rowid, result.needsSync, finish);
    else {
      this.walSync.advance(rowid);
      finish(null);
    }
    return true;
  }

  /** At most maxRecords, but never cutting an appendOnce group in two. */
  private chunkEnd(all: readonly NewRecord[]): number {
    return this.groups.chunkEnd(all, Math.min(all.length, this.maxRecords));
  }

  /**
   * Committed: drops the batch from pending; returns what resolves its durable appends and
   * tells the listeners once it is durable (or rejects them when its WAL sync failed).
   */
  private settle(
    all: NewRecord[],
    n: number,
    dropped: Map<string, number> | null,
    result: BatchResult<Waiter>,
  ): (error: EdgeError | null) => void {
    this.pending = n === all.length ? [] : all.slice(n);
    if (dropped) unbookDropped(this.droppedByDevice, dropped);
    // a duplicate group resolves with nothing written
    const duplicates = this.groups.settle(all, n, result.duplicates);
    const held: Waiter[] = [];
    for (const group of duplicates) {
      const w = group.members[0] && this.waiters.get(group.members[0]);
      if (w) held.push(w);
      for (const m of group.members) this.waiters.delete(m);
    }
    for (const [key, w] of result.resolved) {
      this.waiters.delete(key);
      held.push(w);
    }
    return (error) => {
      if (error) syncFailed(this.counters, error, held);
      else {
        for (const group of duplicates) group.resolve({ duplicate: true, records: [] });
        for (const [, w, record] of result.resolved) w.resolve(record);
      }
      this.notify();
    };
  }

  /** An fdatasync or a catch-up checkpoint returned: commit what gathered meanwhile. */
  private afterSync(): void {
    if (!this.gathering || this.held()) return;
    this.gathering = false;
    if (this.pending.length > 0 && !this.failing && !this.closed) this.commitPending();
  }

  /** Counts the commit, clears the failure state, logs evictions, checkpoints, re-arms, notifies. */
  private recordSuccess(result: BatchResult<Waiter>, t0: number): void {
    const c = this.counters;
    c.committedTotal += result.written;
    c.committedBatches++;
    c.evictedTelemetry += result.evictedTelemetry;
    c.evictedEvent += result.evictedEvent;
    this.lastCommitAt = this.clock.monotonic();
    c.lastCommitMs = this.lastCommitAt - t0;
    if (this.failing || !c.healthy) {
      this.log.info({ pending: this.pending.length }, 'outbox commits succeed again');
    }
    this.failing = false;
    c.healthy = true;
    this.lastFailure = null;
    this.backoff.reset();
    this.retryTimer?.cancel();
    this.retryTimer = null;
    logEvictions(this.log, result.gapLogs);
    if (result.droppedRanges.length > 0) logDropsBooked(this.log, c.droppedPending, result.droppedRanges);
    if (result.gapLogs.length > 0 || result.droppedRanges.length > 0) c.lastError = 'EDGE_ERR_STORE_FULL';
    this.checkpointer.afterCommit(result.written);
    if (this.pending.length > 0 && this.latencyTimer === null && !this.closed) this.armLatencyTimer();
  }

  private onCommitFailure(e: unknown, batchSize: number): void {
    const wrapped = commitWriteError(e, this.path);
    this.lastFailure = wrapped;
    this.counters.healthy = false;
    this.counters.lastError = 'EDGE_ERR_STORE_WRITE';
    this.failing = true;
    this.latencyTimer?.cancel();
    this.latencyTimer = null;
    const delayMs = this.closed ? 0 : this.backoff.next();
    logCommitFailure(this.log, e, wrapped, {
      batch: batchSize,
      pending: this.pending.length,
      retryInMs: delayMs,
    });
    if (!this.closed && this.retryTimer === null) {
      this.retryTimer = this.clock.setTimeout(() => {
        this.retryTimer = null;
        if (!this.closed) this.commitPending();
      }, delayMs);
    }
  }

  /** Pending is over its bound (commits failing): drop the oldest pending telemetry, never events. */
  private shed(): void {
    shedOldestTelemetry(this.pending, this.groups, this.waiters, this.droppedByDevice, {
      counters: this.counters,
      log: this.log,
      maxPending: this.maxPending,
    });
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

  // ---------------------------------------------------------------- timers

  private armLatencyTimer(): void {
    const now = this.clock.monotonic();
    const wait = this.maxLatencyMs > 0 ? this.maxLatencyMs : this.spacingLeft(now);
    this.latencyDue = now + wait;
    this.latencyTimer = afterTurnOr(
      this.clock,
      () => {
        this.latencyTimer = null;
        if (this.failing || this.closed) return;
        // Classic group commit: what arrives while the WAL syncs commits when it returns.
        if (this.held()) this.gathering = true;
        else this.commitPending();
      },
      wait,
    );
  }

  /** What is left at `now` of the spacing after the last commit (0: commit at the end of the turn). */
  private spacingLeft(now: number): number {
    return Math.max(0, this.lastCommitAt + this.pace.interval(now, this.waiters.size > 0) - now);
  }

  /** A durable append joined a batch timed for telemetry alone: re-arms at its shorter spacing. */
  private hurry(): void {
    const now = this.clock.monotonic();
    if (this.latencyDue <= now + this.spacingLeft(now)) return;
    this.latencyTimer?.cancel();
    this.armLatencyTimer();
  }

  /** An fdatasync is out, or a checkpoint catches up: new commits wait for it. */
  private held(): boolean {
    return this.walSync.busy || this.checkpointer.holdsCommits;
  }

  private cancelTimers(): void {
    this.latencyTimer?.cancel();
    this.latencyTimer = null;
    this.retryTimer?.cancel();
    this.retryTimer = null;
  }
}
