/**
 * Fixture cases in src/drivers/opcua/testcases/<case>/: config.yaml (one device) and
 * expected.json with one of
 *   schemaError — the config fails the schema at this path;
 *   values      — the published value (or {bad: code}) of each tag when the server answers
 *                 `dataValues[tag]` (status code and variant as node-opcua gives them).
 * Plus the write encoding (inverse scaling, type and range checks), pure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { opcuaDeviceSchema, opcuaTagSchema } from '../../src/drivers/opcua/config.js';
import { encodeValue, tagValueOf, type DataValueLike } from '../../src/drivers/opcua/datatypes.js';

const root = join(process.cwd(), 'src/drivers/opcua/testcases');
const cases = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

test('opcua fixture cases exist', () => assert.ok(cases.length >= 8, `found ${cases.length} in ${root}`));

interface Expected {
  readonly schemaError?: { readonly path: string };
  readonly dataValues?: Readonly<Record<string, DataValueLike>>;
  readonly values?: Readonly<Record<string, unknown>>;
}

for (const name of cases) {
  test(`opcua fixture: ${name}`, () => {
    const raw = parseYaml(readFileSync(join(root, name, 'config.yaml'), 'utf8')) as Record<string, unknown>;
    const expected = JSON.parse(readFileSync(join(root, name, 'expected.json'), 'utf8')) as Expected;
    const { schemaError } = expected;
    if (schemaError) {
      const result = opcuaDeviceSchema.safeParse(raw);
      assert.equal(result.success, false);
      assert.ok(
        result.error.issues.some((i) => i.path.join('.') === schemaError.path),
        JSON.stringify(result.error.issues),
      );
      return;
    }
    const config = opcuaDeviceSchema.parse(raw);
    const published: Record<string, unknown> = {};
    for (const tag of config.tags) {
      const dv = expected.dataValues?.[tag.name];
      assert.ok(dv, `no dataValues.${tag.name}`);
      const v = tagValueOf(tag, dv, config.uncertain);
      published[tag.name] = v.quality === 'good' ? v.value : { bad: v.code };
    }
    assert.deepEqual(published, expected.values);
  });
}

test('write encoding: inverse scaling, whole integers in range, the configured type only', () => {
  const tag = (extra: Record<string, unknown>) =>
    opcuaTagSchema.parse({ name: 't', nodeId: 'ns=1;s=t', writable: true, ...extra });
  assert.deepEqual(encodeValue(tag({ dataType: 'Int16', scale: 0.1 }), 23.4), {
    ok: true,
    variant: { dataType: 4, value: 234 },
  });
  assert.equal(encodeValue(tag({ dataType: 'Int16', scale: 0.1 }), 23.45).ok, false);
  assert.equal(encodeValue(tag({ dataType: 'Byte' }), 256).ok, false);
  assert.equal(encodeValue(tag({ dataType: 'UInt32' }), -1).ok, false);
  assert.equal(encodeValue(tag({ dataType: 'Double' }), Number.NaN).ok, false);
  assert.equal(encodeValue(tag({ dataType: 'Boolean' }), 1).ok, false);
  assert.deepEqual(encodeValue(tag({ dataType: 'String' }), 'on'), {
    ok: true,
    variant: { dataType: 12, value: 'on' },
  });
  assert.deepEqual(encodeValue(tag({ dataType: 'Double', offset: 10, scale: 2 }), 20), {
    ok: true,
    variant: { dataType: 11, value: 5 },
  });
});
