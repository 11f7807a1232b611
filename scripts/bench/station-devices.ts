/** The Modbus station the page and mem benches run: the simulator's devices and the agent's config for them. */
import type { DemoDevice } from '../../src/demo/station.js';

/** `devices` simulated Modbus units of `tags` holding registers each, values moving slowly. */
export function simulatedDevices(devices: number, tags: number): DemoDevice[] {
  return Array.from({ length: devices }, (_, d) => ({
    name: `dev-${d + 1}`,
    unitId: d + 1,
    intervalMs: 1000,
    description: 'bench',
    tags: Array.from({ length: tags }, (_, t) => ({
      name: `t${t}`,
      function: 'holding' as const,
      address: t,
      type: 'u16' as const,
      wordOrder: 'big' as const,
      byteOrder: 'big' as const,
      scale: 1,
      offset: 0,
      value: (s: number) => Math.round(1000 + 100 * Math.sin(s / 7 + t + d)),
    })),
  }));
}

/** The agent's devices[] polling those units at 1 Hz over Modbus TCP. */
export function modbusDevicesConfig(modbusPort: number, devices: number, tags: number): unknown[] {
  return Array.from({ length: devices }, (_, d) => ({
    name: `dev-${String(d + 1).padStart(3, '0')}`,
    driver: 'modbus',
    connection: { transport: 'tcp', host: '127.0.0.1', port: modbusPort },
    unitId: d + 1,
    intervalMs: 1000,
    tags: Array.from({ length: tags }, (_, t) => ({ name: `t${t}`, function: 'holding', address: t })),
  }));
}
