/**
 * Builds every configured device the way `run` does at start: the driver families, each
 * driver's init() (schema-independent checks, request planning, shared-line checks) and
 * the failover pairing. `run` and `check-config` both call `buildDevices`, so a config
 * that check-config accepts is never refused by run. A device whose init() throws does
 * not stop the others: it becomes an UnstartableDriver that reports its code at start,
 * and its problem is listed with the config path it comes from.
 */
import type { Clock } from '../core/clock.js';
import { EdgeError, toEdgeError, type EdgeErrorCode } from '../core/errors.js';
import type { DeviceDriver, Logger } from '../core/ports.js';
import type { AgentEvent } from '../core/types.js';
import type { EdgeConfig } from '../config/schema.js';
import { FailoverDriver } from './failover/driver.js';
import { driverRegistry, type DeviceConfig } from './registry.js';
import type { AgentDeviceConfig } from './schemas.js';
import { modbusWarnings, type ConfigWarning } from './modbus/warnings.js';
import type { DriverDeps, DriverFamily, DtuTransportSource } from './types.js';

export interface BuildDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
  readonly dtu?: DtuTransportSource;
  /** Where failover drivers send `source-failover` events. */
  readonly onEvent: (event: AgentEvent) => void;
}

/** A problem with one device, at the config path it comes from. */
export interface DeviceProblem {
  readonly device: string;
  readonly path: string;
  readonly code: EdgeErrorCode;
  readonly message: string;
}

export interface BuiltDevice {
  readonly config: AgentDeviceConfig;
  /** The initialised driver, or an UnstartableDriver carrying the init error. */
  readonly driver: DeviceDriver;
}

export interface BuiltDevices {
  readonly devices: readonly BuiltDevice[];
  /** Devices that cannot run (each one's driver is an UnstartableDriver). */
  readonly problems: readonly DeviceProblem[];
  /** Configurations that run but are probably not what was meant (never refused). */
  readonly warnings: readonly ConfigWarning[];
  /**
   * Builds and init()s one more device in the same families (a live reload): it shares the
   * lines and connections the running devices hold. A refusal comes back as `problem`.
   */
  add(device: AgentDeviceConfig, index: number): BuiltDevice & { readonly problem?: DeviceProblem };
  /** Closes the driver families (lines, connections) the devices share. */
  close(): Promise<void>;
}

type AnyFamily = DriverFamily<DeviceConfig>;

export function buildDevices(config: EdgeConfig, deps: BuildDeps): BuiltDevices {
  const families = new Map<string, AnyFamily>();
  const createDriver = (device: DeviceConfig): DeviceDriver => {
    let family = families.get(device.driver);
    if (!family) {
      const definition = driverRegistry[device.driver];
      const familyDeps: DriverDeps = {
        clock: deps.clock,
        logger: deps.logger.child({ driver: device.driver }),
        random: deps.random,
        dtu: deps.dtu,
      };
      family = definition.createFamily(familyDeps);
      families.set(device.driver, family);
    }
    return family.create(device);
  };
  const add = (device: AgentDeviceConfig, index: number): BuiltDevice & { problem?: DeviceProblem } => {
    try {
      const driver = device.failover ? createFailover(device, device.failover) : createDriver(device);
      driver.init();
      return { config: device, driver };
    } catch (thrown) {
      const error = toEdgeError(thrown, 'EDGE_ERR_CONFIG_INVALID', { device: device.name });
      const driver = new UnstartableDriver(device.name, error);
      return { config: device, driver, problem: problemOf(device, index, error) };
    }
  };
  const devices: BuiltDevice[] = [];
  const problems: DeviceProblem[] = [];
  config.devices.forEach((device, index) => {
    const { problem, ...built } = add(device, index);
    if (problem) problems.push(problem);
    devices.push(built);
  });
  return {
    devices,
    problems,
    warnings: modbusWarnings(config.devices),
    add,
    close: async () => {
      await Promise.all([...families.values()].map((family) => family.close()));
    },
  };

  function createFailover(
    device: AgentDeviceConfig,
    failover: NonNullable<AgentDeviceConfig['failover']>,
  ): DeviceDriver {
    const secondary = createDriver({
      ...failover.secondary,
      name: failover.secondary.name ?? `${device.name}.secondary`,
    });
    return new FailoverDriver(createDriver(device), secondary, failover, {
      clock: deps.clock,
      logger: deps.logger.child({ device: device.name, component: 'failover' }),
      random: deps.random,
      startBackoff: device.reconnect,
      onEvent: deps.onEvent,
    });
  }
}

function problemOf(device: AgentDeviceConfig, index: number, error: EdgeError): DeviceProblem {
  // An error of the failover secondary names the secondary; its fields live under failover.secondary.
  const secondary = error.context.device !== undefined && error.context.device !== device.name;
  const base = `devices[${index}]${secondary ? '.failover.secondary' : ''}`;
  const field = typeof error.context.field === 'string' ? error.context.field : undefined;
  const message = error.message.includes(device.name)
    ? error.message
    : `device ${device.name}: ${error.message}`;
  return { device: device.name, path: field ? `${base}.${field}` : base, code: error.code, message };
}

/**
 * A device whose configuration its driver refused: it never starts, and the poller shows
 * it offline with the refusal's code (a fatal error parks it) while the others run.
 */
class UnstartableDriver implements DeviceDriver {
  readonly error: EdgeError;

  constructor(
    readonly device: string,
    error: EdgeError,
  ) {
    // Fatal whatever the code's usual nature: retrying cannot fix a configuration.
    this.error =
      error.nature === 'fatal'
        ? error
        : new EdgeError(error.code, error.message, { nature: 'fatal', context: error.context, cause: error });
  }

  init(): void {}

  tags(): readonly [] {
    return [];
  }

  start(): Promise<void> {
    return Promise.reject(this.error);
  }

  poll(): Promise<readonly []> {
    return Promise.reject(this.error);
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  status(): Readonly<Record<string, unknown>> {
    return { state: 'unstartable', code: this.error.code, reason: this.error.message };
  }
}
