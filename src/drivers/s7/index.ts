/** The Siemens S7 driver (ISO-on-TCP, S7comm ReadVar/WriteVar), as registered with the driver registry. */
import type { DriverDefinition } from '../types.js';
import { s7DeviceSchema, type S7DeviceConfig } from './config.js';
import { S7_ERRORS } from './error-codes.js';
import { createS7Family } from './family.js';
import { s7TagTypes } from './value-types.js';

export const s7Driver: DriverDefinition<S7DeviceConfig> = {
  name: 's7',
  schema: s7DeviceSchema,
  errors: S7_ERRORS,
  tagTypes: s7TagTypes,
  createFamily: (deps) => createS7Family(deps),
};

export {
  s7DeviceSchema,
  s7TagSchema,
  publishedNames,
  type S7DeviceConfig,
  type S7TagConfig,
} from './config.js';
export { createS7Family, S7Family } from './family.js';
export { S7Device } from './device.js';
export { S7Connection, type ConnectionOptions } from './connection.js';
export { parseS7Address, elementAddress, byteLength, type S7Address, type S7Type } from './address.js';
export {
  planItems,
  packRequests,
  planRequests,
  minimumRequests,
  itemsPerRequest,
  type PlanLimits,
  type PlannedRequest,
} from './plan.js';
export { decodePoint, encodePoint, type S7Point } from './codec.js';
export { itemErrorCode } from './errors.js';
