/**
 * Mapping of what modbus-serial (and the OS) report to the stable EDGE_ERR_MODBUS_* codes.
 *
 * modbus-serial 8.x reports: a Modbus exception as `Error("Modbus exception N: …")` with
 * `modbusCode = N`; a timeout as `TransactionTimedOutError` (`errno = 'ETIMEDOUT'`,
 * message "Timed out"); a bad checksum as `Error("CRC error")`; a short or foreign frame as
 * "Data length error…" / "Unexpected data error…"; a request on a closed port as
 * `PortNotOpenError` ("Port Not Open", errno ECONNREFUSED); serial port errors as
 * `SerialPortError`; socket errors as the Node `Error` with `code` (ECONNREFUSED…).
 */
import { EdgeError, type EdgeErrorCode } from '../../core/errors.js';
// registers the codes this module maps to (their natures), wherever the driver is used from
import './error-codes.js';
import './dtu/error-codes.js';

const EXCEPTION_CODES: Readonly<Record<number, EdgeErrorCode>> = {
  1: 'EDGE_ERR_MODBUS_ILLEGAL_FUNCTION',
  2: 'EDGE_ERR_MODBUS_ILLEGAL_ADDRESS',
  3: 'EDGE_ERR_MODBUS_ILLEGAL_VALUE',
  4: 'EDGE_ERR_MODBUS_DEVICE_FAILURE',
  5: 'EDGE_ERR_MODBUS_ACKNOWLEDGE',
  6: 'EDGE_ERR_MODBUS_BUSY',
  0x0a: 'EDGE_ERR_MODBUS_GATEWAY_PATH',
  0x0b: 'EDGE_ERR_MODBUS_GATEWAY_TARGET',
};

/** Code for a Modbus exception response code. */
export function exceptionErrorCode(modbusCode: number): EdgeErrorCode {
  return EXCEPTION_CODES[modbusCode] ?? 'EDGE_ERR_MODBUS_EXCEPTION';
}

export type ModbusErrorPhase = 'connect' | 'request';

const LINK_LOST_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ENOTCONN',
  'EIO',
  'ERR_STREAM_DESTROYED',
]);

interface ErrorLike {
  readonly message?: unknown;
  readonly name?: unknown;
  readonly errno?: unknown;
  readonly code?: unknown;
  readonly modbusCode?: unknown;
}

/** Maps anything a transport threw to an EdgeError with a stable Modbus code. */
export function toModbusError(err: unknown, phase: ModbusErrorPhase = 'request'): EdgeError {
  if (err instanceof EdgeError) return err;
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as ErrorLike;
  const message = typeof e.message === 'string' && e.message ? e.message : String(e.name ?? err);
  const make = (code: EdgeErrorCode, context: Record<string, unknown> = {}): EdgeError =>
    new EdgeError(code, message, { cause: err, context });

  if (typeof e.modbusCode === 'number')
    return make(exceptionErrorCode(e.modbusCode), { modbusCode: e.modbusCode });
  if (e.errno === 'ETIMEDOUT' || e.name === 'TransactionTimedOutError' || message === 'Timed out') {
    return make(phase === 'connect' ? 'EDGE_ERR_MODBUS_CONNECT' : 'EDGE_ERR_MODBUS_TIMEOUT');
  }
  if (message === 'CRC error') return make('EDGE_ERR_MODBUS_CRC');
  if (message.startsWith('Data length error') || message.startsWith('Unexpected data error')) {
    return make('EDGE_ERR_MODBUS_BAD_RESPONSE');
  }
  if (phase === 'connect') return make('EDGE_ERR_MODBUS_CONNECT');
  if (message === 'Port Not Open' || e.name === 'PortNotOpenError' || e.name === 'SerialPortError') {
    return make('EDGE_ERR_MODBUS_DISCONNECTED');
  }
  if (typeof e.code === 'string' && (LINK_LOST_CODES.has(e.code) || e.code === 'ECONNREFUSED')) {
    return make('EDGE_ERR_MODBUS_DISCONNECTED');
  }
  return make('EDGE_ERR_MODBUS_BAD_RESPONSE');
}

/** The link itself failed (reconnect needed), as opposed to one device or request. */
export function isLinkError(code: string): boolean {
  return code === 'EDGE_ERR_MODBUS_DISCONNECTED' || code === 'EDGE_ERR_MODBUS_CONNECT';
}

/** Failures that count against a device's circuit breaker (the device did not answer in time). */
export function isBreakerFailure(code: string): boolean {
  return (
    code === 'EDGE_ERR_MODBUS_TIMEOUT' ||
    code === 'EDGE_ERR_MODBUS_LATE_ANSWER' ||
    code === 'EDGE_ERR_MODBUS_CONNECT'
  );
}

/** The device answered (an exception response): proof of life for the breaker. */
export function isDeviceAnswer(code: string): boolean {
  return (
    code === 'EDGE_ERR_MODBUS_EXCEPTION' || Object.values(EXCEPTION_CODES).includes(code as EdgeErrorCode)
  );
}

/** Bytes came back for the request, though not a good answer (a late one may hide behind them). */
export function answeredSomething(code: string): boolean {
  return isDeviceAnswer(code) || code === 'EDGE_ERR_MODBUS_CRC' || code === 'EDGE_ERR_MODBUS_BAD_RESPONSE';
}
