/**
 * The newest committed rows, as the StoredRecords the queue built when it inserted them:
 * a live forwarder reads what was just committed, and reading it back from SQLite cost the
 * agent more CPU than anything else on that path (a SELECT per commit, every body copied
 * out of SQLite into a second JS string that then outlived a scavenge).
 *
 * The cache holds every row of the rowid range [first, end) that the table holds, and only
 * those: rows enter in rowid order as they are inserted, and leave once read (from the
 * front: `first` moves past them), when acked rows are deleted, or all at once on any
 * other delete or a rolled-back transaction (first = end: the rows before are SQLite's to
 * read again). A read whose range starts at `first` or later is
 * answered here with the same rows, in the same order and within the same bounds, as
 * SQLite would give; any other read goes to SQLite.
 */
import type { StoredRecord } from '../core/types.js';
import { type PageRequest, rowsToRead, withinBytes } from './sqlite-read.js';

/** Far more than a live drain leaves between a commit and its read; a backlog reads SQLite. */
export const TAIL_MAX_ROWS = 1024;
/** Body size bound, in UTF-16 code units (the unit the reader bounds in). */
export const TAIL_MAX_UNITS = 1 << 19;

export class TailCache {
  /** slots[head] is rowid `first`; undefined: deleted. */
  private slots: (StoredRecord | undefined)[] = [];
  private head = 0;
  private first: number;
  private units = 0;
  private held = 0;
  /**
   * Over its caps nobody reads at the tail (no broker, a backlog, no forwarder): the cache
   * empties and holds nothing until a read catches up with the newest row, rather than
   * keeping every record alive past a scavenge for nothing.
   */
  private paused = false;

  constructor(
    nextRowid: number,
    private readonly maxRows = TAIL_MAX_ROWS,
    private readonly maxUnits = TAIL_MAX_UNITS,
  ) {
    this.first = nextRowid;
  }

  /** One past the last row held: the next rowid the table will get. */
  get end(): number {
    return this.first + this.slots.length - this.head;
  }

  /** Rows held (not deleted). */
  get size(): number {
    return this.held;
  }

  /** The row just inserted; a rowid out of sequence empties the cache first. */
  push(record: StoredRecord): void {
    if (this.paused) return this.clear(record.rowid + 1);
    if (record.rowid !== this.end) this.clear(record.rowid);
    this.slots.push(record);
    this.held++;
    this.units += record.body.length;
    if (this.held > this.maxRows || this.units > this.maxUnits) {
      this.paused = true;
      this.clear();
    }
  }

  /** Forgets everything; the table's rows before `end` are SQLite's to read. */
  clear(end = this.end): void {
    this.slots = [];
    this.head = 0;
    this.first = end;
    this.units = 0;
    this.held = 0;
  }

  /** Rows from `rowid` on were rolled back: the rows before it stay valid only if none was touched. */
  rollback(fromRowid: number): void {
    this.clear(fromRowid);
  }

  /** These rowids (ascending) were deleted from the table. */
  deleted(sorted: Float64Array): void {
    const end = this.end;
    for (const rowid of sorted) {
      if (rowid < this.first) continue;
      if (rowid >= end) break;
      const i = this.head + rowid - this.first;
      const record = this.slots[i];
      if (record === undefined) continue;
      this.slots[i] = undefined;
      this.held--;
      this.units -= record.body.length;
    }
    while (this.head < this.slots.length && this.slots[this.head] === undefined) this.advance();
    this.compact();
  }

  /** The page SQLite would return for `req`, or undefined when rows before `first` may be in it. */
  read(req: PageRequest, meanBody: number): StoredRecord[] | undefined {
    if (req.afterRowid + 1 < this.first) return undefined;
    this.paused = false;
    const cap = rowsToRead(meanBody, req);
    const out: StoredRecord[] = [];
    if (cap <= 0) return out;
    const stop = Math.min(this.end, req.beforeRowid ?? Number.MAX_SAFE_INTEGER);
    for (let rowid = req.afterRowid + 1; rowid < stop && out.length < cap; rowid++) {
      const record = this.slots[this.head + rowid - this.first];
      if (record !== undefined) out.push(record);
    }
    const page = withinBytes(out, req.maxBytes);
    const last = page.at(-1);
    if (last !== undefined) this.dropThrough(last.rowid);
    return page;
  }

  /**
   * A row read is not kept for a second read (a reconnect re-reads from SQLite): held
   * until its delete, every body outlived a scavenge and was promoted.
   */
  private dropThrough(rowid: number): void {
    while (this.first <= rowid && this.head < this.slots.length) this.dropFirst();
  }

  private dropFirst(): void {
    const record = this.slots[this.head];
    if (record !== undefined) {
      this.held--;
      this.units -= record.body.length;
    }
    this.advance();
    this.compact();
  }

  private advance(): void {
    this.slots[this.head] = undefined;
    this.head++;
    this.first++;
  }

  /** Drops the dead prefix once it is half the array: amortised O(1) per row. */
  private compact(): void {
    if (this.head === this.slots.length) {
      this.slots = [];
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
  }
}
