/** planWrite: exact values only, the function code for each case, clear refusals. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRegisters } from '../../src/drivers/modbus/codec.js';
import { modbusTagSchema } from '../../src/drivers/modbus/config.js';
import { planWrite } from '../../src/drivers/modbus/write.js';

const tag = (t: Record<string, unknown>) =>
  modbusTagSchema.parse({ name: 't', function: 'holding', address: 5, writable: true, ...t });
const refused = (fn: () => unknown, pattern: RegExp) =>
  assert.throws(
    fn,
    (e: { code?: string; message?: string }) =>
      e.code === 'EDGE_ERR_CMD_BAD_VALUE' && pattern.test(e.message ?? ''),
  );

describe('planWrite', () => {
  it('round-trips every numeric type and order through the codec, with FC06 for one register and FC16 for more', () => {
    const cases: Array<[Record<string, unknown>, number, number]> = [
      [{ type: 'u16' }, 65535, 6],
      [{ type: 'i16' }, -32768, 6],
      [{ type: 'u32', wordOrder: 'little' }, 4_000_000_000, 16],
      [{ type: 'i32', byteOrder: 'little' }, -123456, 16],
      [{ type: 'f32' }, 50.03, 16],
      [{ type: 'f64', wordOrder: 'little', byteOrder: 'little' }, 1e300, 16],
      [{ type: 'u16', scale: 0.1, offset: -40 }, 190.1, 6],
    ];
    for (const [t, value, fc] of cases) {
      const config = tag(t);
      const plan = planWrite(config, value);
      assert.equal(plan.fc, fc, JSON.stringify(t));
      assert.equal(plan.address, 5);
      const decoded = decodeRegisters(config, plan.values as number[]);
      assert.equal(decoded.quality === 'good' ? decoded.value : decoded.code, value, JSON.stringify(t));
    }
  });

  it('coils use FC05 (FC15 with writeFunction multiple); bool and string registers', () => {
    const coil = tag({ function: 'coil', type: 'bool' });
    assert.deepEqual(planWrite(coil, true), { fc: 5, address: 5, values: [true] });
    assert.deepEqual(planWrite(coil, 0, true), { fc: 15, address: 5, values: [false] });
    assert.deepEqual(planWrite(tag({ type: 'bool' }), true), { fc: 6, address: 5, values: [1] });
    assert.deepEqual(planWrite(tag({ type: 'u16' }), 7, true).fc, 16);
    const text = planWrite(tag({ type: 'string', length: 2 }), 'AB');
    assert.deepEqual(text, { fc: 16, address: 5, values: [0x4142, 0] });
  });

  it('refuses values the registers cannot carry exactly, naming what was expected', () => {
    refused(() => planWrite(tag({ type: 'u16' }), 65536), /u16 0…65535/);
    refused(() => planWrite(tag({ type: 'i16' }), -32769), /i16/);
    refused(() => planWrite(tag({ type: 'u16' }), 1.5), /not representable/);
    refused(() => planWrite(tag({ type: 'u16', scale: 0.1 }), 23.45), /not representable/);
    refused(() => planWrite(tag({ type: 'f32' }), 1e39), /f32 range/);
    refused(() => planWrite(tag({ type: 'u16' }), 'x'), /finite number/);
    refused(() => planWrite(tag({ type: 'u16' }), [1, 2]), /not an array/);
    refused(() => planWrite(tag({ function: 'coil', type: 'bool' }), 2), /boolean/);
    refused(() => planWrite(tag({ type: 'string', length: 1 }), 'abc'), /does not fit/);
    refused(() => planWrite(tag({ type: 'string', length: 4 }), 'é'), /ASCII/);
  });

  it("refuses a value outside the tag's configured min/max before encoding it (issue 12 item 6)", () => {
    const bounded = tag({ type: 'u16', scale: 0.1, min: 5, max: 60 });
    refused(() => planWrite(bounded, 60.1), /above the configured max 60/);
    refused(() => planWrite(bounded, 4.9), /below the configured min 5/);
    assert.equal(planWrite(bounded, 60).values[0], 600);
    assert.equal(planWrite(tag({ type: 'i16', min: -10 }), -10).fc, 6);
  });

  it('min/max are config errors on read-only, non-numeric or inverted tags', () => {
    const issues = (t: Record<string, unknown>): string[] =>
      modbusTagSchema
        .safeParse({ name: 't', function: 'holding', address: 5, ...t })
        .error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    assert.deepEqual(issues({ min: 1 }), ['min: min/max bound command writes: the tag must be writable']);
    assert.deepEqual(issues({ writable: true, type: 'bool', max: 1 }), [
      'max: min/max apply to numeric tags only',
    ]);
    assert.deepEqual(issues({ writable: true, min: 5, max: 1 }), ['min: min 5 is greater than max 1']);
  });
});
