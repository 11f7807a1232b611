/** What every driver folder exports, so one registry can map names to factories. */
import type { z } from 'zod';
import type { Clock } from '../core/clock.js';
import type { DeviceDriver, Logger } from '../core/ports.js';
import type { ModbusTransport } from './modbus/transport.js';

/** Hands out the transport of a named DTU link (the agent's DtuHub). */
export interface DtuTransportSource {
  transport(name: string): ModbusTransport;
}

export interface DriverDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Source of jitter; injected so backoff is deterministic in tests. */
  readonly random: () => number;
  /** The agent's DTU hub, when the config has a `dtu` section (Modbus `transport: dtu`). */
  readonly dtu?: DtuTransportSource;
}

/**
 * One agent's instances of a driver. Devices of a family may share resources (a serial
 * line, a TCP connection to a gateway); the family owns them and `close()` releases them
 * after every device was stopped. No module-global state: two agents in one process
 * (tests do this) get two families.
 */
export interface DriverFamily<C> {
  create(config: C): DeviceDriver;
  close(): Promise<void>;
}

export interface DriverDefinition<C> {
  readonly name: string;
  readonly schema: z.ZodType<C>;
  createFamily(deps: DriverDeps): DriverFamily<C>;
}
