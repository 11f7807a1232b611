/**
 * What one batch transaction of the committed queue (sqlite-queue.ts) is told and tells:
 * the marks of the appendOnce groups in the batch, and the result the group commit
 * (sqlite-group-commit.ts) settles its producers and logs its losses from.
 */
import type { NewRecord, StoredRecord } from '../core/types.js';
import type { GapLog } from './sqlite-evict.js';

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
  /** Committed NORMAL where FULL was due (syncOffLoop): durable once the WAL is fdatasynced. */
  needsSync: boolean;
}
