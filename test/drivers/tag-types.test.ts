/**
 * Every driver names its values' wire types (definition.tagTypes): a northbound format with
 * datatypes (Sparkplug B) never has to guess a type from a first value, which refused the
 * fractions of a REAL first read as 2 and published scaled integers as their register type.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DRIVERS } from '../../src/drivers/registry.js';
import { opcuaDeviceSchema } from '../../src/drivers/opcua/config.js';
import { opcuaTagTypes } from '../../src/drivers/opcua/value-types.js';

test('every registered driver declares its tag types', () => {
  for (const definition of DRIVERS) assert.equal(typeof definition.tagTypes, 'function', definition.name);
});

test('OPC UA tag types: the built-in type, Double once scaled', () => {
  const device = opcuaDeviceSchema.parse({
    name: 'plc',
    driver: 'opcua',
    endpoint: 'opc.tcp://127.0.0.1:4840',
    tags: [
      { name: 'count', nodeId: 'ns=1;s=C', dataType: 'Int64' },
      { name: 'temp', nodeId: 'ns=1;s=T', dataType: 'Int16', scale: 0.1 },
      { name: 'ok', nodeId: 'ns=1;s=B', dataType: 'Boolean', scale: 2 },
    ],
  });
  assert.deepEqual(
    [...opcuaTagTypes(device)],
    [
      ['count', 'Int64'],
      ['temp', 'Double'],
      ['ok', 'Boolean'],
    ],
  );
});
