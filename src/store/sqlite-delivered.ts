/**
 * Rows the forwarder holds outside the SQLite outbox, as the size policy must see them:
 *
 * - in flight (InflightRows): published, PUBACK awaited. Eviction skips them: the consumer
 *   may still receive them, so a gap event must not name them. They stay until acked()
 *   (then delivered) or unsent() (the connection dropped: evictable again, re-sent if still
 *   there). At most the forwarder's window.
 * - delivered (DeliveredRows): acknowledged by the broker, deleted later in batches (one
 *   transaction per few thousand rows). The size policy deletes them before it evicts
 *   anything and books no gap for them (a gap event names only seqs that never reached
 *   the broker).
 *
 * The delivered set is bounded (`maxRows`): it only grows while the batched deletes fail,
 * and the forwarder publishes nothing while one is failing (outbox-acks.ts), so the bound
 * is a backstop. At the bound mark() first deletes the marked rows itself; when that fails
 * too it throws EDGE_ERR_STORE_WRITE and marks nothing: those rows are not lost (still in
 * the store, deleted by the caller's retried ack), but until then the size policy may
 * count them as evicted (a gap naming a delivered seq: a loss reported too many, never one
 * hidden).
 */
import type BetterSqlite3 from 'better-sqlite3';
import { EdgeError } from '../core/errors.js';
import { RowidSet } from './rowid-set.js';

type Statement = BetterSqlite3.Statement;

/** Delivered rows awaiting their delete, at most (a RowidSet: ~150 KB dense, rowid-set.ts). */
export const MAX_DELIVERED_ROWS = 262_144;

export interface DeleteStatements {
  /** count(*), total(octet_length(body)) of a rowid range. */
  readonly ackSum: Statement;
  /** DELETE of a rowid range. */
  readonly ackDelete: Statement;
}

export interface Deleted {
  rows: number;
  bytes: number;
}

/** Published messages awaiting their PUBACK, by their rowid arrays (one entry per publish). */
export class InflightRows {
  private readonly messages = new Set<readonly number[]>();

  get size(): number {
    return this.messages.size;
  }

  add(rowids: readonly number[]): void {
    this.messages.add(rowids);
  }

  /** The PUBACK came or never will: the same array as add(). */
  remove(rowids: readonly number[]): void {
    this.messages.delete(rowids);
  }

  clear(): void {
    this.messages.clear();
  }

  /** Every rowid in flight, for one eviction (empty when none). */
  snapshot(): ReadonlySet<number> {
    const out = new Set<number>();
    for (const m of this.messages) for (const r of m) out.add(r);
    return out;
  }
}

export class DeliveredRows {
  private readonly marked = new RowidSet();

  constructor(
    private readonly s: DeleteStatements,
    /** Deletes the marked rows in a transaction of its own (the store's ack path); throws on failure. */
    private readonly deleteNow: (rowids: number[]) => void,
    private readonly maxRows = MAX_DELIVERED_ROWS,
  ) {}

  /** Rows PUBACKed but not yet deleted. */
  get size(): number {
    return this.marked.size;
  }

  has(rowid: number): boolean {
    return this.marked.has(rowid);
  }

  /** Marks `rowids` delivered; at the bound deletes the marked rows first, throws when it cannot. */
  mark(rowids: readonly number[]): void {
    if (this.marked.size + rowids.length > this.maxRows && this.marked.size > 0) {
      try {
        this.deleteNow(Array.from(this.marked.sorted()));
      } catch (e) {
        throw new EdgeError(
          'EDGE_ERR_STORE_WRITE',
          `delivered rows at their bound (${this.marked.size}) and their delete fails: ${(e as Error).message}`,
          { cause: e, context: { delivered: this.marked.size, maxRows: this.maxRows } },
        );
      }
    }
    for (const rowid of rowids) this.marked.add(rowid);
  }

  /** The rows are gone (their delete committed). */
  forget(rowids: ArrayLike<number>): void {
    if (this.marked.size === 0) return;
    for (let i = 0; i < rowids.length; i++) this.marked.delete(rowids[i]!);
  }

  /**
   * Deletes every marked row, inside the caller's transaction. They stay marked until
   * their own ack commits (forget), so a rolled-back transaction loses nothing.
   */
  deleteMarked(): Deleted {
    return this.deleteSorted(this.marked.sorted());
  }

  /** Deletes the given rowids, sorted ascending, as contiguous ranges (inside a transaction). */
  deleteSorted(sorted: Float64Array): Deleted {
    return deleteRanges(this.s, sorted);
  }
}

/**
 * Deletes `sorted` (ascending rowids) as contiguous ranges, one count and one DELETE per
 * range, inside the caller's transaction; counts only the rows that were still there.
 */
export function deleteRanges(s: DeleteStatements, sorted: Float64Array): Deleted {
  const out: Deleted = { rows: 0, bytes: 0 };
  if (sorted.length === 0) return out;
  let start = sorted[0]!;
  let end = start;
  for (let i = 1; i <= sorted.length; i++) {
    const r = i < sorted.length ? sorted[i]! : NaN;
    if (r === end || r === end + 1) {
      end = r;
      continue;
    }
    const [c, b] = s.ackSum.get(start, end) as [number, number];
    if (c > 0) {
      s.ackDelete.run(start, end);
      out.rows += c;
      out.bytes += b;
    }
    start = end = r;
  }
  return out;
}
