/**
 * SqliteOutbox opening a store it cannot use as it is: a newer agent's database is
 * refused untouched; a file that is not a database, truncated or with garbage pages is
 * moved aside, salvaged where readable, and reported as store-recovered.
 */
import { captureLogger, type LogLine } from '../helpers/logger.js';
import assert from 'node:assert/strict';
import {
  closeSync,
  openSync,
  readFileSync,
  readdirSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { eventToRecord } from '../../src/core/record-codec.js';
import { type StoreConfig } from '../../src/config/sections/store.js';
import { SCHEMA_VERSION } from '../../src/store/schema.js';
import { dbOf, sqliteOutboxRig } from './sqlite-outbox-rig.js';
import { telemetry } from './outbox-contract.js';

describe('SqliteOutbox opening a damaged or newer store', () => {
  const rig = sqliteOutboxRig('sqlite-recovery-');
  const { config, openStore } = rig;

  it('refuses a database from a newer agent (user_version) and leaves it untouched', () => {
    const path = join(rig.dir.path, 'outbox.db');
    const raw = new Database(path);
    raw.exec('CREATE TABLE future (x)');
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    const bytes = readFileSync(path);
    assert.throws(() => openStore(config()), { code: 'EDGE_ERR_STORE_MIGRATION' });
    assert.deepEqual(readFileSync(path), bytes);
    assert.deepEqual(readdirSync(rig.dir.path), ['outbox.db']);
  });

  it('recovers a file that is not a database: moves it aside, starts fresh, reports store-recovered', async () => {
    const path = join(rig.dir.path, 'outbox.db');
    writeFileSync(path, Buffer.alloc(64 * 1024, 0x5a));
    const lines: LogLine[] = [];
    const outbox = openStore(config(), captureLogger(lines));
    assert.ok(outbox.recovery);
    assert.equal(outbox.recovery.salvaged, 0);
    const aside = readdirSync(rig.dir.path).filter((f) => /\.corrupt-[\dT-]+Z$/.test(f));
    assert.equal(aside.length, 1);
    assert.match(aside[0]!, /^outbox\.db\.corrupt-\d{4}-\d\d-\d\dT/);
    assert.ok(lines.some((l) => l.level === 'error' && l.obj.code === 'EDGE_ERR_STORE_CORRUPT'));
    const ev = outbox.takeRecoveryEvent();
    assert.ok(ev);
    assert.equal(ev.type, 'store-recovered');
    assert.equal(ev.severity, 'error');
    assert.equal(ev.data?.salvaged, 0);
    assert.equal(outbox.takeRecoveryEvent(), null, 'taken once');
    assert.equal(outbox.stats().lastError, 'EDGE_ERR_STORE_CORRUPT');
    // the agent keeps working
    const stored = await (async () => {
      const p = outbox.appendDurable(eventToRecord(ev));
      await outbox.flush();
      return p;
    })();
    assert.equal(stored.seq, 1);
    outbox.append(telemetry('d', 1));
    await outbox.flush();
    assert.equal(outbox.read(0, 10, 1e9).length, 2);
  });

  async function filledStore(cfg: StoreConfig): Promise<number> {
    const first = openStore(cfg);
    for (let i = 0; i < 3000; i++) first.append(telemetry(`d${i % 2}`, i, 'p'.repeat(100)));
    await first.close();
    return statSync(cfg.path).size;
  }

  it('recovers a file truncated mid-page', async () => {
    const cfg = config();
    const size = await filledStore(cfg);
    truncateSync(cfg.path, Math.floor(size * 0.6) + 100); // cut in the middle of a page
    const second = openStore(cfg);
    assert.ok(second.recovery, 'recovered');
    assert.equal(second.takeRecoveryEvent()?.type, 'store-recovered');
    assert.equal(readdirSync(rig.dir.path).filter((f) => /\.corrupt-[\dT-]+Z$/.test(f)).length, 1);
    second.append(telemetry('d0', 1));
    await second.flush();
    assert.ok(second.read(0, 10_000, 1e9).length >= 1);
    assert.equal(dbOf(second).pragma('integrity_check', { simple: true }), 'ok');
  });

  it('recovers a file with garbage pages and salvages the readable rows, keeping seq counters', async () => {
    const cfg = config({ integrityCheck: 'full' });
    const size = await filledStore(cfg);
    const fd = openSync(cfg.path, 'r+');
    const at = Math.floor(size / 4096 / 2) * 4096;
    writeSync(fd, Buffer.alloc(3 * 4096, 0x5a), 0, 3 * 4096, at);
    closeSync(fd);
    const second = openStore(cfg);
    assert.ok(second.recovery, 'recovered');
    const { salvaged } = second.recovery;
    assert.ok(salvaged > 1000 && salvaged < 3000, `salvaged ${salvaged}`);
    const rows = second.read(0, 10_000, 1e9);
    assert.equal(rows.length, salvaged);
    const ts = rows.map((r) => r.ts);
    assert.deepEqual(
      ts,
      [...ts].sort((a, b) => a - b),
      'queue order kept',
    );
    assert.ok(ts[ts.length - 1]! - 1_700_000_000_000 > 2900, 'rows after the damaged pages are salvaged too');
    // seq continues after the old counters (never reused)
    second.append(telemetry('d0', 9999));
    await second.flush();
    const last = second.read(rows[rows.length - 1]!.rowid, 10, 1e9);
    assert.equal(last[0]!.seq, 1501);
    assert.equal(second.takeRecoveryEvent()?.data?.salvaged, salvaged);
    assert.equal(dbOf(second).pragma('integrity_check', { simple: true }), 'ok');
  });
});
