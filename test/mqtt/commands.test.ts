import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { topicMatches } from '../../src/core/command-channel.js';
import { EdgeError } from '../../src/core/errors.js';
import type { InboundMessage } from '../../src/core/ports.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { once, waitFor } from '../helpers/wait.js';
import { FakeOutbox } from './fake-outbox.js';
import { SITE, Subscriber, captureLogger, makeForwarder, mqttConfig } from './util.js';

let broker: MosquittoBroker;
before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await broker?.close();
});

async function publisher(url: string): Promise<mqtt.MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 50 });
  client.on('error', () => undefined);
  if (!client.connected) await once(client, 'connect');
  return client;
}

test('topic filters match as MQTT does', () => {
  assert.ok(topicMatches('a/+/cmd', 'a/dev-1/cmd'));
  assert.ok(!topicMatches('a/+/cmd', 'a/dev-1/cmd/result'));
  assert.ok(topicMatches('a/#', 'a/x/y'));
  assert.ok(!topicMatches('a/b', 'a'));
});

test('commands arrive on subscribed topics, results are published, subscriptions survive a broker restart', async (t) => {
  const prefix = 'c1';
  const fwd = makeForwarder(
    mqttConfig({ url: broker.url, topicPrefix: prefix, reconnect: { initialMs: 20, maxMs: 100 } }),
    new FakeOutbox(),
  );
  t.after(() => fwd.stop());
  const got: InboundMessage[] = [];
  const unsubscribe = fwd.commands.subscribe('+/cmd', (m) => got.push(m));
  fwd.commands.subscribe('dev-1/cmd', () => {
    throw new Error('handler bug');
  });
  await fwd.start();
  await waitFor('connected', () => fwd.stats().connected);

  const results = await Subscriber.connect(broker.url, `${prefix}/${SITE}/+/cmd/result`);
  t.after(() => results.close());
  const pub = await publisher(broker.url);
  t.after(() => pub.end(true));

  // Subscription is made asynchronously after connect: publish until it is delivered.
  await waitFor('first command delivered', async () => {
    if (got.length > 0) return true;
    await pub.publishAsync(`${prefix}/${SITE}/dev-1/cmd`, '{"id":"1"}', { qos: 1 });
    return false;
  });
  assert.equal(got[0]?.topic, `${prefix}/${SITE}/dev-1/cmd`);
  assert.deepEqual(JSON.parse(got[0].payload.toString()), { id: '1' });
  assert.ok(fwd.stats().connected, 'a throwing handler does not drop the connection');

  await fwd.commands.publish('dev-1/cmd/result', '{"id":"1","status":"done"}');
  await waitFor('result received', () => results.messages.length === 1);
  assert.equal(results.messages[0]?.topic, `${prefix}/${SITE}/dev-1/cmd/result`);

  await broker.restart();
  await waitFor('reconnected', () => fwd.stats().connected && fwd.stats().reconnects >= 1);
  const before = got.length;
  await waitFor('command after restart delivered', async () => {
    if (got.length > before) return true;
    await pub.publishAsync(`${prefix}/${SITE}/dev-2/cmd`, '{"id":"2"}', { qos: 1 }).catch(() => undefined);
    return false;
  });
  assert.equal(got.at(-1)?.topic, `${prefix}/${SITE}/dev-2/cmd`);

  unsubscribe();
  assert.equal(fwd.commands.subscriptionCount(), 1);
});

test('publish while offline rejects with EDGE_ERR_MQTT_PUBLISH', async (t) => {
  const log = captureLogger();
  const fwd = makeForwarder(mqttConfig({ url: 'mqtt://127.0.0.1:1', topicPrefix: 'c2' }), new FakeOutbox(), {
    logger: log,
  });
  t.after(() => fwd.stop());
  await fwd.start();
  await assert.rejects(
    fwd.commands.publish('x/cmd/result', '{}'),
    (err: unknown) => err instanceof EdgeError && err.code === 'EDGE_ERR_MQTT_PUBLISH',
  );
});
