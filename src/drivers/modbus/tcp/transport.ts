/**
 * The agent's own Modbus TCP client behind the ModbusTransport port (port.ts): MBAP framing
 * (mbap.ts), answers matched to requests by transaction id — an answer whose id no
 * request waits for (the late answer to a timed-out request, a duplicate) is discarded
 * and counted, never taken — and checked for unit, function and byte count. One request
 * outstanding per connection unless `maxInFlight` allows more; timeouts on the injected
 * clock with one lazily re-armed timer, so back-to-back requests cost no timer operations.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { Clock, TimerHandle } from '../../../core/clock.js';
import { DeadlineTimer } from '../../../core/deadline-timer.js';
import { EdgeError } from '../../../core/errors.js';
import { exceptionErrorCode, toModbusError } from '../errors.js';
import type { ModbusTransport } from '../port.js';
import type { WriteFunctionCode } from '../write.js';
import {
  decodeAnswer,
  MbapSplitter,
  readRequest,
  transactionId,
  writeRequest,
  type ReadFunctionCode,
  type TcpAnswer,
  type TcpExpectation,
} from './mbap.js';

const CONNECT_TIMEOUT_MS = 5000;

/** The socket side of the client: a connected byte stream (net.Socket, or a test's fake). */
export interface TcpSocketPort {
  write(data: Buffer): void;
  destroy(): void;
  /** The one listener of the received bytes; a chunk is valid during the call only (a reused buffer). */
  onData(listener: (chunk: Buffer) => void): void;
  /** Called once when the stream is gone, with the error that ended it if any. */
  onClose(listener: (err?: Error) => void): void;
}

export type TcpDialer = (host: string, port: number) => Promise<TcpSocketPort>;

export interface TcpTransportOptions {
  readonly host: string;
  readonly port: number;
  readonly clock: Clock;
  /** Requests outstanding at once on the connection (default 1; the device must allow more). */
  readonly maxInFlight?: number;
  /** Opens the stream; default: a TCP connection (net.connect, no Nagle). */
  readonly dial?: TcpDialer;
}

export interface TcpClientCounters {
  requests: number;
  responses: number;
  exceptions: number;
  timeouts: number;
  /** Answers whose transaction id no request waited for: discarded. */
  staleAnswers: number;
  /** Answers with the right id that did not fit the request (unit, function, byte count). */
  badAnswers: number;
  /** Streams out of step (MBAP protocol id or length impossible): connection dropped. */
  framingErrors: number;
}

type Settled = number[] | boolean[] | undefined;

/** One request: queued, then outstanding with its transaction id. */
class Pending {
  tid = -1;
  deadline = 0;

  constructor(
    readonly request: Buffer,
    readonly expectation: TcpExpectation,
    readonly timeoutMs: number,
    readonly resolve: (data: Settled) => void,
    readonly reject: (err: Error) => void,
  ) {}
}

function disconnected(message: string): EdgeError {
  return new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', message);
}

export class ModbusTcpTransport implements ModbusTransport {
  readonly counters: TcpClientCounters = {
    requests: 0,
    responses: 0,
    exceptions: 0,
    timeouts: 0,
    staleAnswers: 0,
    badAnswers: 0,
    framingErrors: 0,
  };
  private socket: TcpSocketPort | undefined;
  private readonly splitter = new MbapSplitter();
  private readonly outstanding: Pending[] = [];
  private readonly waiting: Pending[] = [];
  private readonly closeListeners: Array<(err?: Error) => void> = [];
  private readonly maxInFlight: number;
  private nextTid = 0;
  private readonly watchdog: DeadlineTimer;

