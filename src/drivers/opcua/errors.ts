/**
 * The driver's error codes (nature, summary, the docs/errors.md paragraph, link-down flag)
 * and the mapping of OPC UA status codes onto them. A node's status code concerns that
 * node only and never causes a reconnect; the link-down codes take the device offline.
 * Importing this module registers the codes, so a module of the driver used alone (a
 * test) still gets their natures.
 */
import { EdgeError, registerErrorCodes, type ErrorCatalogue, type ErrorContext } from '../../core/errors.js';

export const OPCUA_ERRORS = {
  EDGE_ERR_OPCUA_CONNECT: {
    nature: 'retry',
    linkDown: true,
    summary: 'Cannot open the OPC UA secure channel or session',
    docs: 'The server is unreachable, refused the connection, or did not finish the handshake within `connectTimeoutMs`. The driver retries with `reconnect` backoff; every tag is bad with this code meanwhile.',
  },
  EDGE_ERR_OPCUA_DISCONNECTED: {
    nature: 'retry',
    linkDown: true,
    summary: 'The OPC UA connection is down; reconnecting',
    docs: 'The connection broke (server restart, socket reset). node-opcua reconnects and restores the session and its subscription (transfer, or re-creation when the server lost them); past `recreateAfterMs` the driver drops the client and connects afresh with its own backoff. Tags are bad with this code until then, and bad with `EDGE_ERR_OPCUA_NO_DATA` until the server sent each of them again.',
  },
  EDGE_ERR_OPCUA_TIMEOUT: {
    nature: 'retry',
    linkDown: true,
    summary: "No OPC UA answer in time (a Read, or the subscription's publish/keep-alive)",
    docs: 'Poll mode: the Read got no answer within `requestTimeoutMs`. Subscription mode: no publish response (data or keep-alive) for 2 × publishingIntervalMs × keepAliveCount + requestTimeoutMs, a silently dead link; or the server reported `BadTimeout` for the node.',
  },
  EDGE_ERR_OPCUA_NO_ENDPOINT: {
    nature: 'retry',
    linkDown: true,
    summary: 'The server offers no endpoint with the configured security mode and policy',
    docs: 'Compare `security.mode`/`security.policy` with the endpoints the server lists (its configuration tool, or UaExpert). Retried with backoff: the server may be reconfigured.',
  },
  EDGE_ERR_OPCUA_CERT_UNTRUSTED: {
    nature: 'retry',
    linkDown: true,
    summary: 'The server certificate matches neither the pin nor the PKI trust list',
    docs: 'With `security.serverCertificateSha256` only that certificate is accepted (the status shows the fingerprint the server presented). Without a pin the certificate must be in `<pkiDir>/trusted/certs`; a refused one is stored in `<pkiDir>/rejected` — move it to `trusted/certs` after checking it.',
  },
  EDGE_ERR_OPCUA_USER_REJECTED: {
    nature: 'retry',
    linkDown: true,
    summary: 'The server rejected the user identity',
    docs: '`BadUserAccessDenied`, `BadIdentityTokenRejected`/`Invalid`: wrong user or password (`identity.password` is a secret reference), an unknown user certificate, or a token type the endpoint does not allow. Retried with backoff; the password is never logged.',
  },
  EDGE_ERR_OPCUA_NODE_UNKNOWN: {
    nature: 'fatal',
    summary: 'The node id does not exist on the server',
    docs: '`BadNodeIdUnknown`/`BadNodeIdInvalid` for that tag only; the other tags stay good. Check `tags[].nodeId` (namespace index and identifier) against the server address space.',
  },
  EDGE_ERR_OPCUA_ACCESS_DENIED: {
    nature: 'fatal',
    summary: 'The node may not be read by this user',
    docs: '`BadNotReadable`, `BadUserAccessDenied`, `BadSecurityModeInsufficient` on the node: its access level or the user role does not allow it.',
  },
  EDGE_ERR_OPCUA_TYPE_MISMATCH: {
    nature: 'fatal',
    summary: 'The value is not of the tag `dataType`',
    docs: 'The node holds another built-in type (or an array) than `tags[].dataType`, or a 64-bit integer beyond ±2^53. Never coerced: fix the config or the server model.',
  },
  EDGE_ERR_OPCUA_NO_DATA: {
    nature: 'retry',
    summary: 'No value for the node yet',
    docs: '`BadWaitingForInitialData`, or no notification since the (re)connection and the catch-up Read did not bring one: a value from before an outage is never published as current.',
  },
  EDGE_ERR_OPCUA_SOURCE_FAILURE: {
    nature: 'retry',
    summary: 'The server reports its own data source failing',
    docs: '`BadSensorFailure`, `BadDeviceFailure`, `BadCommunicationError`, `BadNotConnected`, `BadOutOfService`, `BadNoCommunication`, `BadConfigurationError`: the server is reachable, the field device behind it is not.',
  },
  EDGE_ERR_OPCUA_UNCERTAIN: {
    nature: 'retry',
    summary: 'The server marks the value Uncertain',
    docs: 'An `Uncertain*` status (last usable value, sensor not accurate, substitute value…). Published bad by default; a device with `uncertain: good` publishes such values as good.',
  },
  EDGE_ERR_OPCUA_BAD_STATUS: {
    nature: 'retry',
    summary: 'The node has another Bad status code',
    docs: 'The reason names the status (e.g. `status BadInternalError`).',
  },
  EDGE_ERR_OPCUA_WRITE_REFUSED: {
    nature: 'fatal',
    summary: 'The server refused a write',
    docs: 'The Write answered a status other than Good (`context.opcuaStatus`, e.g. `BadNotWritable`, `BadUserAccessDenied`, `BadTypeMismatch`, `BadOutOfRange`). Nothing was written.',
  },
  EDGE_ERR_OPCUA_WRITE_CLAMPED: {
    nature: 'fatal',
    summary: 'The server wrote a clamped value, not the one asked for',
    docs: 'The Write answered `GoodClamped`: the server stored the value after limiting it to its own range, so the tag now holds something else than `context.requested` (`context.applied: true`). Not retried; read the tag back, and align `min`/`max` with the server limits.',
  },
  EDGE_ERR_OPCUA_WRITE_UNCONFIRMED: {
    nature: 'fatal',
    summary: 'A write was sent but not confirmed',
    docs: 'No answer within `requestTimeoutMs`, or the connection broke with the write in flight: the server may or may not have applied it. Not retried; read the tag back before deciding.',
  },
} as const satisfies ErrorCatalogue;

