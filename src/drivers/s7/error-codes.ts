/**
 * The S7 driver's error codes (Siemens S7 PLCs over ISO-on-TCP): nature, one-line summary and the docs/errors.md paragraph of each code.
 * Part of the s7 driver's definition (`errors`); docs/errors.md's driver block is
 * generated from it. Importing this module registers the codes, so a module of the driver
 * used alone (a test) still gets their natures.
 */
import { registerErrorCodes, type ErrorCatalogue } from '../../core/errors.js';

export const S7_ERRORS = {
  EDGE_ERR_S7_CONNECT: {
    nature: 'retry',
    linkDown: true,
    summary: 'Cannot open the TCP connection to the PLC',
    docs: 'DNS failure, no route, or the connection was reset before it was established. The driver reconnects with `reconnect` backoff; every tag of the device is bad with this code meanwhile (`context.host`, `context.port`).',
  },
  EDGE_ERR_S7_CONNECT_REFUSED: {
    nature: 'retry',
    linkDown: true,
    summary: 'The PLC refused the TCP connection',
    docs: 'Nothing listens on `connection.port` (102): the PLC is powered off, restarting, or the address is wrong. Reconnected with backoff.',
  },
  EDGE_ERR_S7_CONNECT_TIMEOUT: {
    nature: 'retry',
    linkDown: true,
    summary: 'No TCP connection or handshake within `connectTimeoutMs`',
    docs: 'The usual sign of a pulled cable or a host that drops packets. `context.phase` says how far it got (`tcp`, `cotp`, `setup`).',
  },
  EDGE_ERR_S7_COTP_REFUSED: {
    nature: 'retry',
    linkDown: true,
    summary: 'The PLC refused the ISO-on-TCP (COTP) connection',
    docs: 'It answered the connection request with a disconnect, or closed the socket: usually a wrong `rack`/`slot` (or TSAPs), PUT/GET access not enabled on an S7-1200/1500, or no free connection resource on the CPU.',
  },
  EDGE_ERR_S7_NEGOTIATION: {
    nature: 'retry',
    linkDown: true,
    summary: 'PDU size negotiation failed',
    docs: "The PLC refused the S7 setup communication or closed the connection during it. Check the CPU's connection resources and the `pduSize` proposed.",
  },
  EDGE_ERR_S7_DISCONNECTED: {
    nature: 'retry',
    linkDown: true,
    summary: 'The S7 connection is down; reconnect pending',
    docs: 'The connection was lost (PLC restart, socket reset). Tags are bad with this code until the reconnect succeeds.',
  },
  EDGE_ERR_S7_TIMEOUT: {
    nature: 'retry',
    linkDown: true,
    summary: 'No answer to an S7 request within `requestTimeoutMs`',
    docs: "The request's tags are bad for this poll. After `deadAfterTimeouts` unanswered requests in a row the connection is re-opened (a silently dead link).",
  },
  EDGE_ERR_S7_BAD_RESPONSE: {
    nature: 'retry',
    summary: 'Malformed or truncated S7 answer',
    docs: "The answer did not parse (item lengths beyond the frame, wrong item count…). Only that request's tags are bad; if the TPKT stream itself is out of step the connection is re-opened. The PLC's bytes never crash the agent.",
  },
  EDGE_ERR_S7_REQUEST_REJECTED: {
    nature: 'retry',
    summary: 'The PLC rejected a whole request',
    docs: "The ack header carried an error class/code (`context.plcCode`, e.g. `0x8104` = context not supported, `0x8500` = PDU too large). The request's tags are re-read one by one; those still refused are quarantined.",
  },
  EDGE_ERR_S7_ITEM_HARDWARE: {
    nature: 'retry',
    summary: 'S7 item return code 0x01: hardware fault',
    docs: 'The CPU reported a hardware fault for this address (e.g. peripheral I/O module missing). Only this tag is bad (`context.plcCode`); it is quarantined and re-probed.',
  },
  EDGE_ERR_S7_ITEM_ACCESS_DENIED: {
    nature: 'fatal',
    summary: 'S7 item return code 0x03: access denied',
    docs: 'On S7-1200/1500: the DB has "optimized block access" enabled or PUT/GET is not permitted; disable optimized access for the DB. Only this tag is bad; it is re-probed with backoff.',
  },
  EDGE_ERR_S7_ITEM_OUT_OF_RANGE: {
    nature: 'fatal',
    summary: 'S7 item return code 0x05: address out of range',
    docs: "The offset (plus the type's size) runs past the end of the DB or area. Only this tag is bad; the others keep their rate; no reconnect. Fix the address or the DB; the tag comes back at its next probe.",
  },
  EDGE_ERR_S7_ITEM_TYPE_UNSUPPORTED: {
    nature: 'fatal',
    summary: 'S7 item return code 0x06: data type not supported',
    docs: 'The PLC does not support the requested transport size for this area.',
  },
  EDGE_ERR_S7_ITEM_TYPE_INCONSISTENT: {
    nature: 'fatal',
    summary: 'S7 item return code 0x07: data type inconsistent',
    docs: "The item's size does not match what the PLC holds at that address.",
  },
  EDGE_ERR_S7_ITEM_NOT_FOUND: {
    nature: 'fatal',
    summary: 'S7 item return code 0x0A: object does not exist',
    docs: 'Typically a DB number that is not loaded in the CPU. Only this tag is bad; it is re-probed with backoff and comes back when the DB appears.',
  },
  EDGE_ERR_S7_ITEM_ERROR: {
    nature: 'retry',
    summary: 'S7 item error with another return code',
    docs: "`context.plcCode` holds the PLC's return code.",
  },
  EDGE_ERR_S7_DECODE: {
    nature: 'fatal',
    summary: 'The bytes cannot be decoded as the tag type',
    docs: 'A REAL/LREAL that is NaN or infinite, a STRING whose length header exceeds its declared size, a LINT beyond ±2^53.',
  },
  EDGE_ERR_S7_WRITE_UNCONFIRMED: {
    nature: 'fatal',
    summary: 'A write was sent but not confirmed',
    docs: 'No answer within `requestTimeoutMs`, or the link dropped with the write in flight: the PLC may or may not have applied it. The write is not retried; read the tag back before deciding.',
  },
} as const satisfies ErrorCatalogue;

declare module '../../core/errors.js' {
  interface DriverErrorCodes {
    s7: typeof S7_ERRORS;
  }
}

registerErrorCodes('s7', S7_ERRORS);
