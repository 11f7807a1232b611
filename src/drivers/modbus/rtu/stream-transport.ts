/**
 * A ModbusTransport over a byte stream carrying RTU frames: a DTU link's socket, or a
 * local serial port (serial-stream.ts) when echo suppression needs the agent's own framer.
 * One request on the wire at a time (the Modbus Line already serialises its devices; the
 * link's keepalive waits behind them in a queue). Finding the answer in the received bytes
 * (heartbeats, echoes, garbage) is stream-receiver.ts; this module owns the transactions:
 * the queue, the one watchdog timer, the counters and the listeners.
 */
import type { Clock } from '../../../core/clock.js';
import { DeadlineTimer } from '../../../core/deadline-timer.js';
import { EdgeError } from '../../../core/errors.js';
import { exceptionErrorCode } from '../errors.js';
import type { AnswerShape, ModbusTransport } from '../port.js';
import {
  frameBits,
  frameRegisters,
  responseByteCount,
  type Expectation,
  type ReadFunctionCode,
  type RtuFrame,
} from './frame.js';
import { ReadRequests } from './request-cache.js';
import { StreamReceiver, type StreamCounters } from './stream-receiver.js';

export type { StreamCounters } from './stream-receiver.js';

/** The link side a stream transport writes to. */
export interface StreamPort {
  /** The link is connected (client) or registered (server). */
  readonly up: boolean;
  write(data: Buffer): void;
  /**
   * Why the link counts as silent now (its heartbeats are overdue: the DTU, not the
   * slave, is not talking), else undefined. A request timing out then fails with
   * EDGE_ERR_DTU_LINK_DOWN, which does not charge the device's breaker.
   */
  silence?(): string | undefined;
}

export interface SlaveLatency {
  lastMs: number;
  avgMs: number;
  count: number;
}

export interface RtuStreamTransportOptions {
  /** Link name, for messages. */
  readonly name: string;
  readonly clock: Clock;
  readonly port: StreamPort;
  readonly heartbeat?: Buffer;
  readonly echoSuppression?: boolean;
  /** How messages name the link; default `DTU link <name>` (a serial port uses its own). */
  readonly label?: string;
}

/** What a read resolves with: registers (FC03/04) or bits (FC01/02). */
type ReadData = number[] | boolean[];

/** One read: queued, then on the wire (one class, so every transaction has the same shape). */
class Pending {
  /** Monotonic time the request was written, and the deadline of its response. */
  started = 0;
  deadline = 0;
  /** The request as written (echo suppression compares the echo with it). */
  readonly expectation: Expectation;

  constructor(
    readonly request: Buffer,
    readonly resolve: (data: ReadData) => void,
    readonly reject: (err: Error) => void,
    readonly unit: number,
    readonly fn: ReadFunctionCode,
    readonly count: number,
    readonly timeoutMs: number,
    /** Sent by the link itself (keepalive), not by the Line. */
    readonly internal: boolean,
    echo: boolean,
  ) {
    this.expectation = echo ? { unit, fn, count, echo: request } : { unit, fn, count };
  }
}

function shapeOf(p: Pending): AnswerShape {
  return { fc: p.fn, bytes: responseByteCount(p.fn, p.count) };
}

function dtuLinkDown(name: string, why: string): EdgeError {
  return new EdgeError('EDGE_ERR_DTU_LINK_DOWN', `DTU link ${name} is down (${why})`, {
    context: { dtu: name },
  });
}

export class RtuStreamTransport implements ModbusTransport {
  readonly counters: StreamCounters = {
    requests: 0,
    responses: 0,
    exceptions: 0,
    timeouts: 0,
    crcErrors: 0,
    garbageBytes: 0,
    echoes: 0,
    heartbeats: 0,
    lastHeartbeatAt: undefined,
    rawMatches: 0,
    subsetMatches: 0,
    linkDownFailures: 0,
  };
  readonly latency = new Map<number, SlaveLatency>();
  private readonly receiver: StreamReceiver;
  private pending: Pending | undefined;
  /** Requests waiting for the one on the wire. */
  private readonly waiting: Pending[] = [];
  private readonly requests = new ReadRequests();
  private opened = false;
  private readonly closeListeners: Array<(err?: Error) => void> = [];
  private readonly rxListeners: Array<(bytes: number, awaited: boolean, at: number) => void> = [];
  private readonly linkUpListeners: Array<() => void> = [];
  private readonly timeoutListeners: Array<
    (unit: number, sentAt: number, timeoutMs: number, shape: AnswerShape) => void
  > = [];
  private readonly lostListeners: Array<(unit: number, shape: AnswerShape) => void> = [];
  /** Monotonic time of the last request written. */
  lastRequestAt = -Infinity;
  /**
   * One timeout timer, re-armed lazily: a response does not cancel it; when it fires it
   * fails the request on the wire if that one's deadline passed, else re-arms for it.
   * Back-to-back requests thus cost no timer operations each.
   */
  private readonly watchdog: DeadlineTimer;

