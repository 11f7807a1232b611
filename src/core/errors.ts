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
  EDGE_ERR_DRIVER_UNKNOWN: { nature: 'fatal', summary: 'A device names a driver that is not registered' },
  EDGE_ERR_DRIVER_START: { nature: 'retry', summary: 'A device driver could not start (connect)' },
  EDGE_ERR_DRIVER_POLL: { nature: 'retry', summary: 'A driver failed unexpectedly while polling (a bug); tags marked bad' },
  EDGE_ERR_MODBUS_TIMEOUT: { nature: 'retry', summary: 'No Modbus response within the timeout' },
  EDGE_ERR_MODBUS_ILLEGAL_FUNCTION: { nature: 'fatal', summary: 'Modbus exception 01: illegal function' },
  EDGE_ERR_MODBUS_ILLEGAL_ADDRESS: { nature: 'fatal', summary: 'Modbus exception 02: illegal data address' },
  EDGE_ERR_MODBUS_ILLEGAL_VALUE: { nature: 'fatal', summary: 'Modbus exception 03: illegal data value' },
  EDGE_ERR_MODBUS_DEVICE_FAILURE: { nature: 'retry', summary: 'Modbus exception 04: server device failure' },
  EDGE_ERR_MODBUS_ACKNOWLEDGE: { nature: 'retry', summary: 'Modbus exception 05: acknowledge (long operation)' },
  EDGE_ERR_MODBUS_BUSY: { nature: 'retry', summary: 'Modbus exception 06: server device busy' },
  EDGE_ERR_MODBUS_GATEWAY_PATH: { nature: 'retry', summary: 'Modbus exception 0A: gateway path unavailable' },
  EDGE_ERR_MODBUS_GATEWAY_TARGET: { nature: 'retry', summary: 'Modbus exception 0B: gateway target failed to respond' },
  EDGE_ERR_MODBUS_EXCEPTION: { nature: 'retry', summary: 'Modbus exception with another code' },
  EDGE_ERR_MODBUS_CRC: { nature: 'retry', summary: 'Modbus RTU frame failed its CRC check' },
  EDGE_ERR_MODBUS_BAD_RESPONSE: { nature: 'retry', summary: 'Modbus response malformed or for another request' },
  EDGE_ERR_MODBUS_CONNECT: { nature: 'retry', summary: 'Cannot open the Modbus TCP connection or serial port' },
  EDGE_ERR_MODBUS_DISCONNECTED: { nature: 'retry', summary: 'Modbus link is down; reconnect pending' },
  EDGE_ERR_MODBUS_CIRCUIT_OPEN: { nature: 'retry', summary: 'Device circuit breaker is open after repeated failures' },
  EDGE_ERR_MODBUS_DECODE: { nature: 'fatal', summary: 'Registers cannot be decoded as the tag type (e.g. NaN, bad string)' },
  EDGE_ERR_DTU_LINK_DOWN: { nature: 'retry', summary: 'The DTU link of a Modbus device is not registered/connected' },
  EDGE_ERR_DTU_UNKNOWN_REGISTRATION: { nature: 'retry', summary: 'A DTU connected with a registration no link is configured for' },
  EDGE_ERR_DTU_REGISTRATION_TIMEOUT: { nature: 'retry', summary: 'A DTU connected but sent no registration in time' },
  EDGE_ERR_DTU_LISTEN: { nature: 'fatal', summary: 'The DTU listener cannot bind its host and port' },
  EDGE_ERR_STORE_OPEN: { nature: 'fatal', summary: 'Outbox database cannot be opened' },
  EDGE_ERR_STORE_CORRUPT: { nature: 'retry', summary: 'Outbox failed its integrity check; moved aside and recovered' },
  EDGE_ERR_STORE_MIGRATION: { nature: 'fatal', summary: 'Outbox schema migration failed or schema is newer than the agent' },
  EDGE_ERR_STORE_WRITE: { nature: 'retry', summary: 'A group commit failed; records stay pending and are retried' },
  EDGE_ERR_STORE_FULL: { nature: 'retry', summary: 'Outbox full: records were evicted by policy' },
  EDGE_ERR_STORE_CLOSED: { nature: 'fatal', summary: 'Outbox used after close' },
  EDGE_ERR_MQTT_CONNECT: { nature: 'retry', summary: 'Cannot connect to the MQTT broker' },
  EDGE_ERR_MQTT_TLS: { nature: 'fatal', summary: 'TLS material (CA, certificate, key) cannot be loaded' },
  EDGE_ERR_MQTT_AUTH: { nature: 'fatal', summary: 'The broker refused the credentials' },
  EDGE_ERR_MQTT_PUBLISH: { nature: 'retry', summary: 'A publish failed or was not acknowledged' },
  EDGE_ERR_HTTP_LISTEN: { nature: 'fatal', summary: 'The status HTTP listener cannot bind' },
  EDGE_ERR_AGENT_SHUTDOWN: { nature: 'fatal', summary: 'Shutdown did not finish within its deadline' },
  // CIP-22 identity: certificates, signatures, ephemeral keys (src/cip22/identity)
  EDGE_ERR_CIP22_CERT_MALFORMED: { nature: 'fatal', summary: 'A certificate is not well-formed DER X.509' },
  EDGE_ERR_CIP22_KEY_INVALID: { nature: 'fatal', summary: 'A private key cannot be used for the CIP-22 identity algorithm' },
  EDGE_ERR_CIP22_PEER_KEY_INVALID: { nature: 'fatal', summary: 'A peer ephemeral public key is not a valid curve point' },
  EDGE_ERR_CIP22_AUTH_INPUT: { nature: 'fatal', summary: 'A field of the AUTH signed input has the wrong length' },
  // CIP-22 gateway (src/cip22/gateway)
  EDGE_ERR_CIP22_LISTEN: { nature: 'fatal', summary: 'The CIP-22 gateway cannot bind its host and port' },
  EDGE_ERR_CIP22_AUTH_FAILED: { nature: 'retry', summary: 'A pile was refused during the CIP-22 handshake (AUTH_FAIL sent)' },
  EDGE_ERR_CIP22_SESSION: { nature: 'retry', summary: 'A pile session was closed by a protocol error (ERROR sent)' },
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

export function isEdgeError(value: unknown): value is EdgeError {
  return value instanceof EdgeError;
}

/** Wraps anything thrown into an EdgeError, keeping an existing code. */
export function toEdgeError(value: unknown, fallback: EdgeErrorCode, context: ErrorContext = {}): EdgeError {
  if (value instanceof EdgeError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new EdgeError(fallback, message, { cause: value, context });
}
