/**
 * Rows marked delivered (PUBACKed, their batched delete still to come) are not lost when
 * the size cap needs room: they go first, count as no eviction and no gap event names
 * them; the later ack of the same rowids deletes nothing twice. The set is bounded.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { EdgeError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/ports.js';
import { storeSchema } from '../../src/config/sections/store.js';
import { type DeleteStatements, DeliveredRows } from '../../src/store/sqlite-delivered.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { tempDir } from '../helpers/tmp.js';
import { telemetry } from './outbox-contract.js';

function gapRanges(outbox: SqliteOutbox): Array<[number, number]> {
  return outbox
    .read(0, 10_000, Number.MAX_SAFE_INTEGER)
    .map((r) => JSON.parse(r.body) as { type?: string; data?: { fromSeq: number; toSeq: number } })
    .filter((b) => b.type === 'gap' && b.data)
    .map((b) => [b.data?.fromSeq ?? 0, b.data?.toSeq ?? 0]);
}

it('delivered-rows-go-first: the size cap deletes PUBACKed rows before evicting, books no gap for them', async (t) => {
  const dir = tempDir('delivered-');
  const outbox = SqliteOutbox.open(
    storeSchema.parse({ path: join(dir.path, 'o.db'), maxRows: 20, integrityCheck: 'off' }),
    { clock: new ManualClock(), logger: silentLogger },
  );
  t.after(async () => {
    await outbox.close();
    dir.remove();
  });
  for (let i = 0; i < 15; i++) outbox.append(telemetry('d', i));
  await outbox.flush();
  const sent = outbox.read(0, 10, Number.MAX_SAFE_INTEGER);
  outbox.acked(sent.map((r) => r.rowid));
  for (let i = 15; i < 25; i++) outbox.append(telemetry('d', i));
  await outbox.flush(); // 25 rows > 20: the 10 delivered ones make the room
  assert.equal(outbox.stats().rows, 15);
  assert.deepEqual(outbox.stats().evicted, { telemetry: 0, event: 0 });
  assert.deepEqual(gapRanges(outbox), []);
  for (let i = 25; i < 35; i++) outbox.append(telemetry('d', i));
  await outbox.flush(); // 25 again, nothing delivered: a real eviction, seqs 11.. only
  const gaps = gapRanges(outbox);
  assert.equal(gaps.length, 1);
  assert.ok((gaps[0]?.[0] ?? 0) > 10, `gap ${JSON.stringify(gaps)} names a delivered seq`);
  const before = outbox.stats().rows;
  outbox.ack(sent.map((r) => r.rowid)); // the batched delete: already gone, nothing else goes
  assert.equal(outbox.stats().rows, before);
});

it('delivered-rows-bounded: at the bound the marked rows are deleted first; when that fails mark() throws, marking nothing', () => {
  const deletes: number[][] = [];
  let failing = false;
  const statements = { ackSum: { get: () => [0, 0] }, ackDelete: { run: () => undefined } };
  const rows: DeliveredRows = new DeliveredRows(
    statements as unknown as DeleteStatements,
    (rowids) => {
      if (failing) throw new Error('database is locked');
      deletes.push(rowids);
      rows.forget(rowids);
    },
    4,
  );
  rows.mark([1, 2, 3]);
  rows.mark([4]);
  assert.deepEqual(deletes, [], 'up to the bound nothing is deleted early');
  rows.mark([5]);
  assert.deepEqual(deletes, [[1, 2, 3, 4]]);
  assert.equal(rows.size, 1);
  rows.mark([6, 7, 8]);
  failing = true;
  assert.throws(
    () => rows.mark([9]),
    (e: unknown) => e instanceof EdgeError && e.code === 'EDGE_ERR_STORE_WRITE',
  );
  assert.equal(rows.size, 4, 'never over the bound');
  assert.equal(rows.has(9), false);
});
