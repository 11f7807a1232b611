/**
 * Issue 11 item 7: records dropped because `maxPendingRecords` overflowed while commits
 * failed (disk full) appeared only as gap events with an empty (null) range, in no metric
 * and, after the first, in no log line. Each episode is now logged at its start and at its
 * end (with the seq ranges), every dropped record is named by seq in a gap event, and the
 * count reaches /metrics and /status.json.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { ManualClock } from '../../src/core/clock.js';
import { storeSchema } from '../../src/config/sections/store.js';
import { buildAgentSnapshot } from '../../src/observability/agent-snapshot.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { captureLogger } from '../helpers/logger.js';
import { tempDir } from '../helpers/tmp.js';
import { telemetry } from './outbox-contract.js';
import { snapshotParts } from '../helpers/snapshot.js';

const dbOf = (o: SqliteOutbox): BetterSqlite3.Database => (o as unknown as { db: BetterSqlite3.Database }).db;

describe('pending overflow', () => {
  let dir: { path: string; remove(): void };
  beforeEach(() => (dir = tempDir('pending-overflow-')));
  afterEach(() => dir.remove());

  it('pending-overflow-episodes: each episode is logged, every drop is named by seq, and counted in /metrics', async () => {
    const clock = new ManualClock();
    const logger = captureLogger();
    const config = storeSchema.parse({
      path: join(dir.path, 'outbox.db'),
      maxPendingRecords: 20,
      batch: { maxRecords: 10, maxLatencyMs: 10 },
    });
    const outbox = SqliteOutbox.open(config, { clock, logger });
    try {
      const db = dbOf(outbox);
      let i = 0;
      const episode = async (): Promise<void> => {
        db.pragma('query_only = 1'); // the disk is "full": every commit fails
        for (let k = 0; k < 50; k++) outbox.append(telemetry('m', i++));
        db.pragma('query_only = 0');
        await outbox.flush();
      };
      await episode();
      await episode();
      const stats = outbox.stats();
      assert.equal(stats.droppedPending, 60, '2 × (50 − 20)');
      const starts = logger.lines.filter((l) => l.msg?.startsWith('outbox pending buffer full'));
      const ends = logger.lines.filter((l) => l.msg?.startsWith('outbox pending-overflow episode over'));
      assert.equal(starts.length, 2, 'one line at the start of each episode');
      assert.equal(ends.length, 2, 'one line at the end of each episode');
      assert.deepEqual(ends[0]?.obj.devices, [{ device: 'm', fromSeq: 1, toSeq: 30 }]);

      // The consumer: every missing seq lies in a gap event's range; the second gap merged the first.
      const all = outbox.read(0, 1000, 1e9);
      const gaps = all.filter((r) => r.body.startsWith('{"type":"gap"'));
      assert.equal(gaps.length, 1);
      const data = (JSON.parse(gaps[0]?.body ?? '{}') as { data: Record<string, unknown> }).data;
      assert.deepEqual(data, {
        evicted: 60,
        droppedPending: 60,
        merged: 1,
        fromSeq: 1,
        toSeq: 81,
        reason: 'pending-overflow',
      });
      const seen = new Set(all.map((r) => r.seq));
      const last = Math.max(...seen);
      for (let seq = 1; seq <= last; seq++)
        if (!seen.has(seq)) assert.ok(seq >= 1 && seq <= 81, `seq ${seq} unexplained`);
      assert.equal(all.filter((r) => r.cls === 'telemetry').length, 40);

      const metrics = createMetrics(() => buildAgentSnapshot(snapshotParts({ store: outbox.stats() })));
      assert.match(await metrics.metrics(), /^edge_outbox_dropped_pending_total 60$/m);
    } finally {
      await outbox.close();
    }
  });

  it('gap-merge-survives-restart: the stored gap event is found again at open and merged, not left behind', async () => {
    const clock = new ManualClock();
    const config = storeSchema.parse({ path: join(dir.path, 'outbox.db'), maxRows: 12 });
    for (let run = 0; run < 2; run++) {
      const outbox = SqliteOutbox.open(config, { clock, logger: captureLogger() });
      for (let k = 0; k < 30; k++) outbox.append(telemetry('m', k));
      await outbox.close();
    }
    const outbox = SqliteOutbox.open(config, { clock, logger: captureLogger() });
    try {
      const all = outbox.read(0, 1000, 1e9);
      assert.ok(all.length <= 12);
      const gaps = all.filter((r) => r.body.startsWith('{"type":"gap"'));
      assert.equal(gaps.length, 1);
      const data = (JSON.parse(gaps[0]?.body ?? '{}') as { data: { merged?: number; fromSeq: number } }).data;
      assert.equal(data.merged, 1);
      assert.equal(data.fromSeq, 1);
    } finally {
      await outbox.close();
    }
  });
});
