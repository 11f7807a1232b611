import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  PayloadBuilder,
  onlineStatus,
  recordTopic,
  statusTopic,
  stoppedStatus,
  willStatus,
} from '../../src/forwarders/mqtt/payload.js';
import { FakeOutbox, mixedRecords, telemetry } from './fake-outbox.js';
import { validate, type Schema } from './schema-check.js';
import type { WireMessage } from './util.js';

const schema = JSON.parse(
  readFileSync(join(process.cwd(), 'docs/mqtt-payload.schema.json'), 'utf8'),
) as Schema;

function builder(maxRecords = 200, maxBytes = 128 * 1024): PayloadBuilder {
  return new PayloadBuilder({ topicPrefix: 'edge', site: 's1', agentId: 'a1', maxRecords, maxBytes });
}

test('topics follow {prefix}/{site}/{device}/telemetry|event and agent/status', () => {
  assert.equal(recordTopic('edge', 's1', 'pump-1', 'telemetry'), 'edge/s1/pump-1/telemetry');
  assert.equal(recordTopic('edge', 's1', 'pump-1', 'event'), 'edge/s1/pump-1/event');
  assert.equal(statusTopic('edge', 's1'), 'edge/s1/agent/status');
  // Never a wildcard or an extra level, whatever the device is called.
  assert.equal(recordTopic('edge', 's1', 'a/b+#', 'telemetry'), 'edge/s1/a_b__/telemetry');
});

test('payloads embed bodies verbatim, group per device and class, and validate against the schema', () => {
  const box = new FakeOutbox();
  box.append(mixedRecords());
  const records = box.read(0, 100, 1e9);
  const msgs = builder().build(records, false);
  assert.deepEqual(
    msgs.map((m) => m.topic),
    ['edge/s1/d1/telemetry', 'edge/s1/d2/telemetry', 'edge/s1/d1/event', 'edge/s1/d2/event'],
  );
  for (const m of msgs) {
    const json = JSON.parse(m.payload) as WireMessage;
    assert.deepEqual(validate(schema, json), [], m.payload);
    assert.equal(json.replay, undefined);
    assert.deepEqual(
      json.records?.map((r) => r.id),
      m.rowids.map((rowid) => `e1-${rowid}`),
    );
  }
  const d1 = JSON.parse(msgs[0]!.payload) as WireMessage;
  assert.deepEqual(d1, {
    v: 1,
    agent: 'a1',
    site: 's1',
    device: 'd1',
    records: [
      { id: 'e1-1', seq: 1, ts: 1_700_000_000_000, values: JSON.parse(records[0]!.body) as unknown },
      { id: 'e1-4', seq: 3, ts: 1_700_000_000_003, values: JSON.parse(records[3]!.body) as unknown },
    ],
  });
  assert.ok(msgs[0]!.payload.includes(records[3]!.body), 'body embedded byte for byte');
  const ev = JSON.parse(msgs[2]!.payload) as WireMessage;
  assert.deepEqual(ev.records?.[0]?.event, {
    type: 'device-offline',
    severity: 'warning',
    data: { reason: 'timeout' },
  });

  const replayed = builder().build(records, true);
  for (const m of replayed) {
    const json = JSON.parse(m.payload) as WireMessage;
    assert.equal(json.replay, true);
    assert.deepEqual(validate(schema, json), []);
  }
});

test('batches are bounded by maxRecords and maxBytes and keep rowid order per device', () => {
  const box = new FakeOutbox();
  const recs = [];
  for (let i = 0; i < 1000; i++) recs.push(telemetry(`d${i % 3}`, 1_700_000_000_000 + i, i));
  box.append(recs);
  const all = box.read(0, 10_000, 1e9);

  const byCount = builder(7).build(all, false);
  assert.ok(byCount.every((m) => m.rowids.length <= 7));
  assert.equal(
    byCount.reduce((n, m) => n + m.rowids.length, 0),
    1000,
  );

  const maxBytes = 2048;
  const bySize = builder(10_000, maxBytes).build(all, false);
  for (const m of bySize) {
    assert.ok(m.payload.length <= maxBytes, `payload ${m.payload.length} > ${maxBytes}`);
    assert.ok(m.rowids.length >= 2);
  }
  // Per device, the rowids across messages are strictly increasing (order kept).
  for (const d of ['d0', 'd1', 'd2']) {
    const rowids = bySize.filter((m) => m.device === d).flatMap((m) => m.rowids);
    assert.deepEqual(
      rowids,
      [...rowids].sort((a, b) => a - b),
    );
    assert.equal(rowids.length, all.filter((r) => r.device === d).length);
  }
  // A single record larger than maxBytes still goes out, alone.
  const big = new FakeOutbox();
  big.append([
    {
      device: 'd',
      cls: 'telemetry',
      ts: 1,
      body: JSON.stringify({ blob: { v: 'x'.repeat(5000), q: 'good' } }),
    },
    telemetry('d', 2),
  ]);
  const bigMsgs = builder(100, 1024).build(big.read(0, 10, 1e9), false);
  assert.deepEqual(
    bigMsgs.map((m) => m.rowids),
    [[1], [2]],
  );
});

test('status payloads validate; the checker rejects a broken payload', () => {
  for (const p of [onlineStatus('a1', 's1', 1), willStatus('a1', 's1'), stoppedStatus('a1', 's1', 2)]) {
    assert.deepEqual(validate(schema, JSON.parse(p)), [], p);
  }
  assert.equal((JSON.parse(willStatus('a1', 's1')) as WireMessage).state, 'offline');
  assert.notDeepEqual(
    validate(schema, { v: 1, agent: 'a1', site: 's1', device: 'd', records: [{ id: 'x', seq: 1, ts: 1 }] }),
    [],
  );
  assert.notDeepEqual(validate(schema, { v: 1, agent: 'a1', site: 's1', device: 'd', records: [] }), []);
  assert.notDeepEqual(
    validate(schema, {
      v: 1,
      agent: 'a1',
      site: 's1',
      device: 'd',
      records: [{ id: 'x', seq: 1, ts: 1, values: { t: { v: 1, q: 'meh' } } }],
    }),
    [],
  );
});
