/**
 * S7 return codes → stable EDGE_ERR_S7_* codes. A data item's return code (byte 0 of
 * each item of a ReadVar/WriteVar answer) concerns that item only; the header error
 * class/code of an ack-data rejects the whole request. Neither says anything about the
 * connection, so neither ever causes a reconnect.
 */
import type { EdgeErrorCode } from '../../core/errors.js';
// registers the codes this module maps to (their natures), wherever the driver is used from
import './error-codes.js';

const ITEM_CODES: Readonly<Record<number, EdgeErrorCode>> = {
  0x01: 'EDGE_ERR_S7_ITEM_HARDWARE',
  0x03: 'EDGE_ERR_S7_ITEM_ACCESS_DENIED',
  0x05: 'EDGE_ERR_S7_ITEM_OUT_OF_RANGE',
  0x06: 'EDGE_ERR_S7_ITEM_TYPE_UNSUPPORTED',
  0x07: 'EDGE_ERR_S7_ITEM_TYPE_INCONSISTENT',
  0x0a: 'EDGE_ERR_S7_ITEM_NOT_FOUND',
};

const ITEM_TEXT: Readonly<Record<number, string>> = {
  0x01: 'hardware fault',
  0x03: 'access to the object denied',
  0x05: 'address out of range',
  0x06: 'data type not supported',
  0x07: 'data type inconsistent',
  0x0a: 'object does not exist',
};

export function itemErrorCode(plcCode: number): EdgeErrorCode {
  return ITEM_CODES[plcCode] ?? 'EDGE_ERR_S7_ITEM_ERROR';
}

export function itemErrorText(plcCode: number): string {
  return `PLC item return code 0x${plcCode.toString(16).padStart(2, '0')} (${ITEM_TEXT[plcCode] ?? 'unknown'})`;
}

/** Header error class and code as one number (0x8104 = class 0x81, code 0x04). */
export function headerErrorCode(errorClass: number, errorCode: number): number {
  return (errorClass << 8) | errorCode;
}

/** Errors that are about a tag (the PLC answered): candidates for quarantine. */
export function isItemCode(code: string): boolean {
  return code.startsWith('EDGE_ERR_S7_ITEM_') || code === 'EDGE_ERR_S7_REQUEST_REJECTED';
}
