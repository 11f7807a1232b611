/**
 * The read path of the SQLite outbox: one page of committed records in rowid order,
 * bounded by a row count and by body size, as StoredRecords.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { StoredRecord } from '../core/types.js';
import { CLS_EVENT } from './outbox.js';

/** Rows fetched beyond what maxBytes admits at the mean body size. */
const READ_BYTES_SLACK = 1.25;
const READ_ROWS_SLACK = 16;

export interface PageRequest {
  readonly afterRowid: number;
  readonly limit: number;
  readonly maxBytes: number;
  readonly beforeRowid?: number | undefined;
}

type Row = [rowid: number, seq: number, device: string, cls: number, ts: number, body: string];

/**
 * Rows to fetch for `req`: its limit, cut down to what maxBytes admits at the store's mean
 * body size (0: unknown), so the rows read past the byte bound stay few.
 */
export function rowsToRead(meanBody: number, req: PageRequest): number {
  const { limit, maxBytes } = req;
  if (limit <= 0) return 0;
  return meanBody > 0
    ? Math.min(limit, Math.ceil((maxBytes / meanBody) * READ_BYTES_SLACK) + READ_ROWS_SLACK)
    : limit;
}

/**
 * The leading records within maxBytes of body (the first one always). The bound is on
 * memory, which holds the body as a JS string: its length (one or two bytes a unit) is the
 * measure, and the payload builder bounds in the same unit; a UTF-8 byte count per row cost
 * as much as the rest of the row's decoding.
 */
export function withinBytes(records: StoredRecord[], maxBytes: number): StoredRecord[] {
  let total = 0;
  for (let i = 0; i < records.length; i++) {
    const size = records[i]!.body.length;
    if (i > 0 && total + size > maxBytes) return records.slice(0, i);
    total += size;
  }
  return records;
}

/**
 * `read` is the raw `SELECT rowid, seq, device, cls, ts, body … WHERE rowid > ? AND
 * rowid < ? ORDER BY rowid LIMIT ?`; `meanBody` the store's mean body size (0: unknown).
 */
export function readPage(
  read: BetterSqlite3.Statement,
  idPrefix: string,
  meanBody: number,
  req: PageRequest,
): StoredRecord[] {
  const out: StoredRecord[] = [];
  // One all() instead of a row-by-row iterate (a native call per row).
  const rows = rowsToRead(meanBody, req);
  if (rows <= 0) return out;
  const { maxBytes } = req;
  const page = read.all(req.afterRowid, req.beforeRowid ?? Number.MAX_SAFE_INTEGER, rows) as Row[];
  let total = 0;
  for (const row of page) {
    const body = row[5];
    const size = body.length; // the unit of withinBytes()
    if (out.length > 0 && total + size > maxBytes) break;
    total += size;
    const rowid = row[0];
    out.push({
      rowid,
      id: idPrefix + rowid,
      seq: row[1],
      device: row[2],
      cls: row[3] === CLS_EVENT ? 'event' : 'telemetry',
      ts: row[4],
      body,
    });
  }
  return out;
}
