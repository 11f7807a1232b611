import { captureLogger, type LogLine } from '../helpers/logger.js';
import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  openSync,
  readFileSync,
  readdirSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { ManualClock } from '../../src/core/clock.js';
import { type Logger, silentLogger } from '../../src/core/ports.js';
import { eventToRecord } from '../../src/core/record-codec.js';
import { type StoreConfig, storeSchema } from '../../src/config/sections/store.js';
import { SCHEMA_VERSION } from '../../src/store/schema.js';
import { SqliteOutbox, type SqliteOutboxDeps } from '../../src/store/sqlite-outbox.js';
import { tempDir } from '../helpers/tmp.js';
import { event, telemetry, type EventBody } from './outbox-contract.js';

function dbOf(outbox: SqliteOutbox): BetterSqlite3.Database {
  return (outbox as unknown as { db: BetterSqlite3.Database }).db;
}

describe('SqliteOutbox', () => {
  let dir: { path: string; remove(): void };
  let clock: ManualClock;
  const open: SqliteOutbox[] = [];

  beforeEach(() => {
    dir = tempDir('sqlite-outbox-');
    clock = new ManualClock();
  });
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
    dir.remove();
  });

  function config(overrides: Record<string, unknown> = {}): StoreConfig {
    return storeSchema.parse({ path: join(dir.path, 'outbox.db'), ...overrides });
  }

  /** The WAL is fdatasynced before the port returns: commits are readable in the turn they are made. */
  function openStore(
    cfg: StoreConfig = config(),
    logger: Logger = silentLogger,
    deps: Pick<SqliteOutboxDeps, 'walSync' | 'fdatasync' | 'checkpoints'> = { fdatasync: fdatasyncSync },
  ): SqliteOutbox {
    const outbox = SqliteOutbox.open(cfg, { clock, logger, ...deps });
    open.push(outbox);
    return outbox;
  }

  it('creates the parent directory, uses WAL and synchronous=FULL', () => {
    const outbox = openStore(config({ path: join(dir.path, 'a', 'b', 'outbox.db') }));
    assert.ok(existsSync(join(dir.path, 'a', 'b', 'outbox.db')));
    assert.equal(dbOf(outbox).pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(dbOf(outbox).pragma('synchronous', { simple: true }), 2);
    assert.equal(dbOf(outbox).pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(outbox.recovery, null);
    assert.equal(outbox.takeRecoveryEvent(), null);
  });

  it('commits a batch FULL when it holds an event, NORMAL when only telemetry is allowed normal (inline sync)', async () => {
    const outbox = openStore(config({ synchronous: { telemetry: 'normal', event: 'full' } }), silentLogger, {
      walSync: 'inline',
    });
    outbox.append(telemetry('d', 0));
    await outbox.flush();
    assert.equal(dbOf(outbox).pragma('synchronous', { simple: true }), 1);
    outbox.append(telemetry('d', 1));
    outbox.append(event('d', 2));
    await outbox.flush();
    assert.equal(dbOf(outbox).pragma('synchronous', { simple: true }), 2);
  });

  it('ack-not-fsynced: an ack commits synchronous=NORMAL and leaves FULL for the next writer (inline sync)', async () => {
    const outbox = openStore(config(), silentLogger, { walSync: 'inline' });
    const db = dbOf(outbox);
    const modes: string[] = [];
    const prepare = db.prepare.bind(db);
    db.prepare = ((sql: string) => {
      const st = prepare(sql);
      const m = /^PRAGMA synchronous = (\w+)$/.exec(sql);
      if (!m) return st;
      const run = st.run.bind(st);
      st.run = (...args: unknown[]) => {
        modes.push(`${m[1]}${db.inTransaction ? ' in txn' : ''}`);
        return run(...args);
      };
      return st;
    }) as typeof db.prepare;
    outbox.append(telemetry('d', 0));
    outbox.append(telemetry('d', 1));
    await outbox.flush();
    outbox.ack(outbox.read(0, 10, 1e6).map((r) => r.rowid));
    assert.deepEqual(modes, ['NORMAL', 'FULL'], 'switched before BEGIN, restored after COMMIT');
    assert.equal(db.pragma('synchronous', { simple: true }), 2);
    assert.equal(outbox.stats().rows, 0);
  });

  it('commit-spacing: right after a commit, appends wait batch.minIntervalMs and share one commit', async () => {
    const outbox = openStore(config({ batch: { minIntervalMs: 4 } }));
    let commits = 0;
    outbox.onCommit(() => commits++);
    const first = outbox.appendDurable(telemetry('d', 0));
    await new Promise<void>((r) => setImmediate(r));
    assert.equal(commits, 1, 'an idle store commits at the end of the turn');
    await first;
    const a = outbox.appendDurable(telemetry('d', 1));
    await new Promise<void>((r) => setImmediate(r));
    const b = outbox.appendDurable(telemetry('d', 2));
    await new Promise<void>((r) => setImmediate(r));
    assert.equal(commits, 1, 'within 4 ms of the last commit nothing commits');
    await clock.advance(3);
    assert.equal(commits, 1);
    await clock.advance(1);
    assert.equal(commits, 2, 'both appends in one commit');
    assert.deepEqual([(await a).seq, (await b).seq], [2, 3]);
  });

  it('persists across close and reopen: seq continues, ids stay unique, nothing is reused after acking all', async () => {
    const first = openStore();
    for (let i = 0; i < 30; i++) first.append(telemetry(`d${i % 3}`, i));
    await first.flush();
    const before = first.read(0, 1000, 1e9);
    const lastRowid = first.lastRowid();
    first.ack(before.map((r) => r.rowid));
    await first.close();

    const second = openStore();
    assert.equal(second.lastRowid(), lastRowid);
    assert.equal(second.stats().rows, 0);
    for (let i = 0; i < 30; i++) second.append(telemetry(`d${i % 3}`, i));
    await second.flush();
    const after = second.read(0, 1000, 1e9);
    assert.ok(after[0]!.rowid > lastRowid);
    const ids = new Set([...before, ...after].map((r) => r.id));
    assert.equal(ids.size, 60);
    for (const device of ['d0', 'd1', 'd2']) {
      assert.deepEqual(
        after.filter((r) => r.device === device).map((r) => r.seq),
        Array.from({ length: 10 }, (_, i) => 11 + i),
      );
    }
    await second.close();

    // a re-created store (file deleted) gets a new epoch: ids never collide with the old ones
    for (const f of readdirSync(dir.path))
      if (f.startsWith('outbox.db')) writeFileSync(join(dir.path, f), '');
    const third = openStore();
    third.append(telemetry('d0', 0));
    await third.flush();
    const [fresh] = third.read(0, 10, 1e9);
    assert.equal(fresh!.rowid, 1);
    assert.ok(!ids.has(fresh!.id));
  });

  it('tracks rows and bytes incrementally and reloads them on open', async () => {
    const outbox = openStore();
    for (let i = 0; i < 100; i++) outbox.append(telemetry('d', i, 'é'.repeat(i % 5)));
    await outbox.flush();
    const all = outbox.read(0, 1000, 1e9);
    const bytes = all.reduce((n, r) => n + Buffer.byteLength(r.body), 0);
    assert.deepEqual([outbox.stats().rows, outbox.stats().bytes], [100, bytes]);
    assert.equal(outbox.stats().oldestTs, all[0]!.ts);
    outbox.ack(all.slice(0, 10).map((r) => r.rowid));
    const left = bytes - all.slice(0, 10).reduce((n, r) => n + Buffer.byteLength(r.body), 0);
    assert.deepEqual([outbox.stats().rows, outbox.stats().bytes], [90, left]);
    await outbox.close();
    const again = openStore();
    assert.deepEqual([again.stats().rows, again.stats().bytes], [90, left]);
    assert.equal(again.stats().committedTotal, 0);
  });

  it('keeps records pending when a commit fails, logs EDGE_ERR_STORE_WRITE, retries with backoff', async () => {
    const lines: LogLine[] = [];
    const outbox = openStore(config({ batch: { maxRecords: 100, maxLatencyMs: 10 } }), captureLogger(lines));
    outbox.append(telemetry('d', 0));
    await outbox.flush();
    const db = dbOf(outbox);
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages}`); // the next growth fails with SQLITE_FULL
    const durable = outbox.appendDurable(event('d', 1, 'alarm'));
    for (let i = 2; i < 400; i++) outbox.append(telemetry('d', i, 'z'.repeat(200)));
    await assert.rejects(outbox.flush(), { code: 'EDGE_ERR_STORE_WRITE' });
    const failed = outbox.stats();
    assert.equal(failed.healthy, false);
    assert.equal(failed.lastError, 'EDGE_ERR_STORE_WRITE');
    assert.equal(failed.pendingRecords, 399);
    assert.equal(failed.rows, 1);
    assert.ok(
      lines.some(
        (l) => l.level === 'error' && l.obj.code === 'EDGE_ERR_STORE_WRITE' && l.obj.sqlite === 'SQLITE_FULL',
      ),
    );
    await clock.advance(10_000); // retries keep failing
    assert.equal(outbox.stats().pendingRecords, 399);

    db.pragma('max_page_count = 1073741823');
    await clock.advance(10_000); // next retry succeeds
    const ok = outbox.stats();
    assert.equal(ok.healthy, true);
    assert.equal(ok.pendingRecords, 0);
    assert.equal(ok.rows, 400);
    const stored = await durable;
    assert.equal(stored.seq, 2, 'seq of the failed attempt is not burnt');
    const seqs = outbox.read(0, 1000, 1e9).map((r) => r.seq);
    assert.deepEqual(
      seqs,
      Array.from({ length: 400 }, (_, i) => i + 1),
    );
  });

  it('bounds pending while commits fail: drops oldest pending telemetry, never events, and records a gap', async () => {
    const outbox = openStore(config({ maxPendingRecords: 50, batch: { maxRecords: 10, maxLatencyMs: 10 } }));
    outbox.append(telemetry('d', 0));
    await outbox.flush();
    const db = dbOf(outbox);
    db.pragma('query_only = 1'); // every write now fails (SQLITE_READONLY)
    for (let i = 1; i <= 5; i++) outbox.append(event('d', i));
    for (let i = 6; i < 200; i++) outbox.append(telemetry('d', i, 'z'.repeat(300)));
    const s = outbox.stats();
    assert.equal(s.pendingRecords, 50);
    assert.equal(s.droppedPending, 200 - 6 - 45);
    db.pragma('query_only = 0');
    await outbox.flush();
    const all = outbox.read(0, 1000, 1e9);
    assert.equal(
      all.filter((r) => r.cls === 'event' && (JSON.parse(r.body) as EventBody).type === 'test').length,
      5,
      'events kept',
    );
    const gap = all.find((r) => r.cls === 'event' && (JSON.parse(r.body) as EventBody).type === 'gap');
    assert.ok(gap);
    // Case pending-overflow-gap-has-seq-range: the dropped records get seqs 2..150 at the
    // commit, so the consumer's hole is named exactly (it was null..null).
    assert.deepEqual((JSON.parse(gap.body) as EventBody).data, {
      evicted: 149,
      droppedPending: 149,
      fromSeq: 2,
      toSeq: 150,
      reason: 'pending-overflow',
    });
    assert.deepEqual(
      all.filter((r) => r.cls === 'telemetry').map((r) => r.ts - 1_700_000_000_000),
      [0, ...Array.from({ length: 45 }, (_, i) => 155 + i)],
    );
  });

  it('refuses a database from a newer agent (user_version) and leaves it untouched', () => {
    const path = join(dir.path, 'outbox.db');
    const raw = new Database(path);
    raw.exec('CREATE TABLE future (x)');
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    const bytes = readFileSync(path);
    assert.throws(() => openStore(config()), { code: 'EDGE_ERR_STORE_MIGRATION' });
    assert.deepEqual(readFileSync(path), bytes);
    assert.deepEqual(readdirSync(dir.path), ['outbox.db']);
  });

  it('recovers a file that is not a database: moves it aside, starts fresh, reports store-recovered', async () => {
    const path = join(dir.path, 'outbox.db');
    writeFileSync(path, Buffer.alloc(64 * 1024, 0x5a));
    const lines: LogLine[] = [];
    const outbox = openStore(config(), captureLogger(lines));
    assert.ok(outbox.recovery);
    assert.equal(outbox.recovery.salvaged, 0);
    const aside = readdirSync(dir.path).filter((f) => /\.corrupt-[\dT-]+Z$/.test(f));
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
    assert.equal(readdirSync(dir.path).filter((f) => /\.corrupt-[\dT-]+Z$/.test(f)).length, 1);
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

  it('bounds the WAL: checkpoints when it exceeds walMaxBytes and on the interval (checkpoints in the loop)', async () => {
    const walMaxBytes = 1024 * 1024;
    const outbox = openStore(config({ checkpoint: { walMaxBytes, intervalMs: 1000 } }), silentLogger, {
      fdatasync: fdatasyncSync,
      checkpoints: 'inline',
    });
    let maxWal = 0;
    outbox.onCommit(() => (maxWal = Math.max(maxWal, outbox.stats().walBytes)));
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 5000; i++) outbox.append(telemetry(`d${i % 10}`, i, 'w'.repeat(120)));
      await outbox.flush();
      const rows = outbox.read(0, 100_000, 1e12);
      outbox.ack(rows.map((r) => r.rowid));
    }
    const s = outbox.stats();
    assert.ok(s.checkpoints > 0, 'size-triggered checkpoints ran');
    // one commit of 2000 records of ~150 bytes is under 1 MB of WAL beyond the bound
    assert.ok(maxWal <= walMaxBytes + 1024 * 1024, `wal peaked at ${maxWal}`);
    const before = s.checkpoints;
    await clock.advance(1000);
    assert.equal(outbox.stats().checkpoints, before + 1);
    assert.equal(outbox.stats().walBytes, 0);
    assert.ok(statSync(`${config().path}-wal`).size <= walMaxBytes);
  });
});

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
