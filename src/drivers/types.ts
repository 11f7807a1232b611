/**
 * The driver seam. A driver is ONE folder `src/drivers/<name>/` whose `index.ts` exports ONE
 * `DriverDefinition`, plus ONE line in `src/drivers/registry.ts`. Everything else the agent
 * knows about a driver derives from its definition, so a new driver touches no other file:
 *
 * - config: `schema` becomes a `devices[i]` variant (with the agent's per-device options) and
 *   a failover secondary variant; `section` becomes a top-level config section (Modbus: `dtu`);
 * - errors: `errors` joins the error catalogue (`EdgeError` takes its nature from it) and
 *   `docs/errors.md` (generated block, checked by test/drivers/seam.test.ts);
 * - link down: the codes flagged `linkDown: true` in `errors` decide when a device goes
 *   offline and when failover counts a poll as an outage (they sit beside the code, so a
 *   new driver cannot forget them, the silent trap of the old central list);
 * - devices and shared links: `createFamily` gives one agent's family, which creates and
 *   removes devices one at a time and owns the links they share (its section's links too).
 *   It is async and called only when the config uses the driver (a device or its section),
 *   so the definition (index.ts) imports its family module there, with `import()`: an agent
 *   without the driver never loads its device, protocol and link code;
 * - status and metrics: the family's `status()` is its `/status.json` section, `stats()` the
 *   driver's part of the metrics snapshot that `metrics` read at each scrape.
 *
 * Layering: a driver imports only zod, `src/core/`, the config toolkit `src/config-kit/`
 * (topicSegment, backoffSchema, secretRefSchema, write ranges, the secret resolver), this
 * file and its own folder; never `src/config/` (the composed EdgeConfig) nor `src/agent.ts`.
 * The definition module itself stays light (schema, errors, value types, metrics): the
 * registry loads it for every agent. Heavy client libraries load in the family's `start()`
 * (dynamic import). See docs/writing-a-driver.md.
 */
import type { z } from 'zod';
import type { TagValueType } from '../core/value-type.js';
import type { BackoffPolicy } from '../core/backoff.js';
import type { Clock } from '../core/clock.js';
import type { ErrorCatalogue } from '../core/errors.js';
import type { DeviceDriver, Logger } from '../core/ports.js';

export interface DriverDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Source of jitter; injected so backoff is deterministic in tests. */
  readonly random: () => number;
}

/** The fields every device config has; the driver's schema adds its own. */
export interface DriverDeviceConfig {
  /** `topicSegment` (src/config-kit/common.ts): it becomes an MQTT topic level. */
  readonly name: string;
  /** `z.literal(<definition name>)`. */
  readonly driver: string;
  /** Start retry backoff of the poller (`backoffSchema` in src/config-kit/common.ts). */
  readonly reconnect: BackoffPolicy;
}

/** A configuration that runs but is probably not what was meant (never refused). */
export interface ConfigWarning {
  /** Config path from the root, e.g. `devices[2].unitId`. */
  readonly path: string;
  readonly message: string;
}

/** A problem between a driver's section and the devices, at a path from the config root. */
export interface ConfigIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * One agent's instances of a driver. Devices of a family may share resources (a serial
 * line, a TCP connection to a gateway, the DTU listener); the family owns them. No
 * module-global state: two agents in one process (tests do this) get two families.
 * init() of a device does no I/O; `start()` of the family opens the shared links of its
 * section before any device starts.
 */
export interface DriverFamily<C> {
  /** A new device (not started; the poller calls init/start/poll/stop). */
  create(config: C): DeviceDriver;
  /**
   * Stops one device this family created and frees what only it used (its shared line,
   * once no other device uses it). The family's other devices keep running: hot reload
   * removes a device this way.
   */
  remove(device: DeviceDriver): Promise<void>;
  /** Opens the shared links of the driver's section (listeners, dialers); absent: nothing shared up front. */
  start?(): Promise<void>;
  /** Stops every device and releases every shared resource. */
  close(): Promise<void>;
  /**
   * Top-level parts of `/status.json` the driver adds, merged into the document: keys are
   * its section key (Modbus: `{ dtu: … }`) or its name. Per-device status is each device's
   * `status()` (the `link` of its entry). Absent: none.
   */
  status?(): Readonly<Record<string, unknown>>;
  /** The driver's part of the metrics snapshot, read once per scrape by `definition.metrics`. */
  stats?(): unknown;
  /**
   * Hot reload of one shared link of the section (e.g. one DTU link): adds it, or replaces
   * the one with the same name, without touching the others. Absent: the section needs a restart.
   */
  upsertLink?(link: unknown): Promise<void>;
  /** Hot reload: stops and forgets one shared link by name (its devices go link-down). */
  removeLink?(name: string): Promise<void>;
  /**
   * Hot reload of the section's own settings beside its links (Modbus: the DTU listener),
   * the links kept. Absent: such a change needs a restart.
   */
  reconfigureSection?(section: unknown): Promise<void>;
}

