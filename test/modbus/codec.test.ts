import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeRegisters,
  encodeRegisters,
  ORDER_NAMES,
  registersToBytes,
  type CodecTag,
} from '../../src/drivers/modbus/codec.js';
import type { ModbusDataType } from '../../src/drivers/modbus/config.js';

function tag(
  type: ModbusDataType,
  order: keyof typeof ORDER_NAMES = 'ABCD',
  extra: Partial<CodecTag> = {},
): CodecTag {
  return { name: 't', type, ...ORDER_NAMES[order], scale: 1, offset: 0, ...extra };
}

const orders = Object.keys(ORDER_NAMES) as (keyof typeof ORDER_NAMES)[];

test('f32 1.5 in the four orders (known vectors)', () => {
  const vectors: Record<string, number[]> = {
    ABCD: [0x3fc0, 0x0000],
    CDAB: [0x0000, 0x3fc0],
    BADC: [0xc03f, 0x0000],
    DCBA: [0x0000, 0xc03f],
  };
  for (const order of orders) {
    assert.deepEqual(
      decodeRegisters(tag('f32', order), vectors[order]!),
      { tag: 't', value: 1.5, quality: 'good' },
      order,
    );
    assert.deepEqual(encodeRegisters(tag('f32', order), 1.5), vectors[order], order);
  }
});

test('u32 0x11223344 in the four orders', () => {
  const vectors: Record<string, number[]> = {
    ABCD: [0x1122, 0x3344],
    CDAB: [0x3344, 0x1122],
    BADC: [0x2211, 0x4433],
    DCBA: [0x4433, 0x2211],
  };
  for (const order of orders) {
    assert.equal(decodeRegisters(tag('u32', order), vectors[order]!).value, 0x11223344, order);
  }
});

test('f64 and i16/u16 with byte orders', () => {
  assert.deepEqual(registersToBytes([0x0102, 0x0304], 'little', 'little'), Buffer.from([4, 3, 2, 1]));
  assert.equal(decodeRegisters(tag('i16'), [0xfffe]).value, -2);
  assert.equal(decodeRegisters(tag('u16'), [0xfffe]).value, 0xfffe);
  assert.equal(decodeRegisters(tag('u16', 'BADC'), [0x3412]).value, 0x1234);
  assert.equal(decodeRegisters(tag('i32'), [0xffff, 0xfffd]).value, -3);
  assert.equal(decodeRegisters(tag('f64'), encodeRegisters(tag('f64'), Math.PI)).value, Math.PI);
  assert.equal(
    decodeRegisters(tag('f64', 'DCBA'), encodeRegisters(tag('f64', 'DCBA'), -1e300)).value,
    -1e300,
  );
});

test('round trips for every type and order (property)', () => {
  const cases: Array<[ModbusDataType, fc.Arbitrary<number>]> = [
    ['u16', fc.integer({ min: 0, max: 0xffff })],
    ['i16', fc.integer({ min: -0x8000, max: 0x7fff })],
    ['u32', fc.integer({ min: 0, max: 0xffffffff })],
    ['i32', fc.integer({ min: -0x80000000, max: 0x7fffffff })],
    ['f32', fc.float({ noNaN: true, noDefaultInfinity: true }).map((f) => Math.fround(f))],
    ['f64', fc.double({ noNaN: true, noDefaultInfinity: true })],
  ];
  for (const [type, arb] of cases) {
    for (const order of orders) {
      fc.assert(
        fc.property(arb, (v) => {
          const t = tag(type, order);
          const decoded = decodeRegisters(t, encodeRegisters(t, v));
          assert.equal(decoded.quality, 'good');
          // An f32 decodes to the shortest decimal naming the same f32 (50.03, not 50.029998779296875).
          const same =
            type === 'f32' ? Math.fround(decoded.value as number) === v : Object.is(decoded.value, v);
          assert.ok(same || (v === 0 && decoded.value === 0), `${type} ${order} ${v} -> ${decoded.value}`);
        }),
        { numRuns: 200 },
      );
    }
  }
});

test('scale and offset apply to numbers', () => {
  assert.equal(decodeRegisters(tag('u16', 'ABCD', { scale: 0.1, offset: -40 }), [650]).value, 25);
  assert.equal(decodeRegisters(tag('i16', 'ABCD', { scale: 2 }), [0xffff]).value, -2);
});

test('NaN and Infinity decode bad with EDGE_ERR_MODBUS_DECODE', () => {
  for (const order of orders) {
    for (const v of [NaN, Infinity, -Infinity]) {
      const f32 = decodeRegisters(tag('f32', order), encodeRegisters(tag('f32', order), v));
      assert.equal(f32.quality, 'bad');
      assert.equal(f32.quality === 'bad' && f32.code, 'EDGE_ERR_MODBUS_DECODE');
      const f64 = decodeRegisters(tag('f64', order), encodeRegisters(tag('f64', order), v));
      assert.equal(f64.quality === 'bad' && f64.code, 'EDGE_ERR_MODBUS_DECODE');
    }
  }
});

test('bool on a register: non-zero, or one bit', () => {
  assert.equal(decodeRegisters(tag('bool'), [0]).value, false);
  assert.equal(decodeRegisters(tag('bool'), [0x100]).value, true);
  for (let bit = 0; bit < 16; bit++) {
    assert.equal(decodeRegisters(tag('bool', 'ABCD', { bit }), [1 << bit]).value, true);
    assert.equal(decodeRegisters(tag('bool', 'ABCD', { bit }), [0xffff & ~(1 << bit)]).value, false);
  }
});

test('strings: ASCII, trailing NULs and spaces trimmed, byte order', () => {
  const t = tag('string', 'ABCD', { length: 4 });
  assert.deepEqual(encodeRegisters(t, 'AB'), [0x4142, 0, 0, 0]);
  assert.equal(decodeRegisters(t, [0x4142, 0x4300, 0, 0]).value, 'ABC');
  assert.equal(decodeRegisters(t, [0x4142, 0x2020, 0x2000, 0]).value, 'AB');
  assert.equal(decodeRegisters(tag('string', 'BADC', { length: 2 }), [0x4241, 0x0043]).value, 'ABC');
  const bad = decodeRegisters(t, [0x41ff, 0, 0, 0]);
  assert.equal(bad.quality === 'bad' && bad.code, 'EDGE_ERR_MODBUS_DECODE');
  assert.equal(decodeRegisters(t, [0, 0, 0, 0]).value, '');
});
