/**
 * The OPC UA client driver, as registered with the driver registry. Nothing here imports
 * node-opcua: the client library is loaded by the first device that connects.
 */
import type { DriverDefinition } from '../types.js';
import { opcuaDeviceSchema, type OpcuaDeviceConfig } from './config.js';
import { OPCUA_ERRORS } from './errors.js';
import { OPCUA_METRICS, type OpcuaStats } from './metrics.js';
import { opcuaTagTypes } from './value-types.js';

export const opcuaDriver: DriverDefinition<OpcuaDeviceConfig, never, OpcuaStats> = {
  name: 'opcua',
  schema: opcuaDeviceSchema,
  errors: OPCUA_ERRORS,
  metrics: OPCUA_METRICS,
  tagTypes: opcuaTagTypes,
  // the device and session modules load only for an agent with OPC UA devices
  createFamily: async (deps) => new (await import('./family.js')).OpcuaFamily(deps),
};

export { opcuaDeviceSchema, opcuaTagSchema, type OpcuaDeviceConfig, type OpcuaTagConfig } from './config.js';
export type { OpcuaDevice } from './device.js';
export { OPCUA_ERRORS, nodeQuality } from './errors.js';
