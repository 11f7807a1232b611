/**
 * The transport of an RTU line as the family builds it: a stand-in that loads the real
 * serial transport (transport.ts over modbus-serial, or serial-stream.ts with echo
 * suppression) at its first connect() and hands every call to it. Those modules bring
 * modbus-serial and serialport with its native binding (about 1 MB of heap): a station whose
 * lines are all TCP or DTU never loads them. The family builds a line's transport
 * synchronously (TransportFactory; a reload attaches new devices the same way), and a line
 * connects asynchronously anyway, so connect() is where the load can wait.
 *
 * The Line reads a transport's capabilities from the methods it has (writeValues: the line
 * carries writes; status: its counters show in the line's status), so each real transport
 * has its stand-in with exactly its optional methods. A module that fails to load (the
 * native binding missing) fails connect() with EDGE_ERR_MODBUS_CONNECT, as a port that
 * cannot open does: the Line retries with its backoff.
 */
import type { Clock } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
// the codes this module names are registered there (their natures, link-down flags)
import './error-codes.js';
import type { ModbusConnection, ModbusTransport } from './port.js';
import { idleFramerStatus } from './rtu/framer-status.js';
import type { WriteFunctionCode } from './write.js';

export type SerialConnection = Exclude<ModbusConnection, { transport: 'tcp' }>;

/** Loads the real transport's module and builds it (tests pass one that fails). */
export type SerialLoader = (connection: SerialConnection, clock: Clock) => Promise<ModbusTransport>;

/** Whether the line uses the agent's RTU framer (serial-stream.ts) rather than modbus-serial. */
function framed(connection: SerialConnection): boolean {
  return connection.transport === 'rtu' && connection.echoSuppression;
}

export const loadSerialTransport: SerialLoader = async (connection, clock) =>
  connection.transport === 'rtu' && connection.echoSuppression
    ? new (await import('./serial-stream.js')).SerialStreamTransport(connection, clock)
    : new (await import('./transport.js')).ModbusSerialTransport(connection, clock);

/** The stand-in for the connection's serial transport; nothing loads until connect(). */
export function deferredSerialTransport(
  connection: SerialConnection,
  clock: Clock,
  load: SerialLoader = loadSerialTransport,
): ModbusTransport {
  return framed(connection)
    ? new DeferredSerialStream(connection, clock, load)
    : new DeferredModbusSerial(connection, clock, load);
}

abstract class DeferredSerialTransport implements ModbusTransport {
  /** The real transport, once its module loaded. */
  protected inner: ModbusTransport | undefined;
  private loading: Promise<ModbusTransport> | undefined;
  /** close() calls so far: a connect that began before one does not open the port. */
  private closes = 0;
  private readonly closeListeners: Array<(err?: Error) => void> = [];
  private readonly rxListeners: Array<(bytes: number, awaited?: boolean, at?: number) => void> = [];

  constructor(
    private readonly connection: SerialConnection,
    private readonly clock: Clock,
    private readonly load: SerialLoader,
  ) {}

  get isOpen(): boolean {
    return this.inner?.isOpen === true;
  }

  // The Line registers its listeners when it is built, before anything loaded.
  onClose(listener: (err?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  onRx(listener: (bytes: number, awaited?: boolean, at?: number) => void): void {
    this.rxListeners.push(listener);
  }

  async connect(): Promise<void> {
    const closes = this.closes;
    const inner = this.inner ?? (await this.loadInner());
    // A close() while the module loaded (the agent stopping) wins: opening the port now
    // would leave it open behind a closed line.
    if (closes !== this.closes)
      throw new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', `${this.label()} was closed`);
    await inner.connect();
  }

  readCoils(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]> {
    return this.inner?.readCoils(unitId, address, length, timeoutMs) ?? this.notOpen();
  }

  readDiscreteInputs(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]> {
    return this.inner?.readDiscreteInputs(unitId, address, length, timeoutMs) ?? this.notOpen();
  }

  readHolding(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]> {
    return this.inner?.readHolding(unitId, address, length, timeoutMs) ?? this.notOpen();
  }

  readInput(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]> {
    return this.inner?.readInput(unitId, address, length, timeoutMs) ?? this.notOpen();
  }

  close(): Promise<void> {
    this.closes++;
    return this.inner?.close() ?? Promise.resolve();
  }

  protected notOpen(): Promise<never> {
    return Promise.reject(new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', `${this.label()} is not open`));
  }

  /** One load however many connects wait on it; a failed one is tried again at the next connect. */
  private loadInner(): Promise<ModbusTransport> {
    this.loading ??= this.load(this.connection, this.clock).then(
      (inner) => {
        inner.onClose((err) => {
          for (const l of this.closeListeners) l(err);
        });
        inner.onRx?.((...rx) => {
          for (const l of this.rxListeners) l(...rx);
        });
        this.inner = inner;
        return inner;
      },
      (err: unknown) => {
        this.loading = undefined;
        throw new EdgeError(
          'EDGE_ERR_MODBUS_CONNECT',
          `cannot load the serial transport of ${this.label()}: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err, context: this.connection.transport === 'rtu' ? { path: this.connection.path } : {} },
        );
      },
    );
    return this.loading;
  }

  private label(): string {
    const c = this.connection;
    return c.transport === 'rtu' ? `serial port ${c.path}` : `DTU link "${c.dtu}"`;
  }
}

/** Stands in for ModbusSerialTransport (modbus-serial): carries writes, no status of its own. */
class DeferredModbusSerial extends DeferredSerialTransport {
  writeValues(
    unitId: number,
    fc: WriteFunctionCode,
    address: number,
    values: readonly number[] | readonly boolean[],
    timeoutMs: number,
  ): Promise<void> {
    return this.inner?.writeValues?.(unitId, fc, address, values, timeoutMs) ?? this.notOpen();
  }

  discardInput(): number | undefined {
    return this.inner?.discardInput?.();
  }
}

/** Stands in for SerialStreamTransport (the agent's framer): no writes yet, framer counters. */
class DeferredSerialStream extends DeferredSerialTransport {
  discardInput(): number | undefined {
    // a framer not yet built holds no byte
    return this.inner ? this.inner.discardInput?.() : 0;
  }

  status(): Record<string, unknown> {
    return this.inner?.status?.() ?? idleFramerStatus();
  }
}
