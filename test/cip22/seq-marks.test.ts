/**
 * Exactly-once per (pile, msg_seq) with the per-pile high-water mark: frames above the mark
 * are stored without a store lookup; a resend at or below it (reconnect, gateway restart on
 * the same store) is looked up and stored once; a msg_seq below the mark that was never
 * stored is stored, not taken for a duplicate.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { storeSchema } from '../../src/config/sections/store.js';
import type { SimPile } from '../../src/cip22/sim/pile.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import type { Outbox } from '../../src/store/outbox.js';
import { MemoryOutbox } from '../store/memory-outbox.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { SeqMarks } from '../../src/cip22/gateway/seq-marks.js';
import type { OnceSink } from '../../src/core/ports.js';
import { startGateway } from './gateway-fixture.js';

const FIELDS = { type: 'STATUS', state: 0, energyWh: 1 } as const;

/** White box: the pile's persistent counter and its not-yet-ACKed frames. */
function pileState(pile: SimPile): { state: { nextSeq: number }; unacked: Map<number, unknown> } {
  return pile as unknown as { state: { nextSeq: number }; unacked: Map<number, unknown> };
}

function storedSeqs(outbox: Outbox, device: string): number[] {
  return outbox
    .read(0, 100_000, 1e12)
    .filter((r) => r.device === device && r.cls === 'telemetry')
    .map((r) => Number(/"msg_seq":\{"v":(\d+),/.exec(r.body)?.[1]))
    .sort((a, b) => a - b);
}

/** A sink whose store holds keys 0..high of one pile, told in `steps` steps; counts seenOnce. */
function steppedSink(high: number, steps: number): OnceSink & { asked: string[]; appended: number[] } {
  const appended: number[] = [];
  const asked: string[] = [];
  const stored = (seq: number): boolean => seq <= high || appended.includes(seq);
  return {
    asked,
    appended,
    append: () => undefined,
    appendDurable: () => Promise.reject(new Error('unused')),
    appendOnce: () => Promise.resolve({ duplicate: false, records: [] }),
    seenOnce(key) {
      asked.push(key);
      return stored(Number(key.split('/')[2]));
    },
    highestOnce(_prefix, after) {
      const i = after === undefined ? 0 : Number(after);
      return { high: Math.round((high * (i + 1)) / steps), next: i + 1 < steps ? String(i + 1) : null };
    },
  };
}

describe('CIP-22 msg_seq high-water mark', () => {
  it('while the mark is being read in steps, frames ask the store; their msg_seq joins the mark', () => {
    const sink = steppedSink(100, 3);
    const marks = new SeqMarks(sink);
    assert.equal(marks.seen('p', 50), true, 'step 1 of 3: asked, stored');
    assert.equal(marks.seen('p', 150), false, 'step 2 of 3: asked, new');
    sink.appended.push(150);
    assert.equal(sink.asked.length, 2);
    assert.equal(marks.seen('p', 120), false, 'step 3 of 3: mark 150 (the frame seen while learning) > 100');
    assert.equal(sink.asked.length, 3, 'a msg_seq below the mark is asked for');
    assert.equal(marks.seen('p', 151), false);
    assert.equal(marks.seen('p', 152), false);
    assert.equal(sink.asked.length, 3, 'above the mark: not asked');
    assert.equal(marks.seen('p', 150), true, 'at or below: asked, found');
  });

  it('frames with a rising msg_seq are stored and ACKed without one seenOnce lookup', async () => {
    const outbox = new MemoryOutbox({ batchMaxLatencyMs: 5 });
    const fx = await startGateway({}, { outbox });
    try {
      const pile = fx.pile('p256');
      await pile.connect();
      for (let i = 0; i < 20; i++) pile.send({ ...FIELDS, energyWh: i });
      await waitFor('20 ACKs', () => pile.unackedCount === 0);
      assert.equal(outbox.seenOnceCalls, 0);
      assert.equal(storedSeqs(outbox, pile.deviceId).length, 20);
      // A resend at the mark is looked up and found: stored once, counted as a duplicate.
      pileState(pile).unacked.set(19, FIELDS);
      pile.close();
      await waitFor('offline', () => fx.gateway.pileState(pile.deviceId) === 'OFFLINE');
      await pile.connect();
      await waitFor('resend ACKed', () => pile.unackedCount === 0);
      assert.equal(outbox.seenOnceCalls, 1);
      assert.equal(fx.gateway.counter('duplicate'), 1);
      assert.equal(storedSeqs(outbox, pile.deviceId).length, 20);
      pile.close();
    } finally {
      await fx.stop();
      await outbox.close();
    }
  });

  it('after a restart on the same SQLite store: resends below the mark stored once, gaps filled, new frames stored', async () => {
    const dir = tempDir('cip22-seq-marks-');
    const config = storeSchema.parse({ path: join(dir.path, 'outbox.db') });
    const open = (): SqliteOutbox => SqliteOutbox.open(config, { clock: systemClock, logger: silentLogger });
    try {
      const first = open();
      const a = await startGateway({}, { outbox: first });
      let device: string;
      try {
        const pile = a.pile('p256');
        device = pile.deviceId;
        await pile.connect();
        for (let i = 0; i < 5; i++) pile.send(FIELDS); // 0..4
        pileState(pile).state.nextSeq = 8; // the pile skips 5..7 (e.g. frames it dropped)
        pile.send(FIELDS); // 8
        await waitFor('ACKs before the restart', () => pile.unackedCount === 0);
        pile.close();
      } finally {
        await a.stop();
        await first.close();
      }
      const second = open();
      const b = await startGateway({}, { outbox: second });
      try {
        const pile = b.pile('p256');
        for (const seq of [2, 6, 8]) pileState(pile).unacked.set(seq, FIELDS);
        pileState(pile).state.nextSeq = 9;
        await pile.connect(); // resends 2 (stored), 6 (never stored, below the mark 8), 8 (stored)
        pile.send(FIELDS); // 9
        await waitFor('ACKs after the restart', () => pile.unackedCount === 0);
        assert.deepEqual(storedSeqs(second, device), [0, 1, 2, 3, 4, 6, 8, 9]);
        assert.equal(b.gateway.counter('duplicate'), 2);
        pile.close();
      } finally {
        await b.stop();
        await second.close();
      }
    } finally {
      dir.remove();
    }
  });
});
