/**
 * A Line is one physical link (a serial path, or one TCP host:port) shared by the
 * devices configured on it. Bus discipline:
 * - strictly one request in flight;
 * - RTU (serial and DTU): a silent inter-frame gap between frames. A request whose answer
 *   did not arrive fences its unit (fence.ts): no answer of that unit is trusted until
 *   one that cannot be the unaccounted one arrived, a fence read going first when the
 *   request's own answer could be confused (correctness rests on answer order, not on
 *   time). After a timeout the link also stays quiet for a while (late-guard.ts: a cheap
 *   first filter against collisions), and bytes no request waited for are discarded and
 *   counted as late answers;
 * - fair round-robin between the devices queued on it: each turn serves one request of
 *   the next device, so a dead slave costs one quiet horizon (2 × its timeout) per turn;
 * - reconnect with capped exponential backoff and jitter (line-link.ts, the connection
 *   lifecycle); while down every request is answered at once with
 *   EDGE_ERR_MODBUS_DISCONNECTED.
 */
import { delay } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import { answeredSomething, isDeviceAnswer, isLinkError, toModbusError } from './errors.js';
import { fenceFailedError, requestShape, unaccountedError, UnitFences } from './fence.js';
import { LateAnswerGuard } from './late-guard.js';
import { LineLink, type LineOptions, type LineState } from './line-link.js';
import { sendRequest, type LineRequest } from './port.js';

export type { LineRead, LineRequest, LineWrite } from './port.js';
export type { LineOptions, LineState } from './line-link.js';

/** A line in status.json (a type alias, so it is a Record<string, unknown> for DeviceDriver). */
export type LineStatus = {
  readonly key: string;
  readonly state: LineState;
  readonly requests: number;
  readonly reconnects: number;
  readonly connectFailures: number;
  readonly lastError: string | undefined;
  readonly queued: number;
  /** Answers that arrived after their request timed out (discarded, never decoded). */
  readonly lateAnswers: number;
  readonly lateBytes: number;
  /** RTU: bytes the link delivered after it opened, before the first request (discarded). */
  readonly staleBytes: number;
  /** RTU: fence reads sent (a unit's answers were in doubt), and those without a conclusive answer. */
  readonly fences: number;
  readonly fenceFailures: number;
  readonly transport?: Record<string, unknown>;
};

export type LineResult =
  | { readonly ok: true; readonly data: readonly number[] | readonly boolean[]; readonly latencyMs: number }
  | { readonly ok: false; readonly error: EdgeError };

interface Job {
  readonly read: LineRequest;
  readonly resolve: (result: LineResult) => void;
}

/** TCP: after this many timeouts in a row with no answer at all, the socket is re-opened. */
const TCP_TIMEOUTS_BEFORE_RECONNECT = 3;

export { drainWindowMs } from './late-guard.js';

export class Line extends LineLink {
  private readonly queues = new Map<string, Job[]>();
  /** Clients with queued jobs, in round-robin order. */
  private readonly ready: string[] = [];
  private busy = false;
  private lastFrameEnd = -Infinity;
  /** A request of this line is on the wire (bytes arriving now are awaited). */
  private inFlight = false;
  private readonly late: LateAnswerGuard;
  private readonly fences = new UnitFences();
  /** Timeouts in a row with no answer from any device (TCP: a silently dead socket). */
  private timeoutStreak = 0;

  constructor(opts: LineOptions) {
    super(opts);
    this.late = new LateAnswerGuard({
      key: opts.key,
      clock: opts.clock,
      gapMs: opts.gapMs,
      logger: opts.logger,
      discard: () => opts.transport.discardInput?.(),
    });
    opts.transport.onRx?.((bytes, awaited, at) => this.late.rx(bytes, awaited ?? this.inFlight, at));
    opts.transport.onTimeout?.((unit, sentAt, timeoutMs, shape) => {
      this.late.noteTimeout(unit, sentAt, timeoutMs);
      this.fences.lose(unit, shape);
    });
    opts.transport.onLost?.((unit, shape) => this.fences.lose(unit, shape));
    opts.transport.onLinkUp?.(() => {
      this.linkUps++;
      this.freshLink();
    });
    opts.transport.onClose((err) =>
      this.linkLost(new EdgeError('EDGE_ERR_MODBUS_DISCONNECTED', err?.message ?? 'link closed')),
    );
  }

  /** Times the link under the line came up (DTU): devices reset their breakers on a change. */
  linkUps = 0;

  /** The link itself is down (DTU): what a read gets, before any breaker. */
  linkDownError(): EdgeError | undefined {
    return this.opts.transport.linkDownError?.();
  }

