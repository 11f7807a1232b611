/**
 * Unbounded inbound MQTT messages (issue 12 item 7): a 16 MiB retained message on a
 * command topic reached its handler at every start. Now the agent announces
 * mqtt.maxPacketBytes (MQTT 5: mosquitto does not send larger packets) and reads every
 * packet header itself (MQTT 3.1.1: the connection is dropped before the body is
 * buffered). Real mosquitto; the message is retained, so it comes back at every connect.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import type { InboundMessage } from '../../src/core/ports.js';
import { PacketSizeGuard } from '../../src/forwarders/mqtt/packet-guard.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { once, waitFor } from '../helpers/wait.js';
import { FakeOutbox } from './fake-outbox.js';
import { SITE, makeForwarder, mqttConfig } from './util.js';

const BIG = Buffer.alloc(16 * 1024 * 1024, 0x7b); // 16 MiB, as in the held-out attack

describe('PacketSizeGuard', () => {
  it('finds an oversized header across arbitrary chunking, after packets within the limit', () => {
    // PINGRESP (0xd0 0x00), a 200-byte PUBLISH (2-byte length), then a 300-byte one.
    const small = Buffer.concat([Buffer.from([0x30, 0xc8, 0x01]), Buffer.alloc(200)]);
    const big = Buffer.from([0x31, 0xac, 0x02]); // header only: 300 bytes follow
    const stream = Buffer.concat([Buffer.from([0xd0, 0x00]), small, big]);
    const guard = new PacketSizeGuard(256);
    let found;
    for (const byte of stream) found ??= guard.feed(Buffer.from([byte]));
    assert.deepEqual(found, { type: 3, bytes: 303 });
    assert.equal(new PacketSizeGuard(256).feed(Buffer.concat([Buffer.from([0xd0, 0x00]), small])), undefined);
  });

  it('treats a length field longer than four bytes as oversized', () => {
    const found = new PacketSizeGuard(1 << 30).feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
    assert.equal(found?.bytes, Number.POSITIVE_INFINITY);
  });
});

describe('oversized inbound MQTT messages (real mosquitto)', { timeout: 120_000 }, () => {
  let broker: MosquittoBroker;
  let pub: mqtt.MqttClient;
  before(async () => {
    broker = await startMosquitto();
    pub = mqtt.connect(broker.url, { protocolVersion: 5, reconnectPeriod: 50 });
    pub.on('error', () => undefined);
    if (!pub.connected) await once(pub, 'connect');
  });
  after(async () => {
    pub?.end(true);
    await broker?.close();
  });

  for (const protocolVersion of [5, 4] as const) {
    it(`MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}: a retained 16 MiB command never reaches the handler, and commands keep working`, async (t) => {
      const prefix = `big${protocolVersion}`;
      const topic = `${prefix}/${SITE}/dev-1/cmd`;
      await pub.publishAsync(topic, BIG, { qos: 1, retain: true });
      t.after(() => pub.publishAsync(topic, '', { qos: 1, retain: true }).then(() => undefined));
      const fwd = makeForwarder(
        mqttConfig({
          url: broker.url,
          protocolVersion,
          topicPrefix: prefix,
          maxPacketBytes: 65_536,
          reconnect: { initialMs: 20, maxMs: 100 },
        }),
        new FakeOutbox(),
      );
      t.after(() => fwd.stop());
      const got: InboundMessage[] = [];
      fwd.commands.subscribe('dev-1/cmd', (m) => got.push(m));
      await fwd.start();
      if (protocolVersion === 4) {
        // No maximum packet size in 3.1.1: the broker sends it, the header guard drops it.
        await waitFor('oversized packet refused', () => fwd.stats().oversizedDropped >= 1);
        assert.ok((fwd.stats().errorsByCode.EDGE_ERR_MQTT_OVERSIZED ?? 0) >= 1);
        await pub.publishAsync(topic, '', { qos: 1, retain: true }); // the operator clears it
      }
      await waitFor('small command delivered', async () => {
        if (got.some((m) => m.payload.toString() === '{"id":"ok"}')) return true;
        if (fwd.stats().connected) await pub.publishAsync(topic, '{"id":"ok"}', { qos: 1 });
        return false;
      });
      assert.ok(
        got.every((m) => m.payload.length < 65_536),
        'nothing over the limit reached the handler',
      );
      if (protocolVersion === 5) assert.equal(fwd.stats().oversizedDropped, 0, 'mosquitto withheld it');
    });
  }
});
