/**
 * Known defect (issue 16): PUBACKed rowids wait in the forwarder's ack buffer for their
 * batched delete. A commit that evicts by the size cap in between booked them as lost, so
 * a gap event named seqs the consumer had received. The source here runs such a commit
 * (appends over maxRows) right before each batched delete reaches the SQLite outbox: the
 * exact interleaving of a group commit landing between a PUBACK and its delete.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { storeSchema } from '../../src/config/sections/store.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger, type OutboxSource } from '../../src/core/ports.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { telemetry } from './fake-outbox.js';
import { Subscriber, makeForwarder, mqttConfig, type Received } from './util.js';

let broker: MosquittoBroker;
before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await broker?.close();
});

const MAX_ROWS = 50;

interface GapSpan {
  readonly from: number;
  readonly to: number;
}

function received(messages: readonly Received[]): { seqs: Set<number>; gaps: GapSpan[] } {
  const seqs = new Set<number>();
  const gaps: GapSpan[] = [];
  for (const m of messages)
    for (const r of m.json.records ?? []) {
      const gap = r.event as { type?: string; data?: { fromSeq: number; toSeq: number } } | undefined;
      if (gap?.type === 'gap' && gap.data) gaps.push({ from: gap.data.fromSeq, to: gap.data.toSeq });
      else seqs.add(r.seq);
    }
  return { seqs, gaps };
}

test('acked-not-deleted-never-a-gap: rows evicted after their PUBACK, before their delete, are not reported lost', async (t) => {
  const dir = tempDir();
  const outbox = SqliteOutbox.open(
    storeSchema.parse({ path: join(dir.path, 'outbox.db'), maxRows: MAX_ROWS, integrityCheck: 'off' }),
    { clock: systemClock, logger: silentLogger },
  );
  const sub = await Subscriber.connect(broker.url, 'acked-gap/#');
  let next = 0;
  const appendBurst = (n: number): void => {
    for (let i = 0; i < n; i++) outbox.append(telemetry('d', 1_700_000_000_000 + next, next++));
  };
  appendBurst(40);
  await outbox.flush();
  let squeezed = 0;
  let inflight = (): number => 1;
  // The buffered delete of PUBACKed rows reaches the store only after a commit that pushes
  // the store over maxRows: eviction meets rows the broker already has. Only with nothing in
  // flight, so that every row it evicts was either PUBACKed or never sent.
  const source: OutboxSource = {
    read: (a, l, b, before) => outbox.read(a, l, b, before),
    lastRowid: () => outbox.lastRowid(),
    onCommit: (fn) => outbox.onCommit(fn),
    acked: (rowids) => outbox.acked(rowids),
    ack: (rowids) => {
      if (squeezed < 3 && inflight() === 0) {
        squeezed++;
        appendBurst(MAX_ROWS + 10);
        void outbox.flush(); // commits at once (synchronously), as a group commit would
      }
      outbox.ack(rowids);
    },
  };
  const fwd = makeForwarder(
    mqttConfig({ url: broker.url, topicPrefix: 'acked-gap', batch: { maxRecords: 10 } }),
    source,
  );
  t.after(async () => {
    await fwd.stop();
    await sub.close();
    await outbox.close();
    dir.remove();
  });
  inflight = () => fwd.stats().inflightMessages;
  await fwd.start();
  await waitFor('drained', () => squeezed === 3 && outbox.stats().rows === 0);
  await waitFor('gap events received', () => received(sub.messages).gaps.length > 0);
  const { seqs, gaps } = received(sub.messages);
  assert.ok(outbox.stats().evicted.telemetry > 0, 'the size cap evicted records (the scenario happened)');
  const named = [...seqs].filter((seq) => gaps.some((g) => g.from <= seq && seq <= g.to));
  assert.deepEqual(named, [], `gap events ${JSON.stringify(gaps)} name seqs the consumer received`);
});
