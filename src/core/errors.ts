/**
 * Stable error codes, in the manner of fastify's `FST_ERR_*`: every failure the agent
 * reports carries a code from this catalogue, a nature (may retrying help?) and the
 * device context. `docs/errors.md` documents each code; a test keeps the two in step.
 */
export type ErrorNature = 'retry' | 'fatal';

export interface ErrorContext {
  readonly device?: string;
  readonly tag?: string;
  readonly field?: string;
  readonly [key: string]: unknown;
}

export const ERROR_CATALOG = {
  EDGE_ERR_CONFIG_INVALID: { nature: 'fatal', summary: 'Configuration does not match its schema' },
  EDGE_ERR_CONFIG_READ: { nature: 'fatal', summary: 'Configuration file cannot be read or parsed' },
  EDGE_ERR_CONFIG_SECRET: { nature: 'fatal', summary: 'A secret reference (env or file) cannot be resolved' },
  EDGE_ERR_CONFIG_PUSH: {
    nature: 'fatal',
    summary: 'A pushed config was refused (unsigned, wrong site, expired, replayed, malformed)',
  },
  EDGE_ERR_DRIVER_UNKNOWN: { nature: 'fatal', summary: 'A device names a driver that is not registered' },
  EDGE_ERR_DRIVER_START: { nature: 'retry', summary: 'A device driver could not start (connect)' },
  EDGE_ERR_DRIVER_POLL: {
    nature: 'retry',
    summary: 'A driver failed unexpectedly while polling (a bug); tags marked bad',
  },
  EDGE_ERR_MODBUS_TIMEOUT: { nature: 'retry', summary: 'No Modbus response within the timeout' },
  EDGE_ERR_MODBUS_LATE_ANSWER: {
    nature: 'retry',
    summary: 'The Modbus RTU answer came after the timeout and was discarded',
  },
  EDGE_ERR_MODBUS_ILLEGAL_FUNCTION: { nature: 'fatal', summary: 'Modbus exception 01: illegal function' },
  EDGE_ERR_MODBUS_ILLEGAL_ADDRESS: { nature: 'fatal', summary: 'Modbus exception 02: illegal data address' },
  EDGE_ERR_MODBUS_ILLEGAL_VALUE: { nature: 'fatal', summary: 'Modbus exception 03: illegal data value' },
  EDGE_ERR_MODBUS_DEVICE_FAILURE: { nature: 'retry', summary: 'Modbus exception 04: server device failure' },
  EDGE_ERR_MODBUS_ACKNOWLEDGE: {
    nature: 'retry',
    summary: 'Modbus exception 05: acknowledge (long operation)',
  },
  EDGE_ERR_MODBUS_BUSY: { nature: 'retry', summary: 'Modbus exception 06: server device busy' },
  EDGE_ERR_MODBUS_GATEWAY_PATH: { nature: 'retry', summary: 'Modbus exception 0A: gateway path unavailable' },
  EDGE_ERR_MODBUS_GATEWAY_TARGET: {
    nature: 'retry',
    summary: 'Modbus exception 0B: gateway target failed to respond',
  },
  EDGE_ERR_MODBUS_EXCEPTION: { nature: 'retry', summary: 'Modbus exception with another code' },
  EDGE_ERR_MODBUS_CRC: { nature: 'retry', summary: 'Modbus RTU frame failed its CRC check' },
  EDGE_ERR_MODBUS_BAD_RESPONSE: {
    nature: 'retry',
    summary: 'Modbus response malformed or for another request',
  },
  EDGE_ERR_MODBUS_CONNECT: {
    nature: 'retry',
    summary: 'Cannot open the Modbus TCP connection or serial port',
  },
  EDGE_ERR_MODBUS_DISCONNECTED: { nature: 'retry', summary: 'Modbus link is down; reconnect pending' },
  EDGE_ERR_MODBUS_CIRCUIT_OPEN: {
    nature: 'retry',
    summary: 'Device circuit breaker is open after repeated failures',
  },
  EDGE_ERR_MODBUS_DECODE: {
    nature: 'fatal',
    summary: 'Registers cannot be decoded as the tag type (e.g. NaN, bad string)',
  },
  EDGE_ERR_DTU_LINK_DOWN: {
    nature: 'retry',
    summary: 'The DTU link of a Modbus device is not registered/connected',
  },
  EDGE_ERR_DTU_UNKNOWN_REGISTRATION: {
    nature: 'retry',
    summary: 'A DTU connected with a registration no link is configured for',
  },
  EDGE_ERR_DTU_SOURCE_REFUSED: {
    nature: 'retry',
    summary: 'A DTU connection was refused: source outside allowFrom, or a live link would be taken over',
  },
  EDGE_ERR_DTU_REGISTRATION_TIMEOUT: {
    nature: 'retry',
    summary: 'A DTU connected but sent no registration in time',
  },
  EDGE_ERR_DTU_LISTEN: { nature: 'fatal', summary: 'The DTU listener cannot bind its host and port' },
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
  // device: watchdog, status LED, doctor (src/device/)
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
  // S7 (Siemens S7 PLCs over ISO-on-TCP)
  EDGE_ERR_S7_CONNECT: {
    nature: 'retry',
    summary: 'Cannot open the TCP connection to the PLC (DNS, no route, connection reset)',
  },
  EDGE_ERR_S7_CONNECT_REFUSED: {
    nature: 'retry',
    summary: 'The PLC refused the TCP connection (powered off, rebooting, or nothing on the port)',
  },
  EDGE_ERR_S7_CONNECT_TIMEOUT: {
    nature: 'retry',
    summary: 'No TCP connection or ISO/PDU handshake within connectTimeoutMs (cable pulled, host down)',
  },
  EDGE_ERR_S7_COTP_REFUSED: {
    nature: 'retry',
    summary:
      'The PLC refused the ISO-on-TCP (COTP) connection: wrong rack/slot or TSAP, or no free connection',
  },
  EDGE_ERR_S7_NEGOTIATION: {
    nature: 'retry',
    summary: 'S7 setup communication (PDU size negotiation) failed or was refused',
  },
  EDGE_ERR_S7_DISCONNECTED: { nature: 'retry', summary: 'The S7 connection is down; reconnect pending' },
  EDGE_ERR_S7_TIMEOUT: { nature: 'retry', summary: 'No answer to an S7 request within requestTimeoutMs' },
  EDGE_ERR_S7_BAD_RESPONSE: {
    nature: 'retry',
    summary: 'Malformed or truncated S7 answer (request failed; a broken stream re-opens the connection)',
  },
  EDGE_ERR_S7_REQUEST_REJECTED: {
    nature: 'retry',
    summary: 'The PLC rejected a whole request (S7 header error class/code)',
  },
  EDGE_ERR_S7_ITEM_HARDWARE: { nature: 'retry', summary: 'S7 item return code 0x01: hardware fault' },
  EDGE_ERR_S7_ITEM_ACCESS_DENIED: {
    nature: 'fatal',
    summary: 'S7 item return code 0x03: access to the object denied (e.g. optimized DB, protection)',
  },
  EDGE_ERR_S7_ITEM_OUT_OF_RANGE: {
    nature: 'fatal',
    summary: 'S7 item return code 0x05: address out of range (offset past the end of the area)',
  },
  EDGE_ERR_S7_ITEM_TYPE_UNSUPPORTED: {
    nature: 'fatal',
    summary: 'S7 item return code 0x06: data type not supported',
  },
  EDGE_ERR_S7_ITEM_TYPE_INCONSISTENT: {
    nature: 'fatal',
    summary: 'S7 item return code 0x07: data type inconsistent (size mismatch)',
  },
  EDGE_ERR_S7_ITEM_NOT_FOUND: {
    nature: 'fatal',
    summary: 'S7 item return code 0x0A: object does not exist (e.g. the DB is not loaded)',
  },
  EDGE_ERR_S7_ITEM_ERROR: { nature: 'retry', summary: 'S7 item error with another return code' },
  EDGE_ERR_S7_DECODE: {
    nature: 'fatal',
    summary: 'S7 bytes cannot be decoded as the tag type (NaN REAL, bad STRING header)',
  },
  EDGE_ERR_S7_WRITE_UNCONFIRMED: {
    nature: 'fatal',
    summary: 'A write was sent but not confirmed (timeout or link lost): outcome unknown, not retried',
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
} as const satisfies Record<string, { nature: ErrorNature; summary: string }>;

export type EdgeErrorCode = keyof typeof ERROR_CATALOG;

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
    this.nature = options.nature ?? ERROR_CATALOG[code].nature;
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
