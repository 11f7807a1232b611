/**
 * The rig the SqliteOutbox suites share (sqlite-outbox*.test.ts): a fresh directory and
 * manual clock per test, stores opened through it closed after the test, and the raw
 * connection behind a store for the assertions that read SQLite directly.
 */
import { fdatasyncSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { ManualClock } from '../../src/core/clock.js';
import { type Logger, silentLogger } from '../../src/core/ports.js';
import { type StoreConfig, storeSchema } from '../../src/config/sections/store.js';
import { SqliteOutbox, type SqliteOutboxDeps } from '../../src/store/sqlite-outbox.js';
import { tempDir } from '../helpers/tmp.js';

export function dbOf(outbox: SqliteOutbox): BetterSqlite3.Database {
  return (outbox as unknown as { db: BetterSqlite3.Database }).db;
}

export interface SqliteOutboxRig {
  readonly dir: { readonly path: string };
  readonly clock: ManualClock;
  readonly config: (overrides?: Record<string, unknown>) => StoreConfig;
  /** The WAL is fdatasynced before the port returns: commits are readable in the turn they are made. */
  readonly openStore: (
    cfg?: StoreConfig,
    logger?: Logger,
    deps?: Pick<SqliteOutboxDeps, 'walSync' | 'fdatasync' | 'checkpoints'>,
  ) => SqliteOutbox;
}

/** Registers beforeEach/afterEach in the calling describe; read `dir` and `clock` inside a test. */
export function sqliteOutboxRig(prefix: string): SqliteOutboxRig {
  let dir: { path: string; remove(): void } | undefined;
  let clock: ManualClock | undefined;
  const open: SqliteOutbox[] = [];
  beforeEach(() => {
    dir = tempDir(prefix);
    clock = new ManualClock();
  });
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
    dir?.remove();
  });
  const rig: SqliteOutboxRig = {
    get dir() {
      if (!dir) throw new Error('sqliteOutboxRig: dir read outside a test');
      return dir;
    },
    get clock() {
      if (!clock) throw new Error('sqliteOutboxRig: clock read outside a test');
      return clock;
    },
    config: (overrides = {}) => storeSchema.parse({ path: join(rig.dir.path, 'outbox.db'), ...overrides }),
    openStore: (cfg = rig.config(), logger = silentLogger, deps = { fdatasync: fdatasyncSync }) => {
      const outbox = SqliteOutbox.open(cfg, { clock: rig.clock, logger, ...deps });
      open.push(outbox);
      return outbox;
    },
  };
  return rig;
}