  constructor(private readonly opts: RtuStreamTransportOptions) {
    this.receiver = new StreamReceiver(this.counters, opts.clock, opts.heartbeat);
    this.watchdog = new DeadlineTimer(opts.clock, () => this.onWatchdog());
  }

  get isOpen(): boolean {
    return this.opened;
  }

  private get label(): string {
    return this.opts.label ?? `DTU link ${this.opts.name}`;
  }

  /** A request is on the wire or waiting. */
  get busy(): boolean {
    return this.pending !== undefined || this.waiting.length > 0;
  }

  /**
   * Attaches the Line. Always succeeds: the DTU link comes and goes on its own (the hub
   * owns it); while it is down requests fail at once with EDGE_ERR_DTU_LINK_DOWN.
   */
  async connect(): Promise<void> {
    this.opened = true;
  }

  async close(): Promise<void> {
    this.opened = false;
    this.failPending(new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', `${this.label}: transport closed`));
  }

  /** Never called by the DTU transport: a lost link is not the Line's to reconnect. */
  onClose(listener: (err?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  /** Late bytes the Line discards are counted by it as late answers, not as garbage. */
  discardInput(): number {
    return this.receiver.discard();
  }

  onRx(listener: (bytes: number, awaited?: boolean, at?: number) => void): void {
    this.rxListeners.push(listener);
  }

  linkDownError(): EdgeError | undefined {
    return this.opts.port.up ? undefined : dtuLinkDown(this.opts.name, 'not registered/connected');
  }

  onTimeout(listener: (unit: number, sentAt: number, timeoutMs: number, shape: AnswerShape) => void): void {
    this.timeoutListeners.push(listener);
  }

  onLost(listener: (unit: number, shape: AnswerShape) => void): void {
    this.lostListeners.push(listener);
  }

  onLinkUp(listener: () => void): void {
    this.linkUpListeners.push(listener);
  }

  readCoils(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]> {
    return this.read(unitId, 1, address, length, timeoutMs, false) as Promise<boolean[]>;
  }

  readDiscreteInputs(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]> {
    return this.read(unitId, 2, address, length, timeoutMs, false) as Promise<boolean[]>;
  }

  readHolding(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]> {
    return this.read(unitId, 3, address, length, timeoutMs, false) as Promise<number[]>;
  }

  readInput(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]> {
    return this.read(unitId, 4, address, length, timeoutMs, false) as Promise<number[]>;
  }

  /** A link-internal read (keepalive) that does not need the Line attached. */
  keepalive(unitId: number, address: number, timeoutMs: number): Promise<number[]> {
    return this.read(unitId, 3, address, 1, timeoutMs, true) as Promise<number[]>;
  }

  // --- link side -----------------------------------------------------------------

  /** The link came up (registered or connected): a fresh stream. */
  linkUp(): void {
    this.receiver.restart();
    for (const l of this.linkUpListeners) l();
  }

  /** The link went down: the request on the wire fails with EDGE_ERR_DTU_LINK_DOWN. */
  linkDown(why: string): void {
    this.failPending(dtuLinkDown(this.opts.name, why));
    this.receiver.end(false);
  }

  /**
   * Bytes received on the link (heartbeats included); `at`: the monotonic time they
   * arrived (the link reads the clock for its liveness already).
   */
  data(chunk: Buffer, at = this.opts.clock.monotonic()): void {
    const p = this.pending;
    const { frame, awaited, trailing } = this.receiver.feed(chunk, p !== undefined);
    // Bytes after the matched frame were awaited by no request: when the frame was a late
    // answer glued in front of the real one, the Line must see the real one arrive late.
    if (awaited > 0) for (const l of this.rxListeners) l(awaited, p !== undefined, at);
    if (trailing > 0) for (const l of this.rxListeners) l(trailing, false, at);
    if (!frame || !p) return;
    this.finish(p);
    const ms = at - p.started;
    const l = this.latency.get(p.unit);
    if (l) {
      l.count++;
      l.lastMs = ms;
      l.avgMs += (ms - l.avgMs) / l.count;
    } else this.latency.set(p.unit, { lastMs: ms, avgMs: ms, count: 1 });
    this.counters.responses++;
    this.settle(p, frame);
  }

  /** The answer's data as the read returns it, or its exception as the EdgeError. */
  private settle(p: Pending, frame: RtuFrame): void {
    if (frame.kind === 'exception') {
      this.counters.exceptions++;
      p.reject(
        new EdgeError(exceptionErrorCode(frame.code), `Modbus exception ${frame.code} from unit ${p.unit}`, {
          context: { dtu: this.opts.name, unit: p.unit, modbusCode: frame.code },
        }),
      );
      return;
    }
    p.resolve(p.fn <= 2 ? frameBits(frame.data, p.count) : frameRegisters(frame.data, p.count));
  }

  // --- requests -----------------------------------------------------------------

  private read(
    unit: number,
    fn: ReadFunctionCode,
    address: number,
    count: number,
    timeoutMs: number,
    internal: boolean,
  ): Promise<ReadData> {
    if (!internal && !this.opened) {
      return Promise.reject(
        new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', `${this.label}: transport not open`),
      );
    }
    if (!this.opts.port.up) {
      this.counters.linkDownFailures++;
      return Promise.reject(dtuLinkDown(this.opts.name, 'not registered/connected'));
    }
    const request = this.requests.get(unit, fn, address, count);
    const echo = this.opts.echoSuppression === true;
    return new Promise<ReadData>((resolve, reject) => {
      const p = new Pending(request, resolve, reject, unit, fn, count, timeoutMs, internal, echo);
      if (!this.pending && this.waiting.length === 0) this.perform(p);
      else this.waiting.push(p);
    });
  }

  private perform(p: Pending): void {
    if (!this.opts.port.up) {
      this.counters.linkDownFailures++;
      p.reject(dtuLinkDown(this.opts.name, 'not registered/connected'));
      this.next();
      return;
    }
    if (this.pending) {
      // cannot happen: requests wait in `waiting`; kept as an assertion
      p.reject(new EdgeError('EDGE_ERR_MODBUS_BAD_RESPONSE', `${this.label}: two requests in flight`));
      return;
    }
    this.receiver.expect(p.expectation);
    const started = this.opts.clock.monotonic();
    p.started = started;
    p.deadline = started + p.timeoutMs;
    this.pending = p;
    this.watchdog.arm(p.deadline);
    this.counters.requests++;
    this.lastRequestAt = started;
    try {
      this.opts.port.write(p.request);
    } catch (err) {
      this.failPending(dtuLinkDown(this.opts.name, err instanceof Error ? err.message : String(err)));
    }
  }

  private onWatchdog(): void {
    const p = this.pending;
    if (!p) return;
    if (this.opts.clock.monotonic() < p.deadline) return this.watchdog.arm(p.deadline);
    this.finish(p);
    this.counters.timeouts++;
    this.receiver.end();
    if (p.internal) for (const l of this.timeoutListeners) l(p.unit, p.started, p.timeoutMs, shapeOf(p));
    const silent = this.opts.port.silence?.();
    if (silent) {
      const down = dtuLinkDown(this.opts.name, silent);
      // timedOut: the Line keeps its late-answer quiet as after any timeout
      p.reject(
        new EdgeError(down.code, down.message, {
          context: { ...down.context, unit: p.unit, timedOut: true },
        }),
      );
      return;
    }
    p.reject(
      new EdgeError(
        'EDGE_ERR_MODBUS_TIMEOUT',
        `no response from unit ${p.unit} within ${p.timeoutMs} ms (${this.label})`,
        {
          context: { dtu: this.opts.name, unit: p.unit },
        },
      ),
    );
  }

  /** Cancels the timer (hub stop); a pending request fails with EDGE_ERR_DTU_LINK_DOWN. */
  dispose(): void {
    this.failPending(dtuLinkDown(this.opts.name, 'hub stopped'));
    this.watchdog.cancel();
  }

  /** Ends the transaction on the wire and starts the next waiting request (after this turn). */
  private finish(p: Pending): void {
    if (this.pending !== p) return;
    this.pending = undefined;
    if (this.waiting.length > 0) queueMicrotask(() => this.next());
  }

  private next(): void {
    if (this.pending) return;
    const p = this.waiting.shift();
    if (p) this.perform(p);
  }

  private failPending(err: Error): void {
    const p = this.pending;
    if (!p) return;
    this.finish(p);
    this.receiver.end();
    // a keepalive's answer may still be forwarded (a DTU holds bytes across re-registration)
    if (p.internal) for (const l of this.lostListeners) l(p.unit, shapeOf(p));
    p.reject(err);
  }
}
