/** The one place that maps driver names to their definitions (Telegraf's `all/`). */
import { z } from 'zod';
import { modbusDeviceSchema } from './modbus/config.js';
import { modbusDriver } from './modbus/index.js';
import type { DriverDefinition } from './types.js';

export const deviceSchema = z.discriminatedUnion('driver', [modbusDeviceSchema]);
export type DeviceConfig = z.infer<typeof deviceSchema>;

type DefinitionFor<K extends DeviceConfig['driver']> = DriverDefinition<Extract<DeviceConfig, { driver: K }>>;

export const driverRegistry: { readonly [K in DeviceConfig['driver']]: DefinitionFor<K> } = {
  modbus: modbusDriver,
};

export function driverNames(): string[] {
  return Object.keys(driverRegistry);
}
