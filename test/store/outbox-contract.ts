/**
 * The outbox contract, run against every implementation (MemoryOutbox, SqliteOutbox):
 * ids, per-device seq, read ordering and bounds, ack, group commit, eviction with gap
 * events, onCommit, use after close.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import type { NewRecord, StoredRecord } from '../../src/core/types.js';
import type { Outbox } from '../../src/store/outbox.js';

/** An event record's body, as far as these tests read it. */
export interface EventBody {
  readonly type?: string;
  readonly severity?: string;
  readonly data?: Record<string, unknown>;
}

export interface ContractOptions {
  readonly clock: ManualClock;
  readonly maxRows?: number;
  readonly maxBytes?: number;
  readonly batchMaxRecords?: number;
  readonly batchMaxLatencyMs?: number;
}

export interface ContractSubject {
  readonly outbox: Outbox;
  /** Closes (if still open) and removes whatever the subject created. */
  dispose(): Promise<void>;
}

export type OutboxFactory = (options: ContractOptions) => Promise<ContractSubject> | ContractSubject;

export function telemetry(device: string, i: number, extra = ''): NewRecord {
  return {
    device,
    cls: 'telemetry',
    ts: 1_700_000_000_000 + i,
    body: JSON.stringify({ t: { v: i, q: 'good' }, x: extra }),
  };
}

export function event(device: string, i: number, type = 'test'): NewRecord {
  return {
    device,
    cls: 'event',
    ts: 1_700_000_000_000 + i,
    body: JSON.stringify({ type, severity: 'info', data: { i } }),
  };
}

function readAll(outbox: Outbox): StoredRecord[] {
  return outbox.read(0, 1_000_000, Number.MAX_SAFE_INTEGER);
}

function gapData(r: StoredRecord): Record<string, unknown> {
  const body = JSON.parse(r.body) as { type: string; severity: string; data: Record<string, unknown> };
  assert.equal(body.type, 'gap');
  return { severity: body.severity, ...body.data };
}

