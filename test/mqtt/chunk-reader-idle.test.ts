/**
 * Defect (fix-drain 2): the drain's reader worker (its thread, its SQLite connection) was
 * never ended once the backlog was drained. It now ends `idleMs` after its last reply with
 * nothing asked since, and the next read starts a new one.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { storeSchema } from '../../src/config/sections/store.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { ChunkReader } from '../../src/forwarders/mqtt/chunk-reader.js';
import { payloadOptions } from '../../src/forwarders/mqtt/payload.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { telemetry } from './fake-outbox.js';
import { AGENT, SITE, mqttConfig } from './util.js';

const IDLE_MS = 1000;

/** An outbox holding `records` committed records, and a reader of its file on a manual clock. */
async function rig(t: TestContext, records: number) {
  const dir = tempDir();
  const path = join(dir.path, 'outbox.db');
  const clock = new ManualClock();
  const outbox = SqliteOutbox.open(storeSchema.parse({ path, integrityCheck: 'off' }), {
    clock,
    logger: silentLogger,
  });
  for (let i = 0; i < records; i++) outbox.append(telemetry('d', 1_700_000_000_000 + i, i));
  await outbox.flush();
  const options = payloadOptions(mqttConfig({ url: 'mqtt://127.0.0.1:1' }), SITE, AGENT);
  const reader = new ChunkReader(path, options, { clock, idleMs: IDLE_MS });
  t.after(async () => {
    await reader.close();
    await outbox.close();
    dir.remove();
  });
  return { clock, reader };
}

test('reader-worker-ends-when-idle: the worker ends after idleMs without a request and starts again on demand', async (t) => {
  const { clock, reader } = await rig(t, 5);
  const req = { afterRowid: 0, limit: 100, maxBytes: 1 << 20, beforeRowid: undefined, replay: true };

  const first = await reader.read(req);
  assert.equal(first.last, 5);
  assert.deepEqual(reader.workers, { started: 1, ended: 0 });
  await clock.advance(IDLE_MS - 1);
  assert.equal(reader.workers.ended, 0, 'not ended before idleMs');
  await clock.advance(1);
  await waitFor('worker ended', () => reader.workers.ended === 1);
  assert.equal(reader.broken, false, 'an idle end is not a failure');

  const again = await reader.read({ ...req, afterRowid: 2 });
  assert.equal(again.last, 5);
  assert.equal(again.messages.flatMap((m) => m.rowids).join(), '3,4,5');
  assert.deepEqual(reader.workers, { started: 2, ended: 1 });
});

test('reader-worker-busy-stays: a read within idleMs keeps the worker', async (t) => {
  const { clock, reader } = await rig(t, 1);
  const req = { afterRowid: 0, limit: 100, maxBytes: 1 << 20, beforeRowid: undefined, replay: false };
  for (let i = 0; i < 3; i++) {
    await reader.read(req);
    await clock.advance(IDLE_MS - 1);
  }
  assert.deepEqual(reader.workers, { started: 1, ended: 0 });
  await reader.close();
  await waitFor('worker ended by close', () => reader.workers.ended === 1);
});
