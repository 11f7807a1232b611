/**
 * The forwarder's link over its life: waking on commit, birth and last will, a broker
 * outage under load, PUBACKs that refuse, and stop() in the middle of a drain.
 * The drain itself (once-only acks, the window, lane order) is in forwarder.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { MqttForwarder } from '../../src/forwarders/mqtt/forwarder.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { TrackingClock } from '../helpers/tracking-clock.js';
import { once, waitFor } from '../helpers/wait.js';
import { FakeOutbox, telemetry } from './fake-outbox.js';
import { fill, schema, sharedBroker } from './forwarder-rig.js';
import { validate } from './schema-check.js';
import { AGENT, SITE, Subscriber, makeForwarder, mqttConfig } from './util.js';

const broker = sharedBroker();

test('wakes on commit when idle; stop() removes its listener and publishes nothing more', async (t) => {
  const sub = await Subscriber.connect(broker.url, 'p3/#');
  t.after(() => sub.close());
  const box = new FakeOutbox();
  const clock = new TrackingClock();
  const fwd = makeForwarder(mqttConfig({ url: broker.url, topicPrefix: 'p3' }), box, { clock });
  await fwd.start();
  await once(fwd, 'connected');
  assert.equal(box.listenerCount, 1);
  box.append([telemetry('late', 1)]);
  await waitFor('live record acked', () => box.acks.length === 1);
  const m = await waitFor('live record received', () => sub.messages.find((x) => x.json.records));
  assert.equal(m.json.replay, undefined, 'live lane messages carry no replay flag');
  const client = clientOf(fwd);
  await fwd.stop();
  assertNothingLeft(fwd, box, clock, client);
  box.seal();
  box.append([telemetry('late', 2)]);
  await sub.fence('p3/fence');
  assert.deepEqual(box.callsAfterSeal, [], 'the outbox is not touched after stop()');
  assert.equal(box.acks.length, 1);
  assert.equal(sub.messages.filter((x) => x.json.records).length, 1, 'nothing published after stop()');
});

function clientOf(fwd: MqttForwarder): MqttClient {
  const client = (fwd as unknown as { client: MqttClient | undefined }).client;
  assert.ok(client, 'connected forwarder has a client');
  return client;
}

/**
 * What could still make a stopped forwarder act, all gone: the commit listener, its timers
 * (on the clock it was given) and its connection.
 */
function assertNothingLeft(
  fwd: MqttForwarder,
  box: FakeOutbox,
  clock: TrackingClock,
  client: MqttClient,
): void {
  assert.equal(box.listenerCount, 0, 'commit listener removed');
  assert.equal(clock.pendingCount, 0, 'no forwarder timer left');
  assert.equal(fwd.stats().connected, false);
  assert.equal(fwd.stats().inflightMessages, 0);
  assert.ok(client.disconnected, 'client ended');
  assert.ok(client.stream.destroyed, 'socket closed');
}

test('retained birth; last will when the link dies; retained offline on stop', async (t) => {
  const statusTopic = `p4/${SITE}/agent/status`;
  const sub = await Subscriber.connect(broker.url, statusTopic);
  t.after(() => sub.close());
  const box = new FakeOutbox();
  const fwd = makeForwarder(
    mqttConfig({ url: broker.url, topicPrefix: 'p4', reconnect: { initialMs: 50, maxMs: 200 } }),
    box,
  );
  t.after(() => fwd.stop());
  await fwd.start();
  const birth = await waitFor('online', () => sub.messages.find((m) => m.json.state === 'online'));
  assert.equal(birth.json.agent, AGENT);
  assert.deepEqual(validate(schema, birth.json), []);

  // A late subscriber sees the retained online.
  const late = await Subscriber.connect(broker.url, statusTopic);
  const retained = await waitFor('retained online', () => late.messages[0]);
  await late.close();
  assert.equal(retained.retain, true);
  assert.equal(retained.json.state, 'online');

  // Kill our socket without DISCONNECT: the broker publishes the will.
  const client = (fwd as unknown as { client: MqttClient }).client;
  client.stream.destroy();
  const will = await waitFor('will', () => sub.messages.find((m) => m.json.state === 'offline'));
  assert.equal(will.json.reason, 'connection-lost');
  assert.deepEqual(validate(schema, will.json), []);
  // …and we come back by ourselves.
  await waitFor('online again', () => sub.messages.filter((m) => m.json.state === 'online').length === 2);
  await waitFor('reconnected', () => fwd.stats().connected && fwd.stats().reconnects === 1);

  await fwd.stop();
  const off = await waitFor('stopped', () => sub.messages.find((m) => m.json.reason === 'stopped'));
  assert.equal(off.json.state, 'offline');
  const late2 = await Subscriber.connect(broker.url, statusTopic);
  const retained2 = await waitFor('retained offline', () => late2.messages[0]);
  await late2.close();
  assert.equal(retained2.json.state, 'offline');
  assert.equal(retained2.json.reason, 'stopped');
});

