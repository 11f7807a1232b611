/**
 * Defect (fix-drain 3): while the outbox's deletes of PUBACKed rows kept failing, the drain
 * kept publishing; every failed batch was dropped (its rows left in the store, marked
 * delivered), so the delivered-row set grew without bound and those rows were only sent
 * again after a reconnect. Now a failed delete is retried with backoff and nothing new is
 * published meanwhile: the delivered rows stay bounded by the window, none is lost, none
 * is published twice.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { FakeOutbox, telemetry } from './fake-outbox.js';
import { Subscriber, makeForwarder, mqttConfig } from './util.js';

let broker: MosquittoBroker;
before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await broker?.close();
});

const RECORDS = 20_000;
const MAX_RECORDS = 10;
const WINDOW = 8;

test('ack-failing-stops-publishing: failing deletes hold the drain, delivered rows stay bounded, nothing twice', async (t) => {
  const outbox = new FakeOutbox();
  const records = [];
  for (let i = 0; i < RECORDS; i++) records.push(telemetry(`d${i % 4}`, 1_700_000_000_000 + i, i));
  outbox.append(records);
  let failing = true;
  let failures = 0;
  let deliveredAtFirstFailure = -1;
  let delivered = 0;
  outbox.onDelivered = (rowids) => void (delivered += rowids.length);
  outbox.onAck = () => {
    if (!failing) return;
    if (failures++ === 0) deliveredAtFirstFailure = delivered;
    throw new Error('database is locked');
  };
  const sub = await Subscriber.connect(broker.url, 'ack-failing/#');
  const fwd = makeForwarder(
    mqttConfig({
      url: broker.url,
      topicPrefix: 'ack-failing',
      inflightWindow: WINDOW,
      batch: { maxRecords: MAX_RECORDS },
    }),
    outbox,
  );
  t.after(async () => {
    await fwd.stop();
    await sub.close();
  });
  await fwd.start();
  await waitFor('three failed deletes', () => failures >= 3);
  const bound = deliveredAtFirstFailure + WINDOW * MAX_RECORDS;
  assert.ok(
    delivered <= bound,
    `${delivered} rows PUBACKed while deletes failed (${deliveredAtFirstFailure} at the first failure, bound ${bound})`,
  );
  failing = false;
  await waitFor('every record deleted', () => outbox.size === 0, 30_000);
  await waitFor('every record received', () => new Set(sub.recordIds()).size === RECORDS);
  const ids = sub.recordIds();
  assert.equal(ids.length, RECORDS, `${ids.length - RECORDS} records published twice`);
});
