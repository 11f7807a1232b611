/**
 * Late answers on RTU links (serial lines and DTUs), the timing side. An RTU answer
 * carries no transaction id: an answer that arrives after its request timed out has the
 * unit, function and byte count of the next request of the same shape. Correctness does
 * NOT rest on this module: the unit's order fence (fence.ts) keeps such an answer from
 * ever being taken as good, whatever the timing. This guard is the cheap first filter
 * that keeps the line tidy and counts late answers:
 * - after a timeout it keeps the link quiet until the slave is unlikely to be answering:
 *   at least `lateHorizonMs` after the request went out (twice the timeout, or 1.5 × the
 *   slowest late answer this slave has given, at most 10 × the timeout) and until the link
 *   has been silent for the drain window; what arrives in between is discarded and
 *   counted, and the read is reported EDGE_ERR_MODBUS_LATE_ANSWER (on a half-duplex bus
 *   this also avoids talking over a late answer);
 * - drops bytes that arrived while no request waited before sending the next request;
 * - on a fresh link (a port opened, a DTU link up) the first request waits until the link
 *   has been silent for the inter-frame gap (for the drain window once bytes came), and
 *   what arrived since the open is discarded and counted as stale (`staleBytes`): the
 *   port's flush at open does not cover bytes still arriving (a slave answering a request
 *   sent before a restart, a DTU's buffer). The fence (every unit fenced on a fresh link,
 *   fence.ts) covers what comes later.
 * Under load (event-loop stalls) its notion of silence is wrong in both directions; the
 * fence then pays for it with an extra request, never with a wrong value.
 */
import { delay, type Clock } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
// the codes this module names are registered there (their natures, link-down flags)
import './error-codes.js';

/** The quiet horizon is at least this many timeouts after the request. */
export const LATE_HORIZON_TIMEOUTS = 2;
/** Margin over the slowest late answer observed from the slave. */
export const LATE_MARGIN = 1.5;
/** The learnt horizon is capped at this many timeouts (bounds what a dead slave costs). */
export const LATE_HORIZON_MAX_TIMEOUTS = 10;

/** How long after a timed-out request was sent the link stays quiet. */
export function lateHorizonMs(timeoutMs: number, slowestLateMs: number | undefined): number {
  const learnt = slowestLateMs === undefined ? 0 : Math.ceil(slowestLateMs * LATE_MARGIN);
  return Math.min(Math.max(LATE_HORIZON_TIMEOUTS * timeoutMs, learnt), LATE_HORIZON_MAX_TIMEOUTS * timeoutMs);
}

/** Silence that ends a late answer: a quarter of the timeout, within [gap, 250 ms]. */
export function drainWindowMs(timeoutMs: number, gapMs: number): number {
  return Math.max(gapMs, Math.min(250, Math.round(timeoutMs / 4)));
}

export interface LateEpisode {
  /** Bytes arrived that no request waited for. */
  readonly late: boolean;
  readonly bytes: number;
  /** From the request's send to the first late byte, when the request is known. */
  readonly latencyMs: number | undefined;
}

export interface GuardedRequest {
  readonly unitId: number;
  readonly timeoutMs: number;
}

export interface LateGuardOptions {
  readonly key: string;
  readonly clock: Clock;
  readonly gapMs: number;
  readonly logger: Logger;
  /** Drops what the transport received but did not consume; returns the bytes it held, if it knows. */
  readonly discard: () => number | undefined;
}

export class LateAnswerGuard {
  /** Monotonic time of the last byte received (any). */
  private lastRxAt = -Infinity;
  private stray = 0;
  private firstStrayAt: number | undefined;
  private readonly slowestLate = new Map<number, number>();
  /** The last request that timed out: stray bytes later on are most likely its answer. */
  private lastTimeout: { readonly unit: number; readonly sentAt: number } | undefined;
  /** The horizon of a request the Line did not send (a DTU keepalive) that timed out. */
  private quietUntil = -Infinity;
  /** The link is fresh: nothing was sent on it yet, what it holds is stale. */
  private fresh = false;
  readonly stats = { lateAnswers: 0, lateBytes: 0, staleBytes: 0 };

  constructor(private readonly opts: LateGuardOptions) {}

  /** `bytes` arrived; `awaited`: a request on the wire was waiting for them. */
  rx(bytes: number, awaited: boolean, at = this.opts.clock.monotonic()): void {
    this.lastRxAt = at;
    if (awaited) return;
    this.stray += bytes;
    this.firstStrayAt ??= at;
  }

  /**
   * A fresh link (port opened, DTU link up): its silence is measured from now, and what
   * it delivers before the first request is stale (dropped and counted by beforeSend).
   * (Fences stay, in fence.ts: a DTU may forward what it held when it registers again.)
   */
  opened(): void {
    this.fresh = true;
    this.lastRxAt = Math.max(this.lastRxAt, this.opts.clock.monotonic());
  }

  /** The slowest late answer seen from `unit` (ms after its request), if any. */
  slowestLateMs(unit: number): number | undefined {
    return this.slowestLate.get(unit);
  }