export function outboxContract(name: string, factory: OutboxFactory): void {
  describe(`outbox contract: ${name}`, () => {
    async function withSubject(
      options: Omit<ContractOptions, 'clock'>,
      fn: (outbox: Outbox, clock: ManualClock) => Promise<void>,
    ): Promise<void> {
      const clock = new ManualClock();
      const subject = await factory({ clock, ...options });
      try {
        await fn(subject.outbox, clock);
      } finally {
        await subject.dispose();
      }
    }

    it('assigns unique ids and a strictly increasing seq per device, in rowid order', async () => {
      await withSubject({}, async (outbox) => {
        for (let round = 0; round < 3; round++) {
          for (let i = 0; i < 50; i++) outbox.append(telemetry(`dev${i % 3}`, i));
          outbox.append(event('dev1', round));
          await outbox.flush();
        }
        const all = readAll(outbox);
        assert.equal(all.length, 153);
        assert.equal(new Set(all.map((r) => r.id)).size, all.length);
        const last = new Map<string, number>();
        let prevRowid = 0;
        for (const r of all) {
          assert.ok(r.rowid > prevRowid);
          prevRowid = r.rowid;
          assert.ok(r.seq > (last.get(r.device) ?? 0), `seq of ${r.device} increases`);
          last.set(r.device, r.seq);
        }
        assert.equal(last.get('dev0'), 51);
        assert.equal(last.get('dev1'), 51 + 3 - 1 + 1);
        assert.equal(outbox.lastRowid(), prevRowid);
        assert.deepEqual(
          all.filter((r) => r.cls === 'event').map((r) => r.device),
          ['dev1', 'dev1', 'dev1'],
        );
      });
    });

    it('keeps the record fields and resolves appendDurable with the committed record', async () => {
      await withSubject({}, async (outbox) => {
        const input = event('pump-1', 7, 'device-offline');
        const durable = outbox.appendDurable(input);
        await outbox.flush();
        const stored = await durable;
        assert.equal(stored.device, input.device);
        assert.equal(stored.cls, 'event');
        assert.equal(stored.ts, input.ts);
        assert.equal(stored.body, input.body);
        assert.equal(stored.seq, 1);
        assert.deepEqual(readAll(outbox), [stored]);
      });
    });

    it('reads in rowid order honouring afterRowid, beforeRowid, limit and maxBytes', async () => {
      await withSubject({}, async (outbox) => {
        for (let i = 0; i < 20; i++) outbox.append(telemetry('d', i, 'x'.repeat(10)));
        await outbox.flush();
        const all = readAll(outbox);
        const size = Buffer.byteLength(all[0]!.body);
        assert.deepEqual(outbox.read(0, 5, 1e9), all.slice(0, 5));
        assert.deepEqual(outbox.read(all[4]!.rowid, 5, 1e9), all.slice(5, 10));
        assert.deepEqual(outbox.read(all[4]!.rowid, 100, 1e9, all[8]!.rowid), all.slice(5, 8));
        assert.deepEqual(outbox.read(0, 100, size * 3), all.slice(0, 3));
        assert.deepEqual(outbox.read(0, 100, size * 3 + size - 1), all.slice(0, 3));
        assert.deepEqual(
          outbox.read(0, 100, 1),
          all.slice(0, 1),
          'at least one record even when it exceeds maxBytes',
        );
        assert.deepEqual(outbox.read(all[19]!.rowid, 10, 1e9), []);
        assert.deepEqual(outbox.read(0, 0, 1e9), []);
      });
    });

    it('shows only committed records; a batch commits at maxLatencyMs or at maxRecords', async () => {
      await withSubject({ batchMaxRecords: 10, batchMaxLatencyMs: 50 }, async (outbox, clock) => {
        let commits = 0;
        outbox.onCommit(() => commits++);
        outbox.append(telemetry('d', 0));
        assert.equal(readAll(outbox).length, 0);
        await clock.advance(49);
        assert.equal(readAll(outbox).length, 0);
        assert.equal(commits, 0);
        await clock.advance(1);
        assert.equal(readAll(outbox).length, 1);
        assert.equal(commits, 1);
        for (let i = 1; i < 10; i++) outbox.append(telemetry('d', i));
        assert.equal(readAll(outbox).length, 1);
        outbox.append(telemetry('d', 10));
        assert.equal(readAll(outbox).length, 11, 'size bound commits without waiting');
        assert.equal(commits, 2);
        assert.equal(outbox.stats().pendingRecords, 0);
      });
    });

    it('by default commits when the turn ends, with no clock time passing: one turn, one transaction', async () => {
      await withSubject({ batchMaxRecords: 100 }, async (outbox, clock) => {
        let commits = 0;
        outbox.onCommit(() => commits++);
        for (let i = 0; i < 3; i++) outbox.append(telemetry('d', i));
        const durable = outbox.appendDurable(telemetry('d', 3));
        assert.equal(readAll(outbox).length, 0, 'nothing commits within the appending turn');
        await new Promise<void>((resolve) => setImmediate(resolve));
        assert.equal(readAll(outbox).length, 4, "the turn's appends committed together");
        assert.equal(commits, 1);
        assert.equal((await durable).seq, 4);
        // Idle: past the SQLite store's spacing after a commit (batch.minIntervalMs).
        await clock.advance(1000);
        outbox.append(telemetry('d', 4));
        await new Promise<void>((resolve) => setImmediate(resolve));
        assert.equal(readAll(outbox).length, 5, 'an idle store commits the next record at once too');
        assert.equal(commits, 2);
        await clock.advance(1000);
        // Case cip22-fault-group-stalls, adaptive: a group into an empty batch commits too.
        const group = outbox.appendOnce('pile-1/3', [
          telemetry('pile-1', 3),
          event('pile-1', 3, 'cip22-state'),
        ]);
        await new Promise<void>((resolve) => setImmediate(resolve));
        assert.equal(readAll(outbox).length, 7);
        assert.equal((await group).duplicate, false);
      });
    });

    it('ack deletes by rowid; unknown rowids are ignored; lastRowid is kept', async () => {
      await withSubject({}, async (outbox) => {
        for (let i = 0; i < 10; i++) outbox.append(telemetry('d', i));
        await outbox.flush();
        const all = readAll(outbox);
        outbox.ack([all[0]!.rowid, all[1]!.rowid, all[5]!.rowid, 999_999]);
        assert.deepEqual(
          readAll(outbox).map((r) => r.rowid),
          all.filter((_, i) => i !== 0 && i !== 1 && i !== 5).map((r) => r.rowid),
        );
        assert.equal(outbox.stats().rows, 7);
        outbox.ack(all.map((r) => r.rowid));
        assert.equal(readAll(outbox).length, 0);
        assert.equal(outbox.stats().rows, 0);
        assert.equal(outbox.stats().bytes, 0);
        assert.equal(outbox.lastRowid(), all[9]!.rowid);
        outbox.append(telemetry('d', 11));
        await outbox.flush();
        const [next] = readAll(outbox);
        assert.ok(next!.rowid > all[9]!.rowid, 'rowid not reused');
        assert.equal(next!.seq, 11, 'seq not reused');
      });
    });

    it('calls onCommit listeners after each commit until unsubscribed', async () => {
      await withSubject({}, async (outbox) => {
        const seen: number[] = [];
        const off = outbox.onCommit(() => seen.push(readAll(outbox).length));
        outbox.append(telemetry('d', 0));
        assert.deepEqual(seen, []);
        await outbox.flush();
        assert.deepEqual(seen, [1]);
        off();
        outbox.append(telemetry('d', 1));
        await outbox.flush();
        assert.deepEqual(seen, [1]);
      });
    });

    it('over maxRows evicts the oldest telemetry first and records a gap event per device', async () => {
      await withSubject({ maxRows: 20 }, async (outbox) => {
        outbox.append(event('a', 0, 'boot'));
        for (let i = 0; i < 30; i++) outbox.append(telemetry(i % 2 ? 'b' : 'a', i));
        await outbox.flush();
        const all = readAll(outbox);
        const stats = outbox.stats();
        assert.ok(all.length <= 20, `rows ${all.length} <= 20`);
        assert.equal(stats.rows, all.length);
        // maxRows 20, low water 18 with the 2 gap events: 31 rows -> evict 15 oldest telemetry (a: 8, b: 7).
        assert.equal(stats.evicted.telemetry, 15);
        assert.equal(stats.evicted.event, 0);
        assert.equal(all[0]!.cls, 'event', 'the boot event is kept');
        const gaps = all.filter((r) => r.cls === 'event' && (JSON.parse(r.body) as EventBody).type === 'gap');
        assert.equal(gaps.length, 2);
        const byDevice = Object.fromEntries(gaps.map((g) => [g.device, gapData(g)]));
        assert.deepEqual(byDevice.a, {
          severity: 'warning',
          evicted: 8,
          fromSeq: 2,
          toSeq: 9,
          reason: 'store-full',
        });
        assert.deepEqual(byDevice.b, {
          severity: 'warning',
          evicted: 7,
          fromSeq: 1,
          toSeq: 7,
          reason: 'store-full',
        });
        const telemetryLeft = all.filter((r) => r.cls === 'telemetry');
        assert.deepEqual(
          telemetryLeft.map((r) => r.ts - 1_700_000_000_000),
          Array.from({ length: 15 }, (_, i) => i + 15),
          'the newest telemetry is kept',
        );
        // gap events come after the records of their batch and carry the next seq
        assert.equal(gaps.find((g) => g.device === 'a')!.seq, 17);
      });
    });

    it('over maxBytes evicts oldest telemetry by body bytes', async () => {
      await withSubject({ maxBytes: 2000 }, async (outbox) => {
        for (let i = 0; i < 40; i++) outbox.append(telemetry('a', i, 'y'.repeat(60)));
        await outbox.flush();
        const stats = outbox.stats();
        const all = readAll(outbox);
        const bytes = all.reduce((n, r) => n + Buffer.byteLength(r.body), 0);
        assert.equal(stats.bytes, bytes);
        assert.ok(bytes <= 2000, `bytes ${bytes} <= 2000`);
        assert.ok(stats.evicted.telemetry > 0);
        const gap = all.find((r) => r.cls === 'event')!;
        assert.deepEqual(gapData(gap), {
          severity: 'warning',
          evicted: stats.evicted.telemetry,
          fromSeq: 1,
          toSeq: stats.evicted.telemetry,
          reason: 'store-full',
        });
      });
    });

    it('evicts events only when no telemetry is left, never silently', async () => {
      await withSubject({ maxRows: 10 }, async (outbox) => {
        for (let i = 0; i < 15; i++) outbox.append(event('e', i));
        await outbox.flush();
        const all = readAll(outbox);
        const stats = outbox.stats();
        assert.ok(all.length <= 10);
        assert.equal(stats.evicted.telemetry, 0);
        assert.equal(stats.evicted.event, 7, '15 rows -> 8, then 1 gap event: 9 (low water)');
        const gap = all[all.length - 1]!;
        assert.deepEqual(gapData(gap), {
          severity: 'error',
          evicted: 7,
          fromSeq: 1,
          toSeq: 7,
          reason: 'store-full',
          class: 'event',
        });
        assert.deepEqual(
          all.slice(0, -1).map((r) => r.seq),
          [8, 9, 10, 11, 12, 13, 14, 15],
        );
      });
    });

    it('appendOnce of a multi-record group into an empty batch commits at maxLatencyMs without a flush', async () => {
      // Case cip22-fault-group-stalls: a FAULT frame's group (frame + state event) arriving
      // at an empty batch never armed the latency timer, so no commit and no ACK followed.
      await withSubject({ batchMaxRecords: 100, batchMaxLatencyMs: 50 }, async (outbox, clock) => {
        let settled = false;
        const done = outbox
          .appendOnce('pile-1/3', [telemetry('pile-1', 3), event('pile-1', 3, 'cip22-state')])
          .then(() => (settled = true));
        await clock.advance(50);
        assert.equal(readAll(outbox).length, 2, 'committed by the latency timer');
        await done;
        assert.equal(settled, true);
      });
    });

    it('appendOnce commits a group once per key; a resend resolves as duplicate and stores nothing', async () => {
      await withSubject({}, async (outbox) => {
        const group = [telemetry('pile-1', 1), event('pile-1', 1, 'cip22-state')];
        assert.equal(outbox.seenOnce('pile-1/7'), false);
        const first = outbox.appendOnce('pile-1/7', group);
        assert.equal(outbox.seenOnce('pile-1/7'), true, 'seen while pending');
        const samePending = outbox.appendOnce('pile-1/7', group);
        await outbox.flush();
        const r1 = await first;
        assert.equal(r1.duplicate, false);
        assert.deepEqual(
          r1.records.map((r) => [r.device, r.cls]),
          [
            ['pile-1', 'telemetry'],
            ['pile-1', 'event'],
          ],
        );
        assert.deepEqual(await samePending, { duplicate: true, records: [] });
        const later = outbox.appendOnce('pile-1/7', group);
        await outbox.flush();
        assert.deepEqual(await later, { duplicate: true, records: [] });
        assert.equal(outbox.seenOnce('pile-1/7'), true);
        assert.equal(outbox.seenOnce('pile-1/8'), false);
        assert.equal(readAll(outbox).length, 2, 'stored exactly once');
      });
    });

    it('refuses use after close with EDGE_ERR_STORE_CLOSED; close is idempotent and flushes', async () => {
      await withSubject({}, async (outbox) => {
        outbox.append(telemetry('d', 0));
        const durable = outbox.appendDurable(telemetry('d', 1));
        await outbox.close();
        await outbox.close();
        assert.equal((await durable).seq, 2);
        const closed = { code: 'EDGE_ERR_STORE_CLOSED' };
        assert.throws(() => outbox.append(telemetry('d', 2)), closed);
        await assert.rejects(outbox.appendDurable(telemetry('d', 2)), closed);
        assert.throws(() => outbox.read(0, 1, 1), closed);
        assert.throws(() => outbox.ack([1]), closed);
        assert.throws(() => outbox.lastRowid(), closed);
        await assert.rejects(outbox.flush(), closed);
      });
    });
  });
}
