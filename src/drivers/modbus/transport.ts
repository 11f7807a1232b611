/**
 * The ModbusTransport (port.ts) over
 * modbus-serial (connectRTUBuffered for rtu; connectTCP for tcp, which the driver now reads
 * with its own client in tcp/transport.ts: this one stays the benchmark's baseline). One request at a time:
 * the Line guarantees it (modbus-serial has no request queue on RTU). The driver loads this
 * module only when an RTU line first connects (serial-deferred.ts): modbus-serial brings
 * serialport and its native binding, which a TCP-only station does not need.
 */
import modbusSerial from 'modbus-serial';

// modbus-serial is CommonJS: module.exports is the client class, and `.default` points
// back at it (which is what its typings describe).
const ModbusRTU = modbusSerial.default;
type ModbusRTU = InstanceType<typeof ModbusRTU>;
import { EdgeError } from '../../core/errors.js';
import { toModbusError } from './errors.js';
import type { Clock } from '../../core/clock.js';
import type { ModbusConnection, ModbusTransport } from './port.js';
import { answerStart } from './rtu/frame.js';
import { eofSafeBinding } from './serial-binding.js';
import type { WriteFunctionCode } from './write.js';

// the port's types, for imports written before port.ts existed
export type { ModbusConnection, ModbusTransport, TransportFactory } from './port.js';

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
        : client.connectRTUBuffered(conn.path, serialOptions(conn));
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

  // The callback API (writeFCn): modbus-serial's promise API wraps it in a promise and a
  // bound function per call, on top of the one promise a request needs here.
  readCoils(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]> {
    return this.request(timeoutMs, (c, done) =>
      c.writeFC1(unitId, address, length, (err, r) => done(err, r && r.data.slice(0, length))),
    );
  }

  readDiscreteInputs(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]> {
    return this.request(timeoutMs, (c, done) =>
      c.writeFC2(unitId, address, length, (err, r) => done(err, r && r.data.slice(0, length))),
    );
  }

  readHolding(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]> {
    return this.request(timeoutMs, (c, done) =>
      c.writeFC3(unitId, address, length, (err, r) => done(err, r?.data)),
    );
  }

  readInput(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]> {
    return this.request(timeoutMs, (c, done) =>
      c.writeFC4(unitId, address, length, (err, r) => done(err, r?.data)),
    );
  }

  writeValues(
    unitId: number,
    fc: WriteFunctionCode,
    address: number,
    values: readonly number[] | readonly boolean[],
    timeoutMs: number,
  ): Promise<void> {
    return this.request<void>(timeoutMs, (c, done) => {
      const written = (err: Error | null): void => done(err, undefined);
      switch (fc) {
        case 5:
          return c.writeFC5(unitId, address, Boolean(values[0]), written);
        case 6:
          return c.writeFC6(unitId, address, Number(values[0]), written);
        case 15:
          return c.writeFC15(unitId, address, values.map(Boolean), written);
        case 16:
          return c.writeFC16(unitId, address, values.map(Number), written);
      }
    });
  }

  discardInput(): number | undefined {
    const port = (this.client as unknown as { _port?: BufferedPortInternals } | undefined)?._port;
    if (!port || !Buffer.isBuffer(port._buffer)) return undefined;
    const held = port._buffer.length;
    port._buffer = Buffer.alloc(0);
    return held;
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

  private request<T>(
    timeoutMs: number,
    send: (c: ModbusRTU, done: (err: Error | null, value: T | undefined) => void) => void,
  ): Promise<T> {
    const client = this.client;
    if (!client || !client.isOpen) {
      return Promise.reject(new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', 'link is not open'));
    }
    client.setTimeout(timeoutMs);
    // A lost link rejects the pending request at once (modbus-serial would only time out).
    return new Promise<T>((resolve, reject) => {
      this.pendingReject = reject;
      send(client, (err, value) => {
        if (this.pendingReject === reject) this.pendingReject = undefined;
        if (err) reject(toModbusError(err, 'request'));
        else resolve(value as T);
      });
    });
  }
}

/** modbus-serial hands these to serialport as they are: its binding ends a port whose device went away. */
function serialOptions(conn: Extract<ModbusConnection, { transport: 'rtu' }>) {
  return {
    baudRate: conn.baudRate,
    dataBits: conn.dataBits,
    parity: conn.parity,
    stopBits: conn.stopBits,
    binding: eofSafeBinding(),
  };
}
