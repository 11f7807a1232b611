/**
 * A ModbusTransport over a local serial port with the agent's own RTU framer
 * (RtuStreamTransport) instead of modbus-serial: used for `transport: rtu` lines with
 * `echoSuppression: true` (RS-485 adapters that echo every transmitted byte back to the
 * receiver). The framer drops an exact copy of the request before the response, skips
 * garbage and bad-CRC candidates, and matches the response to the request's unit,
 * function and length.
 *
 * The Line owns the link's life: a port error or close is reported through `onClose`
 * (the Line reconnects with its backoff); a failed open rejects with
 * EDGE_ERR_MODBUS_CONNECT.
 */
import { SerialPort } from 'serialport';
import type { Clock } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import { framerStatus } from './rtu/framer-status.js';
import { RtuStreamTransport, type StreamCounters } from './rtu/stream-transport.js';
import { eofSafeBinding } from './serial-binding.js';
import type { ModbusConnection, ModbusTransport } from './port.js';

export type RtuConnection = Extract<ModbusConnection, { transport: 'rtu' }>;

const CONNECT_TIMEOUT_MS = 5000;
const CLOSE_TIMEOUT_MS = 1000;

export class SerialStreamTransport implements ModbusTransport {
  private port: SerialPort | undefined;
  private readonly stream: RtuStreamTransport;
  private readonly closeListeners: Array<(err?: Error) => void> = [];

  constructor(
    private readonly connection: RtuConnection,
    private readonly clock: Clock,
  ) {
    const isOpen = (): boolean => this.isOpen;
    this.stream = new RtuStreamTransport({
      name: connection.path,
      label: `serial port ${connection.path}`,
      clock,
      echoSuppression: true,
      port: {
        get up(): boolean {
          return isOpen();
        },
        write: (data: Buffer) => this.write(data),
      },
    });
  }

  /** Framer counters: requests, responses, timeouts, echoes dropped, garbage, CRC errors. */
  get counters(): Readonly<StreamCounters> {
    return this.stream.counters;
  }

  get isOpen(): boolean {
    return this.port?.isOpen === true;
  }

  status(): Record<string, unknown> {
    return framerStatus(this.stream.counters);
  }

  onClose(listener: (err?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  async connect(): Promise<void> {
    await this.close();
    const conn = this.connection;
    // SerialPort's options type leaves the binding out, but its constructor takes one given.
    const options = {
      path: conn.path,
      baudRate: conn.baudRate,
      dataBits: conn.dataBits,
      parity: conn.parity,
      stopBits: conn.stopBits,
      autoOpen: false,
      binding: eofSafeBinding(),
    };
    const port = new SerialPort(options);
    this.port = port;
    let lastError: Error | undefined;
    let opened = false;
    port.on('error', (err: Error) => {
      lastError = err;
      if (opened && !port.isOpen) this.lost(port, err);
    });
    port.on('data', (chunk: Buffer) => {
      if (this.port === port) this.stream.data(chunk);
    });
    port.on('close', (err?: Error | null) => this.lost(port, err ?? lastError));

    let timer: { cancel(): void } | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve()))),
        new Promise<never>((_, reject) => {
          timer = this.clock.setTimeout(
            () =>
              reject(
                new EdgeError(
                  'EDGE_ERR_MODBUS_CONNECT',
                  `opening ${conn.path} timed out after ${CONNECT_TIMEOUT_MS} ms`,
                ),
              ),
            CONNECT_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (err) {
      if (this.port === port) this.port = undefined;
      await closePort(port);
      throw err instanceof EdgeError
        ? err
        : new EdgeError(
            'EDGE_ERR_MODBUS_CONNECT',
            `cannot open ${conn.path}: ${err instanceof Error ? err.message : String(err)}`,
            {
              cause: err,
              context: { path: conn.path },
            },
          );
    } finally {
      timer?.cancel();
    }
    if (this.port !== port) {
      // closed while opening
      await closePort(port);
      throw new EdgeError('EDGE_ERR_MODBUS_CONNECT', `${conn.path} was closed while opening`, {
        context: { path: conn.path },
      });
    }
    opened = true;
    this.stream.linkUp();
    await this.stream.connect();
  }

  readCoils(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]> {
    return this.guard() ?? this.stream.readCoils(unitId, address, length, timeoutMs);
  }

  readDiscreteInputs(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]> {
    return this.guard() ?? this.stream.readDiscreteInputs(unitId, address, length, timeoutMs);
  }

  readHolding(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]> {
    return this.guard() ?? this.stream.readHolding(unitId, address, length, timeoutMs);
  }

  readInput(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]> {
    return this.guard() ?? this.stream.readInput(unitId, address, length, timeoutMs);
  }

  discardInput(): number {
    return this.stream.discardInput();
  }

  onRx(listener: (bytes: number, awaited?: boolean) => void): void {
    this.stream.onRx(listener);
  }

  async close(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    this.stopStream();
    if (port) await closePort(port);
  }

  /** A closed port fails at once with the Line's link-error code (it then reconnects). */
  private guard(): Promise<never> | undefined {
    if (this.isOpen) return undefined;
    return Promise.reject(
      new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', `serial port ${this.connection.path} is not open`),
    );
  }

  private write(data: Buffer): void {
    const port = this.port;
    if (!port) throw new Error(`serial port ${this.connection.path} is not open`);
    port.write(data, (err) => {
      if (err) this.lost(port, err);
    });
  }

  /** The open port failed or closed: fail the request on the wire, tell the Line. */
  private lost(port: SerialPort, err?: Error): void {
    if (this.port !== port) return;
    this.port = undefined;
    this.stopStream();
    void closePort(port);
    for (const l of this.closeListeners) l(err);
  }

  /** Fails the pending request with EDGE_ERR_MODBUS_DISCONNECTED and stops the framer's timer. */
  private stopStream(): void {
    void this.stream.close();
    this.stream.dispose(); // nothing pending any more: only cancels the watchdog
  }
}

function closePort(port: SerialPort): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    try {
      if (port.isOpen) port.close(() => done());
      else done();
    } catch {
      done();
    }
  });
}
