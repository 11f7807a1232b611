/**
 * The Promise-based port between a Line and the wire, and its implementation over
 * modbus-serial (connectTCP for tcp, connectRTUBuffered for rtu). One request at a time:
 * the Line guarantees it (modbus-serial has no request queue on RTU).
 */
import modbusSerial from 'modbus-serial';

// modbus-serial is CommonJS: module.exports is the client class, and `.default` points
// back at it (which is what its typings describe).
const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;
import { EdgeError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { ModbusDeviceConfig } from './config.js';
import { toModbusError } from './errors.js';
import { answerStart } from './rtu/frame.js';
import { SerialStreamTransport } from './serial-stream.js';
import type { LineRequest } from './line.js';
import type { WriteFunctionCode } from './write.js';

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
  /** RTU: drops bytes received but not consumed (late answers after a timeout). */
  discardInput?(): void;
  /**
   * RTU: tells the Line about every received byte (heartbeats excepted), so it can keep
   * the link quiet after a timeout and count late answers. `awaited`: a request of the
   * transport was waiting for them (undefined: the transport cannot tell).
   */
  onRx?(listener: (bytes: number, awaited?: boolean) => void): void;
  /**
   * DTU: the link itself is down (not registered / not connected): the error a read
   * gets, checked before the device's breaker; undefined while up.
   */
  linkDownError?(): EdgeError | undefined;
  /**
   * DTU: a request the Line did not send (the link's keepalive) timed out; its answer may
   * still arrive, and the Line keeps the link quiet as after its own timeouts.
   */
  onTimeout?(listener: (unit: number, sentAt: number, timeoutMs: number) => void): void;
  /** DTU: called each time the link comes up (registration, successful dial). */
  onLinkUp?(listener: () => void): void;
  /** Transport-specific counters for the line's status (e.g. the agent's RTU framer). */
  status?(): Record<string, unknown>;
}

