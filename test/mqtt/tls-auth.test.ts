import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import mqtt from 'mqtt';
import type { IClientOptions, MqttClient } from 'mqtt';
import { createTestCerts, type TestCerts } from '../helpers/certs.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { EdgeError } from '../../src/core/errors.js';
import { FakeOutbox, telemetry } from './fake-outbox.js';
import { Subscriber, captureLogger, makeForwarder, mqttConfig } from './util.js';

let certs: TestCerts;
let otherCerts: TestCerts;
let tlsBroker: MosquittoBroker;
let authBroker: MosquittoBroker;
const PASSWORD = 'S3cr3t-pa55-word!';

before(async () => {
  certs = createTestCerts();
  otherCerts = createTestCerts('some-other-ca');
  tlsBroker = await startMosquitto({
    tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey, requireCertificate: true },
  });
  authBroker = await startMosquitto({ allowAnonymous: false, users: { edge: PASSWORD } });
});
after(async () => {
  await tlsBroker?.close();
  await authBroker?.close();
  certs?.remove();
  otherCerts?.remove();
});

function tlsConfig(ca: string, extra: Record<string, unknown> = {}) {
  return mqttConfig({
    url: tlsBroker.tlsUrl,
    topicPrefix: 'tls',
    tls: { ca, cert: certs.clientCert, key: { file: certs.clientKey } },
    reconnect: { initialMs: 100, maxMs: 500 },
    ...extra,
  });
}

test('TLS 1.3 with a pinned CA and a client certificate: connects and delivers', async (t) => {
  const sub = await Subscriber.connect(tlsBroker.url, 'tls/#');
  t.after(() => sub.close());
  const box = new FakeOutbox();
  box.append([telemetry('d1', 1), telemetry('d1', 2)]);
  const fwd = makeForwarder(tlsConfig(certs.ca), box);
  t.after(() => fwd.stop());
  await fwd.start();
  await waitFor('drained', () => box.remaining().length === 0);
  const stream = (fwd as unknown as { client: MqttClient }).client.stream as TLSSocket;
  assert.equal(stream.getProtocol(), 'TLSv1.3');
  await waitFor('received', () => sub.recordIds().length === 2);
});

test('the broker listener is TLS 1.3 only: a client capped at TLS 1.2 cannot connect', async () => {
  const options: IClientOptions & ConnectionOptions = {
    ca: readFileSync(certs.ca),
    cert: readFileSync(certs.clientCert),
    key: readFileSync(certs.clientKey),
    maxVersion: 'TLSv1.2',
    reconnectPeriod: 0,
    connectTimeout: 5000,
  };
  const client = mqtt.connect(tlsBroker.tlsUrl, options);
  let connected = false;
  client.on('connect', () => (connected = true));
  const err = await new Promise<Error>((resolve) => client.once('error', resolve));
  await client.endAsync(true);
  assert.equal(connected, false);
  assert.match(`${(err as NodeJS.ErrnoException).code} ${err.message}`, /version|alert|SSL|TLS/i);
});

test('a server certificate from another CA is refused (CA pinning)', async (t) => {
  const box = new FakeOutbox();
  const fwd = makeForwarder(tlsConfig(otherCerts.ca), box);
  t.after(() => fwd.stop());
  await fwd.start();
  await waitFor('tls failure recorded', () => (fwd.stats().errorsByCode.EDGE_ERR_MQTT_CONNECT ?? 0) >= 1);
  assert.equal(fwd.stats().connected, false);
  assert.match(fwd.stats().lastError ?? '', /certificate|issuer/i);
});

test('a client without certificate is refused when the broker requires one', async (t) => {
  const box = new FakeOutbox();
  const fwd = makeForwarder(
    mqttConfig({ url: tlsBroker.tlsUrl, tls: { ca: certs.ca }, reconnect: { initialMs: 100, maxMs: 500 } }),
    box,
  );
  t.after(() => fwd.stop());
  await fwd.start();
  await waitFor('failure recorded', () => (fwd.stats().errorsByCode.EDGE_ERR_MQTT_CONNECT ?? 0) >= 1);
  assert.equal(fwd.stats().connected, false);
});

test('unreadable TLS material fails start() with EDGE_ERR_MQTT_TLS', async () => {
  const fwd = makeForwarder(tlsConfig('/nonexistent/ca.pem'), new FakeOutbox());
  await assert.rejects(fwd.start(), (e: unknown) => e instanceof EdgeError && e.code === 'EDGE_ERR_MQTT_TLS');
});

test('username/password accepted; the password never reaches logs or stats', async (t) => {
  process.env.EDGE_TEST_MQTT_PASSWORD = PASSWORD;
  const logger = captureLogger();
  const box = new FakeOutbox();
  box.append([telemetry('d1', 1)]);
  const fwd = makeForwarder(
    mqttConfig({ url: authBroker.url, username: 'edge', password: { env: 'EDGE_TEST_MQTT_PASSWORD' } }),
    box,
    { logger },
  );
  t.after(() => fwd.stop());
  await fwd.start();
  await waitFor('drained', () => box.remaining().length === 0);
  await fwd.stop();
  assert.ok(logger.lines.some((l) => l.msg === 'mqtt connected'));
  assert.ok(!logger.text().includes(PASSWORD));
  assert.ok(!JSON.stringify(fwd.stats()).includes(PASSWORD));
});

test('wrong password: EDGE_ERR_MQTT_AUTH, keeps retrying, secret not logged (also not from the URL)', async (t) => {
  const logger = captureLogger();
  const wrong = 'wrong-Pa55word-xyz';
  const url = authBroker.url.replace('mqtt://', `mqtt://edge:${wrong}@`);
  const fwd = makeForwarder(
    mqttConfig({ url, username: 'edge', password: wrong, reconnect: { initialMs: 50, maxMs: 100 } }),
    new FakeOutbox(),
    { logger },
  );
  t.after(() => fwd.stop());
  await fwd.start();
  await waitFor('auth refused twice', () => (fwd.stats().errorsByCode.EDGE_ERR_MQTT_AUTH ?? 0) >= 2);
  const s = fwd.stats();
  assert.equal(s.connected, false);
  assert.equal(s.lastErrorCode, 'EDGE_ERR_MQTT_AUTH');
  assert.ok(s.connectAttempts >= 2);
  assert.ok(
    logger.lines.some(
      (l) => l.level === 'error' && (l.obj as { code?: string }).code === 'EDGE_ERR_MQTT_AUTH',
    ),
  );
  assert.ok(!logger.text().includes(wrong), logger.text());
  assert.ok(!JSON.stringify(s).includes(wrong));
  assert.equal(s.url, authBroker.url + '');
});
