/**
 * Known defect (issue 16): PUBACKed rowids wait in the forwarder's ack buffer for their
 * batched delete. A commit that evicts by the size cap in between booked them as lost, so
 * a gap event named seqs the consumer had received. The source here runs such a commit
 * (appends over maxRows) right before each batched delete reaches the SQLite outbox: the
 * exact interleaving of a group commit landing between a PUBACK and its delete.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { MAX_ROWS, openSqueezedOutbox, received } from './evict-gap-fixture.js';
import { Subscriber, makeForwarder, mqttConfig } from './util.js';

let broker: MosquittoBroker;
before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await broker?.close();
});

test('acked-not-deleted-never-a-gap: rows evicted after their PUBACK, before their delete, are not reported lost', async (t) => {
  const store = await openSqueezedOutbox();
  const { outbox } = store;
  const sub = await Subscriber.connect(broker.url, 'acked-gap/#');
  let squeezed = 0;
  let inflight = (): number => 1;
  // The buffered delete of PUBACKed rows reaches the store only after a commit that pushes
  // the store over maxRows: eviction meets rows the broker already has. Only with nothing in
  // flight, so that every row it evicts was either PUBACKed or never sent.
  const source = store.source({
    ack: (rowids) => {
      if (squeezed < 3 && inflight() === 0) {
        squeezed++;
        store.appendBurst(MAX_ROWS + 10);
        void outbox.flush(); // commits at once (synchronously), as a group commit would
      }
      outbox.ack(rowids);
    },
  });
  const fwd = makeForwarder(
    mqttConfig({ url: broker.url, topicPrefix: 'acked-gap', batch: { maxRecords: 10 } }),
    source,
  );
  t.after(async () => {
    await fwd.stop();
    await sub.close();
    await store.remove();
  });
  inflight = () => fwd.stats().inflightMessages;
  await fwd.start();
  await waitFor('drained', () => squeezed === 3 && outbox.stats().rows === 0);
  await waitFor('gap events received', () => received(sub.messages).gaps.size > 0);
  const { seqs, gaps } = received(sub.messages);
  const spans = [...gaps.values()];
  assert.ok(outbox.stats().evicted.telemetry > 0, 'the size cap evicted records (the scenario happened)');
  const named = [...seqs].filter((seq) => spans.some((g) => g.from <= seq && seq <= g.to));
  assert.deepEqual(named, [], `gap events ${JSON.stringify(spans)} name seqs the consumer received`);
});
