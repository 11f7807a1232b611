/**
 * The durable command-id ledger (table command_ids, migration 3): ids survive a reopen,
 * expire after seenTtlMs, are bounded in number, and an older (version 2) store is
 * migrated in place (issue 12 item 6).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { storeSchema } from '../../src/config/sections/store.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/schema.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { tempDir } from '../helpers/tmp.js';

const HOUR = 3_600_000;

describe('SqliteCommandLedger', () => {
  let dir: ReturnType<typeof tempDir>;
  const clock = new ManualClock();
  const path = (): string => join(dir.path, 'outbox.db');
  const open = (): SqliteOutbox =>
    SqliteOutbox.open(storeSchema.parse({ path: path() }), { clock, logger: silentLogger });
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => dir.remove());

  it('keeps claims and results across a reopen', async () => {
    const first = open();
    const ledger = first.commandLedger({ seenTtlMs: HOUR, maxKeys: 1000 });
    const t0 = clock.now();
    assert.deepEqual(ledger.claim('a', t0), { fresh: true });
    assert.deepEqual(ledger.claim('b', t0), { fresh: true });
    ledger.settle('a', '{"status":"done"}');
    await first.close();

    const second = open();
    const again = second.commandLedger({ seenTtlMs: HOUR, maxKeys: 1000 });
    assert.deepEqual(again.claim('a', t0 + 1000), { fresh: false, ts: t0, result: '{"status":"done"}' });
    assert.deepEqual(again.claim('b', t0 + 1000), { fresh: false, ts: t0, result: null });
    await second.close();
  });

  it('forgets ids after seenTtlMs and beyond maxKeys (oldest first)', async () => {
    const box = open();
    const ledger = box.commandLedger({ seenTtlMs: HOUR, maxKeys: 1000 });
    const t0 = clock.now();
    ledger.claim('old', t0);
    assert.equal(ledger.claim('old', t0 + HOUR - 1).fresh, false);
    assert.equal(ledger.claim('old', t0 + HOUR + 1).fresh, true, 'expired: claimable again');
    await box.close();

    const small = open();
    const bounded = small.commandLedger({ seenTtlMs: HOUR * 100, maxKeys: 1000 });
    for (let i = 0; i < 1100; i++) bounded.claim(`k${i}`, t0 + i);
    bounded.claim('trigger', t0 + 2_000_000); // past the prune interval: prunes to the bound
    assert.ok(bounded.size() <= 1001, `size ${bounded.size()}`);
    assert.equal(bounded.claim('k1099', t0 + 2_000_001).fresh, false, 'the newest are kept');
    assert.equal(bounded.claim('k0', t0 + 2_000_002).fresh, true, 'the oldest went first');
    await small.close();
  });

  it('migrates a version 2 store in place, keeping its records', async () => {
    const db = new Database(path());
    for (let v = 0; v < 2; v++) {
      MIGRATIONS[v]?.(db);
      db.pragma(`user_version = ${v + 1}`);
    }
    db.prepare("INSERT INTO dedup (key, ts) VALUES ('cip22/p/1', 1)").run();
    db.close();
    const box = open();
    const check = new Database(path(), { readonly: true });
    assert.equal(check.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(check.prepare('SELECT count(*) FROM dedup').pluck().get(), 1);
    check.close();
    assert.equal(box.commandLedger({ seenTtlMs: HOUR, maxKeys: 10_000 }).claim('x', clock.now()).fresh, true);
    await box.close();
  });
});
