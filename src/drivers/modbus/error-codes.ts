/**
 * The Modbus driver's error codes (the DTU ones are in dtu/error-codes.ts): nature, one-line summary and the docs/errors.md paragraph of each code.
 * Part of the modbus driver's definition (`errors`); docs/errors.md's driver block is
 * generated from it. Importing this module registers the codes, so a module of the driver
 * used alone (a test) still gets their natures.
 */
import { registerErrorCodes, type ErrorCatalogue } from '../../core/errors.js';

export const MODBUS_ERRORS = {
  EDGE_ERR_MODBUS_TIMEOUT: {
    nature: 'retry',
    linkDown: true,
    summary: 'No Modbus response within the timeout',
    docs: 'No answer: wrong unit id, wiring (A/B swapped, no termination), wrong baud/parity, device off. Raise `timeoutMs` only for slow gateways.',
  },
  // no answer in time either: the answer came after the timeout and was discarded
  EDGE_ERR_MODBUS_LATE_ANSWER: {
    nature: 'retry',
    linkDown: true,
    summary: 'The Modbus RTU answer came after the timeout and was discarded',
    docs: 'The slave (or the DTU in front of it) is alive but slower than `timeoutMs`: its answer arrived while the line was being kept quiet after the timeout. An RTU answer carries no transaction id, so the agent never takes it as the answer to a later request; it discards it, counts it (`lateAnswers` in the line status, `edge_modbus_late_answers_total`) and reports the read bad with this code. `context.latencyMs` is how long the answer took: raise `timeoutMs` above it. Counts against the breaker like a timeout, and as a poll without answer for the offline debounce. After a timeout (and on a fresh port or DTU link) the unit is fenced: no answer of it is trusted until one arrives whose shape (function, byte count, exception) cannot be the missing answer, so a harmless read of another shape goes first when needed (`fences` in the line status, `edge_modbus_fences_total`). An answer that could be the missing one, e.g. an exception of the same function, gets this code instead of being taken as the answer to the read.',
  },
  EDGE_ERR_MODBUS_ILLEGAL_FUNCTION: {
    nature: 'fatal',
    summary: 'Modbus exception 01: illegal function',
    docs: "The device does not support this function (e.g. `input` registers on a device that only has `holding`). Change the tag's `function`.",
  },
  EDGE_ERR_MODBUS_ILLEGAL_ADDRESS: {
    nature: 'fatal',
    summary: 'Modbus exception 02: illegal data address',
    docs: 'The address does not exist on the device. Check the zero-based address. A coalesced read (`maxGap`) refused this way is split: only the tags refused alone carry this code (quarantined and re-probed, `status().quarantined`), and unmapped gaps between tags are no longer read across (`status().holes`).',
  },
  EDGE_ERR_MODBUS_ILLEGAL_VALUE: {
    nature: 'fatal',
    summary: 'Modbus exception 03: illegal data value',
    docs: "The device rejected the request's quantity: lower `maxRegistersPerRequest` for this device.",
  },
  EDGE_ERR_MODBUS_DEVICE_FAILURE: {
    nature: 'retry',
    summary: 'Modbus exception 04: server device failure',
    docs: 'The device reports an internal failure; retried on the next poll.',
  },
  EDGE_ERR_MODBUS_ACKNOWLEDGE: {
    nature: 'retry',
    summary: 'Modbus exception 05: acknowledge (long operation)',
    docs: 'The device accepted a long operation; retried on the next poll.',
  },
  EDGE_ERR_MODBUS_BUSY: {
    nature: 'retry',
    summary: 'Modbus exception 06: server device busy',
    docs: 'The device is busy; retried on the next poll. Lengthen the interval if persistent.',
  },
  EDGE_ERR_MODBUS_GATEWAY_PATH: {
    nature: 'retry',
    summary: 'Modbus exception 0A: gateway path unavailable',
    docs: "A Modbus gateway has no path to the target unit: check the gateway's routing table.",
  },
  EDGE_ERR_MODBUS_GATEWAY_TARGET: {
    nature: 'retry',
    summary: 'Modbus exception 0B: gateway target failed to respond',
    docs: "A Modbus gateway got no answer from the serial device behind it: as for a timeout, on the gateway's bus.",
  },
  EDGE_ERR_MODBUS_EXCEPTION: {
    nature: 'retry',
    summary: 'Modbus exception with another code',
    docs: 'A non-standard exception code; the reason names the code.',
  },
  EDGE_ERR_MODBUS_CRC: {
    nature: 'retry',
    summary: 'Modbus RTU frame failed its CRC check',
    docs: 'Corrupted RTU frame: noise, missing termination or bias resistors, two masters on one bus, wrong baud rate.',
  },
  EDGE_ERR_MODBUS_BAD_RESPONSE: {
    nature: 'retry',
    summary: 'Modbus response malformed or for another request',
    docs: 'A response that does not match the request (wrong unit, function or length): usually a late answer on a shared bus or a misbehaving gateway.',
  },
  EDGE_ERR_MODBUS_CONNECT: {
    nature: 'retry',
    linkDown: true,
    summary: 'Cannot open the Modbus TCP connection or serial port',
    docs: 'The TCP connection or serial port cannot be opened: host/port, firewall, `/dev/tty*` path and the `dialout` group. Retried with backoff.',
  },
  EDGE_ERR_MODBUS_DISCONNECTED: {
    nature: 'retry',
    linkDown: true,
    summary: 'Modbus link is down; reconnect pending',
    docs: 'The link is down and being re-opened; tags are bad until it is back.',
  },
  EDGE_ERR_MODBUS_CIRCUIT_OPEN: {
    nature: 'retry',
    linkDown: true,
    summary: 'Device circuit breaker is open after repeated failures',
    docs: 'The device failed repeatedly and is skipped for `breaker.cooldownMs` so it cannot slow the shared bus; a probe closes the breaker when it answers again.',
  },
  EDGE_ERR_MODBUS_DECODE: {
    nature: 'fatal',
    summary: 'Registers cannot be decoded as the tag type (e.g. NaN, bad string)',
    docs: 'The registers do not decode as the configured type (NaN/Inf float, invalid string). Check `type`, `wordOrder` and `byteOrder`.',
  },
} as const satisfies ErrorCatalogue;

declare module '../../core/errors.js' {
  interface DriverErrorCodes {
    modbus: typeof MODBUS_ERRORS;
  }
}

registerErrorCodes('modbus', MODBUS_ERRORS);
