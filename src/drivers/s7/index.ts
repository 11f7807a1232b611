/** The Siemens S7 driver (ISO-on-TCP, S7comm ReadVar/WriteVar), as registered with the driver registry. */
import type { DriverDefinition } from '../types.js';
import { s7DeviceSchema, type S7DeviceConfig } from './config.js';
import { S7_ERRORS } from './error-codes.js';
import { s7TagTypes } from './value-types.js';

export const s7Driver: DriverDefinition<S7DeviceConfig> = {
  name: 's7',
  schema: s7DeviceSchema,
  errors: S7_ERRORS,
  tagTypes: s7TagTypes,
  // the device, protocol and connection modules load only for an agent with S7 devices
  createFamily: async (deps) => (await import('./family.js')).createS7Family(deps),
};

export {
  s7DeviceSchema,
  s7TagSchema,
  publishedNames,
  type S7DeviceConfig,
  type S7TagConfig,
} from './config.js';
export type { S7Family } from './family.js';
export type { ConnectionOptions } from './connection.js';
export type { PlanLimits, PlannedRequest } from './plan.js';
export type { S7Point } from './codec.js';
export { parseS7Address, elementAddress, byteLength, type S7Address, type S7Type } from './address.js';
