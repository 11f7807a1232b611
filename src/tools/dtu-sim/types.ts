/**
 * The DTU simulator's contract: its options, its counters and the running simulator's
 * interface (simulator.ts implements it; tests, the CLI and the bench program against it).
 */
import type { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Clock } from '../../core/clock.js';
import { FAULT_KINDS, type DtuFaults, type FaultKind } from './faults.js';
import type { FramingMode } from './rtu-framer.js';

export type ByteSpec = Uint8Array | string;

export interface SerialOptions {
  path: string;
  baudRate?: number;
  dataBits?: 5 | 6 | 7 | 8;
  parity?: 'none' | 'even' | 'odd' | 'mark' | 'space';
  stopBits?: 1 | 1.5 | 2;
}

export interface DtuSimulatorOptions {
  /** Dial mode: the agent's DTU listener. Exactly one of `agent` / `listen`. */
  agent?: { host: string; port: number };
  /** Listen mode: the agent dials us. Port 0 picks a free port (see `address()`). */
  listen?: { port: number; host?: string };
  /** The serial side: a port to open, or an already open duplex stream (tests, custom buses). */
  serial: SerialOptions | { stream: Duplex };
  /** UDP mode: registration, heartbeats, requests and responses travel as datagrams (each write one
   *  datagram). Dial mode sends from a fresh source port on every (re-)dial: `redial()` is a NAT rebinding. */
  udp?: boolean;
  /** UDP dial mode: every N ms the association is dropped and re-dialled after `reconnectDelayMs`
   *  from a new source port (a NAT rebinding on a schedule; 0 / absent = never). */
  rebindEveryMs?: number;
  /** UDP DTUs that identify every heartbeat: the registration goes in front of each heartbeat datagram. */
  registrationWithHeartbeat?: boolean;
  /** Registration packet sent first on every connection. Byte spec (`ascii:DTU-0001`, `hex:..`) or bytes.
   *  Default in dial mode `ascii:DTU-0001`; in listen mode none. Empty / `none` = send nothing. */
  registration?: ByteSpec;
  /** Heartbeat packet (default `ascii:HB`). Empty / `none` = no heartbeats. */
  heartbeat?: ByteSpec;
  /** Heartbeat period in ms, first one one period after connecting (default 30000; 0 = off). */
  heartbeatIntervalMs?: number;
  /** Dial mode: pause before re-dialling after the link drops or a dial fails (default 1000). */
  reconnectDelayMs?: number;
  /** Response framing on the serial side (default 'rtu'). */
  framing?: FramingMode;
  /** Quiet gap that ends an unparsed frame (default 5 ms). */
  frameGapMs?: number;
  /** Faults in effect from the start. */
  faults?: DtuFaults;
  /** PRNG seed for the faults (default: random; see `seed` on the simulator). */
  seed?: number;
  /** Timers for heartbeats, re-dial pauses and the hold/delay faults (default the system clock).
   *  The serial frame gap stays on real time: it measures the bus, not a schedule. */
  clock?: Clock;
  /** Diagnostics. */
  log?: (level: 'info' | 'warn' | 'debug', message: string) => void;
}

export interface DtuSimulatorStats {
  /** Bytes received from the agent (all written to the serial port). */
  bytesFromAgent: number;
  /** Bytes written to the agent: registration, heartbeats, responses, garbage. */
  bytesToAgent: number;
  bytesToSerial: number;
  bytesFromSerial: number;
  /** Response frames read from the serial bus (parsed + gap-framed). */
  framesFromSerial: number;
  /** Of those, frames cut by the quiet gap rather than by RTU length + CRC. */
  framesByGap: number;
  /** Response frames written to the agent (faults may have altered them). */
  framesForwarded: number;
  /** Response frames not forwarded: no agent connected, silent, drop fault, link lost while queued. */
  framesDiscarded: number;
  /** Heartbeat packets written: by the timer and by the heartbeatMidFrame fault. */
  heartbeatsSent: number;
  registrationsSent: number;
  /** TCP connections established (dial mode: successful dials; listen mode: accepted). */
  connects: number;
  disconnects: number;
  /** Dial mode: failed dial attempts. */
  dialFailures: number;
  /** Times each fault was applied. */
  faults: Record<FaultKind, number>;
  connected: boolean;
}

export interface DtuSimulator extends EventEmitter {
  /** Stops everything: timers, TCP, listener, serial port. */
  close(): Promise<void>;
  /** Dial mode: drops the link and dials again at once; resolves once re-registered (UDP: from a new source port).
   *  Listen mode: drops the current agent connection; resolves once it is closed. */
  redial(): Promise<void>;
  stats(): DtuSimulatorStats;
  /** Replaces the fault set (omitted faults are off) and restarts the "every N" count. */
  setFaults(faults: DtuFaults): void;
  faults(): DtuFaults;
  /** Listen mode: the bound address. */
  address(): AddressInfo | undefined;
  /** The PRNG seed in use. */
  readonly seed: number;
}
// Events: 'connect' (remote: string), 'disconnect' (remote: string), 'frame' (frame: Buffer, parsed: boolean),
// 'serial-error' (err: Error), 'serial-close'.

export function emptyStats(): DtuSimulatorStats {
  return {
    bytesFromAgent: 0,
    bytesToAgent: 0,
    bytesToSerial: 0,
    bytesFromSerial: 0,
    framesFromSerial: 0,
    framesByGap: 0,
    framesForwarded: 0,
    framesDiscarded: 0,
    heartbeatsSent: 0,
    registrationsSent: 0,
    connects: 0,
    disconnects: 0,
    dialFailures: 0,
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
    connected: false,
  };
}
