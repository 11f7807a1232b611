/**
 * The outbox's cache of its newest rows (src/store/sqlite-tail.ts): a read it answers must
 * be exactly the page SQLite gives for the same request. The cache alone, then a real store
 * driven through appends, acks (in the loop and by the ack worker), evictions and gap events,
 * every read checked against a SELECT on the same database.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StoredRecord } from '../../src/core/types.js';
import { readPage } from '../../src/store/sqlite-read.js';
import { TailCache } from '../../src/store/sqlite-tail.js';
import type { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { event, telemetry } from './outbox-contract.js';
import { dbOf, sqliteOutboxRig } from './sqlite-outbox-rig.js';

const row = (rowid: number, body = 'x'.repeat(10)): StoredRecord => ({
  rowid,
  id: `e-${rowid}`,
  seq: rowid,
  device: 'd',
  cls: 'telemetry',
  ts: rowid,
  body,
});

const rowids = (records: readonly StoredRecord[] | undefined): number[] | undefined =>
  records?.map((r) => r.rowid);

describe('TailCache', () => {
  it('answers reads from its first row on, leaves earlier ones to SQLite, and keeps no row it gave out', () => {
    const tail = new TailCache(10);
    for (let r = 10; r < 20; r++) tail.push(row(r));
    assert.equal(
      tail.read({ afterRowid: 8, limit: 3, maxBytes: 1e9 }, 0),
      undefined,
      'row 9 may be in the table',
    );
    assert.deepEqual(
      rowids(tail.read({ afterRowid: 12, limit: 9, maxBytes: 1e9, beforeRowid: 15 }, 0)),
      [13, 14],
    );
    assert.equal(tail.size, 5, 'rows 10–14 left: 13 and 14 were read, 10–12 are before them');
    assert.equal(
      tail.read({ afterRowid: 9, limit: 3, maxBytes: 1e9 }, 0),
      undefined,
      'a re-read goes to SQLite',
    );
    assert.deepEqual(rowids(tail.read({ afterRowid: 14, limit: 3, maxBytes: 1e9 }, 0)), [15, 16, 17]);
    assert.deepEqual(rowids(tail.read({ afterRowid: 17, limit: 9, maxBytes: 1e9 }, 0)), [18, 19]);
    assert.deepEqual(rowids(tail.read({ afterRowid: 19, limit: 9, maxBytes: 1e9 }, 0)), []);
    assert.equal(tail.size, 0);
  });

  it('skips deleted rows, moves its start past a deleted prefix, and bounds by body size like readPage', () => {
    const tail = new TailCache(1);
    for (let r = 1; r <= 6; r++) tail.push(row(r, 'y'.repeat(r)));
    tail.deleted(Float64Array.of(1, 2, 4));
    assert.equal(tail.size, 3);
    assert.equal(
      tail.read({ afterRowid: 1, limit: 9, maxBytes: 1e9 }, 0),
      undefined,
      'its start moved to row 3',
    );
    assert.deepEqual(
      rowids(tail.read({ afterRowid: 2, limit: 9, maxBytes: 8 }, 0)),
      [3, 5],
      '3 + 5 units fit in 8',
    );
    assert.deepEqual(
      rowids(tail.read({ afterRowid: 5, limit: 9, maxBytes: 1 }, 0)),
      [6],
      'the first row always',
    );
  });

  it('over a cap it empties and holds nothing until a read catches up with the newest row', () => {
    const tail = new TailCache(0, 4, 1e9);
    for (let r = 0; r < 4; r++) tail.push(row(r));
    assert.equal(tail.size, 4);
    tail.push(row(4));
    assert.equal(tail.size, 0, 'nobody read: emptied');
    for (let r = 5; r < 10; r++) tail.push(row(r));
    assert.equal(tail.size, 0, 'and holds nothing meanwhile');
    assert.equal(
      tail.read({ afterRowid: 3, limit: 9, maxBytes: 1e9 }, 0),
      undefined,
      'a backlog read: SQLite',
    );
    assert.deepEqual(tail.read({ afterRowid: 9, limit: 9, maxBytes: 1e9 }, 0), [], 'caught up');
    tail.push(row(10));
    assert.deepEqual(rowids(tail.read({ afterRowid: 9, limit: 9, maxBytes: 1e9 }, 0)), [10], 'held again');
    tail.clear();
    assert.equal(
      tail.read({ afterRowid: 9, limit: 9, maxBytes: 1e9 }, 0),
      undefined,
      "clear(): row 10 is SQLite's",
    );
    tail.push(row(12));
    assert.equal(tail.read({ afterRowid: 10, limit: 9, maxBytes: 1e9 }, 0), undefined, 'row 11 unknown');
    const sized = new TailCache(0, 100, 25);
    for (let r = 0; r < 2; r++) sized.push(row(r));
    assert.equal(sized.size, 2, '10 units a row, 25 allowed');
    sized.push(row(2));
    assert.equal(sized.size, 0);
  });
});

describe('tail-read-equals-sqlite: a store answers from its cache exactly what SQLite holds', () => {
  const rig = sqliteOutboxRig('tail-cache-');

  /** Every read the test makes, against the same request on the table itself. */
  function checkRead(
    outbox: SqliteOutbox,
    after: number,
    limit: number,
    maxBytes: number,
    before?: number,
  ): StoredRecord[] {
    const got = outbox.read(after, limit, maxBytes, before);
    const { rows, bytes } = outbox.stats();
    const end = outbox.lastRowid() + 1;
    const select = dbOf(outbox).prepare(
      'SELECT rowid, seq, device, cls, ts, body FROM records WHERE rowid > ? AND rowid < ? ORDER BY rowid LIMIT ?',
    );
    select.raw(true);
    const want = readPage(select, got[0]?.id.replace(/\d+$/, '') ?? '', rows > 0 ? bytes / rows : 0, {
      afterRowid: after,
      limit,
      maxBytes,
      beforeRowid: Math.min(before ?? end, end),
    });
    assert.deepEqual(
      got.map((r) => [r.rowid, r.seq, r.device, r.cls, r.ts, r.body]),
      want.map((r) => [r.rowid, r.seq, r.device, r.cls, r.ts, r.body]),
      `read(${after}, ${limit}, ${maxBytes}, ${before})`,
    );
    for (const r of got) assert.equal(r.id, `${r.id.replace(/\d+$/, '')}${r.rowid}`);
    return got;
  }

  async function scenario(maxRows: number, replayAcks: number, minAnswered: number): Promise<void> {
    const outbox = rig.openStore(rig.config({ maxRows }));
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let cursor = 0;
    let answered = 0;
    for (let step = 0; step < 400; step++) {
      const n = 1 + rand(40);
      for (let i = 0; i < n; i++) {
        const device = `d${rand(4)}`;
        if (rand(10) === 0) outbox.append(event(device, step * 100 + i, 'warning'));
        else outbox.append(telemetry(device, step * 100 + i, 'é'.repeat(rand(30))));
      }
      await outbox.flush();
      const last = outbox.lastRowid();
      // a live reader at its cursor, a replay reader from the start, a bounded lane
      checkRead(outbox, cursor, 1 + rand(64), 64 + rand(4000));
      const replay = checkRead(outbox, rand(last + 1), 1 + rand(500), 1e6);
      // a replay lane acks rows the live reader has not reached yet
      if (rand(replayAcks) === 0) outbox.ack(replay.filter(() => rand(replayAcks) === 0).map((r) => r.rowid));
      checkRead(outbox, rand(last + 1), 50, 1e6, rand(last + 2));
      const page = outbox.read(cursor, 64, 1e6);
      if (page.length > 0) {
        answered++;
        cursor = page.at(-1)!.rowid;
        const acked = page.filter(() => rand(3) !== 0).map((r) => r.rowid);
        if (rand(2) === 0) outbox.ack(acked);
        else await outbox.ackAsync(acked);
      }
    }
    for (let i = 0; i < 5; i++) outbox.append(telemetry('d0', 1e6 + i));
    await outbox.flush();
    let selects = 0;
    const stmt = (outbox as unknown as { queue: { s: { read: { all: (...a: unknown[]) => unknown } } } })
      .queue.s.read;
    const all = stmt.all.bind(stmt);
    stmt.all = (...a: unknown[]) => (selects++, all(...a));
    const cached = outbox.read(cursor, 10, 1e6);
    // (a batch that evicts empties the cache: the small store of the second case does)
    if (maxRows > 100) assert.equal(selects, 0, 'the live read is answered from the cache');
    const again = outbox.read(cursor, 10, 1e6);
    if (maxRows > 100) assert.equal(selects, 1, 'a re-read goes to SQLite');
    assert.equal(cached.length, 5);
    assert.deepEqual(again, cached, 'and gives the same rows');
    const s = outbox.stats();
    assert.ok(
      outbox.evictions() > 0,
      `the size cap evicted rows (and wrote gap events): ${JSON.stringify(s)}`,
    );
    assert.ok(answered > minAnswered, `the live reader found rows (${answered})`);
    assert.ok(s.rows <= maxRows);
  }

  it('through appends, acks in the loop and by the worker, and evictions', () => scenario(300, 1000, 300));
  it('with replay lanes acking rows the live reader has not reached, and gap events replaced', () =>
    scenario(40, 8, 40));
});
