/**
 * The driver's error codes (with nature and the text of docs/errors.md) and the mapping of
 * OPC UA status codes onto them. A node's status code concerns that node only and never
 * causes a reconnect; the link codes are the ones that take the device offline.
 */
import { EdgeError, type EdgeErrorCode, type ErrorContext, type ErrorNature } from '../../core/errors.js';

export const OPCUA_ERRORS = {
  EDGE_ERR_OPCUA_CONNECT: {
    nature: 'retry',
    summary: 'Cannot open the OPC UA secure channel or session (server unreachable, refused, timed out)',
  },
  EDGE_ERR_OPCUA_DISCONNECTED: {
    nature: 'retry',
    summary: 'The OPC UA connection is down; node-opcua or the driver is reconnecting',
  },
  EDGE_ERR_OPCUA_TIMEOUT: {
    nature: 'retry',
    summary: 'No OPC UA answer (read, or subscription publish/keep-alive) within its time',
  },
  EDGE_ERR_OPCUA_NO_ENDPOINT: {
    nature: 'retry',
    summary: 'The server offers no endpoint with the configured security mode and policy',
  },
  EDGE_ERR_OPCUA_CERT_UNTRUSTED: {
    nature: 'retry',
    summary: 'The server certificate does not match the pin, or is not in <pkiDir>/trusted',
  },
  EDGE_ERR_OPCUA_USER_REJECTED: {
    nature: 'retry',
    summary: 'The server rejected the user identity (BadUserAccessDenied, BadIdentityTokenRejected…)',
  },
  EDGE_ERR_OPCUA_NODE_UNKNOWN: {
    nature: 'fatal',
    summary: 'The node id does not exist on the server (BadNodeIdUnknown, BadNodeIdInvalid)',
  },
  EDGE_ERR_OPCUA_ACCESS_DENIED: {
    nature: 'fatal',
    summary: 'The node may not be read or written by this user (BadNotReadable, BadUserAccessDenied…)',
  },
  EDGE_ERR_OPCUA_TYPE_MISMATCH: {
    nature: 'fatal',
    summary: 'The value is not of the tag dataType (or BadTypeMismatch on a write)',
  },
  EDGE_ERR_OPCUA_NO_DATA: {
    nature: 'retry',
    summary: 'No value yet (BadWaitingForInitialData, or no notification since the (re)connect)',
  },
  EDGE_ERR_OPCUA_SOURCE_FAILURE: {
    nature: 'retry',
    summary:
      'The server reports its own source failing (BadSensorFailure, BadDeviceFailure, BadCommunicationError…)',
  },
  EDGE_ERR_OPCUA_UNCERTAIN: {
    nature: 'retry',
    summary: 'The server marks the value Uncertain (published bad unless the device sets uncertain: good)',
  },
  EDGE_ERR_OPCUA_BAD_STATUS: { nature: 'retry', summary: 'The node has another Bad status code' },
  EDGE_ERR_OPCUA_WRITE_REFUSED: {
    nature: 'fatal',
    summary: 'The server refused a write with a Bad status code (in the error context)',
  },
  EDGE_ERR_OPCUA_WRITE_UNCONFIRMED: {
    nature: 'fatal',
    summary: 'A write was sent but not confirmed (timeout or link lost): outcome unknown, not retried',
  },
} as const satisfies Record<string, { nature: ErrorNature; summary: string }>;

export type OpcuaErrorCode = keyof typeof OPCUA_ERRORS;

/** Codes that mean "the server cannot be reached": all values bad with these → device offline. */
export const OPCUA_LINK_DOWN_CODES: readonly OpcuaErrorCode[] = [
  'EDGE_ERR_OPCUA_CONNECT',
  'EDGE_ERR_OPCUA_DISCONNECTED',
  'EDGE_ERR_OPCUA_TIMEOUT',
  'EDGE_ERR_OPCUA_NO_ENDPOINT',
  'EDGE_ERR_OPCUA_CERT_UNTRUSTED',
  'EDGE_ERR_OPCUA_USER_REJECTED',
];

export function opcuaError(
  code: OpcuaErrorCode,
  message: string,
  context: ErrorContext = {},
  cause?: unknown,
): EdgeError {
  // The central catalogue does not list driver codes yet: the nature comes from ours.
  return new EdgeError(code as unknown as EdgeErrorCode, message, {
    nature: OPCUA_ERRORS[code].nature,
    context,
    cause,
  });
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
  if (/BadUserAccessDenied|BadIdentityToken|BadUserSignatureInvalid/i.test(text))
    return 'EDGE_ERR_OPCUA_USER_REJECTED';
  if (/Certificate verification failed|BadCertificate|certificate.*(untrusted|rejected)/i.test(text))
    return 'EDGE_ERR_OPCUA_CERT_UNTRUSTED';
  if (/cannot find endpoint|Cannot find an Endpoint|BadSecurityPolicyRejected/i.test(text))
    return 'EDGE_ERR_OPCUA_NO_ENDPOINT';
  if (/timeout|timed out/i.test(text)) return 'EDGE_ERR_OPCUA_TIMEOUT';
  return 'EDGE_ERR_OPCUA_CONNECT';
}
