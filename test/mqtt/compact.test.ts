/**
 * The compact payload format and compression (issue 14 item 2): every message decodes to
 * exactly the JSON format's message, validates against docs/mqtt-payload.schema.json, and
 * is announced by its MQTT 5 properties.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { inflateSync } from 'node:zlib';
import { encodeValues } from '../../src/core/record-codec.js';
import { goodValue, type StoredRecord, type TagValue } from '../../src/core/types.js';
import {
  COMPACT_CONTENT_TYPE,
  decodeCompact,
  decodePayload,
  type PayloadCompression,
  type PayloadFormat,
} from '../../src/forwarders/mqtt/compact.js';
import { PayloadBuilder, type BuiltMessage } from '../../src/forwarders/mqtt/payload.js';
import { mqttSchema } from '../../src/config/sections/mqtt.js';
import { FakeOutbox, mixedRecords, telemetry } from './fake-outbox.js';
import { validate } from './schema-check.js';

const schema = JSON.parse(
  readFileSync(join(process.cwd(), 'docs/mqtt-payload.schema.json'), 'utf8'),
) as Parameters<typeof validate>[0];

function builder(format: PayloadFormat, compression: PayloadCompression, maxRecords = 200): PayloadBuilder {
  return new PayloadBuilder({
    topicPrefix: 'edge',
    site: 's1',
    agentId: 'a1',
    maxRecords,
    maxBytes: 128 * 1024,
    format,
    compression,
  });
}

const secondary: TagValue[] = [
  { tag: 'flow', value: 3.25, quality: 'good', source: 'secondary' },
  { tag: 'p', value: null, quality: 'bad', code: 'EDGE_ERR_S7_TIMEOUT', reason: 'late', source: 'secondary' },
];

function storedMix(): StoredRecord[] {
  const box = new FakeOutbox();
  box.append([
    ...mixedRecords(),
    { device: 'd1', cls: 'telemetry', ts: 1_699_999_999_000, body: encodeValues(secondary) },
    {
      device: 'd1',
      cls: 'telemetry',
      ts: 1_700_000_000_005,
      body: encodeValues([
        goodValue('n', null),
        goodValue('7', 2),
        goodValue('b', false),
        goodValue('x', 1e-7),
        goodValue('y', -0.1 + 0.3),
      ]),
    },
    { device: 'd1', cls: 'telemetry', ts: 1_700_000_000_006, body: '{}' },
  ]);
  return box.read(0, 100, 1e9);
}

function decoded(m: BuiltMessage): unknown {
  return decodePayload(m.bytes ?? Buffer.from(m.payload, 'utf8'), m.properties, { agent: 'a1', site: 's1' });
}

for (const replay of [false, true]) {
  for (const compression of ['none', 'deflate', 'brotli'] as const) {
    test(`compact + ${compression}${replay ? ' (replay)' : ''} decodes to exactly the JSON messages`, () => {
      const records = storedMix();
      const json = builder('json', 'none').build(records, replay);
      const compact = builder('compact', compression).build(records, replay);
      assert.deepEqual(
        compact.map((m) => [m.topic, m.rowids, m.replay]),
        json.map((m) => [m.topic, m.rowids, m.replay]),
      );
      compact.forEach((m, i) => {
        assert.deepEqual(decoded(m), JSON.parse(json[i]?.payload ?? 'null'));
        assert.deepEqual(validate(schema, JSON.parse(m.payload)), [], m.payload);
        if (compression === 'none') {
          // Self-describing JSON: no MQTT 5 property needed (nor paid for).
          assert.equal(m.bytes, undefined);
          assert.equal(m.properties, undefined);
          assert.match(m.payload, /^\{"v":1,"fmt":"compact","device":/);
        } else {
          assert.ok(m.bytes);
          assert.equal(m.properties?.contentType, COMPACT_CONTENT_TYPE);
          assert.equal(m.properties?.payloadFormatIndicator, false);
          assert.deepEqual(m.properties?.userProperties, {
            'content-encoding': compression === 'deflate' ? 'deflate' : 'br',
          });
        }
      });
    });
  }
}

test("the default (json, no compression) is today's payload: no bytes, no properties", () => {
  const records = storedMix();
  const plain = new PayloadBuilder({
    topicPrefix: 'edge',
    site: 's1',
    agentId: 'a1',
    maxRecords: 200,
    maxBytes: 131072,
  });
  for (const m of plain.build(records, false)) {
    assert.equal(m.bytes, undefined);
    assert.equal(m.properties, undefined);
    assert.equal(m.payload.includes('"fmt"'), false);
  }
  const zipped = builder('json', 'deflate').build(records, false);
  const first = zipped[0];
  assert.ok(first?.bytes);
  assert.equal(first.properties?.contentType, 'application/json');
  assert.equal(inflateSync(first.bytes).toString('utf8'), first.payload);
  assert.deepEqual(validate(schema, JSON.parse(first.payload)), []);
});

test('compact shares tag names, the id prefix and deltas: smaller than JSON for a batch', () => {
  const box = new FakeOutbox();
  box.append(Array.from({ length: 100 }, (_, i) => telemetry('d1', 1_700_000_000_000 + i * 1000, i)));
  const records = box.read(0, 100, 1e9);
  const json = builder('json', 'none').build(records, false)[0];
  const compact = builder('compact', 'none').build(records, false)[0];
  assert.ok(json && compact);
  const parsed = JSON.parse(compact.payload) as { tags: string[]; idp: string; records: unknown[][] };
  assert.deepEqual(parsed.tags, ['flow.m3h', 'pressure.bar', 'pump.running', 'temp.c']);
  assert.equal(parsed.idp, 'e1-');
  assert.deepEqual(parsed.records[1]?.slice(0, 3), ['2', 1, 1000]);
  assert.ok(
    compact.payload.length < json.payload.length / 2,
    `${compact.payload.length} vs ${json.payload.length}`,
  );
});

test('a compact message with a tag index out of range is refused, not guessed', () => {
  assert.throws(
    () =>
      decodeCompact(
        {
          v: 1,
          fmt: 'compact',
          device: 'd',
          idp: '',
          tags: [],
          records: [['1', 1, 0, [[0, 1]]]],
        },
        { agent: 'a', site: 's' },
      ),
    /out of range/,
  );
});

test('compression needs MQTT 5 (the encoding is a user property)', () => {
  const r = mqttSchema.safeParse({ protocolVersion: 4, payload: { compression: 'deflate' } });
  assert.equal(r.success, false);
  assert.equal(
    mqttSchema.parse({ protocolVersion: 4, payload: { format: 'compact' } }).payload.format,
    'compact',
  );
  assert.deepEqual(mqttSchema.parse({}).payload, { format: 'json', compression: 'none' });
});

// Case tag-named-proto-kept: `out["__proto__"] = …` on a plain object sets its prototype, so a
// tag of that name vanished from the record without a trace. Every tag is an own property.
test('a tag named __proto__ is stored as a tag, not dropped', () => {
  const body = encodeValues([goodValue('__proto__', 7), goodValue('kwh', 1)]);
  const parsed = JSON.parse(body) as Record<string, { v: unknown }>;
  assert.deepEqual(Object.keys(parsed), ['__proto__', 'kwh']);
  const own = Object.getOwnPropertyDescriptor(parsed, '__proto__')?.value as { v: unknown } | undefined;
  assert.equal(own?.v, 7);
});
