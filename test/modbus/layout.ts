/** Test register layouts: tags with known values, and the server contents that hold them. */
import { encodeRegisters } from '../../src/drivers/modbus/codec.js';
import { modbusTagSchema, registerCount, type ModbusTagConfig } from '../../src/drivers/modbus/config.js';
import type { SlaveSpec } from '../helpers/pymodbus.js';

export interface Layout {
  readonly tags: Record<string, unknown>[];
  readonly expected: Record<string, number | boolean | string>;
  readonly slave: SlaveSpec;
}

const ORDERS = [
  ['ABCD', 'big', 'big'],
  ['CDAB', 'little', 'big'],
  ['BADC', 'big', 'little'],
  ['DCBA', 'little', 'little'],
] as const;

/** Every data type, every order, coils and discretes, written contiguously from address 0. */
export function allTypesLayout(): Layout {
  const tags: Record<string, unknown>[] = [];
  const expected: Record<string, number | boolean | string> = {};
  const holding: number[] = [];
  const input: number[] = [];
  const add = (
    area: number[],
    fn: 'holding' | 'input',
    raw: Record<string, unknown>,
    value: number | boolean | string,
    decoded = value,
  ) => {
    const t = { function: fn, address: area.length, ...raw };
    const parsed: ModbusTagConfig = modbusTagSchema.parse(t);
    const regs = encodeRegisters(parsed, value);
    if (regs.length !== registerCount(parsed.type, parsed.length)) throw new Error('bad layout');
    area.push(...regs);
    tags.push(t);
    expected[parsed.name] = decoded;
  };
  const values = { u32: 3_000_000_123, i32: -123_456_789, f32: 1234.5, f64: Math.PI * 1e10 } as const;
  for (const [name, wordOrder, byteOrder] of ORDERS) {
    for (const [type, v] of Object.entries(values))
      add(holding, 'holding', { name: `${type}_${name}`, type, wordOrder, byteOrder }, v);
  }
  for (const [name, , byteOrder] of ORDERS.slice(0, 3)) {
    add(holding, 'holding', { name: `u16_${name}`, type: 'u16', byteOrder }, 65_000);
    add(holding, 'holding', { name: `i16_${name}`, type: 'i16', byteOrder }, -1234);
    add(holding, 'holding', { name: `str_${name}`, type: 'string', length: 6, byteOrder }, 'HELLO-42');
  }
  add(holding, 'holding', { name: 'bit5', type: 'bool', bit: 5 }, true);
  add(holding, 'holding', { name: 'nonzero', type: 'bool' }, true);
  add(holding, 'holding', { name: 'scaled', type: 'u16', scale: 0.5, offset: -10 }, 115, 115);
  add(input, 'input', { name: 'in_i32', type: 'i32', wordOrder: 'little' }, -70_000);
  add(input, 'input', { name: 'in_f32', type: 'f32', byteOrder: 'little' }, -0.25);
  const coilBits = [true, false, true, true, false, false, true, false, true];
  const discreteBits = [false, true, true, false, true];
  coilBits.forEach((b, i) => {
    tags.push({ name: `coil${i}`, function: 'coil', address: i, type: 'bool' });
    expected[`coil${i}`] = b;
  });
  discreteBits.forEach((b, i) => {
    tags.push({ name: `di${i}`, function: 'discrete', address: i, type: 'bool' });
    expected[`di${i}`] = b;
  });
  return {
    tags,
    expected,
    slave: {
      holding: { size: 300, values: { 0: holding } },
      input: { size: 100, values: { 0: input } },
      coil: { size: 100, values: { 0: coilBits.map(Number) } },
      discrete: { size: 100, values: { 0: discreteBits.map(Number) } },
    },
  };
}