  status(): LineStatus {
    return {
      key: this.opts.key,
      state: this.stateValue,
      requests: this.stats.requests,
      reconnects: this.stats.reconnects,
      connectFailures: this.stats.connectFailures,
      lastError: this.stats.lastError,
      queued: this.ready.length,
      lateAnswers: this.late.stats.lateAnswers,
      lateBytes: this.late.stats.lateBytes,
      staleBytes: this.late.stats.staleBytes,
      fences: this.fences.stats.fences,
      fenceFailures: this.fences.stats.fenceFailures,
      ...(this.opts.transport.status ? { transport: this.opts.transport.status() } : {}),
    };
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

  /**
   * Fast path: the line is idle and nothing is queued. A `then` on the request rather than
   * an async function around it: one promise layer less per poll.
   */
  private runNow(read: LineRequest): Promise<LineResult> {
    this.busy = true;
    let running: Promise<LineResult>;
    try {
      running = this.run(read);
    } catch (err) {
      this.busy = false;
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return running.then(this.ranNow, this.failedNow);
  }

  private readonly ranNow = (result: LineResult): LineResult => {
    this.busy = false;
    if (this.ready.length > 0) void this.pump();
    else if (this.stateValue !== 'up') this.failQueued();
    return result;
  };

  private readonly failedNow = (err: unknown): never => {
    this.busy = false;
    throw err;
  };

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

  /** Not async: the usual request (no fence due) is `transact` alone, one async layer less. */
  private run(read: LineRequest): Promise<LineResult> {
    if (this.opts.kind === 'rtu') {
      this.fences.admit(read);
      if (this.fences.needsFence(read)) return this.runFenced(read);
    }
    return this.transact(read);
  }

  /** A fence read first; `read` goes out only when the fence's answer was conclusive. */
  private async runFenced(read: LineRequest): Promise<LineResult> {
    const fence = this.fences.fenceFor(read);
    const result = await this.transact(fence);
    if (this.fences.isFenced(read.unitId)) {
      this.fences.fenceFailed(read.unitId);
      return {
        ok: false,
        error: fenceFailedError(
          this.key,
          read,
          fence,
          result.ok ? undefined : result.error,
          this.fences.awaitsLate(read.unitId),
        ),
      };
    }
    return this.transact(read);
  }

  /** One request on the wire, with the RTU late-answer guard and the unit's fence. */
  private async transact(read: LineRequest): Promise<LineResult> {
    const { clock } = this.opts;
    const generation = this.generation;
    const rtu = this.opts.kind === 'rtu';
    if (
      rtu &&
      this.late.holdsBeforeSend() &&
      (await this.late.beforeSend(read.timeoutMs, this.alive(generation)))
    )
      this.lastFrameEnd = clock.monotonic();
    if (this.opts.gapMs > 0) {
      const wait = this.lastFrameEnd + this.opts.gapMs - clock.monotonic();
      if (wait > 0) await delay(clock, wait);
    }
    if (this.stateValue !== 'up' || generation !== this.generation) return this.disconnected();
    const started = clock.monotonic();
    this.stats.requests++;
    this.inFlight = true;
    try {
      const data = await sendRequest(this.opts.transport, this.key, read);
      this.inFlight = false;
      const end = clock.monotonic();
      this.lastFrameEnd = end;
      this.timeoutStreak = 0;
      if (rtu && !this.fences.answered(read, false))
        return { ok: false, error: unaccountedError(this.key, read) };
      return { ok: true, data, latencyMs: end - started };
    } catch (err) {
      this.inFlight = false;
      this.lastFrameEnd = clock.monotonic();
      let error = toModbusError(err, 'request');
      if (rtu) {
        if (!isDeviceAnswer(error.code))
          this.fences.lose(read.unitId, requestShape(read), !answeredSomething(error.code));
        else if (!this.fences.answered(read, true)) error = unaccountedError(this.key, read, error);
        // a broken frame: what follows it in the buffer is no frame boundary to trust
        if (answeredSomething(error.code) && !isDeviceAnswer(error.code))
          this.opts.transport.discardInput?.();
      }
      if (error.code === 'EDGE_ERR_MODBUS_TIMEOUT' || (rtu && error.context.timedOut === true)) {
        this.timeoutStreak++;
        if (rtu) {
          error = (await this.late.afterTimeout(read, started, this.alive(generation))) ?? error;
          this.lastFrameEnd = clock.monotonic();
        } else if (this.timeoutStreak >= TCP_TIMEOUTS_BEFORE_RECONNECT && generation === this.generation) {
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
      this.stats.lastError = error.code;
      if (isLinkError(error.code) && generation === this.generation) this.linkLost(error);
      return { ok: false, error };
    }
  }

  /**
   * The port opened or the DTU link came up: bytes may already be on their way (a slave
   * answering a request sent before, a DTU's buffer). What arrives before the first
   * request is drained and counted (late-guard.ts); what arrives later cannot pass as an
   * answer because every unit is fenced until an answer conclusive by shape (fence.ts).
   */
  private freshLink(): void {
    if (this.opts.kind !== 'rtu') return;
    this.late.opened();
    this.fences.freshLink();
  }

  /** For the late-answer guard's waits: the line is still up on the link a request went out on. */
  private alive(generation: number): () => boolean {
    return () => this.stateValue === 'up' && generation === this.generation;
  }

  /** Whether the link's transport can carry writes (DTU and echo-suppressed RTU cannot yet). */
  get canWrite(): boolean {
    return typeof this.opts.transport.writeValues === 'function';
  }

  protected override linkOpened(): void {
    this.lastFrameEnd = -Infinity;
    this.freshLink();
    this.timeoutStreak = 0;
  }

  protected override failQueued(): void {
    const jobs: Job[] = [];
    for (;;) {
      const job = this.nextJob();
      if (!job) break;
      jobs.push(job);
    }
    for (const job of jobs) job.resolve(this.disconnected());
  }
}
