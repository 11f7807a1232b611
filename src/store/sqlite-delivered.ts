/**
 * Rows the broker has acknowledged, on their way out of the SQLite outbox. The forwarder
 * marks them at their PUBACK and deletes them later in batches (one transaction per few
 * thousand rows). In between they are delivered, not lost: the size policy deletes them
 * before it evicts anything and books no gap for them (a gap event names only seqs that
 * never reached the broker).
 */
import type BetterSqlite3 from 'better-sqlite3';

type Statement = BetterSqlite3.Statement;

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

export class DeliveredRows {
  private readonly marked = new Set<number>();

  constructor(private readonly s: DeleteStatements) {}

  /** Rows PUBACKed but not yet deleted. */
  get size(): number {
    return this.marked.size;
  }

  has(rowid: number): boolean {
    return this.marked.has(rowid);
  }

  mark(rowids: readonly number[]): void {
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
    return this.deleteSorted(Float64Array.from(this.marked).sort());
  }

  /** Deletes the given rowids, sorted ascending, as contiguous ranges (inside a transaction). */
  deleteSorted(sorted: Float64Array): Deleted {
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
      const [c, b] = this.s.ackSum.get(start, end) as [number, number];
      if (c > 0) {
        this.s.ackDelete.run(start, end);
        out.rows += c;
        out.bytes += b;
      }
      start = end = r;
    }
    return out;
  }
}
