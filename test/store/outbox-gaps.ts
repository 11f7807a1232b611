/**
 * Issue 11 item 7, for every outbox implementation: at a tiny bound (maxRows 12) gap
 * events used to evict earlier gap events, and the replacement named only the evicted
 * event's seq, so most missing seqs reached the consumer unexplained; and the gap events
 * themselves took the store over maxRows. A consumer that reads and acknowledges part of
 * the queue between bursts must be able to explain every missing seq of every device by a
 * gap event it received.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import type { StoredRecord } from '../../src/core/types.js';
import { event, telemetry, type OutboxFactory } from './outbox-contract.js';

interface Consumer {
  readonly seqs: Map<string, Set<number>>;
  readonly spans: Map<string, Array<[number, number]>>;
  gapEvents: number;
}

function consume(c: Consumer, records: readonly StoredRecord[]): void {
  for (const r of records) {
    let seen = c.seqs.get(r.device);
    if (!seen) c.seqs.set(r.device, (seen = new Set()));
    seen.add(r.seq);
    const body = JSON.parse(r.body) as { type?: string; data?: { fromSeq: number; toSeq: number } };
    if (body.type !== 'gap' || !body.data) continue;
    c.gapEvents++;
    const spans = c.spans.get(r.device) ?? [];
    spans.push([body.data.fromSeq, body.data.toSeq]);
    c.spans.set(r.device, spans);
  }
}

/** Missing seqs of each device that no received gap event covers. */
function unexplained(
  c: Consumer,
  lastSeq: ReadonlyMap<string, number>,
): { missing: number; unexplained: number } {
  let missing = 0;
  let bad = 0;
  for (const [device, last] of lastSeq) {
    const seen = c.seqs.get(device) ?? new Set<number>();
    const spans = c.spans.get(device) ?? [];
    for (let seq = 1; seq <= last; seq++) {
      if (seen.has(seq)) continue;
      missing++;
      if (!spans.some(([a, b]) => a <= seq && seq <= b)) bad++;
    }
  }
  return { missing, unexplained: bad };
}

export function outboxGapContract(name: string, factory: OutboxFactory): void {
  describe(`outbox gaps: ${name}`, () => {
    it('gap-events-merge-at-tiny-bound: every lost seq is explained, rows never exceed maxRows', async () => {
      const clock = new ManualClock();
      const maxRows = 12;
      const subject = await factory({ clock, maxRows, batchMaxRecords: 7 });
      const { outbox } = subject;
      try {
        const consumer: Consumer = { seqs: new Map(), spans: new Map(), gapEvents: 0 };
        const devices = ['a', 'b', 'c', 'd'];
        let after = 0;
        for (let burst = 0; burst < 60; burst++) {
          for (let i = 0; i < 25; i++) {
            const device = devices[(burst + i) % devices.length] ?? 'a';
            outbox.append(i % 9 === 0 ? event(device, i) : telemetry(device, i));
          }
          await outbox.flush();
          assert.ok(
            outbox.stats().rows <= maxRows,
            `burst ${burst}: ${outbox.stats().rows} rows > ${maxRows}`,
          );
          // The consumer gets a few records per burst (a slow uplink) and acknowledges them.
          const got = outbox.read(after, 3, Number.MAX_SAFE_INTEGER);
          consume(consumer, got);
          if (got.length > 0) {
            outbox.ack(got.map((r) => r.rowid));
            after = got.at(-1)?.rowid ?? after;
          }
        }
        // The uplink comes back: everything left is delivered.
        const rest = outbox.read(after, 1_000_000, Number.MAX_SAFE_INTEGER);
        consume(consumer, rest);
        const last = new Map<string, number>();
        for (const [device, seqs] of consumer.seqs) last.set(device, Math.max(...seqs));
        const { missing, unexplained: bad } = unexplained(consumer, last);
        assert.ok(missing > 1000, `the bound forced losses (${missing})`);
        assert.equal(bad, 0, `${bad} of ${missing} missing seqs unexplained`);
        // Each device has at most one gap event in the store at a time.
        const gapsLeft = rest.filter((r) => r.body.startsWith('{"type":"gap"'));
        assert.equal(new Set(gapsLeft.map((r) => r.device)).size, gapsLeft.length);
      } finally {
        await subject.dispose();
      }
    });
  });
}
