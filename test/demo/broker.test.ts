import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectAsync } from 'mqtt';
import { startEmbeddedBroker } from '../../src/demo/broker.js';
import { waitFor } from '../helpers/wait.js';

describe('embedded MQTT broker', () => {
  it('accepts a QoS 1 publish from mqtt.js and delivers it to a subscriber', async () => {
    const seen: Array<{ topic: string; payload: string; qos: number; clientId: string | null }> = [];
    const broker = await startEmbeddedBroker({
      host: '127.0.0.1',
      port: 0,
      onPublish: (m) =>
        seen.push({ topic: m.topic, payload: m.payload.toString(), qos: m.qos, clientId: m.clientId }),
    });
    assert.equal(broker.url, `mqtt://127.0.0.1:${broker.port}`);
    const subscriber = await connectAsync(broker.url, { clientId: 'sub', reconnectPeriod: 0 });
    const publisher = await connectAsync(broker.url, { clientId: 'pub', reconnectPeriod: 0 });
    try {
      await subscriber.subscribeAsync('edge/demo-site/#', { qos: 1 });
      const received = new Promise<{ topic: string; payload: string; qos: number }>((resolve) => {
        subscriber.once('message', (topic, payload, packet) =>
          resolve({ topic, payload: payload.toString(), qos: packet.qos }),
        );
      });
      const pubacks: number[] = [];
      publisher.on('packetreceive', (packet) => {
        if (packet.cmd === 'puback' && packet.messageId !== undefined) pubacks.push(packet.messageId);
      });
      // Resolves (with the sent packet) once the broker's PUBACK arrived.
      const sent = await publisher.publishAsync('edge/demo-site/meter-1/telemetry', '{"voltage":230.1}', {
        qos: 1,
      });
      assert.equal(sent?.cmd, 'publish');
      assert.deepEqual(pubacks, [sent?.messageId]);
      const message = await received;
      assert.deepEqual(message, {
        topic: 'edge/demo-site/meter-1/telemetry',
        payload: '{"voltage":230.1}',
        qos: 1,
      });
      // aedes emits 'publish' after routing, possibly after the PUBACK went out.
      await waitFor('the onPublish hook', () => seen.length > 0, 5000);
      assert.deepEqual(seen, [
        { topic: 'edge/demo-site/meter-1/telemetry', payload: '{"voltage":230.1}', qos: 1, clientId: 'pub' },
      ]);
    } finally {
      await Promise.all([publisher.endAsync(), subscriber.endAsync()]);
      await broker.close();
    }
  });

  it('closes with clients still connected, and close() is idempotent', async () => {
    const broker = await startEmbeddedBroker();
    const client = await connectAsync(broker.url, { reconnectPeriod: 0 });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await Promise.all([broker.close(), broker.close()]);
    await closed;
    client.end(true);
  });
});
