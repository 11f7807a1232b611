/**
 * The outbox's WAL fsync off the event loop (store/sqlite-wal-sync.ts): commits are made
 * synchronous=NORMAL in the loop and count as durable once an fdatasync of the -wal file,
 * run on the thread pool, returns. The fdatasync port is held by the test, so what waits
 * for it is seen without timing. And its checkpoints in a worker thread
 * (store/sqlite-checkpoint.ts).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { StoredRecord } from '../../src/core/types.js';
import { storeSchema } from '../../src/config/sections/store.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { type Checkpointer, PASSIVE_EVERY_RECORDS } from '../../src/store/sqlite-checkpoint.js';
import { captureLogger, type LogLine } from '../helpers/logger.js';
import { tempDir } from '../helpers/tmp.js';
import { event, telemetry } from './outbox-contract.js';

function dbOf(outbox: SqliteOutbox): BetterSqlite3.Database {
  return (outbox as unknown as { db: BetterSqlite3.Database }).db;
}

/** An fdatasync port whose calls wait until the test lets them return. */
function heldSync(): {
  port: (fd: number) => Promise<void>;
  readonly calls: number;
  release(error?: Error): void;
} {
  const waiting: { resolve(): void; reject(e: Error): void }[] = [];
  let calls = 0;
  return {
    port: () =>
      new Promise<void>((resolve, reject) => {
        calls++;
        waiting.push({ resolve, reject });
      }),
    get calls() {
      return calls;
    },
    release(error?: Error) {
      const w = waiting.shift();
      if (!w) throw new Error('no fdatasync in flight');
      if (error) w.reject(error);
      else w.resolve();
    },
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SqliteOutbox WAL sync off the event loop', () => {
  let dir: { path: string; remove(): void };
  let clock: ManualClock;
  const open: SqliteOutbox[] = [];

  beforeEach(() => {
    dir = tempDir('wal-sync-');
    clock = new ManualClock();
  });
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
    dir.remove();
  });

  function openStore(port?: (fd: number) => Promise<void>, lines?: LogLine[]): SqliteOutbox {
    const config = storeSchema.parse({ path: join(dir.path, 'outbox.db') });
    const logger = lines ? captureLogger(lines) : silentLogger;
    const outbox = SqliteOutbox.open(config, { clock, logger, ...(port ? { fdatasync: port } : {}) });
    open.push(outbox);
    return outbox;
  }

  it('wal-sync-off-loop-hides-until-synced: a commit is neither read, nor resolved, nor told to listeners before its fdatasync returns', async () => {
    const sync = heldSync();
    const outbox = openStore(sync.port);
    let notified = 0;
    outbox.onCommit(() => notified++);
    const got: { stored?: StoredRecord } = {};
    void outbox.appendDurable(event('d', 1, 'alarm')).then((r) => (got.stored = r));
    await turn();
    assert.equal(outbox.stats().committedBatches, 1, 'committed at the end of the turn');
    assert.equal(sync.calls, 1, 'one fdatasync started');
    assert.equal(dbOf(outbox).pragma('synchronous', { simple: true }), 1, 'the commit itself is NORMAL');
    await turn();
    assert.ok(!('stored' in got), 'not durable yet');
    assert.deepEqual(outbox.read(0, 10, 1e9), [], 'not readable (publishable) yet');
    assert.equal(outbox.lastRowid(), 0);
    assert.equal(notified, 0);
    sync.release();
    await turn();
    assert.equal(got.stored?.seq, 1);
    assert.deepEqual(outbox.read(0, 10, 1e9), [got.stored]);
    assert.equal(outbox.lastRowid(), got.stored.rowid);
    assert.equal(notified, 1);
  });

  it('wal-sync-gathers-while-syncing: what arrives during an fdatasync commits in one transaction when it returns', async () => {
    const sync = heldSync();
    const outbox = openStore(sync.port);
    const first = outbox.appendDurable(telemetry('d', 0));
    await turn();
    const later: Promise<StoredRecord>[] = [];
    for (let i = 1; i <= 3; i++) {
      later.push(outbox.appendDurable(telemetry('d', i)));
      await clock.advance(10); // past batch.minIntervalMs: only the fdatasync holds them
      await turn();
    }
    assert.equal(outbox.stats().committedBatches, 1, 'nothing commits while the fdatasync is out');
    assert.equal(outbox.stats().pendingRecords, 3);
    sync.release();
    await first;
    assert.equal(outbox.stats().committedBatches, 2, 'the gathered records commit as it returns');
    assert.equal(sync.calls, 2);
    sync.release();
    assert.deepEqual(
      (await Promise.all(later)).map((r) => r.seq),
      [2, 3, 4],
    );
    assert.equal(outbox.read(0, 10, 1e9).length, 4);
  });

  it('wal-sync-failure-rejects-and-falls-back: a failed fdatasync fails its durable appends with EDGE_ERR_STORE_WRITE, later commits are FULL in the loop', async () => {
    const sync = heldSync();
    const lines: LogLine[] = [];
    const outbox = openStore(sync.port, lines);
    const lost = outbox.appendDurable(event('d', 1, 'alarm'));
    await turn();
    sync.release(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await assert.rejects(lost, { code: 'EDGE_ERR_STORE_WRITE' });
    assert.equal(outbox.stats().healthy, false);
    assert.ok(lines.some((l) => l.level === 'error' && l.obj.code === 'EDGE_ERR_STORE_WRITE'));
    const pending = outbox.appendDurable(event('d', 2, 'alarm'));
    await clock.advance(10); // past batch.minIntervalMs
    const next = await pending;
    assert.equal(sync.calls, 1, 'no fdatasync off the loop after a failure');
    assert.equal(dbOf(outbox).pragma('synchronous', { simple: true }), 2, 'committed FULL');
    assert.equal(next.seq, 2);
    assert.deepEqual(
      outbox.read(0, 10, 1e9).map((r) => r.seq),
      [1, 2],
      'the FULL commit synced the earlier rows too',
    );
  });

  it('wal-sync-thread-pool: with the real fdatasync, concurrent durable appends resolve in order and flush waits for them', async () => {
    const outbox = openStore();
    const all = Array.from({ length: 500 }, (_, i) => outbox.appendDurable(telemetry(`d${i % 5}`, i)));
    await outbox.flush();
    assert.equal(outbox.read(0, 1000, 1e9).length, 500, 'flush resolves once everything is durable');
    const rowids = (await Promise.all(all)).map((r) => r.rowid);
    assert.deepEqual(
      rowids,
      [...rowids].sort((a, b) => a - b),
    );
    assert.equal(outbox.lastRowid(), rowids.at(-1));
  });
});

