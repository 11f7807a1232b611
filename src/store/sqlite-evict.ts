/**
 * The size policy of the SQLite outbox. Inside the commit transaction, when the store is
 * over maxRows/maxBytes: deletes the oldest telemetry (then, only when none is left, the
 * oldest events) down to the low-water mark and builds one gap event per device and class.
 * After the commit: the log lines for those evictions.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Logger } from '../core/ports.js';
import type { NewRecord, RecordClass } from '../core/types.js';
import { CLS_EVENT, CLS_TELEMETRY, EVICT_LOW_WATER, type GapTally, gapRecord, tally } from './outbox.js';

type Statement = BetterSqlite3.Statement;

const EVICT_CHUNK = 1024;

/** Evicted records of one class, tallied per device (logged after the commit). */
export type GapLog = [RecordClass, Map<string, GapTally>];

export interface EvictStatements {
  readonly evictSelect: Statement;
  readonly evictDelete: Statement;
}

export interface SizeLimits {
  readonly maxRows: number;
  readonly maxBytes: number;
}

export interface Eviction {
  /** Rows and body bytes left after the deletes (before the gap events are inserted). */
  rows: number;
  bytes: number;
  /** Records deleted per class. */
  telemetry: number;
  event: number;
  /** Gap events to insert in the same transaction. */
  readonly gaps: NewRecord[];
  readonly logs: GapLog[];
}

/** Deletes the oldest records down to the low-water mark; `rows`/`bytes` are the current size. */
export function evictOldest(
  s: EvictStatements,
  rows: number,
  bytes: number,
  limits: SizeLimits,
  now: number,
): Eviction {
  const targetRows = Math.floor(limits.maxRows * EVICT_LOW_WATER);
  const targetBytes = Math.floor(limits.maxBytes * EVICT_LOW_WATER);
  const result: Eviction = { rows, bytes, telemetry: 0, event: 0, gaps: [], logs: [] };
  for (const cls of [CLS_TELEMETRY, CLS_EVENT]) {
    if (result.rows <= targetRows && result.bytes <= targetBytes) break;
    const tallies = new Map<string, GapTally>();
    const { last, count } = selectOldest(s, cls, result, targetRows, targetBytes, tallies);
    if (count === 0) continue;
    s.evictDelete.run(cls, last);
    const name: RecordClass = cls === CLS_EVENT ? 'event' : 'telemetry';
    if (cls === CLS_EVENT) result.event += count;
    else result.telemetry += count;
    result.logs.push([name, tallies]);
    for (const [device, t] of tallies) result.gaps.push(gapRecord(device, now, t, name));
  }
  return result;
}

/**
 * Walks the oldest rows of one class, tallying them and taking them off `size`, until the
 * size is down to the targets or the class is exhausted. Returns the last rowid to delete.
 */
function selectOldest(
  s: EvictStatements,
  cls: number,
  size: { rows: number; bytes: number },
  targetRows: number,
  targetBytes: number,
  tallies: Map<string, GapTally>,
): { last: number; count: number } {
  let last = 0;
  let count = 0;
  for (;;) {
    const chunk = s.evictSelect.all(cls, last, EVICT_CHUNK) as [number, string, number, number][];
    if (chunk.length === 0) return { last, count };
    for (const [rowid, device, seq, bytes] of chunk) {
      last = rowid;
      tally(tallies, device, seq);
      size.rows--;
      size.bytes -= bytes;
      count++;
      if (size.rows <= targetRows && size.bytes <= targetBytes) return { last, count };
    }
  }
}

/** One log line per evicted class: telemetry is a warning, events an error. */
export function logEvictions(log: Logger, logs: readonly GapLog[]): void {
  for (const [cls, tallies] of logs) {
    const devices = Object.fromEntries([...tallies].map(([d, t]) => [d, t.evicted]));
    if (cls === 'event')
      log.error({ code: 'EDGE_ERR_STORE_FULL', devices }, 'outbox full: events evicted (no telemetry left)');
    else log.warn({ code: 'EDGE_ERR_STORE_FULL', devices }, 'outbox full: oldest telemetry evicted');
  }
}
