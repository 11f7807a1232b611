/** Device config schemas of every driver: the config layer needs these, not the drivers. */
import { z } from 'zod';
import { modbusDeviceSchema } from './modbus/config.js';
import { s7DeviceSchema } from './s7/config.js';

export const deviceSchema = z.discriminatedUnion('driver', [modbusDeviceSchema, s7DeviceSchema]);
export type DeviceConfig = z.infer<typeof deviceSchema>;

export const DRIVER_NAMES: readonly DeviceConfig['driver'][] = ['modbus', 's7'];
