/**
 * Outbox schema and its versioned migrations. `PRAGMA user_version` holds the number of
 * migrations applied; each migration runs in its own transaction with the version bump.
 * A database whose version is newer than this list is refused (EDGE_ERR_STORE_MIGRATION):
 * a downgraded agent must not write into a schema it does not understand.
 */
import { randomBytes } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { EdgeError } from '../core/errors.js';

type Db = BetterSqlite3.Database;

/** A fresh random store epoch: ids are `<epoch>-<rowid>`, unique across store re-creations. */
export function newEpoch(): string {
  return randomBytes(6).toString('hex');
}

export const MIGRATIONS: ReadonlyArray<(db: Db) => void> = [
  // 1: records queue, per-device sequence counters, meta (epoch, rowid high-water mark).
  (db) => {
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
      CREATE TABLE records (
        rowid INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        device TEXT NOT NULL,
        cls INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        body TEXT NOT NULL
      );
      CREATE TABLE device_seq (device TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
    `);
    db.prepare("INSERT INTO meta (key, value) VALUES ('epoch', ?), ('last_rowid', 0)").run(newEpoch());
  },
  // 2: exactly-once keys (appendOnce), written in the commit transaction of their records;
  // ts is the commit time, for retention by age.
  (db) => {
    db.exec(`
      CREATE TABLE dedup (key TEXT PRIMARY KEY, ts INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX dedup_ts ON dedup (ts);
    `);
  },
  // 3: command ids seen (MQTT tag writes, CIP-22 pile commands), claimed before the command
  // runs so a redelivery after a restart is not run again; result is the JSON answered to
  // duplicates once known. ts is the claim time, for retention (commands.seenTtlMs).
  (db) => {
    db.exec(`
      CREATE TABLE command_ids (key TEXT PRIMARY KEY, ts INTEGER NOT NULL, result TEXT) WITHOUT ROWID;
      CREATE INDEX command_ids_ts ON command_ids (ts);
    `);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Throws EDGE_ERR_STORE_MIGRATION when the file is newer than this agent; touches nothing then. */
export function assertKnownVersion(db: Db, path: string): number {
  const version = schemaVersion(db);
  if (version > SCHEMA_VERSION) {
    throw new EdgeError(
      'EDGE_ERR_STORE_MIGRATION',
      `outbox schema version ${version} is newer than this agent knows (${SCHEMA_VERSION}); refusing to touch it`,
      { context: { path, version, known: SCHEMA_VERSION } },
    );
  }
  return version;
}

export function migrate(db: Db, path: string): void {
  const from = assertKnownVersion(db, path);
  for (let v = from; v < SCHEMA_VERSION; v++) {
    try {
      db.transaction(() => {
        MIGRATIONS[v]!(db);
        db.pragma(`user_version = ${v + 1}`);
      })();
    } catch (e) {
      throw new EdgeError(
        'EDGE_ERR_STORE_MIGRATION',
        `outbox migration ${v + 1} failed: ${(e as Error).message}`,
        {
          cause: e,
          context: { path, version: v },
        },
      );
    }
  }
}
