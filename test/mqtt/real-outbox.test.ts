/** The forwarder against the real outboxes of src/store (SQLite and memory). */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { storeSchema } from '../../src/config/sections/store.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { MqttForwarderStats } from '../../src/forwarders/mqtt/forwarder.js';
import type { Outbox } from '../../src/store/outbox.js';
import { MemoryOutbox } from '../store/memory-outbox.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { event, telemetry } from './fake-outbox.js';
import { Subscriber, makeForwarder, mqttConfig } from './util.js';

let broker: MosquittoBroker;
before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await broker?.close();
});

async function drainWith(
  name: string,
  open: () => { outbox: Outbox; cleanup: () => void; readerFile?: string },
  t: { after(fn: () => unknown): void },
): Promise<MqttForwarderStats> {
  const { outbox, cleanup, readerFile } = open();
  const prefix = `real-${name}`;
  const sub = await Subscriber.connect(broker.url, `${prefix}/#`);
  for (let i = 0; i < 3000; i++)
    outbox.append(
      i % 100 === 0
        ? event(`d${i % 4}`, 1_700_000_000_000 + i)
        : telemetry(`d${i % 4}`, 1_700_000_000_000 + i, i),
    );
  await outbox.flush();
  const fwd = makeForwarder(
    mqttConfig({ url: broker.url, topicPrefix: prefix, batch: { maxRecords: 100 } }),
    outbox,
    readerFile !== undefined ? { readerFile } : {},
  );
  t.after(async () => {
    await fwd.stop();
    await sub.close();
    await outbox.close();
    cleanup();
  });
  await fwd.start();
  await waitFor('backlog drained', () => outbox.stats().rows === 0);
  // Live records, committed while connected, are woken by onCommit.
  for (let i = 0; i < 50; i++) outbox.append(telemetry('live', Date.now(), i));
  await outbox.flush();
  await waitFor('live drained', () => outbox.stats().rows === 0);
  await waitFor('all received', () => new Set(sub.recordIds()).size >= 3050);
  const ids = sub.recordIds();
  assert.equal(new Set(ids).size, 3050);
  assert.equal(ids.length, 3050, 'no duplicates in a normal run');
  assert.equal(fwd.stats().publishedRecords, 3050);
  const live = sub.messages.filter((m) => m.json.device === 'live');
  assert.ok(live.length > 0 && live.every((m) => m.json.replay === undefined));
  return fwd.stats();
}

test('drains a SqliteOutbox backlog and live commits', async (t) => {
  await drainWith('sqlite', sqliteOutbox, t);
});

function sqliteOutbox(): { outbox: SqliteOutbox; cleanup: () => void } {
  const dir = tempDir();
  const outbox = SqliteOutbox.open(storeSchema.parse({ path: join(dir.path, 'outbox.db') }), {
    clock: systemClock,
    logger: silentLogger,
  });
  return { outbox, cleanup: dir.remove };
}

test('drains a SqliteOutbox backlog and live commits, chunks read and built in the reader worker', async (t) => {
  await drainWith(
    'sqlite-worker',
    () => {
      const opened = sqliteOutbox();
      return { ...opened, readerFile: opened.outbox.path };
    },
    t,
  );
});

test('reader worker that cannot open its file: the drain falls back to its own thread, nothing lost', async (t) => {
  const stats = await drainWith(
    'sqlite-fallback',
    () => ({ ...sqliteOutbox(), readerFile: '/nonexistent/outbox.db' }),
    t,
  );
  assert.match(stats.lastError ?? '', /drain read/);
  assert.equal(stats.reconnects, 1, 'one reconnect, then the main thread reads');
});

test('drains a MemoryOutbox backlog and live commits', async (t) => {
  await drainWith(
    'memory',
    () => ({ outbox: new MemoryOutbox({ batchMaxLatencyMs: 5 }), cleanup: () => undefined }),
    t,
  );
});
