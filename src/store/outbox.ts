/**
 * What both outbox implementations (SQLite, memory) offer beyond the ports: flush, close,
 * stats. Plus the shared helpers for gap events, so both write the same bodies.
 */
import { EdgeError } from '../core/errors.js';
import type { OnceSink, OutboxSource } from '../core/ports.js';
import type { NewRecord, RecordClass } from '../core/types.js';

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
  /** Pending telemetry dropped because the pending buffer was full (commits failing). */
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

/** Per-device tally of evicted records, turned into one gap event. */
export interface GapTally {
  evicted: number;
  fromSeq: number;
  toSeq: number;
}

export function tally(map: Map<string, GapTally>, device: string, seq: number): void {
  const t = map.get(device);
  if (t === undefined) map.set(device, { evicted: 1, fromSeq: seq, toSeq: seq });
  else {
    t.evicted++;
    if (seq < t.fromSeq) t.fromSeq = seq;
    if (seq > t.toSeq) t.toSeq = seq;
  }
}

/** The gap event recorded when committed records are evicted by the size policy. */
export function gapRecord(device: string, ts: number, t: GapTally, cls: RecordClass): NewRecord {
  const data: Record<string, unknown> = {
    evicted: t.evicted,
    fromSeq: t.fromSeq,
    toSeq: t.toSeq,
    reason: 'store-full',
  };
  if (cls === 'event') data.class = 'event';
  return {
    device,
    cls: 'event',
    ts,
    body: JSON.stringify({ type: 'gap', severity: cls === 'event' ? 'error' : 'warning', data }),
  };
}

/** The gap event recorded when pending (never committed, so seq-less) telemetry was dropped. */
export function pendingGapRecord(device: string, ts: number, dropped: number): NewRecord {
  const data = { evicted: dropped, fromSeq: null, toSeq: null, reason: 'pending-overflow' };
  return { device, cls: 'event', ts, body: JSON.stringify({ type: 'gap', severity: 'warning', data }) };
}

export function closedError(): EdgeError {
  return new EdgeError('EDGE_ERR_STORE_CLOSED', 'outbox used after close');
}

export function byteLength(body: string): number {
  return Buffer.byteLength(body, 'utf8');
}
