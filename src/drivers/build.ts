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
import { tagShapesOf, type TagTypesOf } from './failover/shapes.js';
import { DRIVERS, driverDefinition, type DeviceConfig } from './registry.js';
import type { AgentDeviceConfig } from './schemas.js';
import type { AnyDriverDefinition, ConfigWarning, DriverFamily } from './types.js';

export interface BuildDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
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
   * lines and connections the running devices hold; a driver no device used so far gets its
   * family (its modules load) first. A refusal comes back as `problem`.
   */
  add(device: AgentDeviceConfig, index: number): Promise<BuiltDevice & { readonly problem?: DeviceProblem }>;
  /** The families, by driver name (hot reload creates and removes devices through them). */
  readonly families: DriverFamilies;
  /** Opens the shared links of the drivers' sections (before the devices start). */
  start(): Promise<void>;
  /** Closes the driver families (lines, connections, listeners) the devices share. */
  close(): Promise<void>;
}

type AnyFamily = DriverFamily<DeviceConfig>;
type FamilyDeps = Pick<BuildDeps, 'clock' | 'logger' | 'random'>;

/** The drivers a config uses: its devices' (failover secondaries too) and those whose section it has. */
export function driversUsedBy(config: EdgeConfig): Set<string> {
  const sections = config as unknown as Readonly<Record<string, unknown>>;
  const used = new Set<string>();
  for (const device of config.devices) {
    used.add(device.driver);
    if (device.failover) used.add(device.failover.secondary.driver);
  }
  for (const definition of DRIVERS as readonly AnyDriverDefinition[])
    if (definition.section && sections[definition.section.key] !== undefined) used.add(definition.name);
  return used;
}

/**
 * One agent's families of the drivers its config uses. A family's module is imported when
 * the family is created (`createFamily` is async), so an agent loads no code of a driver it
 * does not use (a Modbus-only station: no S7, OPC UA or DTU hub module). Creating a family
 * does no I/O; `start()` opens the shared links.
 */
export class DriverFamilies {
  private readonly families = new Map<string, { definition: AnyDriverDefinition; family: AnyFamily }>();
  private started = false;

  private constructor(
    private readonly config: EdgeConfig,
    private readonly deps: FamilyDeps,
  ) {}

  /** The families of the drivers `config` uses (driversUsedBy). */
  static async open(config: EdgeConfig, deps: FamilyDeps): Promise<DriverFamilies> {
    const families = new DriverFamilies(config, deps);
    for (const driver of driversUsedBy(config)) await families.ensure(driver);
    return families;
  }

  /**
   * The driver's family, created (its module imported) if the agent has none yet, and
   * started when the others already are (a reload adding the first device of a driver).
   * An unknown driver is left to `create`, which refuses it with its code.
   */
  async ensure(driver: string): Promise<void> {
    const definition = driverDefinition(driver);
    if (!definition || this.families.has(driver)) return;
    const section = definition.section
      ? (this.config as unknown as Readonly<Record<string, unknown>>)[definition.section.key]
      : undefined;
    const logger = this.deps.logger.child({ driver: definition.name });
    const deps = { clock: this.deps.clock, logger, random: this.deps.random };
    const family = (await definition.createFamily(deps, section)) as AnyFamily;
    // two ensure() of one driver in flight: the first one's family stays
    if (this.families.has(driver)) return void (await family.close());
    this.families.set(driver, { definition, family });
    if (this.started) await family.start?.();
  }

  /** A new device of its driver's family (not init()ed). */
  create(device: DeviceConfig): DeviceDriver {
    const entry = this.families.get(device.driver);
    if (!entry)
      throw new EdgeError('EDGE_ERR_DRIVER_UNKNOWN', `device ${device.name}: no driver "${device.driver}"`, {
        context: { device: device.name, field: 'driver' },
      });
    return entry.family.create(device);
  }

  /**
   * Stops one built device (both sources of a failover device) and frees what only it
   * used in its family; the other devices keep running. Hot reload removes a device so.
   */
  async remove(device: DeviceDriver): Promise<void> {
    await device.stop();
    const parts = device instanceof FailoverDriver ? device.sources() : [device];
    for (const part of parts) for (const { family } of this.families.values()) await family.remove(part);
  }