  /** Whether beforeSend has anything to wait for (stray bytes, a keepalive's horizon). */
  holdsBeforeSend(): boolean {
    if (this.fresh || this.stray > 0) return true;
    if (this.quietUntil === -Infinity) return false; // the usual case: no clock read
    if (this.quietUntil > this.opts.clock.monotonic()) return true;
    this.quietUntil = -Infinity; // passed: the same for every later comparison
    return false;
  }

  /**
   * Before a request goes out: bytes that arrived while nothing waited (on a fresh link:
   * since it opened) are let end and dropped. Returns true when it waited for late bytes
   * (the inter-frame gap is to follow); false after the fresh link's silence (it was the gap).
   */
  async beforeSend(timeoutMs: number, alive: () => boolean): Promise<boolean> {
    const now = this.opts.clock.monotonic();
    if (!this.fresh && this.stray === 0 && this.quietUntil <= now) return false;
    // a fresh link only needs the inter-frame gap of silence: the fence catches what is later
    const onlyGap = this.fresh && this.stray === 0 && this.quietUntil <= now;
    const silence = onlyGap ? this.opts.gapMs : drainWindowMs(timeoutMs, this.opts.gapMs);
    await this.waitQuiet(Math.max(now, this.quietUntil), silence, timeoutMs, alive);
    if (!this.fresh) this.drop(this.lastTimeout?.unit, this.lastTimeout?.sentAt);
    else if (alive()) this.dropStale();
    return !onlyGap;
  }

  /**
   * A request the Line did not send timed out (a DTU keepalive): its answer may still come,
   * so the link stays quiet until its horizon (and the Line fences the unit).
   */
  noteTimeout(unit: number, sentAt: number, timeoutMs: number): void {
    this.lastTimeout = { unit, sentAt };
    const until = sentAt + lateHorizonMs(timeoutMs, this.slowestLate.get(unit));
    this.quietUntil = Math.max(this.quietUntil, until);
  }

  /** After a timeout: the quiet horizon. Returns EDGE_ERR_MODBUS_LATE_ANSWER when the slave did answer. */
  async afterTimeout(
    read: GuardedRequest,
    sentAt: number,
    alive: () => boolean,
  ): Promise<EdgeError | undefined> {
    this.lastTimeout = { unit: read.unitId, sentAt };
    const horizon = lateHorizonMs(read.timeoutMs, this.slowestLate.get(read.unitId));
    const silence = drainWindowMs(read.timeoutMs, this.opts.gapMs);
    await this.waitQuiet(sentAt + horizon, silence, read.timeoutMs, alive);
    const episode = this.drop(read.unitId, sentAt);
    if (!episode.late) return undefined;
    return this.error(
      read,
      `unit ${read.unitId} answered ${episode.latencyMs ?? '?'} ms after the request, later than ` +
        `timeoutMs ${read.timeoutMs}; the answer was discarded`,
      episode.latencyMs,
    );
  }

  private learn(unit: number, ms: number): void {
    this.slowestLate.set(unit, Math.max(this.slowestLate.get(unit) ?? 0, ms));
  }

  private error(read: GuardedRequest, message: string, latencyMs: number | undefined): EdgeError {
    return new EdgeError('EDGE_ERR_MODBUS_LATE_ANSWER', message, {
      context: { line: this.opts.key, unit: read.unitId, latencyMs, timeoutMs: read.timeoutMs },
    });
  }

  /**
   * Waits until `notBefore` and until the link has been silent for `silenceMs`; a link
   * that never falls silent (noise) is given up on 4 timeouts after `notBefore`.
   */
  private async waitQuiet(
    notBefore: number,
    silenceMs: number,
    timeoutMs: number,
    alive: () => boolean,
  ): Promise<void> {
    const { clock } = this.opts;
    const giveUp = notBefore + 4 * timeoutMs;
    while (alive()) {
      const until = Math.min(giveUp, Math.max(notBefore, this.lastRxAt + silenceMs));
      const wait = until - clock.monotonic();
      if (wait <= 0) return;
      await delay(clock, wait);
    }
  }

  /** The first request on a fresh link goes out: what the link delivered since it opened is stale. */
  private dropStale(): void {
    const held = this.opts.discard() ?? 0;
    const bytes = Math.max(this.stray, held);
    this.fresh = false;
    this.stray = 0;
    this.firstStrayAt = undefined;
    if (bytes === 0) return;
    this.stats.staleBytes += bytes;
    this.opts.logger.warn(
      { line: this.opts.key, bytes },
      'bytes on the line before the first request after it opened were discarded',
    );
  }

  /** Drops what the transport holds; stray bytes make one late answer (of `unit`, sent at `sentAt`). */
  private drop(unit?: number, sentAt?: number): LateEpisode {
    this.opts.discard();
    const bytes = this.stray;
    const first = this.firstStrayAt;
    this.stray = 0;
    this.firstStrayAt = undefined;
    if (bytes === 0) return { late: false, bytes: 0, latencyMs: undefined };
    this.stats.lateAnswers++;
    this.stats.lateBytes += bytes;
    let latencyMs: number | undefined;
    if (unit !== undefined && sentAt !== undefined && first !== undefined) {
      latencyMs = Math.max(0, first - sentAt);
      this.learn(unit, latencyMs);
    }
    this.opts.logger.debug({ line: this.opts.key, unit, bytes, latencyMs }, 'late answer discarded');
    return { late: true, bytes, latencyMs };
  }
}
