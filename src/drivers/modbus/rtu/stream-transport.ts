/**
 * A ModbusTransport over a byte stream carrying RTU frames: a DTU link's socket, or a
 * local serial port (serial-stream.ts) when echo suppression needs the agent's own framer. One request on the wire at a time (the Modbus Line
 * already serialises its devices; the link's keepalive waits behind them in a queue).
 *
 * Received bytes go through the heartbeat filter into an RtuResponseReader. When the
 * filtered stream does not hold the expected frame but the filter removed or held bytes
 * during this transaction, the raw bytes since the request are scanned too (a frame whose
 * data happens to contain the heartbeat bytes), and when those hold the heartbeat
 * pattern 2 to 8 times, every subset of the occurrences is tried as "the heartbeats" (a
 * frame with a real heartbeat inside and the same bytes in its data): heartbeat-fallback.ts.
 */
import type { Clock, TimerHandle } from '../../../core/clock.js';
import { EdgeError } from '../../../core/errors.js';
import { exceptionErrorCode } from '../errors.js';
import type { ModbusTransport } from '../port.js';
import {
  buildReadRequest,
  frameBits,
  frameRegisters,
  RtuResponseReader,
  type Expectation,
  type ReadFunctionCode,
  type RtuFrame,
} from './frame.js';
import { HeartbeatFilter } from './heartbeat.js';
import { findFrameAmongHeartbeats } from './heartbeat-fallback.js';

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

export interface StreamCounters {
  requests: number;
  responses: number;
  exceptions: number;
  timeouts: number;
  crcErrors: number;
  garbageBytes: number;
  echoes: number;
  heartbeats: number;
  lastHeartbeatAt: number | undefined;
  /** Frames found only in the unfiltered stream (heartbeat bytes inside the data). */
  rawMatches: number;
  /** Frames found by stripping only some heartbeat-like occurrences. */
  subsetMatches: number;
  /** Requests refused at once because the link was down. */
  linkDownFailures: number;
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

interface Pending {
  readonly resolve: (frame: RtuFrame) => void;
  readonly reject: (err: Error) => void;
  /** Monotonic deadline of the response. */
  readonly deadline: number;
  readonly timeoutMs: number;
  readonly unit: number;
  readonly started: number;
  /** Sent by the link itself (keepalive), not by the Line. */
  readonly internal: boolean;
  readonly expectation: Expectation;
  /** Raw bytes since the request (heartbeat filter configured). */
  raw: Buffer | undefined;
  /** The heartbeat filter removed or held bytes of this transaction. */
  altered: boolean;
}

/** Raw bytes kept per transaction for the fallback scans, at most. */
const MAX_RAW = 1024;

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
  private readonly reader: RtuResponseReader;
  private filter: HeartbeatFilter | undefined;
  private pending: Pending | undefined;
  /** Requests waiting for the one on the wire. */
  private readonly waiting: Array<() => void> = [];
  private opened = false;
  private readonly closeListeners: Array<(err?: Error) => void> = [];
  private readonly rxListeners: Array<(bytes: number, awaited: boolean) => void> = [];
  private readonly linkUpListeners: Array<() => void> = [];
  private readonly timeoutListeners: Array<(unit: number, sentAt: number, timeoutMs: number) => void> = [];
  /** Monotonic time of the last request written. */
  lastRequestAt = -Infinity;
  /**
   * One timeout timer, re-armed lazily: a response does not cancel it; when it fires it
   * fails the request on the wire if that one's deadline passed, else re-arms for it.
   * Back-to-back requests thus cost no timer operations each.
   */
  private watchdog: TimerHandle | undefined;
  private watchdogAt = Infinity;

