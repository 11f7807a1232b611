/**
 * The SQLite side of the outbox queue: connection pragmas, the persisted state read at
 * open (epoch, rowid high-water mark, size, per-device seq counters) and every prepared
 * statement. Statements are prepared once at open so the commit hot path never re-prepares.
 */
import type BetterSqlite3 from 'better-sqlite3';

type Db = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement;

/** Rows per multi-row INSERT in the commit loop (the tail of a batch goes row by row). */
export const MULTI_ROWS = 32;

export interface QueueStatements {
  readonly insert: Statement;
  /** INSERT of MULTI_ROWS rows at once (6 parameters per row). */
  readonly insertMulti: Statement;
  readonly upsertSeq: Statement;
  readonly lastRowid: Statement;
  readonly read: Statement;
  readonly evictSelect: Statement;
  readonly evictDelete: Statement;
  readonly deleteRow: Statement;
  readonly gapRows: Statement;
  readonly ackSum: Statement;
  readonly ackDelete: Statement;
  readonly oldest: Statement;
  readonly dedupInsert: Statement;
  readonly dedupHas: Statement;
  readonly dedupRange: Statement;
  readonly dedupPruneAge: Statement;
  readonly dedupPruneOldest: Statement;
  readonly begin: Statement;
  readonly commit: Statement;
  readonly rollback: Statement;
}

/** What the store file holds when it is opened. */
export interface PersistedState {
  /** `<epoch>-`: ids are the prefix plus the rowid. */
  readonly idPrefix: string;
  /** Next rowid to assign: past both the rows present and the persisted high-water mark. */
  readonly nextRowid: number;
  readonly rows: number;
  readonly bytes: number;
  /** Per-device seq counters. */
  readonly seqs: readonly [string, number][];
  /** Exactly-once keys held. */
  readonly dedupKeys: number;
}

/** Connection settings; the store starts in synchronous=FULL. */
export function applyPragmas(db: Db, walMaxBytes: number): void {
  db.pragma('synchronous = FULL');
  db.pragma('wal_autocheckpoint = 1000');
  db.pragma(`journal_size_limit = ${walMaxBytes}`);
  db.pragma('cache_size = -16000');
  db.pragma('busy_timeout = 5000');
}

export function loadState(db: Db): PersistedState {
  const meta = new Map<string, unknown>(
    (db.prepare('SELECT key, value FROM meta').raw().all() as [string, unknown][]).map(([k, v]) => [k, v]),
  );
  const maxRowid = (db.prepare('SELECT max(rowid) FROM records').pluck().get() as number | null) ?? 0;
  const [rows, bytes] = db.prepare('SELECT count(*), total(octet_length(body)) FROM records').raw().get() as [
    number,
    number,
  ];
  return {
    idPrefix: `${String(meta.get('epoch'))}-`,
    nextRowid: Math.max(Number(meta.get('last_rowid') ?? 0), maxRowid) + 1,
    rows,
    bytes,
    seqs: db.prepare('SELECT device, seq FROM device_seq').raw().all() as [string, number][],
    dedupKeys: db.prepare('SELECT count(*) FROM dedup').pluck().get() as number,
  };
}

export function prepareStatements(db: Db): QueueStatements {
  return {
    insert: db.prepare('INSERT INTO records (rowid, seq, device, cls, ts, body) VALUES (?, ?, ?, ?, ?, ?)'),
    insertMulti: db.prepare(
      `INSERT INTO records (rowid, seq, device, cls, ts, body) VALUES ${new Array(MULTI_ROWS).fill('(?, ?, ?, ?, ?, ?)').join(', ')}`,
    ),
    upsertSeq: db.prepare(
      'INSERT INTO device_seq (device, seq) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET seq = excluded.seq',
    ),
    lastRowid: db.prepare("UPDATE meta SET value = ? WHERE key = 'last_rowid'"),
    read: db
      .prepare(
        'SELECT rowid, seq, device, cls, ts, body FROM records WHERE rowid > ? AND rowid < ? ORDER BY rowid LIMIT ?',
      )
      .raw(),
    evictSelect: db
      .prepare(
        'SELECT rowid, device, seq, octet_length(body) FROM records WHERE cls = ? AND rowid > ? ORDER BY rowid LIMIT ?',
      )
      .raw(),
    evictDelete: db.prepare('DELETE FROM records WHERE cls = ? AND rowid BETWEEN ? AND ?'),
    deleteRow: db.prepare('DELETE FROM records WHERE rowid = ?'),
    gapRows: db
      .prepare(`SELECT rowid, seq, device, body FROM records WHERE cls = 1 AND body LIKE '{"type":"gap"%'`)
      .raw(),
    ackSum: db
      .prepare('SELECT count(*), total(octet_length(body)) FROM records WHERE rowid BETWEEN ? AND ?')
      .raw(),
    ackDelete: db.prepare('DELETE FROM records WHERE rowid BETWEEN ? AND ?'),
    oldest: db.prepare('SELECT ts FROM records ORDER BY rowid LIMIT 1').pluck(),
    dedupInsert: db.prepare('INSERT OR IGNORE INTO dedup (key, ts) VALUES (?, ?)'),
    dedupHas: db.prepare('SELECT 1 FROM dedup WHERE key = ?').pluck(),
    // A step through a range of the primary key: only the prefix's own keys are read.
    dedupRange: db.prepare('SELECT key FROM dedup WHERE key > ? AND key < ? ORDER BY key LIMIT ?').pluck(),
    dedupPruneAge: db.prepare('DELETE FROM dedup WHERE ts < ?'),
    dedupPruneOldest: db.prepare(
      'DELETE FROM dedup WHERE key IN (SELECT key FROM dedup ORDER BY ts LIMIT ?)',
    ),
    // IMMEDIATE: the ack worker writes too; a deferred transaction that read first would
    // fail (SQLITE_BUSY_SNAPSHOT, no busy wait) if the worker committed in between.
    begin: db.prepare('BEGIN IMMEDIATE'),
    commit: db.prepare('COMMIT'),
    rollback: db.prepare('ROLLBACK'),
  };
}