test('broker outage under load: nothing lost, nothing acked without PUBACK, same ids on resend', async (t) => {
  const flaky = await startMosquitto({ persistence: true });
  t.after(() => flaky.close());
  // A persistent-session subscriber: the broker keeps its queue across the restart.
  const sub = await Subscriber.connect(flaky.url, 'p6/#', {
    clean: false,
    clientId: 'outage-sub',
    protocolVersion: 4,
  });
  t.after(() => sub.close());
  const box = new FakeOutbox();
  fill(box, 2000, 5);
  const fwd = makeForwarder(
    mqttConfig({
      url: flaky.url,
      topicPrefix: 'p6',
      inflightWindow: 8,
      batch: { maxRecords: 25 },
      reconnect: { initialMs: 100, maxMs: 400 },
    }),
    box,
  );
  t.after(() => fwd.stop());
  let i = 0;
  const appender = setInterval(() => {
    const recs = [];
    for (let k = 0; k < 20; k++) recs.push(telemetry(`dev-${k % 5}`, Date.now(), i++));
    box.append(recs);
  }, 5);
  t.after(() => clearInterval(appender));

  let ackedWhileDown = 0;
  let down = false;
  box.onAck = (rowids) => {
    if (down) ackedWhileDown += rowids.length;
  };
  let scheduled = 0;
  fwd.on('reconnectScheduled', () => scheduled++);
  const disconnected = once(fwd, 'disconnected', 20_000);
  await fwd.start();
  await waitFor('some progress', () => box.acks.length > 20);
  await flaky.stop();
  await disconnected;
  down = true;
  const inflightAtLoss = fwd.stats().inflightMessages;
  // Two reconnects refused while down: their backoff timers (≥ 80 ms) were armed after any
  // ack batch timer (20 ms) of the lost connection, so such a timer has fired by then.
  await waitFor('two reconnects refused', () => scheduled >= 3, 10_000);
  assert.equal(ackedWhileDown, 0, 'nothing acked while the broker is down');
  assert.equal(inflightAtLoss, 0, 'in-flight state dropped at disconnect');
  assert.equal(fwd.stats().connected, false);
  assert.ok(fwd.stats().errorsByCode.EDGE_ERR_MQTT_CONNECT! >= 1);
  down = false;
  await flaky.restart();
  await waitFor('reconnected', () => fwd.stats().connected, 10_000);
  // Live records keep coming while the backlog replays; stop appending once one appended
  // after the reconnect has been delivered.
  const atReconnect = box.lastRowid();
  await waitFor(
    'a record appended after the reconnect acked',
    () => box.ackedRowids.has(atReconnect + 1),
    20_000,
  );
  clearInterval(appender);
  const total = box.lastRowid();
  await waitFor('outbox drained', () => box.remaining().length === 0, 20_000);
  await waitFor('subscriber has every record', () => new Set(sub.recordIds()).size >= total, 20_000);

  const ids = new Set(sub.recordIds());
  for (let rowid = 1; rowid <= total; rowid++) assert.ok(ids.has(`e1-${rowid}`), `record ${rowid} lost`);
  assert.equal(box.ackedRowids.size, total);
  assert.ok(fwd.stats().reconnects >= 1);
  // Every duplicate carries the same id and content.
  const seen = new Map<string, string>();
  for (const m of sub.messages) {
    if (!m.json.records) continue;
    for (const r of m.json.records) {
      const text = JSON.stringify(r);
      const prev = seen.get(r.id);
      if (prev !== undefined) assert.equal(text, prev);
      seen.set(r.id, text);
    }
  }
});

