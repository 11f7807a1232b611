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
import { CommandGate, type LedgerClaim } from '../../src/core/command-guard.js';
import { silentLogger } from '../../src/core/ports.js';
import { storeSchema } from '../../src/config/sections/store.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/schema.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { tempDir } from '../helpers/tmp.js';

const HOUR = 3_600_000;
const isFresh = (claim: LedgerClaim | 'full'): boolean => claim !== 'full' && claim.fresh;

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
    assert.equal(isFresh(ledger.claim('old', t0 + HOUR - 1)), false);
    assert.equal(isFresh(ledger.claim('old', t0 + HOUR + 1)), true, 'expired: claimable again');
    await box.close();

    const small = open();
    const bounded = small.commandLedger({ seenTtlMs: HOUR * 100, maxKeys: 1000, protectMs: 500 });
    for (let i = 0; i < 1100; i++) bounded.claim(`k${i}`, t0 + i);
    bounded.claim('trigger', t0 + 2_000_000); // past the prune interval: prunes to the bound
    assert.ok(bounded.size() <= 1001, `size ${bounded.size()}`);
    assert.equal(isFresh(bounded.claim('k1099', t0 + 2_000_001)), false, 'the newest are kept');
    assert.equal(isFresh(bounded.claim('k0', t0 + 2_000_002)), true, 'the oldest went first');
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
    assert.equal(
      isFresh(box.commandLedger({ seenTtlMs: HOUR, maxKeys: 10_000 }).claim('x', clock.now())),
      true,
    );
    await box.close();
  });
  // Case ledger-full-forgets-fresh-ids: at maxKeys the ledger dropped its oldest ids even
  // while they were still within their validity, so a flood of new commands made a
  // redelivered one run twice. Ids still fresh are never dropped for room; a full ledger
  // refuses new commands (fail closed) until ids age out of the validity window.
  it('ledger-full-forgets-fresh-ids: a full ledger refuses instead of forgetting fresh ids', async () => {
    const box = open();
    const ledger = box.commandLedger({ seenTtlMs: HOUR, maxKeys: 3, protectMs: 1000 });
    const gate = new CommandGate({ requireExpiry: false, maxAgeMs: 500, clockSkewMs: 250 }, ledger);
    const message = { topic: 'edge/s/d/cmd', payload: Buffer.from('{}') };
    const t0 = clock.now();
    for (const id of ['a', 'b', 'c']) assert.ok('claim' in gate.check(message, {}, id, t0));
    const flooded = gate.check(message, {}, 'd', t0 + 10);
    assert.ok('refusal' in flooded, 'no room without forgetting a fresh id');
    assert.equal(flooded.refusal.code, 'EDGE_ERR_CMD_BUSY');
    assert.equal(flooded.refusal.reason, 'ledger-full');
    const again = gate.check(message, {}, 'a', t0 + 20);
    assert.ok('claim' in again && !again.claim.fresh, 'a is still known: its redelivery is not run');
    // Past the validity window the oldest ids may go: a stale replay is refused for its age.
    const later = gate.check(message, {}, 'd', t0 + 1001);
    assert.ok('claim' in later && later.claim.fresh);
    assert.ok(ledger.size() <= 3, `size ${ledger.size()}`);
    await box.close();
  });
});