declare module '../../core/errors.js' {
  interface DriverErrorCodes {
    opcua: typeof OPCUA_ERRORS;
  }
}

registerErrorCodes('opcua', OPCUA_ERRORS);

export type OpcuaErrorCode = keyof typeof OPCUA_ERRORS;

export function opcuaError(
  code: OpcuaErrorCode,
  message: string,
  context: ErrorContext = {},
  cause?: unknown,
): EdgeError {
  return new EdgeError(code, message, { context, cause });
}

/** A node's status, as its quality: good, or bad with the code naming the cause. */
export type NodeQuality = { readonly good: true } | { readonly good: false; readonly code: OpcuaErrorCode };

const BY_NAME: Readonly<Record<string, OpcuaErrorCode>> = {
  BadNodeIdUnknown: 'EDGE_ERR_OPCUA_NODE_UNKNOWN',
  BadNodeIdInvalid: 'EDGE_ERR_OPCUA_NODE_UNKNOWN',
  BadAttributeIdInvalid: 'EDGE_ERR_OPCUA_NODE_UNKNOWN',
  BadNotReadable: 'EDGE_ERR_OPCUA_ACCESS_DENIED',
  BadNotWritable: 'EDGE_ERR_OPCUA_ACCESS_DENIED',
  BadUserAccessDenied: 'EDGE_ERR_OPCUA_ACCESS_DENIED',
  BadSecurityModeInsufficient: 'EDGE_ERR_OPCUA_ACCESS_DENIED',
  BadTypeMismatch: 'EDGE_ERR_OPCUA_TYPE_MISMATCH',
  BadWaitingForInitialData: 'EDGE_ERR_OPCUA_NO_DATA',
  BadSensorFailure: 'EDGE_ERR_OPCUA_SOURCE_FAILURE',
  BadDeviceFailure: 'EDGE_ERR_OPCUA_SOURCE_FAILURE',
  BadCommunicationError: 'EDGE_ERR_OPCUA_SOURCE_FAILURE',
  BadNotConnected: 'EDGE_ERR_OPCUA_SOURCE_FAILURE',
  BadOutOfService: 'EDGE_ERR_OPCUA_SOURCE_FAILURE',
  BadConfigurationError: 'EDGE_ERR_OPCUA_SOURCE_FAILURE',
  BadNoCommunication: 'EDGE_ERR_OPCUA_SOURCE_FAILURE',
  BadTimeout: 'EDGE_ERR_OPCUA_TIMEOUT',
};

/**
 * The quality of a status code (its numeric value and name, as node-opcua gives them).
 * The severity is the top two bits (Part 4, 7.39): 00 good, 01 uncertain, 10/11 bad.
 */
export function nodeQuality(status: { readonly value: number; readonly name: string }): NodeQuality {
  const severity = status.value >>> 30;
  if (severity === 0) return { good: true };
  if (severity === 1) return { good: false, code: 'EDGE_ERR_OPCUA_UNCERTAIN' };
  return { good: false, code: BY_NAME[status.name] ?? 'EDGE_ERR_OPCUA_BAD_STATUS' };
}

/** The link code a failed connect or session creation means (node-opcua only gives messages). */
export function connectErrorCode(error: unknown): OpcuaErrorCode {
  const text = error instanceof Error ? error.message : String(error);
  if (/BadUserAccessDenied|BadIdentityToken|BadUserSignatureInvalid|user token policy/i.test(text))
    return 'EDGE_ERR_OPCUA_USER_REJECTED';
  if (/Certificate verification failed|BadCertificate|certificate.*(untrusted|rejected)/i.test(text))
    return 'EDGE_ERR_OPCUA_CERT_UNTRUSTED';
  if (/cannot find endpoint|Cannot find an Endpoint|BadSecurityPolicyRejected/i.test(text))
    return 'EDGE_ERR_OPCUA_NO_ENDPOINT';
  if (/timeout|timed out/i.test(text)) return 'EDGE_ERR_OPCUA_TIMEOUT';
  return 'EDGE_ERR_OPCUA_CONNECT';
}
