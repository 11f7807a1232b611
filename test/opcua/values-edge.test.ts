/**
 * Values that must never be published as good: a 64-bit integer given as a BigInt beyond
 * the safe range (Number() would round it), a non-finite Float/Double (JSON carries it as
 * null), and a Float write outside float32 (the server would store ±Infinity).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { opcuaTagSchema } from '../../src/drivers/opcua/config.js';
import { encodeValue, tagValueOf } from '../../src/drivers/opcua/datatypes.js';

const tag = (extra: Record<string, unknown>) =>
  opcuaTagSchema.parse({ name: 't', nodeId: 'ns=1;s=t', writable: true, ...extra });
const good = { value: 0, name: 'Good' };

test('opcua Int64/UInt64 BigInt beyond 2^53 is bad, not rounded; within range decodes', () => {
  const huge = tagValueOf(
    tag({ dataType: 'UInt64' }),
    { statusCode: good, value: { dataType: 9, value: 2n ** 53n + 1n } },
    'bad',
  );
  assert.equal(huge.quality, 'bad');
  assert.equal(huge.code, 'EDGE_ERR_OPCUA_TYPE_MISMATCH');
  const neg = tagValueOf(
    tag({ dataType: 'Int64' }),
    { statusCode: good, value: { dataType: 8, value: -(2n ** 60n) } },
    'bad',
  );
  assert.equal(neg.quality, 'bad');
  const ok = tagValueOf(
    tag({ dataType: 'Int64' }),
    { statusCode: good, value: { dataType: 8, value: -5n } },
    'bad',
  );
  assert.deepEqual([ok.quality, ok.value], ['good', -5]);
  const unsafeNumber = tagValueOf(
    tag({ dataType: 'Int64' }),
    { statusCode: good, value: { dataType: 8, value: 2 ** 60 } },
    'bad',
  );
  assert.equal(unsafeNumber.quality, 'bad');
});

test('opcua Float/Double ±Infinity is bad (JSON would publish null as good)', () => {
  for (const [dataType, id] of [
    ['Float', 10],
    ['Double', 11],
  ] as const)
    for (const v of [Infinity, -Infinity]) {
      const r = tagValueOf(tag({ dataType }), { statusCode: good, value: { dataType: id, value: v } }, 'bad');
      assert.equal(r.quality, 'bad', `${dataType} ${v}`);
    }
});

test('opcua Float write outside the float32 range is refused', () => {
  assert.equal(encodeValue(tag({ dataType: 'Float' }), 1e39).ok, false);
  assert.equal(encodeValue(tag({ dataType: 'Float' }), -1e39).ok, false);
  assert.equal(encodeValue(tag({ dataType: 'Float' }), 3.4e38).ok, true);
});

test('opcua Double that overflows once scaled is bad', () => {
  const r = tagValueOf(
    tag({ dataType: 'Double', scale: 10 }),
    { statusCode: good, value: { dataType: 11, value: 1e308 } },
    'bad',
  );
  assert.equal(r.quality, 'bad');
});
