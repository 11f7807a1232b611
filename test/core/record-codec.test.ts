/**
 * Telemetry bodies: the TelemetryEncoder, which reuses a device's body object between its
 * readings, gives byte for byte what encodeValues builds afresh, whatever the readings do
 * (same tags, subsets, another order, a tag twice, index-like and "__proto__" names, bad
 * values, a secondary source, values JSON cannot hold).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeValues, TelemetryEncoder } from '../../src/core/record-codec.js';
import { badValue, type TagScalar, type TagValue } from '../../src/core/types.js';
import { seededRandom } from '../../src/tools/dtu-sim/prng.js';

const SCALARS: readonly TagScalar[] = [
  0,
  -0,
  1.5,
  -273.15,
  1e21,
  2 ** 53 + 2,
  NaN,
  Infinity,
  -Infinity,
  'run',
  'a "quoted" \\ line\n',
  'é\u2028',
  true,
  false,
  null,
];
const NAMES = ['voltage', 'current', 'kwh', '0', '10', '__proto__', 'constructor', 'a.b', 'tag "x"'];

test('telemetry-encoder-equals-encodeValues: 3,000 readings of 4 devices, every body identical', () => {
  const random = seededRandom(16);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const encoder = new TelemetryEncoder();
  const lists = new Map<string, string[]>();
  let reused = 0;
  for (let step = 0; step < 3_000; step++) {
    const device = `dev-${Math.floor(random() * 4)}`;
    let tags = lists.get(device);
    const r = random();
    if (!tags || r < 0.05) tags = NAMES.filter(() => random() < 0.6);
    else if (r < 0.1) tags = [...tags].reverse();
    else if (r < 0.13 && tags.length > 0) tags = [...tags, pick(tags)];
    else if (r < 0.2) tags = tags.filter(() => random() < 0.7);
    else reused++;
    lists.set(device, tags);
    const values: TagValue[] = tags.map((tag) => {
      const k = random();
      if (k < 0.1) return badValue(tag, 'EDGE_ERR_MODBUS_TIMEOUT', `no answer for "${tag}"`);
      if (k < 0.15) return { tag, value: pick(SCALARS), quality: 'good', source: 'secondary' };
      return { tag, value: k < 0.8 ? random() * 1000 : pick(SCALARS), quality: 'good' };
    });
    const body = encoder.body({ device, ts: step, values });
    assert.equal(body, encodeValues(values), `step ${step}, ${device}: ${tags.join(',')}`);
  }
  assert.ok(reused > 2_000, 'most readings repeat their device’s tags: the reuse path is what is tested');
});

test('a tag read twice in one reading: one key, the last value, in the first place', () => {
  const encoder = new TelemetryEncoder();
  const values: TagValue[] = [
    { tag: 'a', value: 1, quality: 'good' },
    { tag: 'b', value: 2, quality: 'good' },
    badValue('a', 'EDGE_ERR_X', 'gone'),
  ];
  const expected = '{"a":{"v":null,"q":"bad","code":"EDGE_ERR_X","reason":"gone"},"b":{"v":2,"q":"good"}}';
  assert.equal(encoder.body({ device: 'd', ts: 1, values }), expected);
  assert.equal(encoder.body({ device: 'd', ts: 2, values }), expected);
  assert.equal(encodeValues(values), expected);
});

test('record() is the reading as a telemetry record with the encoder’s body', () => {
  const encoder = new TelemetryEncoder();
  const reading = { device: 'd', ts: 7, values: [{ tag: 'v', value: 3, quality: 'good' } as const] };
  assert.deepEqual(encoder.record(reading), {
    device: 'd',
    cls: 'telemetry',
    ts: 7,
    body: '{"v":{"v":3,"q":"good"}}',
  });
});