  constructor(private readonly opts: TcpTransportOptions) {
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 1);
    this.watchdog = new DeadlineTimer(opts.clock, () => this.onWatchdog());
  }

  get isOpen(): boolean {
    return this.socket !== undefined;
  }

  onClose(listener: (err?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  status(): Record<string, unknown> {
    return { client: 'edge-agent', ...this.counters };
  }

  async connect(): Promise<void> {
    await this.close();
    const { host, port, clock } = this.opts;
    let timer: TimerHandle | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = clock.setTimeout(
        () =>
          reject(
            new EdgeError('EDGE_ERR_MODBUS_CONNECT', `connect timed out after ${CONNECT_TIMEOUT_MS} ms`),
          ),
        CONNECT_TIMEOUT_MS,
      );
    });
    const dialing = (this.opts.dial ?? dialTcp)(host, port);
    let socket: TcpSocketPort;
    try {
      socket = await Promise.race([dialing, timeout]);
    } catch (err) {
      void dialing.then(
        (s) => s.destroy(),
        () => undefined,
      ); // a dial that succeeds after the timeout
      throw toModbusError(err, 'connect');
    } finally {
      timer?.cancel();
    }
    this.splitter.reset();
    this.socket = socket;
    socket.onData((chunk) => {
      if (this.socket === socket) this.received(chunk);
    });
    socket.onClose((err) => {
      if (this.socket !== socket) return; // closed by us
      this.socket = undefined;
      this.failAll(disconnected(`link closed${err ? `: ${err.message}` : ''}`));
      for (const l of this.closeListeners) l(err);
    });
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    this.failAll(disconnected('link closed'));
    socket?.destroy();
  }

  readCoils(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]> {
    return this.read(unitId, 1, address, length, timeoutMs) as Promise<boolean[]>;
  }

  readDiscreteInputs(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]> {
    return this.read(unitId, 2, address, length, timeoutMs) as Promise<boolean[]>;
  }

  readHolding(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]> {
    return this.read(unitId, 3, address, length, timeoutMs) as Promise<number[]>;
  }

  readInput(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]> {
    return this.read(unitId, 4, address, length, timeoutMs) as Promise<number[]>;
  }

  async writeValues(
    unitId: number,
    fc: WriteFunctionCode,
    address: number,
    values: readonly number[] | readonly boolean[],
    timeoutMs: number,
  ): Promise<void> {
    let request: Buffer;
    try {
      request = writeRequest(0, unitId, fc, address, values);
    } catch (err) {
      throw new EdgeError('EDGE_ERR_CMD_BAD_VALUE', `FC${fc}: ${(err as Error).message}`, {
        context: { sent: false },
      });
    }
    const single = fc === 5 || fc === 6;
    const echoValue = fc === 5 ? (values[0] ? 0xff00 : 0) : Number(values[0]) & 0xffff;
    const e: TcpExpectation = single
      ? { unit: unitId, fn: fc, address, count: 1, echoValue }
      : { unit: unitId, fn: fc, address, count: values.length };
    await this.submit(request, e, timeoutMs);
  }

  private read(
    unit: number,
    fn: ReadFunctionCode,
    address: number,
    count: number,
    timeoutMs: number,
  ): Promise<Settled> {
    let request: Buffer;
    try {
      request = readRequest(0, unit, fn, address, count);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return this.submit(request, { unit, fn, address, count }, timeoutMs);
  }

  private submit(request: Buffer, e: TcpExpectation, timeoutMs: number): Promise<Settled> {
    if (!this.socket) return Promise.reject(disconnected('link is not open'));
    return new Promise<Settled>((resolve, reject) => {
      const p = new Pending(request, e, timeoutMs, resolve, reject);
      if (this.outstanding.length < this.maxInFlight) this.send(p);
      else this.waiting.push(p);
    });
  }

  private send(p: Pending): void {
    const socket = this.socket;
    if (!socket) return p.reject(disconnected('link is not open'));
    const tid = this.takeTid();
    p.tid = tid;
    p.request[0] = tid >> 8;
    p.request[1] = tid & 0xff;
    p.deadline = this.opts.clock.monotonic() + p.timeoutMs;
    this.outstanding.push(p);
    this.watchdog.arm(p.deadline);
    this.counters.requests++;
    socket.write(p.request);
  }

  /** The next transaction id no outstanding request holds. */
  private takeTid(): number {
    for (;;) {
      const tid = this.nextTid;
      this.nextTid = (tid + 1) & 0xffff;
      if (this.indexOfTid(tid) < 0) return tid;
    }
  }

  /** Position of the outstanding request with this id, or -1 (a loop: no closure per answer). */
  private indexOfTid(tid: number): number {
    const list = this.outstanding;
    for (let i = 0; i < list.length; i++) if (list[i]!.tid === tid) return i;
    return -1;
  }

  private received(chunk: Buffer): void {
    const lost = this.splitter.push(chunk, this.onAdu);
    if (lost === undefined) return;
    this.counters.framingErrors++;
    const socket = this.socket;
    this.socket = undefined;
    const err = new EdgeError('EDGE_ERR_MODBUS_BAD_RESPONSE', `stream out of step (${lost}); reconnecting`);
    this.failAll(err);
    socket?.destroy();
    for (const l of this.closeListeners) l(err);
  }

  private readonly onAdu = (adu: Buffer): void => {
    const tid = transactionId(adu);
    const i = this.indexOfTid(tid);
    if (i < 0) {
      this.counters.staleAnswers++;
      return;
    }
    const p = this.outstanding[i]!;
    if (this.outstanding.length === 1) this.outstanding.pop();
    else this.outstanding.splice(i, 1);
    this.counters.responses++;
    this.settle(p, decodeAnswer(adu, p.expectation));
    this.sendWaiting();
  };

  private settle(p: Pending, answer: TcpAnswer): void {
    const unit = p.expectation.unit;
    switch (answer.kind) {
      case 'read':
        return p.resolve(answer.data);
      case 'written':
        return p.resolve(undefined);
      case 'exception':
        this.counters.exceptions++;
        return p.reject(
          new EdgeError(
            exceptionErrorCode(answer.code),
            `Modbus exception ${answer.code} from unit ${unit}`,
            {
              context: { unit, modbusCode: answer.code },
            },
          ),
        );
      case 'bad':
        this.counters.badAnswers++;
        return p.reject(new EdgeError('EDGE_ERR_MODBUS_BAD_RESPONSE', answer.why, { context: { unit } }));
    }
  }

  private sendWaiting(): void {
    while (this.waiting.length > 0 && this.outstanding.length < this.maxInFlight)
      this.send(this.waiting.shift()!);
  }

  /** Fails the requests whose deadline passed; their ids are retired, so late answers are stale. */
  private onWatchdog(): void {
    const now = this.opts.clock.monotonic();
    let next = Infinity;
    for (let i = 0; i < this.outstanding.length;) {
      const p = this.outstanding[i]!;
      if (p.deadline > now) {
        next = Math.min(next, p.deadline);
        i++;
        continue;
      }
      this.outstanding.splice(i, 1);
      this.counters.timeouts++;
      const unit = p.expectation.unit;
      p.reject(
        new EdgeError('EDGE_ERR_MODBUS_TIMEOUT', `no response from unit ${unit} within ${p.timeoutMs} ms`, {
          context: { unit, transactionId: p.tid },
        }),
      );
    }
    if (next < Infinity) this.watchdog.arm(next);
    this.sendWaiting();
  }

  private failAll(err: EdgeError): void {
    const all = [...this.outstanding, ...this.waiting];
    this.outstanding.length = 0;
    this.waiting.length = 0;
    this.splitter.reset();
    this.watchdog.cancel();
    for (const p of all) p.reject(err);
  }
}

