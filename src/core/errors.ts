/**
 * Stable error codes, in the manner of fastify's `FST_ERR_*`: every failure the agent
 * reports carries a code from this catalogue, a nature (may retrying help?) and the
 * device context. `docs/errors.md` documents each code; a test keeps the two in step.
 *
 * This file holds the codes of the core and the non-driver areas. Each driver declares its
 * own in its folder (`DriverDefinition.errors`, see src/drivers/types.ts): they join the
 * runtime catalogue through `registerErrorCodes` and the `EdgeErrorCode` type through the
 * `DriverErrorCodes` interface, so core never imports a driver.
 */
export type ErrorNature = 'retry' | 'fatal';

/** One code's entry: its nature, a one-line summary and (drivers) the docs/errors.md paragraph. */
export interface ErrorSpec {
  readonly nature: ErrorNature;
  readonly summary: string;
  /** What it means and what to do (markdown); drivers' docs/errors.md entries are generated from it. */
  readonly docs?: string;
  /**
   * "No answer from the device": a poll whose values are all bad with link-down codes
   * makes the device offline, and failover counts it as an outage.
   */
  readonly linkDown?: boolean;
}

export type ErrorCatalogue = Readonly<Record<string, ErrorSpec>>;

/**
 * Driver error codes, for the type system: each driver's errors.ts adds its catalogue under
 * its name (`declare module '../../core/errors.js' { interface DriverErrorCodes { modbus:
 * typeof MODBUS_ERRORS } }`), and `EdgeErrorCode` includes their keys.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface DriverErrorCodes {}

export interface ErrorContext {
  readonly device?: string;
  readonly tag?: string;
  readonly field?: string;
  readonly [key: string]: unknown;
}

export const CORE_ERRORS = {
  EDGE_ERR_CONFIG_INVALID: { nature: 'fatal', summary: 'Configuration does not match its schema' },
  EDGE_ERR_CONFIG_READ: { nature: 'fatal', summary: 'Configuration file cannot be read or parsed' },
  EDGE_ERR_CONFIG_SECRET: { nature: 'fatal', summary: 'A secret reference (env or file) cannot be resolved' },
  EDGE_ERR_CONFIG_PUSH: {
    nature: 'fatal',
    summary: 'A pushed config was refused (unsigned, wrong site, expired, replayed, malformed)',
  },
  EDGE_ERR_CONFIG_TRUST: {
    nature: 'fatal',
    summary: 'A pushed config would change a trust anchor (signing keys, pile roots, replay-guard places)',
  },
  EDGE_ERR_DRIVER_UNKNOWN: { nature: 'fatal', summary: 'A device names a driver that is not registered' },
  EDGE_ERR_DRIVER_START: {
    nature: 'retry',
    summary: 'A device driver could not start (connect)',
    linkDown: true,
  },
  EDGE_ERR_DRIVER_POLL: {
    nature: 'retry',
    summary: 'A driver failed unexpectedly while polling (a bug); tags marked bad',
  },
  EDGE_ERR_STORE_OPEN: { nature: 'fatal', summary: 'Outbox database cannot be opened' },
  EDGE_ERR_STORE_CORRUPT: {
    nature: 'retry',
    summary: 'Outbox failed its integrity check; moved aside and recovered',
  },
  EDGE_ERR_STORE_MIGRATION: {
    nature: 'fatal',
    summary: 'Outbox schema migration failed or schema is newer than the agent',
  },
  EDGE_ERR_STORE_WRITE: {
    nature: 'retry',
    summary: 'A group commit failed; records stay pending and are retried',
  },
  EDGE_ERR_STORE_FULL: { nature: 'retry', summary: 'Outbox full: records were evicted by policy' },
  EDGE_ERR_STORE_CLOSED: { nature: 'fatal', summary: 'Outbox used after close' },
  EDGE_ERR_MQTT_CONNECT: { nature: 'retry', summary: 'Cannot connect to the MQTT broker' },
  EDGE_ERR_MQTT_TLS: { nature: 'fatal', summary: 'TLS material (CA, certificate, key) cannot be loaded' },
  EDGE_ERR_MQTT_AUTH: { nature: 'fatal', summary: 'The broker refused the credentials' },
  EDGE_ERR_MQTT_PUBLISH: { nature: 'retry', summary: 'A publish failed or was not acknowledged' },
  EDGE_ERR_SPARKPLUG_BDSEQ: {
    nature: 'retry',
    summary: 'The Sparkplug bdSeq cannot be kept durably; the agent does not connect without it',
  },
  EDGE_ERR_SPARKPLUG_TYPE: {
    nature: 'fatal',
    summary: 'A value does not fit its Sparkplug datatype; published bad rather than converted',
  },
  EDGE_ERR_MQTT_SUBSCRIBE: {
    nature: 'retry',
    summary: 'A command subscription failed or a command handler threw',
  },
  EDGE_ERR_MQTT_OVERSIZED: {
    nature: 'retry',
    summary: 'The broker sent a packet larger than mqtt.maxPacketBytes; the connection was dropped',
  },
  EDGE_ERR_HTTP_LISTEN: { nature: 'fatal', summary: 'The status HTTP listener cannot bind' },
  EDGE_ERR_AGENT_SHUTDOWN: { nature: 'fatal', summary: 'Shutdown did not finish within its deadline' },
  // host (the Pi): watchdog, status LED, doctor (src/host/)
  EDGE_ERR_WATCHDOG_BUSY: {
    nature: 'fatal',
    summary: 'The watchdog device is already open (usually systemd RuntimeWatchdogSec owns it)',
  },
  EDGE_ERR_WATCHDOG_OPEN: { nature: 'fatal', summary: 'The watchdog device cannot be opened or written' },
  EDGE_ERR_WATCHDOG_NOTIFY: {
    nature: 'retry',
    summary: 'systemd-notify failed or timed out; the message was not delivered',
  },
  EDGE_ERR_WATCHDOG_UNHEALTHY: {
    nature: 'retry',
    summary: 'Watchdog pings withheld: event loop, store or pollers not making progress',
  },
  EDGE_ERR_LED_UNAVAILABLE: {
    nature: 'retry',
    summary: 'The status LED backend is absent; the agent runs without LED',
  },
  EDGE_ERR_LED_WRITE: {
    nature: 'retry',
    summary: 'Writing the status LED failed; later writes are tried silently',
  },
  EDGE_ERR_LED_GPIO_BASE: {
    nature: 'fatal',
    summary: 'No gpiochip matches the configured labels, or the line is outside it',
  },
  EDGE_ERR_DEVICE_DOCTOR: { nature: 'fatal', summary: 'edge-agent doctor found a failing check' },
  // CIP-22 identity: certificates, signatures, ephemeral keys (src/cip22/identity)
  EDGE_ERR_CIP22_CERT_MALFORMED: { nature: 'fatal', summary: 'A certificate is not well-formed DER X.509' },
  EDGE_ERR_CIP22_KEY_INVALID: {
    nature: 'fatal',
    summary: 'A private key cannot be used for the CIP-22 identity algorithm',
  },
  EDGE_ERR_CIP22_PEER_KEY_INVALID: {
    nature: 'fatal',
    summary: 'A peer ephemeral public key is not a valid curve point',
  },
  EDGE_ERR_CIP22_AUTH_INPUT: {
    nature: 'fatal',
    summary: 'A field of the AUTH signed input has the wrong length',
  },
  // Device commands (MQTT {device}/cmd → driver write → {device}/cmd/result)
  EDGE_ERR_CMD_INVALID: { nature: 'fatal', summary: 'A command payload is malformed or a field is invalid' },
  EDGE_ERR_CMD_NOT_ALLOWED: {
    nature: 'fatal',
    summary: 'Writes to this device are not allowed by config (commands.allowWrites)',
  },
  EDGE_ERR_CMD_UNKNOWN_TAG: { nature: 'fatal', summary: 'A command names a tag the device does not have' },
  EDGE_ERR_CMD_NOT_WRITABLE: {
    nature: 'fatal',
    summary: 'A command names a tag that is not configured writable',
  },
  EDGE_ERR_CMD_BAD_VALUE: {
    nature: 'fatal',
    summary: "A command's value does not fit the tag's type or range",
  },
  EDGE_ERR_CMD_UNSUPPORTED: {
    nature: 'fatal',
    summary: 'The device (or its active source, or its link) cannot write',
  },
  EDGE_ERR_CMD_BUSY: {
    nature: 'retry',
    summary: 'Too many commands pending for the device; this one was not executed',
  },
  EDGE_ERR_CMD_TIMEOUT: {
    nature: 'retry',
    summary: 'The driver did not confirm a write in time: outcome unknown',
  },
  EDGE_ERR_CMD_WRITE: {
    nature: 'retry',
    summary: 'A write failed unexpectedly (a driver bug); outcome unknown',
  },
  EDGE_ERR_CMD_RETAINED: {
    nature: 'fatal',
    summary: 'A retained command was refused: the broker would deliver it again at every connect',
  },
  EDGE_ERR_CMD_EXPIRED: {
    nature: 'fatal',
    summary: 'A command is stale, from the future, or says nothing about until when it is valid',
  },
  EDGE_ERR_CMD_DUPLICATE: {
    nature: 'fatal',
    summary: 'A command id was already received (before a restart); it is not run again',
  },
  // Source failover (a device's secondary source)
  EDGE_ERR_FAILOVER_UNMAPPED: {
    nature: 'retry',
    summary: 'The device runs on its secondary source, which has no tag mapped for this one',
  },
  // OTA self-update (src/ota): every refusal happens before `current` is switched.
  EDGE_ERR_OTA_SOURCE: {
    nature: 'fatal',
    summary: 'The update source (URL or file) is not allowed or cannot be read',
  },
  EDGE_ERR_OTA_DOWNLOAD: {
    nature: 'retry',
    summary: 'The bundle download failed; the partial file is kept and resumed',
  },
  EDGE_ERR_OTA_BUNDLE: {
    nature: 'fatal',
    summary: 'The bundle is malformed (manifest, archive layout, entry types)',
  },
  EDGE_ERR_OTA_SIGNATURE: {
    nature: 'fatal',
    summary: 'The manifest signature does not verify against its pinned key',
  },
  EDGE_ERR_OTA_UNKNOWN_KEY: {
    nature: 'fatal',
    summary: 'The manifest (or command) is signed by a key that is not pinned',
  },
  EDGE_ERR_OTA_INCOMPATIBLE: {
    nature: 'fatal',
    summary: 'The bundle is built for another target or Node ABI',
  },
  EDGE_ERR_OTA_DOWNGRADE: {
    nature: 'fatal',
    summary: 'The bundle is older than the installed version, or below its floor',
  },
  EDGE_ERR_OTA_HASH: { nature: 'fatal', summary: 'A file (or the bundle) does not match its sha256 or size' },
  EDGE_ERR_OTA_BUSY: { nature: 'retry', summary: 'Another update is running or a release is on trial' },
  EDGE_ERR_OTA_COMMAND: {
    nature: 'fatal',
    summary: 'An OTA command was refused (unsigned, expired, replayed, malformed)',
  },
  EDGE_ERR_OTA_STATE: {
    nature: 'fatal',
    summary: 'The OTA state or install layout cannot be read or written',
  },
  EDGE_ERR_OTA_ROLLBACK: {
    nature: 'fatal',
    summary: 'A release on trial was rolled back to the previous one',
  },
  // CIP-22 gateway (src/cip22/gateway)
  EDGE_ERR_CIP22_LISTEN: { nature: 'fatal', summary: 'The CIP-22 gateway cannot bind its host and port' },
  EDGE_ERR_CIP22_AUTH_FAILED: {
    nature: 'retry',
    summary: 'A pile was refused during the CIP-22 handshake (AUTH_FAIL sent)',
  },
  EDGE_ERR_CIP22_SESSION: {
    nature: 'retry',
    summary: 'A pile session was closed by a protocol error (ERROR sent)',
  },
} as const satisfies ErrorCatalogue;

export type CoreErrorCode = keyof typeof CORE_ERRORS;
type DriverErrorCode = {
  [D in keyof DriverErrorCodes]: keyof DriverErrorCodes[D] & string;
}[keyof DriverErrorCodes];
export type EdgeErrorCode = CoreErrorCode | DriverErrorCode;

const catalogue = new Map<string, ErrorSpec & { readonly owner: string }>(
  Object.entries(CORE_ERRORS).map(([code, spec]) => [code, { ...spec, owner: 'core' }]),
);

/**
 * Adds a driver's codes to the runtime catalogue (the registry does it for every
 * definition; a driver's errors.ts does it too, so a driver module used alone still gets
 * its natures). A code owned by another area is a programming error.
 */
