/**
 * The drain reader's chunks (chunk-pack.ts): SQLite writes each record's JSON fragment and
 * the messages travel packed. Both must give exactly the messages PayloadBuilder builds
 * from the records the outbox reads: same topics, same payload bytes, same rowids.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { storeSchema } from '../../src/config/sections/store.js';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { NewRecord } from '../../src/core/types.js';
import {
  FRAGMENT_SQL,
  packChunk,
  readChunk,
  unpackChunk,
  type BuiltChunk,
} from '../../src/forwarders/mqtt/chunk-pack.js';
import { payloadOptions, PayloadBuilder, type PayloadOptions } from '../../src/forwarders/mqtt/payload.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { tempDir } from '../helpers/tmp.js';
import { event, telemetry } from './fake-outbox.js';
import { AGENT, SITE, mqttConfig } from './util.js';

const T0 = 1_700_000_000_000;

/** Plain rows, and the ones SQLite's text could render differently (they take the slow path). */
function records(): NewRecord[] {
  const out: NewRecord[] = [];
  for (let i = 0; i < 30; i++) out.push(telemetry(`plc-${i % 3}`, T0 + i, i));
  out.push(event('plc-1', T0 + 40, 'device-offline'));
  out.push({
    device: 'odd/dev"ice+#',
    cls: 'telemetry',
    ts: T0 + 41,
    body: '{"t":{"v":"é ü 😀","q":"good"}}',
  });
  out.push({ device: 'sep\u0001dev😀', cls: 'event', ts: T0 + 42, body: '{"type":"y"}' });
  out.push({ device: 'plc-0', cls: 'telemetry', ts: T0 + 0.5, body: '{"t":{"v":1,"q":"good"}}' });
  out.push({ device: 'plc-0', cls: 'telemetry', ts: 1e21, body: '{"t":{"v":2,"q":"good"}}' });
  out.push({
    device: 'plc-2',
    cls: 'event',
    ts: T0 + 43,
    body: '{"type":"x","data":{"s":"\\u0000 \\"q\\""}}',
  });
  return out;
}

async function withStore(
  fn: (outbox: SqliteOutbox, read: (options: PayloadOptions, req: ReadReq) => BuiltChunk) => void,
): Promise<void> {
  const dir = tempDir();
  const path = join(dir.path, 'outbox.db');
  const outbox = SqliteOutbox.open(storeSchema.parse({ path, integrityCheck: 'off' }), {
    clock: new ManualClock(),
    logger: silentLogger,
  });
  for (const r of records()) outbox.append(r);
  await outbox.flush();
  const db = new Database(path, { readonly: true });
  const epoch = db.prepare("SELECT value FROM meta WHERE key = 'epoch'").pluck().get() as string;
  const s = {
    fragments: db.prepare(FRAGMENT_SQL).pluck(),
    records: db
      .prepare(
        'SELECT rowid, seq, device, cls, ts, body FROM records WHERE rowid > ? AND rowid < ? ORDER BY rowid LIMIT ?',
      )
      .raw(),
  };
  try {
    fn(outbox, (options, req) => readChunk(s, `${epoch}-`, new PayloadBuilder(options), req));
  } finally {
    db.close();
    await outbox.close();
    dir.remove();
  }
}

interface ReadReq {
  readonly afterRowid: number;
  readonly limit: number;
  readonly maxBytes: number;
  readonly beforeRowid: number | undefined;
  readonly replay: boolean;
}

function wire(chunk: BuiltChunk): Array<{ topic: string; payload: string; bytes: string; rowids: number[] }> {
  return chunk.messages.map((m) => ({
    topic: m.topic,
    payload: m.payload,
    bytes: (m.bytes ?? Buffer.from(m.payload, 'utf8')).toString('base64'),
    rowids: [...m.rowids],
  }));
}

test('chunk-fragments-as-builder: SQLite-written fragments give the builder messages byte for byte', async () => {
  await withStore((outbox, read) => {
    const options = {
      ...payloadOptions(mqttConfig({ url: 'mqtt://127.0.0.1:1' }), SITE, AGENT),
      maxRecords: 4,
    };
    for (const replay of [true, false]) {
      const req = { afterRowid: 0, limit: 1000, maxBytes: 1 << 20, beforeRowid: undefined, replay };
      const got = read(options, req);
      const stored = outbox.read(0, 1000, 1 << 20);
      assert.equal(got.last, stored.at(-1)?.rowid);
      const expected = new PayloadBuilder(options).build(stored, replay);
      assert.deepEqual(wire(got), wire({ last: got.last, messages: expected }));
      const odd = got.messages.find((m) => m.device === 'odd/dev"ice+#');
      assert.match(odd?.payload ?? '', /é ü 😀/);
      assert.ok(
        got.messages.some((m) => m.device === 'sep\u0001dev😀'),
        'a device with the separator',
      );
      assert.ok(
        got.messages.some((m) => m.payload.includes('"ts":1e+21')),
        'a REAL ts is rendered by JS',
      );
      assert.ok(got.messages.some((m) => m.payload.includes(`"ts":${T0 + 0.5}`)));
    }
  });
});

test('chunk-bounds: limit and maxBytes bound a chunk, the first record always goes', async () => {
  await withStore((_outbox, read) => {
    const options = payloadOptions(mqttConfig({ url: 'mqtt://127.0.0.1:1' }), SITE, AGENT);
    const base = { afterRowid: 2, beforeRowid: undefined, replay: false };
    assert.equal(read(options, { ...base, limit: 5, maxBytes: 1 << 20 }).last, 7);
    const one = read(options, { ...base, limit: 100, maxBytes: 1 });
    assert.equal(one.last, 3);
    assert.deepEqual(
      one.messages.flatMap((m) => m.rowids),
      [3],
    );
    assert.equal(read(options, { ...base, afterRowid: 1000, limit: 10, maxBytes: 1 << 20 }).last, 0);
    assert.equal(read(options, { ...base, beforeRowid: 4, limit: 10, maxBytes: 1 << 20 }).last, 3);
  });
});

test('chunk-pack-roundtrip: packed messages keep topics, bytes, rowids; compressed ones their text and properties', async () => {
  await withStore((_outbox, read) => {
    const req = { afterRowid: 0, limit: 1000, maxBytes: 1 << 20, beforeRowid: undefined, replay: true };
    for (const payload of [{}, { compression: 'deflate' }, { format: 'compact' }]) {
      const options = payloadOptions(mqttConfig({ url: 'mqtt://127.0.0.1:1', payload }), SITE, AGENT);
      const built = read(options, req);
      const unpacked = unpackChunk(structuredClone(packChunk(built)));
      assert.equal(unpacked.last, built.last);
      assert.deepEqual(wire(unpacked), wire(built), JSON.stringify(payload));
      assert.deepEqual(
        unpacked.messages.map((m) => [m.device, m.cls, m.replay, m.properties]),
        built.messages.map((m) => [m.device, m.cls, m.replay, m.properties]),
      );
      for (const m of unpacked.messages) assert.ok(Buffer.isBuffer(m.bytes), 'mqtt.js writes Buffers');
    }
  });
});
