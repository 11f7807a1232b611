/**
 * SqliteOutbox appendOnce: exactly-once keys across pending and committed records, a
 * reopen, transaction bounds, pruning (also across a wall-clock step) and the version-1
 * migration that adds the dedup table.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { type StoreConfig, storeSchema } from '../../src/config/sections/store.js';
import { SCHEMA_VERSION } from '../../src/store/schema.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { tempDir } from '../helpers/tmp.js';
import { event, telemetry } from './outbox-contract.js';

function dbOf(outbox: SqliteOutbox): BetterSqlite3.Database {
  return (outbox as unknown as { db: BetterSqlite3.Database }).db;
}

describe('SqliteOutbox appendOnce (exactly-once keys)', () => {
  let dir: { path: string; remove(): void };
  let clock: ManualClock;
  beforeEach(() => {
    dir = tempDir('sqlite-once-');
    clock = new ManualClock();
  });
  afterEach(() => dir.remove());

  function cfg(overrides: Record<string, unknown> = {}): StoreConfig {
    return storeSchema.parse({ path: join(dir.path, 'outbox.db'), ...overrides });
  }

  it('highestOnce: the largest numeric tail of a prefix over committed and pending keys, across a reopen', async () => {
    const a = SqliteOutbox.open(cfg(), { clock, logger: silentLogger });
    assert.deepEqual(a.highestOnce('cip22/p1/'), { high: null, next: null });
    for (const k of ['cip22/p1/9', 'cip22/p1/10', 'cip22/p1/2', 'cip22/p10/99', 'cip22/p1/x7'])
      void a.appendOnce(k, [telemetry('p1', 1)]);
    assert.equal(a.highestOnce('cip22/p1/').high, 10, 'pending keys count; 10 > 9 numerically, not as text');
    await a.flush();
    void a.appendOnce('cip22/p1/11', [telemetry('p1', 1)]);
    assert.deepEqual(
      a.highestOnce('cip22/p1/'),
      { high: 11, next: null },
      'a pending key above the committed',
    );
    assert.equal(a.highestOnce('cip22/p10/').high, 99, "another pile's keys stay its own");
    await a.close();
    const b = SqliteOutbox.open(cfg(), { clock, logger: silentLogger });
    try {
      assert.deepEqual(b.highestOnce('cip22/p1/'), { high: 11, next: null });
      assert.deepEqual(b.highestOnce('cip22/p2/'), { high: null, next: null });
    } finally {
      await b.close();
    }
  });

  it('highestOnce reads a prefix with many keys in bounded steps that together find the largest', async () => {
    const box = SqliteOutbox.open(cfg(), { clock, logger: silentLogger });
    try {
      // Tails 0..10999 in random order: as text the last key is .../9999, the largest is 10999.
      const insert = dbOf(box).prepare('INSERT INTO dedup (key, ts) VALUES (?, 0)');
      dbOf(box).transaction(() => {
        for (let i = 0; i < 11_000; i++) insert.run(`cip22/p/${(i * 7919) % 11_000}`);
        insert.run('cip22/q/123456');
      })();
      const steps: (number | null)[] = [];
      let high = -1;
      let after: string | undefined;
      for (;;) {
        const step = box.highestOnce('cip22/p/', after);
        steps.push(step.high);
        high = Math.max(high, step.high ?? -1);
        if (step.next === null) break;
        after = step.next;
      }
      assert.ok(steps.length >= 3, `${steps.length} steps`);
      assert.equal(high, 10_999);
    } finally {
      await box.close();
    }
  });

  it('keeps keys across a reopen: a resend after restart is a duplicate', async () => {
    const a = SqliteOutbox.open(cfg(), { clock, logger: silentLogger });
    const stored = a.appendOnce('p/1', [telemetry('p', 1)]);
    await a.flush();
    assert.equal((await stored).duplicate, false);
    await a.close();
    const b = SqliteOutbox.open(cfg(), { clock, logger: silentLogger });
    try {
      assert.equal(b.seenOnce('p/1'), true);
      const again = b.appendOnce('p/1', [telemetry('p', 1)]);
      await b.flush();
      assert.equal((await again).duplicate, true);
      assert.equal(b.read(0, 100, 1e9).length, 1);
    } finally {
      await b.close();
    }
  });

  it('never splits a group across transactions, even at the batch size bound', async () => {
    const outbox = SqliteOutbox.open(cfg({ batch: { maxRecords: 4, maxLatencyMs: 50 } }), {
      clock,
      logger: silentLogger,
    });
    try {
      const batches: number[] = [];
      outbox.onCommit(() => batches.push(outbox.lastRowid()));
      outbox.append(telemetry('x', 0));
      outbox.append(telemetry('x', 1));
      outbox.append(telemetry('x', 2));
      const group = outbox.appendOnce('k', [event('p', 0), event('p', 1), event('p', 2)]);
      await outbox.flush();
      const r = await group;
      assert.equal(r.records.length, 3);
      assert.deepEqual(batches, [6], 'one transaction of 6 instead of 4 + 2');
    } finally {
      await outbox.close();
    }
  });

  it('a duplicate group in the same transaction is left out whole, others around it are stored', async () => {
    const outbox = SqliteOutbox.open(cfg(), { clock, logger: silentLogger });
    try {
      const a = outbox.appendOnce('k1', [event('p', 0), telemetry('p', 0)]);
      outbox.append(telemetry('q', 0));
      const b = outbox.appendOnce('k1', [event('p', 1), telemetry('p', 1)]);
      const c = outbox.appendOnce('k2', [event('p', 2)]);
      await outbox.flush();
      assert.equal((await a).duplicate, false);
      assert.equal((await b).duplicate, true);
      assert.equal((await c).duplicate, false);
      assert.deepEqual(
        outbox.read(0, 100, 1e9).map((r) => r.ts),
        [event('p', 0).ts, telemetry('p', 0).ts, telemetry('q', 0).ts, event('p', 2).ts],
      );
    } finally {
      await outbox.close();
    }
  });

  it('prunes keys beyond maxKeys and older than maxAgeMs', async () => {
    const outbox = SqliteOutbox.open(cfg({ dedup: { maxAgeMs: 10_000, maxKeys: 5 } }), {
      clock,
      logger: silentLogger,
    });
    try {
      for (let i = 0; i < 8; i++) {
        const p = outbox.appendOnce(`k${i}`, [telemetry('p', i)]);
        await outbox.flush();
        await p;
        await clock.advance(1);
      }
      const keys = dbOf(outbox).prepare('SELECT key FROM dedup ORDER BY ts').pluck().all();
      assert.deepEqual(keys, ['k3', 'k4', 'k5', 'k6', 'k7']);
      await clock.advance(70_000);
      const p = outbox.appendOnce('fresh', [telemetry('p', 99)]);
      await outbox.flush();
      await p;
      assert.deepEqual(dbOf(outbox).prepare('SELECT key FROM dedup').pluck().all(), ['fresh']);
    } finally {
      await outbox.close();
    }
  });

  it('dedup-keys-pruned-by-wall-clock-step: a key claimed before the wall clock stepped forward still refuses its duplicate', async () => {
    // A box without RTC boots with an old date; NTP then steps the clock months ahead. Keys
    // claimed before the step looked months old to the age pruning and were dropped at the
    // next commit: the pile's retransmitted billing record was stored (and published) twice.
    const stepped = new SteppedClock();
    const outbox = SqliteOutbox.open(cfg({ dedup: { maxAgeMs: 7 * 86_400_000, maxKeys: 1000 } }), {
      clock: stepped,
      logger: silentLogger,
    });
    try {
      const first = outbox.appendOnce('session-1', [event('pile', 1)]);
      await outbox.flush();
      assert.equal((await first).duplicate, false);
      stepped.step = 180 * 86_400_000;
      await stepped.advance(61_000);
      outbox.append(telemetry('pile', 2)); // any commit runs the pruning
      await outbox.flush();
      const again = outbox.appendOnce('session-1', [event('pile', 1)]);
      await outbox.flush();
      assert.equal((await again).duplicate, true);
    } finally {
      await outbox.close();
    }
  });

  it('migrates a version-1 store: records kept, dedup table added', async () => {
    const path = join(dir.path, 'outbox.db');
    const raw = new Database(path);
    raw.pragma('journal_mode = WAL');
    const { MIGRATIONS } = await import('../../src/store/schema.js');
    raw.transaction(() => {
      MIGRATIONS[0]!(raw);
      raw.pragma('user_version = 1');
    })();
    raw
      .prepare('INSERT INTO records (rowid, seq, device, cls, ts, body) VALUES (1, 1, ?, 0, 1, ?)')
      .run('d', '{}');
    raw.close();
    const outbox = SqliteOutbox.open(cfg(), { clock, logger: silentLogger });
    try {
      assert.equal(dbOf(outbox).pragma('user_version', { simple: true }), SCHEMA_VERSION);
      assert.equal(outbox.read(0, 10, 1e9).length, 1);
      assert.equal(outbox.seenOnce('nope'), false);
    } finally {
      await outbox.close();
    }
  });
});

/** A ManualClock whose wall time can be stepped (NTP) while monotonic time runs on. */
class SteppedClock extends ManualClock {
  step = 0;
  override now(): number {
    return super.now() + this.step;
  }
}
