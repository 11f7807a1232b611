/**
 * SqliteOutbox on a healthy store: directory and pragmas, synchronous mode per commit,
 * commit spacing, persistence across a reopen, size accounting, failing commits and the
 * pending bound, and the WAL bound. Damaged stores: sqlite-outbox-recovery.test.ts;
 * appendOnce keys: sqlite-outbox-once.test.ts.
 */
import { captureLogger, type LogLine } from '../helpers/logger.js';
import assert from 'node:assert/strict';
import { existsSync, fdatasyncSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../src/core/ports.js';
import { SCHEMA_VERSION } from '../../src/store/schema.js';
import { dbOf, sqliteOutboxRig } from './sqlite-outbox-rig.js';
import { event, telemetry, type EventBody } from './outbox-contract.js';

describe('SqliteOutbox', () => {
  const rig = sqliteOutboxRig('sqlite-outbox-');
  const { config, openStore } = rig;

  it('creates the parent directory, uses WAL and synchronous=FULL', () => {
    const outbox = openStore(config({ path: join(rig.dir.path, 'a', 'b', 'outbox.db') }));
    assert.ok(existsSync(join(rig.dir.path, 'a', 'b', 'outbox.db')));
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
    await rig.clock.advance(3);
    assert.equal(commits, 1);
    await rig.clock.advance(1);
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
    for (const f of readdirSync(rig.dir.path))
      if (f.startsWith('outbox.db')) writeFileSync(join(rig.dir.path, f), '');
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
    await rig.clock.advance(10_000); // retries keep failing
    assert.equal(outbox.stats().pendingRecords, 399);

    db.pragma('max_page_count = 1073741823');
    await rig.clock.advance(10_000); // next retry succeeds
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
    await rig.clock.advance(1000);
    assert.equal(outbox.stats().checkpoints, before + 1);
    assert.equal(outbox.stats().walBytes, 0);
    assert.ok(statSync(`${config().path}-wal`).size <= walMaxBytes);
  });
});
