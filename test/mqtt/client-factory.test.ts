/**
 * The forwarder's MQTT client factory (client-factory.ts): which transport a broker URL
 * gets, what is read from the URL, the fixture case `tls-scheme-client-cert` (tls:// with a
 * client certificate never connected: mqtt.connect threw "Unknown protocol for secure
 * connection"), and that a TCP/TLS station never loads mqtt.js's WebSocket and SOCKS code.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test, after, before } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { createMqttClient, transportOf } from '../../src/forwarders/mqtt/client-factory.js';
import { createTestCerts, type TestCerts } from '../helpers/certs.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { FakeOutbox, telemetry } from './fake-outbox.js';
import { makeForwarder, mqttConfig } from './util.js';

const CERT = { cert: 'c', key: 'k' };

test('transportOf: the scheme decides; a client certificate upgrades mqtt:// and ws:// (as mqtt.connect did)', () => {
  const cases: [string, object, string][] = [
    ['mqtt://b:1883', {}, 'tcp'],
    ['tcp://b:1883', {}, 'tcp'],
    ['mqtts://b:8883', {}, 'tls'],
    ['tls://b:8883', {}, 'tls'],
    ['ws://b/mqtt', {}, 'ws'],
    ['wss://b/mqtt', {}, 'wss'],
    ['MQTTS://b:8883', {}, 'tls'],
    ['mqtt://b:1883', CERT, 'tls'],
    ['tcp://b:1883', CERT, 'tls'],
    ['tls://b:8883', CERT, 'tls'],
    ['mqtts://b:8883', CERT, 'tls'],
    ['ws://b/mqtt', CERT, 'wss'],
    ['mqtt://b:1883', { cert: 'c' }, 'tcp'],
  ];
  for (const [url, opts, want] of cases)
    assert.equal(transportOf(url, opts), want, `${url} ${JSON.stringify(opts)}`);
  assert.throws(() => transportOf('http://b', {}), /unsupported broker URL scheme "http"/);
});

test('createMqttClient reads host, default port, credentials and ?clientId= from the URL; IPv6 brackets go', () => {
  // manualConnect: no socket, no timer (and nothing to end: mqtt.js cannot end a client it never connected).
  const make = (url: string, opts = {}): MqttClient =>
    createMqttClient(url, { manualConnect: true, clientId: 'from-opts', ...opts });
  const a = make('mqtts://edge:p%40ss@broker.example');
  assert.equal(a.options.host, 'broker.example');
  assert.equal(a.options.port, 8883);
  assert.equal(a.options.username, 'edge');
  assert.equal(a.options.password, 'p@ss');
  assert.equal(a.options.clientId, 'from-opts');
  const b = make('mqtt://[::1]?clientId=from-url', { username: 'opt-user' });
  assert.equal(b.options.host, '::1');
  assert.equal(b.options.port, 1883);
  assert.equal(b.options.clientId, 'from-url');
  assert.equal(b.options.username, 'opt-user');
  assert.equal(make('tcp://10.0.0.2:1999').options.port, 1999);
});

let certs: TestCerts;
let broker: MosquittoBroker;
before(async () => {
  certs = createTestCerts();
  broker = await startMosquitto({
    tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey, requireCertificate: true },
  });
});
after(async () => {
  await broker?.close();
  certs?.remove();
});

test('fixture tls-scheme-client-cert: tls:// with a client certificate connects over TLS 1.3 and delivers', async (t) => {
  const box = new FakeOutbox();
  box.append([telemetry('d1', 1)]);
  const fwd = makeForwarder(
    mqttConfig({
      url: broker.tlsUrl.replace(/^mqtts:/, 'tls:'),
      topicPrefix: 'tls-scheme',
      tls: { ca: certs.ca, cert: certs.clientCert, key: { file: certs.clientKey } },
      reconnect: { initialMs: 100, maxMs: 500 },
    }),
    box,
  );
  t.after(() => fwd.stop());
  await fwd.start();
  await waitFor('drained', () => box.remaining().length === 0);
  const stream = (fwd as unknown as { client: MqttClient }).client.stream as TLSSocket;
  assert.equal(stream.getProtocol(), 'TLSv1.3');
  assert.equal(fwd.stats().errorsByCode.EDGE_ERR_MQTT_CONNECT ?? 0, 0);
});

const CHILD = `
import { createMqttClient } from ${JSON.stringify(new URL('../../src/forwarders/mqtt/client-factory.js', import.meta.url).href)};
import { createRequire } from 'node:module';
const client = createMqttClient(process.argv[1], { clientId: 'probe', reconnectPeriod: 0 });
await new Promise((resolve, reject) => { client.once('connect', resolve); client.once('error', reject); });
await client.endAsync();
const loaded = Object.keys(createRequire(import.meta.url).cache).filter((f) => /node_modules\\/(ws|socks|ip-address)\\//.test(f));
console.log(JSON.stringify({ connected: true, loaded }));
`;

test('connecting over TCP loads neither ws nor the SOCKS packages (a fresh process)', async () => {
  const plain = await startMosquitto({});
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', CHILD, plain.url],
      { timeout: 30_000, cwd: new URL('../../', import.meta.url).pathname },
    );
    const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
      connected: boolean;
      loaded: string[];
    };
    assert.equal(out.connected, true);
    assert.deepEqual(out.loaded, []);
  } finally {
    await plain.close();
  }
});
