/**
 * The forwarder's drain: every record published and acked once, the in-flight window (ours
 * and the broker's receive maximum), and the order of the live and backlog lanes.
 * The link's life (birth, will, outage, refused PUBACKs, stop) is in forwarder-link.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { FakeOutbox, telemetry } from './fake-outbox.js';
import { fill, schema, sharedBroker } from './forwarder-rig.js';
import { validate } from './schema-check.js';
import { SITE, Subscriber, makeForwarder, mqttConfig } from './util.js';

const broker = sharedBroker();

test('publishes every record once; acks exactly the rowids the broker PUBACKed; payloads validate', async (t) => {
  const prefix = 'p1';
  const sub = await Subscriber.connect(broker.url, `${prefix}/#`);
  t.after(() => sub.close());
  const box = new FakeOutbox();
  fill(box, 5000);
  const fwd = makeForwarder(
    mqttConfig({ url: broker.url, topicPrefix: prefix, batch: { maxRecords: 50, maxBytes: 4096 } }),
    box,
  );
  t.after(() => fwd.stop());
  await fwd.start();
  await waitFor('outbox drained', () => box.remaining().length === 0);
  await waitFor('subscriber got all', () => sub.recordIds().length >= 5000);

  const acked = box.acks.flat();
  assert.equal(acked.length, 5000, 'each rowid acked once');
  assert.deepEqual(
    [...acked].sort((a, b) => a - b),
    Array.from({ length: 5000 }, (_, i) => i + 1),
  );
  const ids = sub.recordIds();
  assert.equal(ids.length, 5000, 'no duplicates in a normal run');
  assert.equal(new Set(ids).size, 5000);

  // Every acked rowid was published; acks are runs, not one message's comb (outbox-acks.ts).
  const published = new Set<string>();
  for (const m of sub.messages) for (const r of m.json.records ?? []) published.add((r as { id: string }).id);
  for (const rowids of box.acks)
    for (const r of rowids) assert.ok(published.has(`e1-${r}`), `acked ${r} was never published`);
  let ranges = 0;
  for (const rowids of box.acks) {
    const sorted = [...rowids].sort((a, b) => a - b);
    ranges += sorted.filter((r, i) => i === 0 || r !== sorted[i - 1]! + 1).length;
  }
  assert.ok(ranges <= box.acks.length * 2, `${ranges} ranges in ${box.acks.length} acks`);

  for (const m of sub.messages) {
    if (!m.json.records) continue;
    assert.deepEqual(validate(schema, m.json), [], m.text.slice(0, 200));
    assert.ok(m.json.records.length <= 50);
    if (m.json.records.length > 1) assert.ok(Buffer.byteLength(m.text) <= 4096);
    const kind = m.topic.split('/')[3];
    assert.equal(m.topic, `${prefix}/${SITE}/${m.json.device}/${kind}`);
    assert.ok(kind === 'telemetry' ? 'values' in m.json.records[0]! : 'event' in m.json.records[0]!);
    assert.equal(m.json.replay, true, 'records stored before connect are the backlog lane');
  }
  // Per device and class, seq arrives in order.
  const last = new Map<string, number>();
  for (const m of sub.messages) {
    if (!m.json.records) continue;
    for (const r of m.json.records) {
      const k = m.topic;
      assert.ok(r.seq > (last.get(k) ?? 0), `seq order on ${k}`);
      last.set(k, r.seq);
    }
  }
  const s = fwd.stats();
  assert.equal(s.connected, true);
  assert.equal(s.publishedRecords, 5000);
  assert.equal(s.inflightMessages, 0);
  assert.equal(s.backlogRemaining, 0);
  assert.ok(
    s.pubackLatencyMedianMs !== null && s.pubackLatencyEwmaMs !== null && s.lastPubackLatencyMs !== null,
  );
});

test('in-flight messages never exceed the window (counted on the wire)', async (t) => {
  const box = new FakeOutbox();
  fill(box, 3000, 3);
  const fwd = makeForwarder(
    mqttConfig({
      url: broker.url,
      topicPrefix: 'p2',
      inflightWindow: 3,
      batch: { maxRecords: 10, maxBytes: 1024 * 1024 },
    }),
    box,
  );
  t.after(() => fwd.stop());
  // Count data PUBLISH packets sent minus PUBACKs received, on the mqtt.js client itself.
  let outstanding = 0;
  let peak = 0;
  let publishes = 0;
  const ids = new Set<number>();
  fwd.on('connected', () => {
    const client = (fwd as unknown as { client: MqttClient }).client;
    client.on('packetsend', (p) => {
      if (p.cmd === 'publish' && !p.topic.endsWith('/agent/status')) {
        ids.add(p.messageId as number);
        publishes++;
        peak = Math.max(peak, ++outstanding);
      }
    });
    client.on('packetreceive', (p) => {
      if (p.cmd === 'puback' && ids.delete(p.messageId as number)) outstanding--;
    });
  });
  box.onAck = () => assert.ok(fwd.stats().inflightMessages <= 3);
  await fwd.start();
  await waitFor('outbox drained', () => box.remaining().length === 0);
  assert.ok(publishes >= 300, `${publishes} publishes`);
  assert.equal(peak, 3, 'the window is used, never exceeded');
  assert.equal(fwd.stats().window, 3);
  assert.equal(fwd.stats().peakInflightMessages, 3);
});

test('the window honours the broker receive maximum (mosquitto default 20)', async (t) => {
  const small = await startMosquitto();
  t.after(() => small.close());
  const box = new FakeOutbox();
  fill(box, 2000, 2);
  const fwd = makeForwarder(
    mqttConfig({ url: small.url, inflightWindow: 500, batch: { maxRecords: 5 } }),
    box,
  );
  t.after(() => fwd.stop());
  // The window at the CONNACK: later it may shrink with PUBACK latency (a loaded host).
  let window = 0;
  fwd.on('connected', (info) => (window = info.window));
  await fwd.start();
  await waitFor('outbox drained', () => box.remaining().length === 0);
  assert.equal(window, 19, 'receive maximum 20 minus one slot for the status message');
  assert.ok(fwd.stats().peakInflightMessages <= 19);
  assert.equal(fwd.stats().reconnects, 0, 'never exceeded the broker quota');
});

async function laneOrder(
  drain: 'interleave' | 'fifo',
  t: { after(fn: () => unknown): void },
): Promise<{ liveAckIndex: number; lastBacklogAckIndex: number; ackedBeforeLive: number }> {
  const box = new FakeOutbox();
  fill(box, 20_000, 4);
  const watermark = box.lastRowid();
  const fwd = makeForwarder(
    mqttConfig({
      url: broker.url,
      topicPrefix: `p5${drain}`,
      drain,
      inflightWindow: 2,
      batch: { maxRecords: 20 },
    }),
    box,
  );
  t.after(() => fwd.stop());
  let appended = false;
  // PUBACK order is what acked() sees (ack(), the delete, holds combs back a batch): the live
  // records exist from the first PUBACK on, so their place is counted from there.
  let ackedBeforeLive = 0;
  box.onDelivered = () => {
    if (!appended) {
      appended = true;
      ackedBeforeLive = box.delivered.flat().length;
      queueMicrotask(() =>
        box.append([telemetry('live-dev', Date.now()), telemetry('live-dev', Date.now())]),
      );
    }
  };
  await fwd.start();
  await waitFor('outbox drained', () => box.remaining().length === 0, 20_000);
  // Rowids in PUBACK order.
  const order = box.delivered.flat();
  const liveAckIndex = order.findIndex((rowid) => rowid > watermark);
  let lastBacklogAckIndex = -1;
  order.forEach((rowid, i) => {
    if (rowid <= watermark) lastBacklogAckIndex = i;
  });
  assert.ok(liveAckIndex >= 0);
  return { liveAckIndex, lastBacklogAckIndex, ackedBeforeLive };
}

test('interleave: live records go out while the backlog is still draining', async (t) => {
  const { liveAckIndex, lastBacklogAckIndex, ackedBeforeLive } = await laneOrder('interleave', t);
  const after = liveAckIndex - ackedBeforeLive;
  assert.ok(after < 200, `live acked ${after} backlog records after it was appended`);
  assert.ok(lastBacklogAckIndex > 19_000);
});

test('fifo: strictly oldest first, live waits for the backlog', async (t) => {
  const { liveAckIndex, lastBacklogAckIndex } = await laneOrder('fifo', t);
  assert.ok(liveAckIndex > lastBacklogAckIndex, `live ${liveAckIndex} vs backlog end ${lastBacklogAckIndex}`);
});