/** What a device needs on the host, checked by `edge-agent doctor`. */
export interface DriverHostNeeds {
  /** Serial device paths it opens (checked: present, openable by the agent's user). */
  readonly serialPorts?: readonly string[];
  /** PEM certificate files, labelled by their config path (checked: readable, not expiring). */
  readonly certificates?: readonly { readonly label: string; readonly path: string }[];
}

/** A top-level config section the driver owns (Modbus: `dtu`, its DTU links). */
export interface DriverSection<S> {
  /** The key in the config root, e.g. `dtu`. Unique across drivers and core sections. */
  readonly key: string;
  /** The section's schema (optional in the root: absent means no such links). */
  readonly schema: z.ZodType<S>;
  /** One line for docs/config.md. */
  readonly description: string;
  /**
   * Issues between the section and all configured devices (raw `devices[]` entries,
   * any driver): a device naming a link the section does not configure.
   */
  crossCheck?(devices: readonly unknown[], section: S | undefined): readonly ConfigIssue[];
}

/** One sample of a metric: label values and the value. */
export type MetricSample = readonly [Readonly<Record<string, string>>, number];

/** A metric the driver adds to /metrics (name without the `edge_` prefix). */
export interface DriverMetric<St> {
  readonly name: string;
  readonly help: string;
  /** counter: cumulative (kept monotonic across family restarts by the metrics layer). */
  readonly type: 'gauge' | 'counter';
  readonly labels: readonly string[];
  /** Samples from what the family's `stats()` returned for this scrape (undefined: no family). */
  samples(stats: St | undefined): readonly MetricSample[];
}

/**
 * What a driver folder exports from its index.ts.
 * C: a device config (`driver` is the literal `name`); S: the config section's type
 * (never: no section); St: what the family's `stats()` returns.
 */
export interface DriverDefinition<C extends DriverDeviceConfig, S = never, St = never> {
  /** The `driver:` value of its devices; the registry key. */
  readonly name: C['driver'];
  /**
   * A zod object schema (strict), with `driver: z.literal(name)` and `name`. The agent
   * extends it with its per-device options and makes a failover-secondary variant of it.
   */
  readonly schema: z.ZodObject & z.ZodType<C>;
  /**
   * Every code the driver's code throws or publishes (`EDGE_ERR_<DRIVER>_<WHAT>`), with its
   * nature, one-line summary, the docs paragraph for docs/errors.md and `linkDown: true`
   * for the codes that mean "no answer from the device" (a poll whose values are all bad
   * with link-down codes makes the device offline; failover counts it as an outage). Core
   * codes (`EDGE_ERR_CONFIG_INVALID`, `EDGE_ERR_DRIVER_START`…) are not repeated here.
   * Declare the object in the driver's error-codes.ts with `registerErrorCodes` and a
   * `declare module` on `DriverErrorCodes` so `new EdgeError('EDGE_ERR_<DRIVER>_…')`
   * type-checks and has its nature (see src/drivers/s7/error-codes.ts).
   */
  readonly errors: ErrorCatalogue;
  /** A top-level config section with links the devices share (absent: none). */
  readonly section?: DriverSection<S>;
  /** Metrics read from the family's `stats()`. */
  readonly metrics?: readonly DriverMetric<St>[];
  /** Lint of all configured devices (raw entries; the driver picks its own by `driver`). */
  warnings?(devices: readonly DriverDeviceConfig[]): readonly ConfigWarning[];
  /** What one of its devices needs on the host (serial ports, certificate files), for the doctor. */
  hostNeeds?(device: C): DriverHostNeeds;
  /**
   * The wire type of each value name a device publishes (an S7 array: one per element), for
   * northbound formats with datatypes (Sparkplug B). A scaled number is Double. Absent:
   * those formats infer the type from the first value.
   */
  tagTypes?(device: C): ReadonlyMap<string, TagValueType>;
  /**
   * One agent's family; `section` is the parsed section when the config has one. Called
   * only when the config has a device of the driver or its section: import the family's
   * module here (`await import('./family.js')`) so an agent without the driver never loads it.
   */
  createFamily(deps: DriverDeps, section?: S): Promise<DriverFamily<C>>;
}

/** Any registered definition, as the agent handles them generically. */
export type AnyDriverDefinition = DriverDefinition<DriverDeviceConfig, unknown, unknown>;
