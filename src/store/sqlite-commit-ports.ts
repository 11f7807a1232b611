/**
 * What the group commit (sqlite-group-commit.ts) works through: the committed queue, the
 * checkpointer and WAL sync that decide when a commit is durable, the counters stats()
 * reports, and the waiter a durable append leaves until its record is on disk. Apart from
 * the commit logic so that the store's wiring (sqlite-outbox.ts) reads against this alone.
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/ports.js';
import type { StoredRecord } from '../core/types.js';
import type { Checkpointer } from './sqlite-checkpoint.js';
import type { CommitCounters } from './sqlite-counters.js';
import type { SqliteQueue } from './sqlite-queue.js';
import type { WalSync } from './sqlite-wal-sync.js';

export interface GroupCommitDeps {
  readonly queue: SqliteQueue;
  readonly checkpointer: Checkpointer;
  /** Makes commits durable off the event loop; in the loop (FULL) once it is not usable. */
  readonly walSync: WalSync;
  readonly counters: CommitCounters;
  readonly clock: Clock;
  readonly log: Logger;
  /** Store path, for error context. */
  readonly path: string;
}

/** A durable append (or an appendOnce group) waiting for its records to be on disk. */
export interface Waiter {
  resolve(record: StoredRecord): void;
  reject(error: Error): void;
}