  /** The family of a driver (hot reload of a section's links: `upsertLink`, `removeLink`). */
  family(driver: string): AnyFamily | undefined {
    return this.families.get(driver)?.family;
  }

  async start(): Promise<void> {
    this.started = true;
    for (const { family } of this.families.values()) await family.start?.();
  }

  async close(): Promise<void> {
    await Promise.all([...this.families.values()].map(({ family }) => family.close()));
  }

  /** The drivers' top-level parts of /status.json (Modbus: `dtu`). */
  status(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const { family } of this.families.values()) Object.assign(out, family.status?.());
    return out;
  }

  /** Each family's stats(), by driver name: the drivers' part of the metrics snapshot. */
  stats(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, { family }] of this.families) if (family.stats) out[name] = family.stats();
    return out;
  }
}

/** Every registered driver's lint of the configured devices. */
export function driverWarnings(devices: EdgeConfig['devices']): ConfigWarning[] {
  return (DRIVERS as readonly AnyDriverDefinition[]).flatMap((d) => d.warnings?.(devices) ?? []);
}

export async function buildDevices(config: EdgeConfig, deps: BuildDeps): Promise<BuiltDevices> {
  const families = await DriverFamilies.open(config, deps);
  const build = (device: AgentDeviceConfig, index: number): BuiltDevice & { problem?: DeviceProblem } => {
    const built = buildDevice(device, families, deps);
    return built.problem
      ? { config: device, driver: built.driver, problem: problemOf(device, index, built.problem) }
      : { config: device, driver: built.driver };
  };
  const devices: BuiltDevice[] = [];
  const problems: DeviceProblem[] = [];
  config.devices.forEach((device, index) => {
    const { problem, ...built } = build(device, index);
    if (problem) problems.push(problem);
    devices.push(built);
  });
  return {
    devices,
    problems,
    warnings: driverWarnings(config.devices),
    add: async (device, index) => {
      await families.ensure(device.driver);
      if (device.failover) await families.ensure(device.failover.secondary.driver);
      return build(device, index);
    },
    families,
    start: () => families.start(),
    close: () => families.close(),
  };
}

/**
 * One `devices[i]` entry: its driver (with failover when configured), init()ed. A driver
 * that refuses its config becomes an UnstartableDriver and the refusal is returned.
 * Hot reload builds an added device this way.
 */
export function buildDevice(
  device: AgentDeviceConfig,
  families: DriverFamilies,
  deps: BuildDeps,
): { driver: DeviceDriver; problem?: EdgeError } {
  try {
    const driver = device.failover ? createFailover(device, device.failover) : families.create(device);
    driver.init();
    return { driver };
  } catch (thrown) {
    const error = toEdgeError(thrown, 'EDGE_ERR_CONFIG_INVALID', { device: device.name });
    return { driver: new UnstartableDriver(device.name, error), problem: error };
  }

  function createFailover(
    device: AgentDeviceConfig,
    failover: NonNullable<AgentDeviceConfig['failover']>,
  ): DeviceDriver {
    const secondaryConfig = {
      ...failover.secondary,
      name: failover.secondary.name ?? `${device.name}.secondary`,
    };
    const secondary = families.create(secondaryConfig);
    return new FailoverDriver(families.create(device), secondary, failover, {
      tagShapes: {
        primary: tagShapesOf(device, tagTypesOf),
        secondary: tagShapesOf(secondaryConfig, tagTypesOf),
      },
      clock: deps.clock,
      logger: deps.logger.child({ device: device.name, component: 'failover' }),
      random: deps.random,
      startBackoff: device.reconnect,
      onEvent: deps.onEvent,
    });
  }
}

/** The registered driver's `tagTypes` for a device config. */
const tagTypesOf: TagTypesOf = (config) =>
  (DRIVERS as readonly AnyDriverDefinition[])
    .find((d) => d.name === config.driver)
    ?.tagTypes?.(config as DeviceConfig);

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
