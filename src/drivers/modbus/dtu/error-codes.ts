/**
 * The DTU links' error codes (Modbus RTU carried by DTUs): nature, one-line summary and the docs/errors.md paragraph of each code.
 * Part of the modbus driver's definition (`errors`); docs/errors.md's driver block is
 * generated from it. Importing this module registers the codes, so a module of the driver
 * used alone (a test) still gets their natures.
 */
import { registerErrorCodes, type ErrorCatalogue } from '../../../core/errors.js';

export const DTU_ERRORS = {
  EDGE_ERR_DTU_LINK_DOWN: {
    nature: 'retry',
    linkDown: true,
    summary: 'The DTU link of a Modbus device is not registered/connected',
    docs: "The device is configured with `connection: { transport: dtu, dtu: <link> }` and that DTU is not on line: a `server` link has not (re-)registered since its socket closed, or a `client` link is being re-dialled. Requests fail at once with this code (no timeout is waited), the device's tags are bad and the poller reports the device offline; it is back at the first poll after the DTU registers again (the devices' circuit breakers are reset when the link comes up, and a down link never charges them). A request that times out while the link's heartbeats are overdue also gets this code (\"silent for … ms\"): the DTU, not the slave, stopped talking. Check the DTU's power and cellular signal, its server address/port and registration packet, and `dtu` in status (`registered`, `disconnects`, `livenessCloses`, `lastHeartbeatAt`).",
  },
  EDGE_ERR_DTU_UNKNOWN_REGISTRATION: {
    nature: 'retry',
    summary: 'A DTU connected with a registration no link is configured for',
    docs: "The first bytes of a new connection on the DTU listener match no `dtu.links[].registration`; the socket is closed and the bytes are logged in hex (warn). Add a link with that registration (`ascii`, `hex` or `regex`), or fix the DTU's registration packet setting. Counted in the DTU server status (`unknownRegistrations`). A source address that sends more than `dtu.server.unknownRegistrationsPerMinute` of them is refused at accept for the rest of the minute (`rateLimited`, not logged one by one); refused registrations (`EDGE_ERR_DTU_SOURCE_REFUSED`) count towards the same limit.",
  },
  EDGE_ERR_DTU_SOURCE_REFUSED: {
    nature: 'retry',
    summary: 'A DTU connection was refused: source outside allowFrom, or a live link would be taken over',
    docs: "Either the peer address is outside `dtu.server.allowFrom` (closed at accept, counted in the server status `rejectedSource`) or outside the link's `allowFrom` (closed after its registration, link status `rejectedSource`), or it sent the registration of a link that is live — a byte within `heartbeatIntervalMs` — while `replaceLive` is off (link status `takeoverRefused`). The log line names the link, the new source and the current one. A registration string is no secret: a takeover attempt while the real DTU heart-beats is a spoofing attempt or two DTUs configured alike. A DTU whose old connection went silent gets back in once a heartbeat is overdue (silent for 1.5 heartbeat intervals; a heartbeat a few ms late is jitter, not a dead link).",
  },
  EDGE_ERR_DTU_REGISTRATION_TIMEOUT: {
    nature: 'retry',
    summary: 'A DTU connected but sent no registration in time',
    docs: 'No bytes (or too few to match) arrived within `dtu.server.registrationTimeoutMs` of the connection; the socket is closed and counted (`registrationTimeouts`). Usually a DTU with its registration packet disabled, or a port scanner. Enable the registration packet on the DTU ("register package" / "login packet") or raise the timeout.',
  },
  EDGE_ERR_DTU_LISTEN: {
    nature: 'fatal',
    summary: 'The DTU listener cannot bind its host and port',
    docs: '`dtu.server.host`/`port` is in use or not an address of this host, or the port is privileged. Choose another port or free it.',
  },
} as const satisfies ErrorCatalogue;

declare module '../../../core/errors.js' {
  interface DriverErrorCodes {
    dtu: typeof DTU_ERRORS;
  }
}

registerErrorCodes('modbus', DTU_ERRORS);
