/**
 * Small chunks are read on the event loop, large ones in the reader worker (issue 16,
 * station profile: each commit's handful of live records crossing to the worker and back
 * was about 6 % of the station's CPU). The forwarder here has a reader whose worker cannot
 * open its file, so any chunk sent to the worker shows as a failed read and a reconnect.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { storeSchema } from '../../src/config/sections/store.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { IN_LOOP_MAX_ROWS, workerRequest } from '../../src/forwarders/mqtt/chunk-reader.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { telemetry } from './fake-outbox.js';
import { Subscriber, makeForwarder, mqttConfig } from './util.js';

const live = { afterRowid: 100, limit: 500, maxBytes: 1 << 20, beforeRowid: undefined, replay: false };

test('chunk-in-loop-rule: a range of at most IN_LOOP_MAX_ROWS rows stays on the loop, a larger one goes to the worker bounded by the durable rowid', () => {
  assert.equal(workerRequest(live, 100 + IN_LOOP_MAX_ROWS), undefined);
  assert.deepEqual(workerRequest(live, 101 + IN_LOOP_MAX_ROWS), {
    ...live,
    beforeRowid: 102 + IN_LOOP_MAX_ROWS,
  });
  assert.equal(workerRequest(live, 100), undefined, 'nothing committed past the cursor');
  const backlog = { ...live, afterRowid: 0, beforeRowid: 50, replay: true };
  assert.equal(workerRequest(backlog, 10_000), undefined, 'a backlog of 49 rows');
  assert.deepEqual(workerRequest({ ...backlog, beforeRowid: 5_000 }, 1_000), {
    ...backlog,
    beforeRowid: 1_001,
  });
  assert.equal(workerRequest(live, 110, 5)?.beforeRowid, 111, 'the bound is a parameter');
});

let broker: MosquittoBroker;
before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await broker?.close();
});

test('chunk-in-loop-live: small live commits never reach the worker; a burst larger than IN_LOOP_MAX_ROWS does, and nothing is lost when it fails', async (t) => {
  const dir = tempDir();
  const outbox = SqliteOutbox.open(storeSchema.parse({ path: join(dir.path, 'outbox.db') }), {
    clock: systemClock,
    logger: silentLogger,
  });
  const sub = await Subscriber.connect(broker.url, 'in-loop/#');
  const fwd = makeForwarder(mqttConfig({ url: broker.url, topicPrefix: 'in-loop' }), outbox, {
    readerFile: join(dir.path, 'missing', 'outbox.db'),
  });
  t.after(async () => {
    await fwd.stop();
    await sub.close();
    await outbox.close();
    dir.remove();
  });
  await fwd.start();
  await waitFor('connected', () => fwd.stats().connected);

  let n = 0;
  for (let commit = 0; commit < 20; commit++) {
    for (let i = 0; i < 5; i++) outbox.append(telemetry('small', Date.now(), n++));
    await outbox.flush();
    await waitFor('commit drained', () => outbox.stats().rows === 0);
  }
  assert.equal(fwd.stats().reconnects, 0, 'no chunk went to the (failing) worker');
  assert.equal(fwd.stats().lastError, null);

  for (let i = 0; i < 3 * IN_LOOP_MAX_ROWS; i++) outbox.append(telemetry('burst', Date.now(), n++));
  await outbox.flush();
  await waitFor('burst drained', () => outbox.stats().rows === 0);
  await waitFor('all received', () => new Set(sub.recordIds()).size >= n);
  assert.equal(new Set(sub.recordIds()).size, n);
  assert.match(fwd.stats().lastError ?? '', /drain read/, 'the burst was asked of the worker');
  assert.equal(fwd.stats().reconnects, 1, 'one reconnect, then the loop reads');
});