  constructor(private readonly opts: RtuStreamTransportOptions) {
    // the reader counts garbage, CRC errors and echoes straight into our counters
    this.reader = new RtuResponseReader(this.counters);
    this.filter = opts.heartbeat ? new HeartbeatFilter(opts.heartbeat) : undefined;
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
  discardInput(): void {
    this.reader.reset(false);
  }

  onRx(listener: (bytes: number, awaited?: boolean) => void): void {
    this.rxListeners.push(listener);
  }

  linkDownError(): EdgeError | undefined {
    return this.opts.port.up ? undefined : dtuLinkDown(this.opts.name, 'not registered/connected');
  }

  onTimeout(listener: (unit: number, sentAt: number, timeoutMs: number) => void): void {
    this.timeoutListeners.push(listener);
  }

  onLinkUp(listener: () => void): void {
    this.linkUpListeners.push(listener);
  }

  readCoils(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]> {
    return this.read(unitId, 1, address, length, timeoutMs, false, (d) => frameBits(d, length));
  }

  readDiscreteInputs(unitId: number, address: number, length: number, timeoutMs: number): Promise<boolean[]> {
    return this.read(unitId, 2, address, length, timeoutMs, false, (d) => frameBits(d, length));
  }

  readHolding(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]> {
    return this.read(unitId, 3, address, length, timeoutMs, false, (d) => frameRegisters(d, length));
  }

  readInput(unitId: number, address: number, length: number, timeoutMs: number): Promise<number[]> {
    return this.read(unitId, 4, address, length, timeoutMs, false, (d) => frameRegisters(d, length));
  }

  /** A link-internal read (keepalive) that does not need the Line attached. */
  keepalive(unitId: number, address: number, timeoutMs: number): Promise<number[]> {
    return this.read(unitId, 3, address, 1, timeoutMs, true, (d) => frameRegisters(d, 1));
  }

  // --- link side -----------------------------------------------------------------

  /** The link came up (registered or connected): a fresh stream. */
  linkUp(): void {
    this.filter = this.opts.heartbeat ? new HeartbeatFilter(this.opts.heartbeat) : undefined;
    this.reader.reset(false);
    for (const l of this.linkUpListeners) l();
  }

  /** The link went down: the request on the wire fails with EDGE_ERR_DTU_LINK_DOWN. */
  linkDown(why: string): void {
    this.failPending(dtuLinkDown(this.opts.name, why));
    this.reader.reset(false);
  }

  /** Bytes received on the link (heartbeats included). */
  data(chunk: Buffer): void {
    let data = chunk;
    const p = this.pending;
    if (this.filter) {
      const before = this.filter.count;
      data = this.filter.feed(chunk);
      if (this.filter.count > before) {
        this.counters.heartbeats += this.filter.count - before;
        this.counters.lastHeartbeatAt = this.opts.clock.now();
      }
      if (p) {
        // raw bytes of this transaction (views: chunks are never mutated)
        p.raw = p.raw ? Buffer.concat([p.raw, chunk]) : chunk;
        if (p.raw.length > MAX_RAW) p.raw = p.raw.subarray(p.raw.length - MAX_RAW);
        if (data.length !== chunk.length || this.filter.held.length > 0) p.altered = true;
      }
    }
    const fed = data.length > 0 ? this.reader.feed(data) : {};
    let frame = fed.frame;
    let trailing = fed.trailing ?? 0;
    if (!frame && p?.altered) ({ frame, trailing } = this.fallback(p));
    // Bytes after the matched frame were awaited by no request: when the frame was a late
    // answer glued in front of the real one, the Line must see the real one arrive late.
    const awaited = Math.max(0, data.length - trailing);
    if (awaited > 0) for (const l of this.rxListeners) l(awaited, p !== undefined);
    if (trailing > 0) for (const l of this.rxListeners) l(trailing, false);
    if (!frame || !p) return;
    this.reader.reset(false); // the filtered copy of a fallback frame is not garbage
    this.finish(p);
    const ms = this.opts.clock.monotonic() - p.started;
    const l = this.latency.get(p.unit);
    if (l) {
      l.count++;
      l.lastMs = ms;
      l.avgMs += (ms - l.avgMs) / l.count;
    } else this.latency.set(p.unit, { lastMs: ms, avgMs: ms, count: 1 });
    this.counters.responses++;
    p.resolve(frame);
  }

  /**
   * The expected frame in the raw bytes of this transaction (heartbeat-like bytes in its
   * data), and how many bytes after it may be another answer.
   */
  private fallback(p: Pending): { frame?: RtuFrame; trailing: number } {
    const found = findFrameAmongHeartbeats(p.raw!, p.expectation, this.opts.heartbeat!);
    if (!found) return { trailing: 0 };
    if (found.via === 'raw') this.counters.rawMatches++;
    else this.counters.subsetMatches++;
    // The filter counted these heartbeat-like bytes as heartbeats: they were data.
    this.uncount(found.dataOccurrences);
    return { frame: found.frame, trailing: found.trailing };
  }

  /** Heartbeat-like bytes that turned out to be response data are not heartbeats. */
  private uncount(n: number): void {
    this.counters.heartbeats = Math.max(0, this.counters.heartbeats - n);
  }

  // --- requests -----------------------------------------------------------------

  private read<T>(
    unit: number,
    fn: ReadFunctionCode,
    address: number,
    count: number,
    timeoutMs: number,
    internal: boolean,
    convert: (data: Buffer) => T,
  ): Promise<T> {
    if (!internal && !this.opened) {
      return Promise.reject(
        new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', `${this.label}: transport not open`),
      );
    }
    if (!this.opts.port.up) {
      this.counters.linkDownFailures++;
      return Promise.reject(dtuLinkDown(this.opts.name, 'not registered/connected'));
    }
    const request = buildReadRequest(unit, fn, address, count);
    const onFrame = (frame: RtuFrame): T => {
      if (frame.kind === 'exception') {
        this.counters.exceptions++;
        throw new EdgeError(
          exceptionErrorCode(frame.code),
          `Modbus exception ${frame.code} from unit ${unit}`,
          {
            context: { dtu: this.opts.name, unit, modbusCode: frame.code },
          },
        );
      }
      return convert(frame.data);
    };
    if (!this.pending && this.waiting.length === 0)
      return this.perform(request, unit, fn, count, timeoutMs, internal).then(onFrame);
    return new Promise<RtuFrame>((resolve, reject) => {
      this.waiting.push(
        () => void this.perform(request, unit, fn, count, timeoutMs, internal).then(resolve, reject),
      );
    }).then(onFrame);
  }

  private perform(
    request: Buffer,
    unit: number,
    fn: ReadFunctionCode,
    count: number,
    timeoutMs: number,
    internal: boolean,
  ): Promise<RtuFrame> {
    return new Promise<RtuFrame>((resolve, reject) => {
      if (!this.opts.port.up) {
        this.counters.linkDownFailures++;
        reject(dtuLinkDown(this.opts.name, 'not registered/connected'));
        this.next();
        return;
      }
      if (this.pending) {
        // cannot happen: requests wait in `waiting`; kept as an assertion
        reject(new EdgeError('EDGE_ERR_MODBUS_BAD_RESPONSE', `${this.label}: two requests in flight`));
        return;
      }
      const expectation: Expectation = { unit, fn, count };
      this.reader.expect(this.opts.echoSuppression ? { ...expectation, echo: request } : expectation);
      const started = this.opts.clock.monotonic();
      this.pending = {
        resolve,
        reject,
        deadline: started + timeoutMs,
        timeoutMs,
        unit,
        started,
        internal,
        expectation,
        raw: undefined,
        altered: false,
      };
      this.armWatchdog(started + timeoutMs);
      this.counters.requests++;
      this.lastRequestAt = started;
      try {
        this.opts.port.write(request);
      } catch (err) {
        this.failPending(dtuLinkDown(this.opts.name, err instanceof Error ? err.message : String(err)));
      }
    });
  }

  private armWatchdog(at: number): void {
    if (this.watchdog && this.watchdogAt <= at) return; // fires first; re-arms then
    this.watchdog?.cancel();
    this.watchdogAt = at;
    this.watchdog = this.opts.clock.setTimeout(
      () => this.onWatchdog(),
      Math.max(0, at - this.opts.clock.monotonic()),
    );
  }

  private onWatchdog(): void {
    this.watchdog = undefined;
    this.watchdogAt = Infinity;
    const p = this.pending;
    if (!p) return;
    if (this.opts.clock.monotonic() < p.deadline) return this.armWatchdog(p.deadline);
    this.finish(p);
    this.counters.timeouts++;
    this.reader.reset();
    if (p.internal) for (const l of this.timeoutListeners) l(p.unit, p.started, p.timeoutMs);
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
    this.watchdog?.cancel();
    this.watchdog = undefined;
    this.watchdogAt = Infinity;
  }

  /** Ends the transaction on the wire and starts the next waiting request (after this turn). */
  private finish(p: Pending): void {
    if (this.pending !== p) return;
    this.pending = undefined;
    if (this.waiting.length > 0) queueMicrotask(() => this.next());
  }

  private next(): void {
    if (this.pending) return;
    this.waiting.shift()?.();
  }

  private failPending(err: Error): void {
    const p = this.pending;
    if (!p) return;
    this.finish(p);
    this.reader.reset();
    p.reject(err);
  }
}
