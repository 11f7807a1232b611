/**
 * The embedded .proto is Tahu's file beside it; metric encoding decoded by protoc (not by
 * the protobufjs that encoded it); the config section rejects what Sparkplug cannot carry.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { mqttSchema } from '../../src/config/sections/mqtt.js';
import { EdgeError } from '../../src/core/errors.js';
import { fileBdSeqStore } from '../../src/forwarders/sparkplug/bdseq.js';
import { commandValue } from '../../src/forwarders/sparkplug/command-value.js';
import { sparkplugDevices, toMetric } from '../../src/forwarders/sparkplug/metrics.js';
import { deviceSchema } from '../../src/drivers/schemas.js';
import {
  DataType,
  decodePayload,
  encodePayload,
  type DataTypeCode,
} from '../../src/forwarders/sparkplug/proto.js';
import { SPARKPLUG_B_PROTO } from '../../src/forwarders/sparkplug/proto-text.js';
import { tempDir } from '../helpers/tmp.js';
import { PROTO_DIR, protocDecode, protocMissing } from './helpers.js';

test('proto-text.ts is sparkplug_b.proto verbatim', () => {
  assert.equal(SPARKPLUG_B_PROTO, readFileSync(join(PROTO_DIR, 'sparkplug_b.proto'), 'utf8'));
});

test(
  'metrics as protoc reads them: signed ints, bad values, values that do not fit',
  { skip: protocMissing() },
  () => {
    const opts = { birth: false, historical: false };
    const payload = encodePayload({
      timestamp: 1_700_000_000_000,
      seq: 7,
      metrics: [
        toMetric('t', 1, DataType.Int16, 1, { v: -5, q: 'good' }, opts),
        toMetric('f', 2, DataType.Float, 2, { v: 1.5, q: 'good', src: 'secondary' }, opts),
        toMetric(
          'b',
          3,
          DataType.Int32,
          3,
          { v: null, q: 'bad', code: 'EDGE_ERR_MODBUS_TIMEOUT', reason: 'x' },
          opts,
        ),
        toMetric('i', 4, DataType.UInt16, 4, { v: 2.5, q: 'good' }, opts),
      ],
    });
    const text = protocDecode(payload);
    assert.match(text, /^seq: 7$/m);
    assert.match(text, /alias: 1\s+timestamp: 1\s+int_value: 4294967291/);
    assert.match(
      text,
      /alias: 2[\s\S]*keys: "Source"[\s\S]*string_value: "secondary"[\s\S]*float_value: 1.5/,
    );
    assert.match(
      text,
      /alias: 3\s+timestamp: 3\s+is_null: true\s+properties \{\s+keys: "Quality"\s+keys: "EDGE_ERR"/,
    );
    assert.match(
      text,
      /alias: 4[\s\S]*string_value: "EDGE_ERR_SPARKPLUG_TYPE"/,
      'a fraction on UInt16 is bad, not rounded',
    );
    const back = decodePayload(payload).metrics ?? [];
    assert.equal(commandValue(back[0]!, DataType.Int16), -5);
    assert.equal(back[3]?.intValue, undefined);
  },
);

test('config: sparkplug is a payload format, its section rejects unknown keys and compression', () => {
  const base = { url: 'mqtts://b:8883', payload: { format: 'sparkplug' } };
  const parsed = mqttSchema.parse({ ...base, sparkplug: { groupId: 'g', primaryHostId: 'h' } });
  assert.equal(parsed.sparkplug.groupId, 'g');
  assert.equal(mqttSchema.safeParse({ ...base, sparkplug: { group: 'g' } }).success, false);
  assert.equal(mqttSchema.safeParse({ ...base, sparkplug: { groupId: 'a/b' } }).success, false);
  const compressed = mqttSchema.safeParse({
    url: 'mqtts://b:8883',
    payload: { format: 'sparkplug', compression: 'deflate' },
  });
  assert.equal(compressed.success, false);
});

test('bdSeq file: absent or torn reads as none; an unwritable path is EDGE_ERR_SPARKPLUG_BDSEQ', () => {
  const dir = tempDir();
  try {
    const file = join(dir.path, 'bdseq.json');
    const store = fileBdSeqStore(file);
    assert.equal(store.load(), undefined);
    store.save(7);
    assert.equal(fileBdSeqStore(file).load(), 7);
    writeFileSync(file, '{"bdSeq":');
    assert.equal(store.load(), undefined);
    assert.throws(
      () => fileBdSeqStore(join(dir.path, 'missing', 'bdseq.json')).save(1),
      (e: unknown) => e instanceof EdgeError && e.code === 'EDGE_ERR_SPARKPLUG_BDSEQ',
    );
  } finally {
    dir.remove();
  }
});

test('scaled tags are Double and an out-of-range integer is bad, never truncated by the host', () => {
  // Field test: i16 temperature with scale 0.1 (every value was published bad as a type
  // error) and u16 with offset -40000 (a negative value went out as UInt16, wrapped).
  const device = deviceSchema.parse({
    name: 'm1',
    driver: 'modbus',
    connection: { transport: 'tcp', host: '127.0.0.1', port: 502 },
    unitId: 1,
    tags: [
      { name: 'temp', function: 'holding', address: 0, type: 'i16', scale: 0.1 },
      { name: 'shifted', function: 'holding', address: 1, type: 'u16', offset: -40000 },
      { name: 'raw', function: 'holding', address: 2, type: 'u16' },
      { name: 'flag', function: 'coil', address: 0, type: 'bool', scale: 2 },
    ],
  });
  const tags = sparkplugDevices([device])[0]?.tags;
  assert.equal(tags?.get('temp'), DataType.Double);
  assert.equal(tags?.get('shifted'), DataType.Double);
  assert.equal(tags?.get('raw'), DataType.UInt16);
  assert.equal(tags?.get('flag'), DataType.Boolean);
  const opts = { birth: false, historical: false };
  const cases: [number, number][] = [
    [DataType.UInt16, 70_000],
    [DataType.UInt16, -1],
    [DataType.Int16, 40_000],
    [DataType.Int8, 200],
    [DataType.UInt8, 256],
    [DataType.Int32, 3_000_000_000],
    [DataType.UInt32, -5],
    [DataType.Float, 1e39],
  ];
  for (const [dt, v] of cases) {
    const m = toMetric('x', 1, dt as DataTypeCode, 1, { v, q: 'good' }, opts);
    assert.equal(m.isNull, true, `${v} as datatype ${dt} must be bad`);
    assert.equal(m.intValue ?? m.floatValue, undefined);
  }
  const ok = toMetric('x', 1, DataType.Int16, 1, { v: -32768, q: 'good' }, opts);
  assert.equal(ok.intValue, 0xffff8000);
});

test(
  'Int64 both ways: a negative LINT is its two-complement on the wire, not 0; a DCMD Int64 -5 writes -5',
  { skip: protocMissing() },
  () => {
    // Field test: S7 LINT -5 went out good as long_value 0 (protobufjs makes a negative
    // number 0 for uint64), and a host's DCMD of -5 to that tag was refused.
    const opts = { birth: false, historical: false };
    const payload = encodePayload({
      metrics: [
        toMetric('neg', 1, DataType.Int64, 1, { v: -5, q: 'good' }, opts),
        toMetric('min', 2, DataType.Int64, 2, { v: Number.MIN_SAFE_INTEGER, q: 'good' }, opts),
        toMetric('big', 3, DataType.Int64, 3, { v: 5_000_000_000, q: 'good' }, opts),
      ],
    });
    const text = protocDecode(payload);
    assert.match(text, /alias: 1\s+timestamp: 1\s+long_value: 18446744073709551611/);
    assert.match(text, /alias: 2\s+timestamp: 2\s+long_value: 18437736874454810625/);
    assert.match(text, /alias: 3\s+timestamp: 3\s+long_value: 5000000000/);
    const back = decodePayload(payload).metrics ?? [];
    assert.equal(commandValue(back[0]!, DataType.Int64), -5);
    assert.equal(commandValue(back[1]!, DataType.Int64), Number.MIN_SAFE_INTEGER);
    assert.equal(commandValue(back[2]!, DataType.Int64), 5_000_000_000);
    const huge = decodePayload(
      encodePayload({ metrics: [{ alias: 4, datatype: DataType.UInt64, longValue: '9007199254740993' }] }),
    ).metrics?.[0];
    assert.equal(commandValue(huge!, undefined), undefined, 'beyond 2^53: refused, not rounded');
  },
);

test('S7 array elements get their element datatype: a REAL array that first reads 2 stays Float', () => {
  // Field test: array elements had no configured type, so a REAL element first read as 2
  // was born Int32 and every later fraction (2.5) went out bad as a type error.
  const device = deviceSchema.parse({
    name: 'plc',
    driver: 's7',
    connection: { host: '127.0.0.1', port: 102, rack: 0, slot: 1 },
    tags: [
      { name: 'temps', address: 'DB1,REAL0.3' },
      { name: 'counts', address: 'DB1,INT12.2', scale: 0.5 },
      { name: 'one', address: 'DB1,DINT16' },
    ],
  });
  const tags = sparkplugDevices([device])[0]?.tags;
  assert.deepEqual(
    [...(tags ?? new Map<string, number>()).entries()],
    [
      ['temps.0', DataType.Float],
      ['temps.1', DataType.Float],
      ['temps.2', DataType.Float],
      ['counts.0', DataType.Double],
      ['counts.1', DataType.Double],
      ['one', DataType.Int32],
    ],
  );
});
