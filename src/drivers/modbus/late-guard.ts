/**
 * Late answers on RTU links (serial lines and DTUs). An RTU answer carries no transaction
 * id: an answer that arrives after its request timed out has the unit, function and byte
 * count of the next request of the same shape and would be taken as its answer (a good
 * value from the wrong registers). The Line therefore keeps the link quiet after a
 * timeout until the slave can no longer be answering: at least `lateHorizonMs` after the
 * request went out (twice the timeout, or 1.5 × the slowest late answer this slave has
 * given, at most 10 × the timeout) and until the link has been silent for the drain
 * window. Everything that arrives in between, or while no request waits, is discarded
 * and counted here as a late answer.
 */

/** The quiet horizon is at least this many timeouts after the request. */
export const LATE_HORIZON_TIMEOUTS = 2;
/** Margin over the slowest late answer observed from the slave. */
export const LATE_MARGIN = 1.5;
/** The learnt horizon is capped at this many timeouts (bounds what a dead slave costs). */
export const LATE_HORIZON_MAX_TIMEOUTS = 10;

/** How long after a timed-out request was sent the link stays quiet. */
export function lateHorizonMs(timeoutMs: number, slowestLateMs: number | undefined): number {
  const learnt = slowestLateMs === undefined ? 0 : Math.ceil(slowestLateMs * LATE_MARGIN);
  return Math.min(
    Math.max(LATE_HORIZON_TIMEOUTS * timeoutMs, learnt),
    LATE_HORIZON_MAX_TIMEOUTS * timeoutMs,
  );
}

export interface LateEpisode {
  /** Bytes arrived that no request waited for. */
  readonly late: boolean;
  readonly bytes: number;
  /** From the request's send to the first late byte, when the request is known. */
  readonly latencyMs: number | undefined;
}

export class LateAnswerGuard {
  /** Monotonic time of the last byte received (any). */
  lastRxAt = -Infinity;
  private stray = 0;
  private firstStrayAt: number | undefined;
  private readonly slowestLate = new Map<number, number>();
  readonly stats = { lateAnswers: 0, lateBytes: 0 };

  constructor(private readonly now: () => number) {}

  /** `bytes` arrived; `awaited`: a request on the wire was waiting for them. */
  rx(bytes: number, awaited: boolean): void {
    const at = this.now();
    this.lastRxAt = at;
    if (awaited) return;
    this.stray += bytes;
    this.firstStrayAt ??= at;
  }

  /** Bytes no request waited for since the last `settle()`. */
  get strayBytes(): number {
    return this.stray;
  }

  /** The slowest late answer seen from `unit` (ms after its request), if any. */
  slowestLateMs(unit: number): number | undefined {
    return this.slowestLate.get(unit);
  }

  horizonMs(unit: number, timeoutMs: number): number {
    return lateHorizonMs(timeoutMs, this.slowestLate.get(unit));
  }

  /** A fresh link: earlier bytes belong to no request of it. */
  reset(): void {
    this.stray = 0;
    this.firstStrayAt = undefined;
  }

  /**
   * Ends a quiet period (its bytes were discarded): stray bytes make one late answer,
   * attributed to `unit` (sent at `sentAt`) when the period followed its timeout.
   */
  settle(unit?: number, sentAt?: number): LateEpisode {
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
      this.slowestLate.set(unit, Math.max(this.slowestLate.get(unit) ?? 0, latencyMs));
    }
    return { late: true, bytes, latencyMs };
  }
}
