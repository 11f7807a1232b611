/**
 * A Line is one physical link (a serial path, or one TCP host:port) shared by the
 * devices configured on it. Bus discipline:
 * - strictly one request in flight;
 * - RTU: a silent inter-frame gap between frames, and after a timeout a drain window
 *   whose late bytes are discarded before the next request;
 * - fair round-robin between the devices queued on it: each turn serves one request of
 *   the next device, so a dead slave costs at most one timeout per turn;
 * - reconnect with capped exponential backoff and jitter; while down every request is
 *   answered at once with EDGE_ERR_MODBUS_DISCONNECTED.
 */
import { Backoff, type BackoffPolicy } from '../../core/backoff.js';
import { delay, type Clock, type TimerHandle } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
import type { ModbusFunction } from './config.js';
import { isLinkError, toModbusError } from './errors.js';
import type { ModbusTransport } from './transport.js';
import type { WriteFunctionCode } from './write.js';

export type LineState = 'idle' | 'connecting' | 'up' | 'down' | 'closed';

/** A line in status.json (a type alias, so it is a Record<string, unknown> for DeviceDriver). */
export type LineStatus = {
  readonly key: string;
  readonly state: LineState;
  readonly requests: number;
  readonly reconnects: number;
  readonly connectFailures: number;
  readonly lastError: string | undefined;
  readonly queued: number;
  readonly transport?: Record<string, unknown>;
};

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

export type LineResult =
  | { readonly ok: true; readonly data: readonly number[] | readonly boolean[]; readonly latencyMs: number }
  | { readonly ok: false; readonly error: EdgeError };

export interface LineOptions {
  readonly key: string;
  readonly kind: 'tcp' | 'rtu';
  /** Silence between the end of one frame and the next request (0 for TCP). */
  readonly gapMs: number;
  readonly backoff: BackoffPolicy;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
  readonly transport: ModbusTransport;
}

interface Job {
  readonly read: LineRequest;
  readonly resolve: (result: LineResult) => void;
}

/** TCP: after this many timeouts in a row with no answer at all, the socket is re-opened. */
const TCP_TIMEOUTS_BEFORE_RECONNECT = 3;

/** Drain window after an RTU timeout: a quarter of the timeout, within [gap, 250 ms]. */
function drainWindowMs(timeoutMs: number, gapMs: number): number {
  return Math.max(gapMs, Math.min(250, Math.round(timeoutMs / 4)));
}

export class Line {
  private stateValue: LineState = 'idle';
  private readonly queues = new Map<string, Job[]>();
  /** Clients with queued jobs, in round-robin order. */
  private readonly ready: string[] = [];
  private busy = false;
  private refs = 0;
  private lastFrameEnd = -Infinity;
  private drainMs = 0;
  /** Timeouts in a row with no answer from any device (TCP: a silently dead socket). */
  private timeoutStreak = 0;
  private readonly backoff: Backoff;
  private reconnectTimer: TimerHandle | undefined;
  private connecting: Promise<void> | undefined;
  private generation = 0;
  readonly stats = {
    requests: 0,
    reconnects: 0,
    connectFailures: 0,
    lastError: undefined as string | undefined,
  };