// Compact + compressed payloads go through the same window: one record is acked only by its message's PUBACK.
for (const payload of [{}, { format: 'compact', compression: 'brotli' }]) {
  test(`a PUBACK with a failure reason code acks nothing of that message and resends after a reconnect (${JSON.stringify(payload)})`, async (t) => {
    const { writeFileSync } = await import('node:fs');
    const { tempDir } = await import('../helpers/tmp.js');
    const dir = tempDir();
    t.after(() => dir.remove());
    const acl = join(dir.path, 'acl');
    writeFileSync(acl, `topic readwrite #\ntopic deny pacl/${SITE}/bad/#\n`, { mode: 0o644 });
    const aclBroker = await startMosquitto({ extra: [`acl_file ${acl}`] });
    t.after(() => aclBroker.close());
    const box = new FakeOutbox();
    const good = box.append([telemetry('good', 1), telemetry('good', 2)]);
    const bad = box.append([telemetry('bad', 3)]);
    const fwd = makeForwarder(
      mqttConfig({
        url: aclBroker.url,
        topicPrefix: 'pacl',
        reconnect: { initialMs: 50, maxMs: 200 },
        payload,
      }),
      box,
    );
    t.after(() => fwd.stop());
    await fwd.start();
    await waitFor(
      'publish refused twice',
      () => (fwd.stats().errorsByCode.EDGE_ERR_MQTT_PUBLISH ?? 0) >= 2,
      10_000,
    );
    for (const r of good) assert.ok(box.ackedRowids.has(r.rowid), 'accepted records are acked');
    assert.ok(!box.ackedRowids.has(bad[0]!.rowid), 'refused record is not acked');
    assert.deepEqual(
      box.remaining().map((r) => r.rowid),
      [bad[0]!.rowid],
    );
    assert.match(fwd.stats().lastError ?? '', /EDGE_ERR_MQTT_PUBLISH/);
  });
}

test('stop() mid-drain: waits for in-flight PUBACKs, acks exactly what was PUBACKed, then goes offline', async (t) => {
  const sub = await Subscriber.connect(broker.url, 'p7/#');
  t.after(() => sub.close());
  const box = new FakeOutbox();
  fill(box, 50_000, 10);
  const clock = new TrackingClock();
  const fwd = makeForwarder(mqttConfig({ url: broker.url, topicPrefix: 'p7' }), box, { clock });
  await fwd.start();
  await waitFor('draining', () => box.acks.length > 2);
  const client = clientOf(fwd);
  await fwd.stop();
  assertNothingLeft(fwd, box, clock, client);
  box.seal();
  const s = fwd.stats();
  assert.equal(s.inflightMessages, 0);
  assert.equal(s.connected, false);
  assert.ok(box.remaining().length > 0, 'stopped before the end of the backlog');
  assert.equal(
    box.ackedRowids.size,
    s.publishedRecords,
    'every PUBACKed record acked to the outbox before stop() returned',
  );
  await waitFor('offline status', () => sub.messages.find((m) => m.json.reason === 'stopped'));
  const received = new Set(sub.recordIds());
  for (const rowid of box.ackedRowids) assert.ok(received.has(`e1-${rowid}`));
  const published = box.acks.length;
  box.append([telemetry('late', 1)]);
  await sub.fence('p7/fence');
  assert.deepEqual(box.callsAfterSeal, [], 'the outbox is not touched after stop()');
  assert.equal(box.acks.length, published, 'nothing after stop()');
});
