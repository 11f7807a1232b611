/**
 * Opening the outbox file with an integrity check, and what happens when it fails:
 * the file (and its -wal/-shm) is moved aside as `<path>.corrupt-<timestamp>`, a fresh
 * store is created, and readable rows are salvaged into it row by row, best effort.
 */
import { existsSync, renameSync } from 'node:fs';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { EdgeError } from '../core/errors.js';
import type { Logger } from '../core/ports.js';
import { assertKnownVersion, migrate } from './schema.js';

type Db = BetterSqlite3.Database;

/** Thrown inside the open path when the file is not a sound database. */
export class CorruptStoreSignal extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

function isCorruptError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB'));
}

export type IntegrityMode = 'quick' | 'full' | 'off';

/**
 * Opens, refuses a newer schema, switches to WAL, checks integrity, migrates.
 * Throws CorruptStoreSignal (recoverable), or EdgeError (STORE_MIGRATION, STORE_OPEN).
 */
export function openChecked(path: string, integrity: IntegrityMode): Db {
  let db: Db;
  try {
    db = new Database(path);
  } catch (e) {
    if (isCorruptError(e)) throw new CorruptStoreSignal((e as Error).message);
    throw new EdgeError('EDGE_ERR_STORE_OPEN', `cannot open outbox ${path}: ${(e as Error).message}`, {
      cause: e,
      context: { path },
    });
  }
  try {
    assertKnownVersion(db, path);
    db.pragma('journal_mode = WAL');
    if (integrity !== 'off') {
      const rows = db.pragma(integrity === 'full' ? 'integrity_check' : 'quick_check', {
        simple: false,
      }) as Record<string, unknown>[];
      const messages = rows.map((r) => String(Object.values(r)[0]));
      if (!(messages.length === 1 && messages[0] === 'ok')) {
        throw new CorruptStoreSignal(
          `${integrity === 'full' ? 'integrity_check' : 'quick_check'}: ${messages.slice(0, 5).join('; ')}`,
        );
      }
    }
    migrate(db, path);
    return db;
  } catch (e) {
    try {
      db.close();
    } catch {
      /* already unusable */
    }
    if (e instanceof CorruptStoreSignal) throw e;
    if (isCorruptError(e)) throw new CorruptStoreSignal((e as Error).message);
    if (e instanceof EdgeError) throw e;
    throw new EdgeError('EDGE_ERR_STORE_OPEN', `cannot open outbox ${path}: ${(e as Error).message}`, {
      cause: e,
      context: { path },
    });
  }
}

/** Renames the database and its -wal/-shm to `<path>.corrupt-<stamp>[-wal|-shm]`; returns the new main path. */
export function moveAside(path: string, nowMs: number): string {
  const stamp = new Date(nowMs).toISOString().replace(/[:.]/g, '-');
  let aside = `${path}.corrupt-${stamp}`;
  for (let n = 1; existsSync(aside); n++) aside = `${path}.corrupt-${stamp}-${n}`;
  renameSync(path, aside);
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
  }
  return aside;
}

export interface SalvageResult {
  readonly salvaged: number;
  /** Read failures skipped over (each may hide several rows). */
  readonly unreadable: number;
  /** False when the old file could not be opened at all. */
  readonly opened: boolean;
}

const SALVAGE_DEADLINE_MS = 60_000;

/**
 * Copies readable rows of the moved-aside file into the fresh store, in queue order,
 * keeping device, class, ts, body and seq (new rowids, hence new ids). Per-device
 * counters become the larger of the old counter (when readable) and the salvaged seq.
 */
export function salvage(asidePath: string, fresh: Db, logger: Logger): SalvageResult {
  let old: Db;
  try {
    old = new Database(asidePath, { fileMustExist: true, readonly: true });
    old.pragma('user_version', { simple: true });
  } catch (e) {
    logger.warn(
      { code: 'EDGE_ERR_STORE_CORRUPT', err: (e as Error).message },
      'corrupt outbox cannot be opened for salvage',
    );
    return { salvaged: 0, unreadable: 0, opened: false };
  }
  const seqs = new Map<string, number>();
  let salvaged = 0;
  let unreadable = 0;
  try {
    try {
      for (const row of old.prepare('SELECT device, seq FROM device_seq').raw().iterate() as Iterable<
        unknown[]
      >) {
        if (typeof row[0] === 'string' && typeof row[1] === 'number') seqs.set(row[0], row[1]);
      }
    } catch {
      unreadable++;
    }
    let maxRowid = Number.MAX_SAFE_INTEGER;
    try {
      const m = old.prepare('SELECT max(rowid) FROM records').pluck().get();
      if (typeof m === 'number') maxRowid = m;
    } catch {
      unreadable++;
    }
    const select = old
      .prepare('SELECT rowid, seq, device, cls, ts, body FROM records WHERE rowid > ? ORDER BY rowid')
      .raw();
    const insert = fresh.prepare(
      'INSERT INTO records (rowid, seq, device, cls, ts, body) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const deadline = Date.now() + SALVAGE_DEADLINE_MS;
    let next = 1;
    let cursor = 0;
    let skip = 0;
    fresh.transaction(() => {
      while (cursor < maxRowid && Date.now() < deadline) {
        try {
          for (const row of select.iterate(cursor) as Iterable<unknown[]>) {
            const [rowid, seq, device, cls, ts, body] = row;
            if (typeof rowid === 'number') cursor = rowid;
            skip = 0;
            if (
              typeof seq !== 'number' ||
              typeof device !== 'string' ||
              (cls !== 0 && cls !== 1) ||
              typeof ts !== 'number' ||
              typeof body !== 'string'
            ) {
              unreadable++;
              continue;
            }
            insert.run(next++, seq, device, cls, ts, body);
            salvaged++;
            if (seq > (seqs.get(device) ?? 0)) seqs.set(device, seq);
          }
          break;
        } catch {
          unreadable++;
          skip = skip === 0 ? 1 : skip * 2;
          cursor += skip;
        }
      }
      copyDedupKeys(old, fresh);
      const upsert = fresh.prepare(
        'INSERT INTO device_seq (device, seq) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET seq = max(seq, excluded.seq)',
      );
      for (const [device, seq] of seqs) upsert.run(device, seq);
      fresh.prepare("UPDATE meta SET value = ? WHERE key = 'last_rowid'").run(next - 1);
    })();
  } finally {
    try {
      old.close();
    } catch {
      /* ignore */
    }
  }
  return { salvaged, unreadable, opened: true };
}

/** Exactly-once keys survive a recovery where readable: losing them would store resends twice. */
function copyDedupKeys(old: Db, fresh: Db): void {
  try {
    const insert = fresh.prepare('INSERT OR IGNORE INTO dedup (key, ts) VALUES (?, ?)');
    for (const [key, ts] of old.prepare('SELECT key, ts FROM dedup').raw().iterate() as Iterable<unknown[]>) {
      if (typeof key === 'string' && typeof ts === 'number') insert.run(key, ts);
    }
  } catch {
    /* an older schema without the table, or unreadable pages: best effort */
  }
  try {
    const insert = fresh.prepare('INSERT OR IGNORE INTO command_ids (key, ts, result) VALUES (?, ?, ?)');
    const rows = old.prepare('SELECT key, ts, result FROM command_ids').raw().iterate() as Iterable<
      unknown[]
    >;
    for (const [key, ts, result] of rows) {
      if (typeof key === 'string' && typeof ts === 'number')
        insert.run(key, ts, typeof result === 'string' ? result : null);
    }
  } catch {
    /* same: best effort (a lost id lets a still-fresh redelivery run again) */
  }
}
