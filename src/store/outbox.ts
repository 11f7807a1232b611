/**
 * What both outbox implementations (SQLite, memory) offer beyond the ports: flush, close,
 * stats. Gap events are in gaps.ts.
 */
import { EdgeError } from '../core/errors.js';
import type { OnceSink, OutboxSource } from '../core/ports.js';
import type { NewRecord, StoredRecord } from '../core/types.js';

export interface OutboxStats {
  /** Committed records in the store. */
  readonly rows: number;
  /** Body bytes (UTF-8) of the committed records. */
  readonly bytes: number;
  /** `ts` of the oldest committed record, null when empty. */
  readonly oldestTs: number | null;
  /** Records committed since open (including gap events written by the store). */
  readonly committedTotal: number;
  /** Transactions that committed records since open. */
  readonly committedBatches: number;
  /** Committed records deleted by the size policy since open. */
  readonly evicted: { readonly telemetry: number; readonly event: number };
  /** Pending telemetry dropped because the pending buffer was full (commits failing); each is in a gap event's seq range. */
  readonly droppedPending: number;
  /** Records waiting for the next group commit. */
  readonly pendingRecords: number;
  /** WAL checkpoints (TRUNCATE) run since open. */
  readonly checkpoints: number;
  /** Current size of the -wal file. */
  readonly walBytes: number;
  /** Duration of the last commit in ms. */
  readonly lastCommitMs: number;
  /** False from a failed commit until the next successful one. */
  readonly healthy: boolean;
  /** Code of the last error (commit failure, recovery…), null when none. */
  readonly lastError: string | null;
}

/** The full outbox: both ports plus lifecycle. */
export interface Outbox extends OnceSink, OutboxSource {
  /** Commits every pending record now; rejects with EDGE_ERR_STORE_WRITE when the commit fails (records stay pending). */
  flush(): Promise<void>;
  /** Flushes, releases resources; idempotent. Any later use throws EDGE_ERR_STORE_CLOSED. */
  close(): Promise<void>;
  stats(): OutboxStats;
}

export const CLS_TELEMETRY = 0;
export const CLS_EVENT = 1;

/** Eviction frees down to this fraction of the bound, so it does not run (and write gap events) on every commit. */
export const EVICT_LOW_WATER = 0.9;

export function closedError(): EdgeError {
  return new EdgeError('EDGE_ERR_STORE_CLOSED', 'outbox used after close');
}

export function byteLength(body: string): number {
  return Buffer.byteLength(body, 'utf8');
}

/** `r` as stored at `rowid`, its device's `seq`-th record (one shape for every outbox). */
export function storedRecord(r: NewRecord, idPrefix: string, rowid: number, seq: number): StoredRecord {
  return { rowid, id: idPrefix + rowid, seq, device: r.device, cls: r.cls, ts: r.ts, body: r.body };
}
