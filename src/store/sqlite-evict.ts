/**
 * The size policy of the SQLite outbox. Inside the commit transaction, when the store is
 * over maxRows/maxBytes: deletes the oldest telemetry (then, only when none is left, the
 * oldest events) down to the low-water mark less the room the gap events need, and books
 * every deleted row in the GapBook (a deleted gap event is folded into its successor).
 * Rows in flight (published, PUBACK awaited) are never evicted: the consumer may get them.
 * After the commit: the log lines for those losses.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { Logger } from '../core/ports.js';
import { GAP_ROW_BYTES, type GapBook } from './gaps.js';
import { CLS_EVENT, CLS_TELEMETRY, EVICT_LOW_WATER } from './outbox.js';

type Statement = BetterSqlite3.Statement;

const EVICT_CHUNK = 1024;

/** One transaction's losses per device (logged after the commit). */
export type GapLog = ReturnType<GapBook['losses']>;

export interface EvictStatements {
  readonly evictSelect: Statement;
  readonly evictDelete: Statement;
}

export interface SizeLimits {
  readonly maxRows: number;
  readonly maxBytes: number;
}

export interface Eviction {
  /** Rows and body bytes left after the deletes (before the gap events are written). */
  rows: number;
  bytes: number;
  /** Records deleted per class (gap events folded into their successor not counted). */
  telemetry: number;
  event: number;
}

/** True while the size plus the gap rows still to write is over the bounds. */
export function overBounds(rows: number, bytes: number, book: GapBook, limits: SizeLimits): boolean {
  const add = book.rowsToAdd();
  return rows + add > limits.maxRows || bytes + book.pendingDevices * GAP_ROW_BYTES > limits.maxBytes;
}

/**
 * Deletes the oldest records down to the low-water mark; `rows`/`bytes` are the current
 * size. Rows in `inflight` (published, PUBACK awaited) are skipped: neither deleted nor booked.
 */
export function evictOldest(
  s: EvictStatements,
  rows: number,
  bytes: number,
  limits: SizeLimits,
  book: GapBook,
  inflight: ReadonlySet<number> = new Set(),
): Eviction {
  const result: Eviction = { rows, bytes, telemetry: 0, event: 0 };
  for (const cls of [CLS_TELEMETRY, CLS_EVENT]) {
    for (const [first, last] of selectOldest(s, cls, result, limits, book, inflight))
      s.evictDelete.run(cls, first, last);
  }
  return result;
}

/** The low-water targets, less the room for the gap rows (one more device may show up per row deleted). */
function fits(size: Eviction, limits: SizeLimits, book: GapBook): boolean {
  const rows = Math.floor(limits.maxRows * EVICT_LOW_WATER);
  const bytes = Math.floor(limits.maxBytes * EVICT_LOW_WATER);
  return (
    size.rows + book.rowsToAdd() <= Math.max(rows, book.rowsToAdd()) &&
    size.bytes + book.pendingDevices * GAP_ROW_BYTES <= Math.max(bytes, book.pendingDevices * GAP_ROW_BYTES)
  );
}

/**
 * Walks the oldest rows of one class, booking them and taking them off `size`, until the
 * size is down to the targets or the class is exhausted. Returns the rowid ranges to
 * delete (rows of the class between an in-flight row's neighbours).
 */
function selectOldest(
  s: EvictStatements,
  cls: number,
  size: Eviction,
  limits: SizeLimits,
  book: GapBook,
  inflight: ReadonlySet<number>,
): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let run: [number, number] | undefined;
  let last = 0;
  const name = cls === CLS_EVENT ? 'event' : 'telemetry';
  if (fits(size, limits, book)) return runs;
  for (;;) {
    const chunk = s.evictSelect.all(cls, last, EVICT_CHUNK) as [number, string, number, number][];
    if (chunk.length === 0) return runs;
    for (const [rowid, device, seq, bytes] of chunk) {
      last = rowid;
      if (inflight.has(rowid)) {
        run = undefined;
        continue;
      }
      if (run) run[1] = rowid;
      else runs.push((run = [rowid, rowid]));
      if (!book.isOpenGap(device, rowid)) {
        if (cls === CLS_EVENT) size.event++;
        else size.telemetry++;
      }
      book.evicted(device, rowid, seq, name);
      size.rows--;
      size.bytes -= bytes;
      if (fits(size, limits, book)) return runs;
    }
  }
}

/** One log line per class of loss: telemetry a warning, events an error. */
export function logEvictions(log: Logger, losses: GapLog): void {
  if (losses.length === 0) return; // every commit calls this; nearly all evict nothing
  const telemetry = losses.filter((l) => l.telemetry > 0);
  const events = losses.filter((l) => l.events > 0);
  if (events.length > 0)
    log.error(
      { code: 'EDGE_ERR_STORE_FULL', devices: Object.fromEntries(events.map((l) => [l.device, l.events])) },
      'outbox full: events evicted (no telemetry left)',
    );
  if (telemetry.length > 0)
    log.warn(
      {
        code: 'EDGE_ERR_STORE_FULL',
        devices: Object.fromEntries(telemetry.map((l) => [l.device, l.telemetry])),
      },
      'outbox full: oldest telemetry evicted',
    );
}
