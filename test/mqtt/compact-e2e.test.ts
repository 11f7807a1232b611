/**
 * Compact and compressed payloads through a real mosquitto (issue 14 item 2): a consumer
 * that reads only the MQTT 5 properties and the documented format gets exactly the
 * records the JSON format carries, and the outbox is emptied only by PUBACKs.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { storeSchema } from '../../src/config/sections/store.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import {
  decodePayload,
  type JsonMessage,
  type PayloadCompression,
} from '../../src/forwarders/mqtt/compact.js';
import { PayloadBuilder } from '../../src/forwarders/mqtt/payload.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { startMosquitto, type MosquittoBroker } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';
import { once, waitFor } from '../helpers/wait.js';
import { event, telemetry } from './fake-outbox.js';
import { AGENT, SITE, makeForwarder, mqttConfig } from './util.js';

let broker: MosquittoBroker;
before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await broker?.close();
});

type JsonRecord = JsonMessage['records'][number];

for (const compression of ['none', 'deflate', 'brotli'] as const satisfies readonly PayloadCompression[]) {
  test(`compact + ${compression} through mosquitto: the same records as JSON, outbox emptied by PUBACKs`, async (t) => {
    const dir = tempDir();
    const outbox = SqliteOutbox.open(storeSchema.parse({ path: join(dir.path, 'outbox.db') }), {
      clock: systemClock,
      logger: silentLogger,
    });
    const prefix = `compact-${compression}`;
    for (let i = 0; i < 600; i++)
      outbox.append(
        i % 50 === 0
          ? event(`d${i % 3}`, 1_700_000_000_000 + i)
          : telemetry(`d${i % 3}`, 1_700_000_000_000 + i * 7, i),
      );
    await outbox.flush();
    // What the JSON format carries for these stored records: the reference.
    const json = new PayloadBuilder({
      topicPrefix: prefix,
      site: SITE,
      agentId: AGENT,
      maxRecords: 1000,
      maxBytes: 1e7,
    });
    const expected = new Map<string, JsonRecord & { device: string }>();
    for (const m of json.build(outbox.read(0, 1000, 1e9), false)) {
      const parsed = JSON.parse(m.payload) as JsonMessage;
      for (const r of parsed.records) expected.set(r.id, { ...r, device: parsed.device });
    }
    assert.equal(expected.size, 600);

    const consumer = mqtt.connect(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    const received = new Map<string, JsonRecord & { device: string }>();
    const contentTypes = new Set<string>();
    let duplicates = 0;
    consumer.on('message', (_topic, payload, packet) => {
      const props = packet.properties ?? {};
      if (props.contentType) contentTypes.add(props.contentType);
      const userProperties = Object.fromEntries(
        Object.entries(props.userProperties ?? {}).map(([k, v]) => [k, Array.isArray(v) ? String(v[0]) : v]),
      );
      const message = decodePayload(
        payload,
        {
          ...(props.contentType ? { contentType: props.contentType } : {}),
          userProperties,
        },
        { agent: AGENT, site: SITE },
      );
      for (const r of message.records) {
        if (received.has(r.id)) duplicates++;
        received.set(r.id, { ...r, device: message.device });
      }
    });
    await once(consumer, 'connect');
    await consumer.subscribeAsync([`${prefix}/${SITE}/+/telemetry`, `${prefix}/${SITE}/+/event`], { qos: 1 });

    const fwd = makeForwarder(
      mqttConfig({
        url: broker.url,
        topicPrefix: prefix,
        batch: { maxRecords: 40 },
        payload: { format: 'compact', compression },
      }),
      outbox,
    );
    t.after(async () => {
      await fwd.stop();
      await consumer.endAsync(true);
      await outbox.close();
      dir.remove();
    });
    await fwd.start();
    await waitFor('all received', () => received.size >= 600);
    await waitFor('outbox emptied by PUBACKs', () => outbox.stats().rows === 0);
    assert.equal(duplicates, 0);
    assert.deepEqual(
      [...contentTypes],
      compression === 'none' ? [] : ['application/vnd.edge-agent.compact+json'],
    );
    for (const [id, want] of expected) assert.deepEqual(received.get(id), want, id);
    assert.equal(fwd.stats().publishedRecords, 600);
  });
}
