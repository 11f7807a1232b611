/** The Modbus driver (TCP and RTU), as registered with the driver registry. */
import type { DriverDefinition } from '../types.js';
import { modbusDeviceSchema, type ModbusDeviceConfig } from './config.js';
import { createModbusFamily } from './family.js';

export const modbusDriver: DriverDefinition<ModbusDeviceConfig> = {
  name: 'modbus',
  schema: modbusDeviceSchema,
  createFamily: (deps) => createModbusFamily(deps),
};

export { modbusDeviceSchema, type ModbusDeviceConfig, type ModbusTagConfig } from './config.js';
export {
  createModbusFamily,
  ModbusFamily,
  lineKey,
  interFrameGapMs,
  type ModbusFamilyOptions,
} from './family.js';
export { ModbusDevice } from './device.js';
export { Line, type LineState } from './line.js';
export { ModbusSerialTransport, type ModbusTransport, type TransportFactory } from './transport.js';
export { planRequests, Planner, type ModbusRequest, type PlanLimits } from './plan.js';
export { decodeRegisters, encodeRegisters, ORDER_NAMES } from './codec.js';
export { toModbusError, exceptionErrorCode } from './errors.js';
export { DtuHub, type DtuHubDeps, type DtuStatus, type DtuServerStatus } from './dtu/hub.js';
export {
  dtuSchema,
  dtuCrossCheck,
  type DtuConfig,
  type DtuLinkConfig,
  type CrossCheckIssue,
} from './dtu/config.js';
export { RtuStreamTransport, type StreamPort } from './dtu/stream-transport.js';
