/** The one place that maps driver names to their definitions (Telegraf's `all/`). */
import { modbusDriver } from './modbus/index.js';
import { s7Driver } from './s7/index.js';
import type { DeviceConfig } from './schemas.js';
import type { DriverDefinition } from './types.js';

export type { DeviceConfig } from './schemas.js';

type DefinitionFor<K extends DeviceConfig['driver']> = DriverDefinition<Extract<DeviceConfig, { driver: K }>>;

export const driverRegistry: { readonly [K in DeviceConfig['driver']]: DefinitionFor<K> } = {
  modbus: modbusDriver,
  s7: s7Driver,
};
