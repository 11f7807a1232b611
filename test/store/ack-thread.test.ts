/**
 * The outbox's ack worker (sqlite-ack-thread.ts, ack-worker.ts): ackAsync() deletes in a
 * worker thread with its own connection, and the store's accounting follows the worker's
 * answer, counting only the rows that transaction deleted.
 */
import assert from 'node:assert/strict';
import { fdatasyncSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ManualClock } from '../../src/core/clock.js';
import { storeSchema } from '../../src/config/sections/store.js';
import { ACK_THREAD_IDLE_MS, SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { captureLogger } from '../helpers/logger.js';
import { tempDir } from '../helpers/tmp.js';
import { telemetry } from './outbox-contract.js';

interface ThreadView {
  worker: Worker | undefined;
}

function threadOf(outbox: SqliteOutbox): ThreadView {
  return (outbox as unknown as { ackThread: ThreadView }).ackThread;
}

function exited(worker: Worker): Promise<void> {
  return new Promise((resolve) => worker.once('exit', () => resolve()));
}

describe('SqliteOutbox ack worker', () => {
  let dir: { path: string; remove(): void };
  let clock: ManualClock;
  const open: SqliteOutbox[] = [];

  beforeEach(() => {
    dir = tempDir('ack-thread-');
    clock = new ManualClock();
  });
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
    dir.remove();
  });

  const path = (): string => join(dir.path, 'outbox.db');

  function openStore(logger = captureLogger()): SqliteOutbox {
    const outbox = SqliteOutbox.open(storeSchema.parse({ path: path(), integrityCheck: 'off' }), {
      clock,
      logger,
      fdatasync: fdatasyncSync,
    });
    open.push(outbox);
    return outbox;
  }

  async function filled(n: number, logger = captureLogger()): Promise<SqliteOutbox> {
    const outbox = openStore(logger);
    for (let i = 0; i < n; i++) outbox.append(telemetry(`d${i % 5}`, i));
    await outbox.flush();
    return outbox;
  }

  function rowsOnDisk(): number {
    const db = new Database(path(), { readonly: true });
    try {
      return db.prepare('SELECT count(*) FROM records').pluck().get() as number;
    } finally {
      db.close();
    }
  }

  it('ack-async: the worker deletes a comb of rowids; rows and bytes follow its answer, not the call', async () => {
    const outbox = await filled(100);
    const records = outbox.read(0, 1000, 1e9);
    const gone = records.filter((r) => r.rowid <= 40 || r.rowid % 3 === 0);
    const bytes = outbox.stats().bytes;
    const goneBytes = gone.reduce((n, r) => n + Buffer.byteLength(r.body), 0);
    const acked = outbox.ackAsync(gone.map((r) => r.rowid).reverse());
    assert.equal(outbox.stats().rows, 100, 'nothing is counted before the worker answers');
    await acked;
    assert.ok(threadOf(outbox).worker, 'deleted by the worker');
    assert.equal(outbox.stats().rows, 100 - gone.length);
    assert.equal(outbox.stats().bytes, bytes - goneBytes);
    const left = new Set(gone.map((r) => r.rowid));
    assert.deepEqual(
      outbox.read(0, 1000, 1e9).map((r) => r.rowid),
      records.filter((r) => !left.has(r.rowid)).map((r) => r.rowid),
    );
    assert.equal(rowsOnDisk(), 100 - gone.length);
  });

  it('ack-async-twice: rows deleted before (by the loop) are not counted again', async () => {
    const outbox = await filled(20);
    const rowids = outbox.read(0, 1000, 1e9).map((r) => r.rowid);
    outbox.ack(rowids.slice(0, 10));
    const after = outbox.stats();
    await outbox.ackAsync(rowids.slice(0, 15));
    assert.equal(outbox.stats().rows, after.rows - 5);
    assert.equal(outbox.stats().rows, 5);
    assert.equal(rowsOnDisk(), 5);
  });

  it('ack-async-close: close() lets a delete asked for finish', async () => {
    const outbox = await filled(50);
    const rowids = outbox.read(0, 1000, 1e9).map((r) => r.rowid);
    const acked = outbox.ackAsync(rowids.slice(0, 30));
    await outbox.close();
    await acked;
    assert.equal(rowsOnDisk(), 20);
    const again = openStore();
    assert.equal(again.stats().rows, 20);
  });

  it('ack-async-beside-appends: appends and appendOnce groups commit while the worker deletes; none fails, the counts agree', async () => {
    const outbox = await filled(2000);
    const rowids = outbox.read(0, 10_000, 1e9).map((r) => r.rowid);
    const deletes: Promise<void>[] = [];
    const groups: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      deletes.push(outbox.ackAsync(rowids.slice(i * 50, i * 50 + 50)));
      // appendOnce reads its key (dedup) before the batch writes anything
      groups.push(outbox.appendOnce(`k${i}`, [telemetry('d9', 10_000 + i)]));
      outbox.append(telemetry('d8', 20_000 + i));
      groups.push(outbox.flush()); // commits now (the manual clock ends no turn)
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await Promise.all(deletes);
    await Promise.all(groups);
    await outbox.flush();
    const s = outbox.stats();
    assert.equal(s.lastError, null, 'no commit failed');
    assert.equal(s.rows, 80);
    assert.equal(rowsOnDisk(), 80);
  });

  it('ack-thread-idle: the worker ends after ACK_THREAD_IDLE_MS without a delete; the next delete starts one', async () => {
    const outbox = await filled(10);
    const rowids = outbox.read(0, 1000, 1e9).map((r) => r.rowid);
    await outbox.ackAsync(rowids.slice(0, 2));
    const first = threadOf(outbox).worker;
    assert.ok(first);
    const gone = exited(first);
    await clock.advance(ACK_THREAD_IDLE_MS - 1);
    assert.equal(threadOf(outbox).worker, first, 'not yet idle long enough');
    await clock.advance(1);
    await gone;
    assert.equal(threadOf(outbox).worker, undefined);
    await outbox.ackAsync(rowids.slice(2, 4));
    assert.ok(threadOf(outbox).worker && threadOf(outbox).worker !== first);
    assert.equal(outbox.stats().rows, 6);
  });

  it('ack-worker-lost: a worker that died is reported and the loop deletes from then on', async () => {
    const logger = captureLogger();
    const outbox = await filled(10, logger);
    const rowids = outbox.read(0, 1000, 1e9).map((r) => r.rowid);
    await outbox.ackAsync(rowids.slice(0, 2));
    const worker = threadOf(outbox).worker;
    assert.ok(worker);
    const gone = exited(worker);
    await worker.terminate();
    await gone;
    assert.ok(logger.lines.some((l) => l.level === 'warn' && /ack worker lost/.test(l.msg ?? '')));
    const acked = outbox.ackAsync(rowids.slice(2, 6));
    assert.equal(outbox.stats().rows, 4, 'deleted in the loop, at once');
    await acked;
    assert.equal(threadOf(outbox).worker, undefined);
    assert.equal(rowsOnDisk(), 4);
  });
});
