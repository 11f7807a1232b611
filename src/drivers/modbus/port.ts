/**
 * The Promise-based port between a Line and the wire (ModbusTransport), and the requests a
 * Line sends through it. Its own module so the implementations (modbus-serial in
 * transport.ts, the agent's RTU stream framer in rtu/stream-transport.ts, the serial port
 * around it in serial-stream.ts, the DTU links) and the Line depend on it, not on each other.
 */
import type { Clock } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import type { ModbusDeviceConfig, ModbusFunction } from './config.js';
import type { WriteFunctionCode } from './write.js';

export interface LineRead {
  readonly unitId: number;
  readonly function: ModbusFunction;
  readonly address: number;
  readonly length: number;
  readonly timeoutMs: number;
}

/** One write (FC05/06/15/16): executed once, never retried by the line. */
export interface LineWrite {
  readonly kind: 'write';
  readonly unitId: number;
  readonly fc: WriteFunctionCode;
  readonly address: number;
  readonly values: readonly number[] | readonly boolean[];
  readonly timeoutMs: number;
}

export type LineRequest = LineRead | LineWrite;

/** The shape of a normal RTU answer: function code and data byte count (4 for a write's echo). */
export interface AnswerShape {
  readonly fc: number;
  readonly bytes: number;
}

export type ModbusConnection = ModbusDeviceConfig['connection'];

export interface ModbusTransport {
  /** Opens the link; rejects with an EdgeError EDGE_ERR_MODBUS_CONNECT. */
  connect(): Promise<void>;
  readCoils(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]>;
  readDiscreteInputs(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]>;
  readHolding(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]>;
  readInput(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]>;
  /**
   * One write: FC05 (one coil), FC06 (one register), FC15 (coils), FC16 (registers).
   * Optional: a transport without it is read-only (the device refuses writes up front).
   */
  writeValues?(
    unitId: number,
    fc: WriteFunctionCode,
    address: number,
    values: readonly number[] | readonly boolean[],
    timeoutMs: number,
  ): Promise<void>;
  /** Releases the link; safe to call twice or when never opened. */
  close(): Promise<void>;
  readonly isOpen: boolean;
  /** Called when an open link is lost (peer closed, port error). */
  onClose(listener: (err?: Error) => void): void;
  /**
   * RTU: drops bytes received but not consumed (late answers after a timeout, stale bytes
   * on a fresh link); returns how many it held (undefined: it cannot tell).
   */
  discardInput?(): number | undefined;
  /**
   * RTU: tells the Line about every received byte (heartbeats excepted), so it can keep
   * the link quiet after a timeout and count late answers. `awaited`: a request of the
   * transport was waiting for them (undefined: the transport cannot tell). `at`: the
   * monotonic time they arrived, when the transport read the clock already.
   */
  onRx?(listener: (bytes: number, awaited?: boolean, at?: number) => void): void;
  /**
   * DTU: the link itself is down (not registered / not connected): the error a read
   * gets, checked before the device's breaker; undefined while up.
   */
  linkDownError?(): EdgeError | undefined;
  /**
   * DTU: a request the Line did not send (the link's keepalive) timed out; its answer (of
   * `shape`) may still arrive: the Line keeps the link quiet as after its own timeouts and
   * fences the unit (fence.ts).
   */
  onTimeout?(listener: (unit: number, sentAt: number, timeoutMs: number, shape: AnswerShape) => void): void;
  /** DTU: a request the Line did not send failed without its answer (link lost): the unit is fenced. */
  onLost?(listener: (unit: number, shape: AnswerShape) => void): void;
  /** DTU: called each time the link comes up (registration, successful dial). */
  onLinkUp?(listener: () => void): void;
  /** Transport-specific counters for the line's status (e.g. the agent's RTU framer). */
  status?(): Record<string, unknown>;
}

/** One request of a Line on its transport: the data read, or [] for a write. */
export function sendRequest(
  t: ModbusTransport,
  lineKey: string,
  request: LineRequest,
): Promise<readonly number[] | readonly boolean[]> {
  if ('kind' in request) return sendWrite(t, lineKey, request);
  const { unitId, address, length, timeoutMs } = request;
  switch (request.function) {
    case 'coil':
      return t.readCoils(unitId, address, length, timeoutMs);
    case 'discrete':
      return t.readDiscreteInputs(unitId, address, length, timeoutMs);
    case 'holding':
      return t.readHolding(unitId, address, length, timeoutMs);
    case 'input':
      return t.readInput(unitId, address, length, timeoutMs);
  }
}

async function sendWrite(
  t: ModbusTransport,
  lineKey: string,
  request: LineWrite,
): Promise<readonly number[]> {
  if (!t.writeValues) throw new EdgeError('EDGE_ERR_CMD_UNSUPPORTED', `line ${lineKey} cannot carry writes`);
  await t.writeValues(request.unitId, request.fc, request.address, request.values, request.timeoutMs);
  return [];
}

/** Key of the physical link: one per serial path, one per TCP host:port, one per DTU link. */
export function lineKey(connection: ModbusConnection): string {
  switch (connection.transport) {
    case 'tcp':
      return `tcp:${connection.host}:${connection.port}`;
    case 'rtu':
      return `rtu:${connection.path}`;
    case 'dtu':
      return `dtu:${connection.dtu}`;
  }
}

export type TransportFactory = (connection: ModbusConnection, clock: Clock) => ModbusTransport;