/** One request of a Line on its transport: the data read, or [] for a write. */
export async function sendRequest(
  t: ModbusTransport,
  lineKey: string,
  request: LineRequest,
): Promise<readonly number[] | readonly boolean[]> {
  if ('kind' in request) {
    if (!t.writeValues)
      throw new EdgeError('EDGE_ERR_CMD_UNSUPPORTED', `line ${lineKey} cannot carry writes`);
    await t.writeValues(request.unitId, request.fc, request.address, request.values, request.timeoutMs);
    return [];
  }
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

export type TransportFactory = (connection: ModbusConnection, clock: Clock) => ModbusTransport;

const CONNECT_TIMEOUT_MS = 5000;

/** modbus-serial's RTU buffered port keeps unconsumed bytes in `_buffer`. */
interface BufferedPortInternals {
  _buffer?: Buffer;
  /** Unit and function of the request on the wire. */
  _id?: number;
  _cmd?: number;
}

/** The SerialPort inside modbus-serial's buffered RTU port (`_port._client`). */
interface SerialPortInternals {
  on(event: 'data', listener: (d: Buffer) => void): void;
}

export class ModbusSerialTransport implements ModbusTransport {
  private client: ModbusRTU | undefined;
  private readonly closeListeners: Array<(err?: Error) => void> = [];
  private readonly rxListeners: Array<(bytes: number, awaited?: boolean) => void> = [];
  private pendingReject: ((err: Error) => void) | undefined;

  constructor(
    private readonly connection: ModbusConnection,
    private readonly clock: Clock,
  ) {}

  get isOpen(): boolean {
    return this.client?.isOpen === true;
  }

  onClose(listener: (err?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  onRx(listener: (bytes: number, awaited?: boolean) => void): void {
    this.rxListeners.push(listener);
  }

  async connect(): Promise<void> {
    await this.close();
    const client = new ModbusRTU();
    this.client = client;
    let lastError: Error | undefined;
    client.on('error', (err: unknown) => {
      lastError = err instanceof Error ? err : new Error(String(err));
    });
    client.on('close', () => {
      if (this.client !== client) return;
      this.client = undefined;
      this.failPending(
        new EdgeError(
          'EDGE_ERR_MODBUS_DISCONNECTED',
          `link closed${lastError ? `: ${lastError.message}` : ''}`,
        ),
      );
      for (const l of this.closeListeners) l(lastError);
    });
    const conn = this.connection;
    if (conn.transport === 'dtu') {
      this.client = undefined;
      throw new EdgeError(
        'EDGE_ERR_MODBUS_CONNECT',
        `DTU link "${conn.dtu}" needs the DTU hub transport (deps.dtu)`,
      );
    }
    const opening =
      conn.transport === 'tcp'
        ? client.connectTCP(conn.host, { port: conn.port })
        : client.connectRTUBuffered(conn.path, {
            baudRate: conn.baudRate,
            dataBits: conn.dataBits,
            parity: conn.parity,
            stopBits: conn.stopBits,
          });
    let timer: { cancel(): void } | undefined;
    try {
      await Promise.race([
        opening,
        new Promise<never>((_, reject) => {
          timer = this.clock.setTimeout(
            () =>
              reject(
                new EdgeError('EDGE_ERR_MODBUS_CONNECT', `connect timed out after ${CONNECT_TIMEOUT_MS} ms`),
              ),
            CONNECT_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (err) {
      if (this.client === client) this.client = undefined;
      void this.dispose(client); // best effort: the connect error is what the caller needs
      throw toModbusError(err, 'connect');
    } finally {
      timer?.cancel();
    }
    // modbus-serial hides the serial port's bytes; the Line needs to see late ones
    const buffered = (
      client as unknown as { _port?: BufferedPortInternals & { _client?: SerialPortInternals } }
    )._port;
    const serial = buffered?._client;
    if (conn.transport === 'rtu' && buffered && typeof serial?.on === 'function') {
      // The buffered port emits one frame per chunk and keeps the rest: bytes after a frame
      // in the same chunk (the real answer behind a glued late one) were awaited by no request.
      let framed = false;
      (buffered as unknown as SerialPortInternals).on('data', () => (framed = true));
      serial.on('data', (d: Buffer) => {
        const rest = framed ? buffered._buffer : undefined;
        const from = rest ? answerStart(rest, buffered._id ?? -1, buffered._cmd ?? -1) : -1;
        const kept = rest && from >= 0 ? Math.min(d.length, rest.length - from) : 0;
        framed = false;
        if (this.client !== client) return;
        if (d.length > kept) for (const l of this.rxListeners) l(d.length - kept);
        if (kept > 0) for (const l of this.rxListeners) l(kept, false);
      });
    }
  }

  readCoils(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]> {
    return this.request(unitId, timeoutMs, (c) =>
      c.readCoils(address, length).then((r) => r.data.slice(0, length)),
    );
  }

  readDiscreteInputs(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]> {
    return this.request(unitId, timeoutMs, (c) =>
      c.readDiscreteInputs(address, length).then((r) => r.data.slice(0, length)),
    );
  }

  readHolding(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]> {
    return this.request(unitId, timeoutMs, (c) =>
      c.readHoldingRegisters(address, length).then((r) => r.data),
    );
  }

  readInput(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]> {
    return this.request(unitId, timeoutMs, (c) => c.readInputRegisters(address, length).then((r) => r.data));
  }

  writeValues(
    unitId: number,
    fc: WriteFunctionCode,
    address: number,
    values: readonly number[] | readonly boolean[],
    timeoutMs: number,
  ): Promise<void> {
    return this.request(unitId, timeoutMs, async (c) => {
      switch (fc) {
        case 5:
          await c.writeCoil(address, Boolean(values[0]));
          return;
        case 6:
          await c.writeRegister(address, Number(values[0]));
          return;
        case 15:
          await c.writeCoils(address, values.map(Boolean));
          return;
        case 16:
          await c.writeRegisters(address, values.map(Number));
          return;
      }
    });
  }

  discardInput(): void {
    const port = (this.client as unknown as { _port?: BufferedPortInternals } | undefined)?._port;
    if (port && Buffer.isBuffer(port._buffer)) port._buffer = Buffer.alloc(0);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.failPending(new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', 'link closed'));
    if (client) await this.dispose(client);
  }

  private dispose(client: ModbusRTU): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      try {
        if (this.connection.transport === 'tcp') client.destroy(done);
        else if (client.isOpen) client.close(done);
        else done();
      } catch {
        done();
      }
    });
  }

  private failPending(err: Error): void {
    const reject = this.pendingReject;
    this.pendingReject = undefined;
    reject?.(err);
  }

  private request<T>(unitId: number, timeoutMs: number, op: (c: ModbusRTU) => Promise<T>): Promise<T> {
    const client = this.client;
    if (!client || !client.isOpen) {
      return Promise.reject(new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', 'link is not open'));
    }
    client.setID(unitId);
    client.setTimeout(timeoutMs);
    // A lost link rejects the pending request at once (modbus-serial would only time out).
    return new Promise<T>((resolve, reject) => {
      this.pendingReject = reject;
      op(client).then(
        (value) => {
          if (this.pendingReject === reject) this.pendingReject = undefined;
          resolve(value);
        },
        (err: unknown) => {
          if (this.pendingReject === reject) this.pendingReject = undefined;
          reject(toModbusError(err, 'request'));
        },
      );
    });
  }
}

/**
 * rtu with echoSuppression: the agent's own RTU framer over the serial port (drops the
 * adapter's echo of each request); everything else: modbus-serial.
 */
export const defaultTransportFactory: TransportFactory = (connection, clock) =>
  connection.transport === 'rtu' && connection.echoSuppression
    ? new SerialStreamTransport(connection, clock)
    : new ModbusSerialTransport(connection, clock);