describe('SqliteOutbox checkpoints in a worker thread', () => {
  let dir: { path: string; remove(): void };
  let clock: ManualClock;
  const open: SqliteOutbox[] = [];

  beforeEach(() => {
    dir = tempDir('checkpoint-thread-');
    clock = new ManualClock();
  });
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
    dir.remove();
  });

  function checkpointerOf(outbox: SqliteOutbox): Checkpointer {
    return (outbox as unknown as { checkpointer: Checkpointer }).checkpointer;
  }

  function openStore(lines: LogLine[] = []): SqliteOutbox {
    const config = storeSchema.parse({
      path: join(dir.path, 'outbox.db'),
      checkpoint: { walMaxBytes: 64 * 1024 * 1024, intervalMs: 1000, worker: true },
    });
    const outbox = SqliteOutbox.open(config, { clock, logger: captureLogger(lines) });
    open.push(outbox);
    return outbox;
  }

  it('checkpoint-off-loop: the connection never checkpoints itself; the worker keeps the WAL small and restarting', async () => {
    const outbox = openStore();
    const db = dbOf(outbox);
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0);
    let maxWal = 0;
    for (let round = 0; round < 12; round++) {
      for (let i = 0; i < 5000; i++) outbox.append(telemetry(`d${i % 10}`, i, 'w'.repeat(120)));
      await outbox.flush();
      outbox.ack(outbox.read(0, 100_000, 1e12).map((r) => r.rowid));
      await checkpointerOf(outbox).settled();
      maxWal = Math.max(maxWal, outbox.stats().walBytes);
    }
    const s = outbox.stats();
    assert.ok(
      s.checkpoints >= 5,
      `worker checkpoints after every ${PASSIVE_EVERY_RECORDS} records: ${s.checkpoints}`,
    );
    // 60,000 records of ~150 bytes: over 18 MB of WAL had it never restarted
    assert.ok(maxWal < 12 * 1024 * 1024, `the WAL restarts after checkpoints: peaked at ${maxWal}`);
    const before = s.checkpoints;
    outbox.append(telemetry('d', 0));
    await outbox.flush();
    await clock.advance(1000);
    await checkpointerOf(outbox).settled();
    assert.equal(outbox.stats().checkpoints, before + 1, 'the interval checkpoints what was committed');
    await clock.advance(1000);
    await checkpointerOf(outbox).settled();
    assert.equal(outbox.stats().checkpoints, before + 1, 'nothing committed: no checkpoint');
  });

  it('checkpoint-worker-lost: the connection checkpoints itself again and the store goes on', async () => {
    const lines: LogLine[] = [];
    const outbox = openStore(lines);
    for (let i = 0; i < PASSIVE_EVERY_RECORDS; i++) outbox.append(telemetry('d', i));
    await outbox.flush();
    const thread = (checkpointerOf(outbox) as unknown as { thread: { worker: Worker | undefined } }).thread;
    const worker = thread.worker;
    assert.ok(worker, 'the worker runs');
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    await worker.terminate();
    await exited;
    assert.equal(dbOf(outbox).pragma('wal_autocheckpoint', { simple: true }), 1000);
    assert.ok(lines.some((l) => l.level === 'warn' && /checkpoint worker lost/.test(l.msg ?? '')));
    outbox.append(telemetry('d', -1));
    await outbox.flush();
    assert.equal(outbox.read(0, 1e6, 1e12).length, PASSIVE_EVERY_RECORDS + 1);
  });
});
