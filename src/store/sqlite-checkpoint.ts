/**
 * WAL checkpoints of the SQLite outbox. With `checkpoint.worker`, a worker thread with its
 * own connection (sqlite-checkpoint-thread.ts) runs `wal_checkpoint(PASSIVE)` after every
 * PASSIVE_EVERY_RECORDS committed records and every `checkpoint.intervalMs` when anything
 * was committed: the outbox's connection never checkpoints on its own
 * (wal_autocheckpoint = 0), so no commit copies the WAL and fsyncs the database file in
 * the event loop. The WAL stays bounded: the next commit after a complete checkpoint
 * restarts it from the start. A checkpoint that ran beside commits has not copied theirs,
 * so a catch-up pass follows while the group commit holds new commits (as it does during
 * an fdatasync; at most CATCH_UP_PASSES): it copies a few frames and completes.
 * Without the worker (the default: it costs a V8 isolate, ~10 MB RSS; or it cannot
 * start, or it died) the connection checkpoints itself every 1,000 pages and the interval
 * runs TRUNCATE in the loop. Either way a WAL over `checkpoint.walMaxBytes` is
 * checkpointed TRUNCATE in the loop, as are checkpoint() and close.
 */
import { statSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/ports.js';
import type { StoreConfig } from '../config/sections/store.js';
import type { CheckpointReply } from './checkpoint-worker.js';
import { CheckpointThread } from './sqlite-checkpoint-thread.js';

type Db = BetterSqlite3.Database;

/** Records committed between worker checkpoints: about 1,000 WAL pages (SQLite's own default) at 150-byte bodies. */
export const PASSIVE_EVERY_RECORDS = 8192;
const CATCH_UP_PASSES = 3;

export class Checkpointer {
  private readonly walPath: string;
  private readonly walMaxBytes: number;
  private readonly intervalMs: number;
  private readonly thread: CheckpointThread | null;
  private timer: TimerHandle | null = null;
  private stopped = false;
  private completed = 0;
  private recordsSince = 0;
  private holding = false;
  /** The outbox wrote while a pass ran: the pass did not copy it, the WAL cannot restart. */
  private wroteDuringPass = false;
  private catchUps = 0;
  /** Called when a catch-up pass that held commits returned. */
  onRelease: () => void = () => {};

  constructor(
    private readonly db: Db,
    path: string,
    config: StoreConfig['checkpoint'],
    private readonly clock: Clock,
    private readonly log: Logger,
    offLoop: boolean,
  ) {
    this.walPath = `${path}-wal`;
    this.walMaxBytes = config.walMaxBytes;
    this.intervalMs = config.intervalMs;
    this.thread = offLoop
      ? new CheckpointThread(
          path,
          (reply) => this.replied(reply),
          (reason) => this.threadLost(reason),
        )
      : null;
    if (this.thread) db.pragma('wal_autocheckpoint = 0');
  }

  /** Checkpoints that completed since open. */
  get count(): number {
    return this.completed;
  }

  /** True while checkpoints run in the worker thread. */
  get offLoop(): boolean {
    return this.thread?.usable === true;
  }

  /** True while a catch-up pass runs: the group commit holds new commits. */
  get holdsCommits(): boolean {
    return this.holding;
  }

  /** Starts the periodic checkpoint. */
  start(): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      if (this.stopped) return;
      if (this.offLoop) {
        if (this.recordsSince > 0) this.requestPassive();
      } else if (this.walBytes() > 0) this.run();
      this.start();
    }, this.intervalMs);
  }

  /** Stops the periodic checkpoint and the worker for good (close). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
    await this.thread?.close();
  }

  /** After a commit of `records`: asks the worker for a checkpoint; TRUNCATE when the WAL is over its bound. */
  afterCommit(records: number): void {
    this.noteWrite();
    this.recordsSince += records;
    if (this.recordsSince >= PASSIVE_EVERY_RECORDS && this.offLoop) this.requestPassive();
    if (this.walBytes() > this.walMaxBytes) this.run();
  }

  /** The outbox's connection wrote (a commit, an ack's delete). */
  noteWrite(): void {
    if (this.thread?.busy === true) this.wroteDuringPass = true;
  }

  /** Resolves when no worker checkpoint runs. */
  settled(): Promise<void> {
    return this.thread?.settled() ?? Promise.resolve();
  }

  /** Runs `PRAGMA wal_checkpoint(TRUNCATE)` now, in the loop; true when it completed. Never throws. */
  run(): boolean {
    try {
      const [row] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      if (row && row.busy === 0) {
        this.completed++;
        this.recordsSince = 0;
        return true;
      }
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'outbox checkpoint failed');
    }
    return false;
  }

  /** Current size of the -wal file (0 when missing). */
  walBytes(): number {
    try {
      return statSync(this.walPath).size;
    } catch {
      return 0;
    }
  }

  private requestPassive(): void {
    this.recordsSince = 0;
    if (this.thread?.busy === false) this.wroteDuringPass = false;
    this.thread?.request();
  }

  private replied(reply: CheckpointReply): void {
    const held = this.holding;
    this.holding = false;
    if ('error' in reply) this.log.warn({ err: reply.error }, 'outbox checkpoint (worker) failed');
    else if (reply.busy === 0 && reply.checkpointed >= reply.log && !this.wroteDuringPass) {
      this.completed++;
      this.catchUps = 0;
    } else if (this.catchUps++ < CATCH_UP_PASSES && this.offLoop && !this.stopped) {
      this.holding = true;
      this.wroteDuringPass = false;
      this.thread?.request();
      return;
    } else this.catchUps = 0;
    if (held) this.onRelease();
  }

  private threadLost(reason: string): void {
    if (this.holding) {
      this.holding = false;
      this.onRelease();
    }
    if (this.stopped) return;
    this.log.warn({ err: reason }, 'outbox checkpoint worker lost: checkpointing in the event loop');
    try {
      this.db.pragma('wal_autocheckpoint = 1000');
    } catch {
      // connection closing; nothing left to checkpoint for
    }
  }
}