  constructor(private readonly opts: LineOptions) {
    this.backoff = new Backoff(opts.backoff, opts.random);
    opts.transport.onClose((err) =>
      this.linkLost(new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', err?.message ?? 'link closed')),
    );
  }

  get key(): string {
    return this.opts.key;
  }

  get state(): LineState {
    return this.stateValue;
  }

  get users(): number {
    return this.refs;
  }

  /** Delay the next reconnect attempt will wait, when one is scheduled. */
  nextReconnectInMs: number | undefined;

  status(): LineStatus {
    return {
      key: this.opts.key,
      state: this.stateValue,
      requests: this.stats.requests,
      reconnects: this.stats.reconnects,
      connectFailures: this.stats.connectFailures,
      lastError: this.stats.lastError,
      queued: this.ready.length,
      ...(this.opts.transport.status ? { transport: this.opts.transport.status() } : {}),
    };
  }

  /**
   * A device starts using the line. Connects now if the line is not up; on failure the
   * device is not counted and the error (EDGE_ERR_MODBUS_CONNECT, retryable) is thrown.
   */
  async acquire(): Promise<void> {
    if (this.stateValue === 'closed')
      throw new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', `line ${this.key} is closed`);
    this.refs++;
    if (this.stateValue === 'up') return;
    try {
      await this.connectNow();
    } catch (err) {
      this.refs--;
      if (this.refs === 0) await this.shutdown('idle');
      throw err;
    }
  }

  /** A device stops using the line; the last one closes the link. */
  async release(): Promise<void> {
    if (this.refs === 0) return;
    this.refs--;
    if (this.refs === 0) await this.shutdown('idle');
  }

  /** Closes the line for good (family close). */
  async close(): Promise<void> {
    this.refs = 0;
    await this.shutdown('closed');
  }

  /**
   * Queues one read for `client` (a device). Always resolves; immediately with
   * EDGE_ERR_MODBUS_DISCONNECTED when the line is not up.
   */
  execute(client: string, read: LineRequest): Promise<LineResult> {
    if (this.stateValue !== 'up') return Promise.resolve(this.disconnected());
    if (!this.busy && this.ready.length === 0) return this.runNow(read);
    return new Promise<LineResult>((resolve) => {
      let queue = this.queues.get(client);
      if (!queue) {
        queue = [];
        this.queues.set(client, queue);
      }
      queue.push({ read, resolve });
      if (queue.length === 1) this.ready.push(client);
      void this.pump();
    });
  }

  private disconnected(): LineResult {
    return {
      ok: false,
      error: new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', `line ${this.key} is ${this.stateValue}`, {
        context: { line: this.key },
      }),
    };
  }

  private nextJob(): Job | undefined {
    const client = this.ready.shift();
    if (client === undefined) return undefined;
    const queue = this.queues.get(client)!;
    const job = queue.shift()!;
    if (queue.length > 0) this.ready.push(client);
    else this.queues.delete(client);
    return job;
  }

  /** Fast path: the line is idle and nothing is queued. */
  private async runNow(read: LineRequest): Promise<LineResult> {
    this.busy = true;
    let result: LineResult;
    try {
      result = await this.run(read);
    } finally {
      this.busy = false;
    }
    if (this.ready.length > 0) void this.pump();
    else if (this.stateValue !== 'up') this.failQueued();
    return result;
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.stateValue === 'up') {
        const job = this.nextJob();
        if (!job) break;
        job.resolve(await this.run(job.read));
      }
    } finally {
      this.busy = false;
    }
    if (this.stateValue !== 'up') this.failQueued();
  }

  private async run(read: LineRequest): Promise<LineResult> {
    const { clock, transport } = this.opts;
    const generation = this.generation;
    if (this.drainMs > 0) {
      await delay(clock, this.drainMs);
      this.drainMs = 0;
      transport.discardInput?.();
    }
    const wait = this.lastFrameEnd + this.opts.gapMs - clock.monotonic();
    if (wait > 0) await delay(clock, wait);
    if (this.stateValue !== 'up' || generation !== this.generation) return this.disconnected();
    const started = clock.monotonic();
    this.stats.requests++;
    try {
      const data = await this.send(read);
      const end = clock.monotonic();
      this.lastFrameEnd = end;
      this.timeoutStreak = 0;
      return { ok: true, data, latencyMs: end - started };
    } catch (err) {
      this.lastFrameEnd = clock.monotonic();
      const error = toModbusError(err, 'request');
      this.stats.lastError = error.code;
      if (error.code === 'EDGE_ERR_MODBUS_TIMEOUT') {
        this.timeoutStreak++;
        if (this.opts.kind === 'rtu') this.drainMs = drainWindowMs(read.timeoutMs, this.opts.gapMs);
        else if (this.timeoutStreak >= TCP_TIMEOUTS_BEFORE_RECONNECT && generation === this.generation) {
          this.linkLost(
            new EdgeError(
              'EDGE_ERR_MODBUS_DISCONNECTED',
              `${this.timeoutStreak} timeouts in a row; reconnecting`,
            ),
          );
        }
      } else if (!isLinkError(error.code)) {
        this.timeoutStreak = 0; // something answered
      }
      if (isLinkError(error.code) && generation === this.generation) this.linkLost(error);
      return { ok: false, error };
    }
  }

  /** Whether the link's transport can carry writes (DTU and echo-suppressed RTU cannot yet). */
  get canWrite(): boolean {
    return typeof this.opts.transport.writeValues === 'function';
  }

  private async send(request: LineRequest): Promise<readonly number[] | readonly boolean[]> {
    const t = this.opts.transport;
    if ('kind' in request) {
      if (!t.writeValues)
        throw new EdgeError('EDGE_ERR_CMD_UNSUPPORTED', `line ${this.key} cannot carry writes`);
      await t.writeValues(request.unitId, request.fc, request.address, request.values, request.timeoutMs);
      return [];
    }
    const read = request;
    const { unitId, address, length, timeoutMs } = read;
    switch (read.function) {
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

  private failQueued(): void {
    const jobs: Job[] = [];
    for (;;) {
      const job = this.nextJob();
      if (!job) break;
      jobs.push(job);
    }
    for (const job of jobs) job.resolve(this.disconnected());
  }

  private connectNow(): Promise<void> {
    if (this.connecting) return this.connecting;
    this.reconnectTimer?.cancel();
    this.reconnectTimer = undefined;
    this.nextReconnectInMs = undefined;
    this.stateValue = 'connecting';
    const generation = ++this.generation;
    const attempt = (async () => {
      try {
        await this.opts.transport.connect();
      } catch (err) {
        const error = toModbusError(err, 'connect');
        if (generation === this.generation) {
          this.stats.connectFailures++;
          this.stats.lastError = error.code;
          this.stateValue = 'down';
          this.scheduleReconnect();
        }
        throw error;
      }
      if (generation !== this.generation) {
        // closed or stopped while connecting
        await this.opts.transport.close();
        throw new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', `line ${this.key} was closed while connecting`);
      }
      this.stateValue = 'up';
      this.lastFrameEnd = -Infinity;
      this.drainMs = 0;
      this.timeoutStreak = 0;
      this.backoff.reset();
      this.opts.logger.info({ line: this.key }, 'modbus line up');
    })();
    this.connecting = attempt;
    const clear = (): void => {
      if (this.connecting === attempt) this.connecting = undefined;
    };
    attempt.then(clear, clear);
    return attempt;
  }

  private scheduleReconnect(): void {
    if (this.refs === 0 || this.stateValue === 'closed' || this.reconnectTimer) return;
    const ms = this.backoff.next();
    this.nextReconnectInMs = ms;
    this.opts.logger.warn(
      { line: this.key, inMs: ms, error: this.stats.lastError },
      'modbus line down; reconnect scheduled',
    );
    this.reconnectTimer = this.opts.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      this.stats.reconnects++;
      this.connectNow().catch(() => undefined);
    }, ms);
  }

  private linkLost(error: EdgeError): void {
    if (this.stateValue !== 'up') return;
    this.generation++;
    this.stateValue = 'down';
    this.stats.lastError = error.code;
    this.failQueued();
    void this.opts.transport.close().catch(() => undefined);
    this.scheduleReconnect();
  }

  private async shutdown(state: 'idle' | 'closed'): Promise<void> {
    this.generation++;
    this.reconnectTimer?.cancel();
    this.reconnectTimer = undefined;
    this.nextReconnectInMs = undefined;
    this.stateValue = state;
    this.failQueued();
    this.backoff.reset();
    await this.opts.transport.close().catch(() => undefined);
  }
}
