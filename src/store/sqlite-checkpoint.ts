/**
 * WAL checkpoints of the SQLite outbox: `wal_checkpoint(TRUNCATE)` every
 * `checkpoint.intervalMs` while the WAL is not empty, after a commit that left it over
 * `checkpoint.walMaxBytes`, on demand and at close.
 */
import { statSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/ports.js';
import type { StoreConfig } from '../config/sections/store.js';

type Db = BetterSqlite3.Database;

export class Checkpointer {
  private readonly walPath: string;
  private readonly walMaxBytes: number;
  private readonly intervalMs: number;
  private timer: TimerHandle | null = null;
  private stopped = false;
  private completed = 0;

  constructor(
    private readonly db: Db,
    path: string,
    config: StoreConfig['checkpoint'],
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.walPath = `${path}-wal`;
    this.walMaxBytes = config.walMaxBytes;
    this.intervalMs = config.intervalMs;
  }

  /** Checkpoints that completed since open. */
  get count(): number {
    return this.completed;
  }

  /** Starts the periodic checkpoint. */
  start(): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      if (this.stopped) return;
      if (this.walBytes() > 0) this.run();
      this.start();
    }, this.intervalMs);
  }

  /** Stops the periodic checkpoint for good (close). */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
  }

  /** After a commit: checkpoints when the WAL has grown past its bound. */
  afterCommit(): void {
    if (this.walBytes() > this.walMaxBytes) this.run();
  }

  /** Runs `PRAGMA wal_checkpoint(TRUNCATE)` now; true when it completed. Never throws. */
  run(): boolean {
    try {
      const [row] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      if (row && row.busy === 0) {
        this.completed++;
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
}