export function registerErrorCodes(owner: string, codes: ErrorCatalogue): void {
  for (const [code, spec] of Object.entries(codes)) {
    const known = catalogue.get(code);
    if (known && known.owner !== owner)
      throw new Error(`error code ${code} of ${owner} is already declared by ${known.owner}`);
    catalogue.set(code, { ...spec, owner });
  }
}

/** The catalogue as registered so far: core codes and those of the loaded drivers. */
export function errorCatalogue(): ReadonlyMap<string, ErrorSpec & { readonly owner: string }> {
  return catalogue;
}

/** A code that means "no answer from the device" (the poller's offline, failover's outage). */
export function isLinkDownCode(code: string): boolean {
  return catalogue.get(code)?.linkDown === true;
}

/** Codes seen by EdgeError that nobody declared (test/drivers/seam.test.ts asserts none). */
export const undeclaredCodes = new Set<string>();

function natureOf(code: string): ErrorNature {
  const spec = catalogue.get(code);
  if (spec) return spec.nature;
  // Not thrown: an error path must never throw a second error. The seam test fails instead.
  undeclaredCodes.add(code);
  return 'retry';
}

export interface EdgeErrorOptions {
  readonly context?: ErrorContext;
  readonly cause?: unknown;
  readonly nature?: ErrorNature;
}

export class EdgeError extends Error {
  readonly code: EdgeErrorCode;
  readonly nature: ErrorNature;
  readonly context: ErrorContext;

  constructor(code: EdgeErrorCode, message: string, options: EdgeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgeError';
    this.code = code;
    this.nature = options.nature ?? natureOf(code);
    this.context = options.context ?? {};
  }

  get retryable(): boolean {
    return this.nature === 'retry';
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, nature: this.nature, message: this.message, context: this.context };
  }
}

/** Wraps anything thrown into an EdgeError, keeping an existing code. */
export function toEdgeError(value: unknown, fallback: EdgeErrorCode, context: ErrorContext = {}): EdgeError {
  if (value instanceof EdgeError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new EdgeError(fallback, message, { cause: value, context });
}
