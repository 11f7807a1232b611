/**
 * Capped exponential backoff with jitter ("full jitter" of the AWS architecture note,
 * bounded below by a floor so a fleet does not hammer a recovering broker or PLC).
 */
export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly multiplier: number;
  /** 0 = no jitter, 1 = delay drawn uniformly from [0, d]. */
  readonly jitter: number;
}

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay before the next attempt; each call counts as one failed attempt. */
  next(): number {
    const { initialMs, maxMs, multiplier, jitter } = this.policy;
    const base = Math.min(maxMs, initialMs * multiplier ** this.attempt);
    this.attempt++;
    const spread = base * Math.min(1, Math.max(0, jitter));
    return Math.round(base - spread + this.random() * spread);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