/**
 * One read buffer for every Modbus TCP connection: without `onread` Node allocates (and
 * zero-fills) 64 KiB for each read of each socket, which glibc serves by mmap and munmap
 * when an operator fixes its mmap threshold (README, "Where the RSS lives"). A chunk is
 * only valid during the listener: the MBAP splitter decodes ADUs at once and copies
 * a partial tail (mbap.ts), so sharing it between sockets on the one event loop is safe.
 */
let readBuffer: Buffer | undefined;
const READ_BUFFER_BYTES = 16 * 1024;

/** A TCP connection without Nagle's delay (one small request per round trip). */
export function dialTcp(host: string, port: number): Promise<TcpSocketPort> {
  return new Promise((resolve, reject) => {
    let onData: (chunk: Buffer) => void = () => undefined;
    const buffer = (readBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES));
    const socket: Socket = netConnect({
      host,
      port,
      onread: {
        buffer,
        callback: (bytes) => {
          onData(buffer.subarray(0, bytes));
          return true;
        },
      },
    });
    let lastError: Error | undefined;
    const failed = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.once('error', failed);
    socket.once('connect', () => {
      socket.off('error', failed);
      socket.setNoDelay(true);
      socket.on('error', (err) => (lastError = err));
      resolve({
        write: (data) => void socket.write(data),
        destroy: () => socket.destroy(),
        onData: (listener) => (onData = listener),
        onClose: (listener) => socket.once('close', () => listener(lastError)),
      });
    });
  });
}
