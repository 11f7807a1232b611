/** The Modbus driver (TCP, RTU and RTU over DTU links), as registered with the driver registry. */
import type { DriverDefinition } from '../types.js';
import { modbusDeviceSchema, type ModbusDeviceConfig } from './config.js';
import { dtuCrossCheck, dtuSchema, type DtuConfig } from './dtu/config.js';
import { DTU_ERRORS } from './dtu/error-codes.js';
import { MODBUS_ERRORS } from './error-codes.js';
import type { ModbusStats } from './family.js';
import { MODBUS_METRICS } from './metrics.js';
import { modbusWarnings } from './warnings.js';
import { modbusTagTypes } from './value-types.js';

export const modbusDriver: DriverDefinition<ModbusDeviceConfig, DtuConfig, ModbusStats> = {
  name: 'modbus',
  schema: modbusDeviceSchema,
  errors: { ...MODBUS_ERRORS, ...DTU_ERRORS },
  section: {
    key: 'dtu',
    schema: dtuSchema,
    description: 'DTUs (serial-to-TCP units) that carry Modbus RTU for devices with connection.transport dtu',
    // raw devices[] entries: the check reads `connection` of those that have one
    crossCheck: (devices, dtu) => dtuCrossCheck(devices as readonly { connection?: unknown }[], dtu),
  },
  metrics: MODBUS_METRICS,
  warnings: modbusWarnings,
  hostNeeds: (device) =>
    device.connection.transport === 'rtu' ? { serialPorts: [device.connection.path] } : {},
  tagTypes: modbusTagTypes,
  // The device, line and transport modules load only for an agent with Modbus devices (or a
  // dtu section), the DTU hub (UDP/TCP listener, link registry) only with a dtu section, and
  // the serial transports (modbus-serial, serialport) only when an RTU line first connects.
  createFamily: async (deps, dtu) => {
    const { createModbusFamily } = await import('./family.js');
    const hub = dtu
      ? new (await import('./dtu/hub.js')).DtuHub(dtu, {
          clock: deps.clock,
          logger: deps.logger.child({ component: 'dtu' }),
          random: deps.random,
        })
      : undefined;
    return createModbusFamily(deps, { hub });
  },
};

export { modbusDeviceSchema, type ModbusDeviceConfig, type ModbusTagConfig } from './config.js';
export type { ModbusFamily, ModbusFamilyOptions, ModbusStats, DtuTransportSource } from './family.js';
export type { ModbusDevice } from './device.js';
export type { Line, LineState } from './line.js';
export type { ModbusTransport, TransportFactory } from './port.js';
export type { ModbusRequest, PlanLimits } from './plan.js';
export type { DtuHub, DtuHubDeps, DtuStatus, DtuServerStatus } from './dtu/hub.js';
export {
  dtuSchema,
  dtuCrossCheck,
  type DtuConfig,
  type DtuLinkConfig,
  type CrossCheckIssue,
} from './dtu/config.js';
export type { StreamPort } from './rtu/stream-transport.js';
