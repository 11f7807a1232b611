/**
 * The simulated station: devices, their register maps and how their values move over
 * time. The simulator serves exactly this map and demoConfig() describes exactly this
 * map to the agent, so the two cannot drift apart.
 *
 * Values are engineering values (after scale and offset) as a function of the seconds
 * since the simulator started; the simulator turns them into raw registers.
 */
import type { ModbusDataType, ModbusFunction } from '../drivers/modbus/config.js';

export type WordOrder = 'big' | 'little';
export type DemoValue = number | boolean | string;

export interface DemoTag {
  readonly name: string;
  readonly function: ModbusFunction;
  readonly address: number;
  readonly type: ModbusDataType;
  readonly wordOrder: WordOrder;
  readonly byteOrder: WordOrder;
  readonly scale: number;
  readonly offset: number;
  /** Registers, for type string. */
  readonly length?: number;
  /** Engineering unit, for the docs and the demo output. */
  readonly unit?: string;
  /** Engineering value at `t` seconds since the simulator started. */
  readonly value: (t: number) => DemoValue;
}

export interface DemoDevice {
  readonly name: string;
  readonly unitId: number;
  readonly intervalMs: number;
  readonly description: string;
  readonly tags: readonly DemoTag[];
}

const TAU = 2 * Math.PI;
const wave =
  (mean: number, amplitude: number, periodS: number, phase = 0) =>
  (t: number) =>
    mean + amplitude * Math.sin((TAU * t) / periodS + phase);

const voltage = wave(230, 3, 60);
const current = wave(16, 8, 90, 1);
/** 0.1 kWh resolution, starts at 12 345.6 kWh, about 3.7 kW on average. */
const energyKwh = (t: number) => 12_345.6 + (t * 3.68) / 3600;

/** State of charge: sawtooth 20 % → 100 % over 10 minutes (charging), then again. */
const SOC_PERIOD_S = 600;
const soc = (t: number) => Math.round(20 + (80 * (t % SOC_PERIOD_S)) / SOC_PERIOD_S);
/** Charging except in the last 5 % of each cycle (absorption done, float). */
const charging = (t: number) => t % SOC_PERIOD_S < SOC_PERIOD_S * 0.95;
/** A fault flag raised for 10 s every 5 minutes, so alarms show up in a demo. */
const fault = (t: number) => t % 300 >= 290;

/** What a tag spells out: everything but the defaults of `tag()`. */
type TagSpec = Omit<DemoTag, 'wordOrder' | 'byteOrder' | 'scale' | 'offset'> &
  Partial<Pick<DemoTag, 'wordOrder' | 'byteOrder' | 'scale' | 'offset'>>;

/** Most demo registers are big-endian and unscaled: a tag spells out only what differs. */
const tag = (spec: TagSpec): DemoTag => ({
  wordOrder: 'big',
  byteOrder: 'big',
  scale: 1,
  offset: 0,
  ...spec,
});

export const DEMO_STATION: readonly DemoDevice[] = [
  {
    name: 'meter-1',
    unitId: 1,
    intervalMs: 1000,
    description: 'Three-phase energy meter (holding registers; energy counter with low word first)',
    tags: [
      tag({
        name: 'voltage',
        function: 'holding',
        address: 0,
        type: 'f32',
        unit: 'V',
        value: voltage,
      }),
      tag({
        name: 'current',
        function: 'holding',
        address: 2,
        type: 'f32',
        unit: 'A',
        value: current,
      }),
      tag({
        name: 'power',
        function: 'holding',
        address: 4,
        type: 'f32',
        unit: 'W',
        value: (t) => voltage(t) * current(t),
      }),
      tag({
        name: 'energy',
        function: 'holding',
        address: 6,
        type: 'u32',
        wordOrder: 'little',
        scale: 0.1,
        unit: 'kWh',
        value: energyKwh,
      }),
      tag({
        name: 'frequency',
        function: 'holding',
        address: 8,
        type: 'u16',
        scale: 0.01,
        unit: 'Hz',
        value: wave(50, 0.05, 45),
      }),
    ],
  },
  {
    name: 'charger-1',
    unitId: 2,
    intervalMs: 2000,
    description:
      'Battery charger / BMS (input registers, status coils, discrete input, serial number string)',
    tags: [
      tag({
        name: 'soc',
        function: 'input',
        address: 0,
        type: 'u16',
        unit: '%',
        value: soc,
      }),
      tag({
        name: 'temperature',
        function: 'input',
        address: 1,
        type: 'i16',
        scale: 0.1,
        unit: '°C',
        value: wave(12, 15, 300),
      }),
      tag({
        name: 'charge_current',
        function: 'input',
        address: 2,
        type: 'i16',
        scale: 0.1,
        unit: 'A',
        value: (t) => (charging(t) ? 42 - (30 * (t % SOC_PERIOD_S)) / SOC_PERIOD_S : -2.5),
      }),
      tag({
        name: 'charging',
        function: 'coil',
        address: 0,
        type: 'bool',
        value: charging,
      }),
      tag({
        name: 'fault',
        function: 'coil',
        address: 1,
        type: 'bool',
        value: fault,
      }),
      tag({
        name: 'mains_ok',
        function: 'discrete',
        address: 0,
        type: 'bool',
        value: () => true,
      }),
      tag({
        name: 'serial',
        function: 'holding',
        address: 100,
        type: 'string',
        length: 6,
        value: () => 'BMS24A001234',
      }),
    ],
  },
];

/** Raw registers (16-bit words) or bits for a tag's engineering value. */
export function encodeTag(tag: DemoTag, value: DemoValue): number[] | boolean[] {
  if (tag.type === 'bool') return [Boolean(value)];
  if (tag.type === 'string') return stringWords(String(value), tag.length ?? 1, tag.byteOrder);
  const raw = (Number(value) - tag.offset) / tag.scale;
  const bytes = Buffer.alloc(tag.type === 'f64' ? 8 : tag.type === 'u16' || tag.type === 'i16' ? 2 : 4);
  switch (tag.type) {
    case 'u16':
      bytes.writeUInt16BE(clampInt(raw, 0, 0xffff));
      break;
    case 'i16':
      bytes.writeInt16BE(clampInt(raw, -0x8000, 0x7fff));
      break;
    case 'u32':
      bytes.writeUInt32BE(clampInt(raw, 0, 0xffffffff));
      break;
    case 'i32':
      bytes.writeInt32BE(clampInt(raw, -0x80000000, 0x7fffffff));
      break;
    case 'f32':
      bytes.writeFloatBE(raw);
      break;
    case 'f64':
      bytes.writeDoubleBE(raw);
      break;
  }
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) words.push(bytes.readUInt16BE(i));
  if (tag.wordOrder === 'little') words.reverse();
  return tag.byteOrder === 'little' ? words.map(swapBytes) : words;
}

function stringWords(text: string, length: number, byteOrder: WordOrder): number[] {
  const bytes = Buffer.alloc(length * 2);
  bytes.write(text.slice(0, length * 2), 'latin1');
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) words.push(bytes.readUInt16BE(i));
  return byteOrder === 'little' ? words.map(swapBytes) : words;
}

function swapBytes(word: number): number {
  return ((word & 0xff) << 8) | (word >> 8);
}

function clampInt(raw: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.round(raw)));
}
