/**
 * The OPC UA client driver, as registered with the driver registry. Nothing here imports
 * node-opcua: the client library is loaded by the first device that connects.
 */
import type { DriverDefinition } from '../types.js';
import { opcuaDeviceSchema, type OpcuaDeviceConfig } from './config.js';
import { OpcuaFamily } from './family.js';

export const opcuaDriver: DriverDefinition<OpcuaDeviceConfig> = {
  name: 'opcua',
  schema: opcuaDeviceSchema,
  createFamily: (deps) => new OpcuaFamily(deps),
};

export { opcuaDeviceSchema, opcuaTagSchema, type OpcuaDeviceConfig, type OpcuaTagConfig } from './config.js';
export { OpcuaDevice } from './device.js';
export { OPCUA_ERRORS, OPCUA_LINK_DOWN_CODES, nodeQuality } from './errors.js';
