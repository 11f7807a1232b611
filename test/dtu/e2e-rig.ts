/**
 * What both DTU end-to-end files share: two pymodbus RTU slaves behind a socat pty pair
 * (the DTU simulator bridges `pty.a` to a socket), and the Modbus devices that read them.
 */
import { modbusDeviceSchema, type ModbusDeviceConfig } from '../../src/drivers/modbus/config.js';
import type { ModbusFamily } from '../../src/drivers/modbus/family.js';
import { rtuSlavesOnPty, type RtuSlaves } from '../helpers/rtu-slaves.js';
import { byTag } from './helpers.js';

export const BAUD = 38400;
const SLAVE1 = [1111, 2222, 3333, 4444, 0x00fe, 0x4800];
const SLAVE2 = [7, 8, 9];
export const EXPECT1 = { a: 1111, b: 2222, c: 3333, d: 4444, e: 0x00fe, f: 0x4800 };
export const EXPECT2 = { x: 7, y: 8, z: 9 };

/** Starts the pty pair and the slaves before the file's tests, stops them after. */
export function serialSlaves(): RtuSlaves {
  return rtuSlavesOnPty({
    dirPrefix: 'edge-dtu-',
    baudrate: BAUD,
    slaves: { 1: { holding: { values: { 0: SLAVE1 } } }, 2: { input: { values: { 10: SLAVE2 } } } },
  });
}

function devices(link: string, timeoutMs = 500): ModbusDeviceConfig[] {
  const base = {
    driver: 'modbus',
    connection: { transport: 'dtu', dtu: link },
    timeoutMs,
    breaker: { failureThreshold: 1000 },
  };
  return [
    modbusDeviceSchema.parse({
      ...base,
      name: `${link}-s1`,
      unitId: 1,
      tags: Object.keys(EXPECT1).map((name, i) => ({ name, function: 'holding', address: i })),
    }),
    modbusDeviceSchema.parse({
      ...base,
      name: `${link}-s2`,
      unitId: 2,
      tags: Object.keys(EXPECT2).map((name, i) => ({ name, function: 'input', address: 10 + i })),
    }),
  ];
}

export async function startDevices(fam: ModbusFamily, link: string, timeoutMs = 500) {
  const [d1, d2] = devices(link, timeoutMs).map((c) => fam.create(c));
  d1!.init();
  d2!.init();
  await d1!.start();
  await d2!.start();
  return {
    d1,
    d2,
    poll1: async () => byTag(await d1!.poll(Object.keys(EXPECT1))),
    poll2: async () => byTag(await d2!.poll(Object.keys(EXPECT2))),
  };
}

export const codes = (r: Record<string, unknown>): unknown[] => [...new Set(Object.values(r))];
