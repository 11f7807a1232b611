/**
 * How far apart the adaptive group commit (sqlite-group-commit.ts) spaces its commits: at
 * least `batch.minIntervalMs`, and under a heavy stream a spacing that grows with the
 * arrival rate, up to `batch.maxIntervalMs`. A commit costs about the same CPU whatever
 * it carries (~0.8 ms here: the transaction, its WAL frames, the fdatasync, a
 * forwarder's read and delete), so at 1,000 CIP-22 frames/s the 4 ms spacing alone meant
 * ~200 commits/s, about half the gateway's CPU. A slow stream (1-50 piles, telemetry
 * below 200 records/s) keeps the short spacing and its millisecond ACKs; an idle store
 * still commits at once (the spacing counts from the end of the previous commit).
 */

/** Spacing in ms per record/s of arrival rate: 1,000 records/s space commits 20 ms apart. */
export const MS_PER_RECORD_PER_S = 1 / 50;
/** The arrival rate is counted over windows of this length (the last complete one is used). */
export const RATE_WINDOW_MS = 250;

export class CommitPace {
  private arrivals = 0;
  private windowStart: number;
  /** Records per second over the last complete window (a longer one when arrivals paused). */
  private rate = 0;

  constructor(
    private readonly minIntervalMs: number,
    private readonly maxIntervalMs: number,
    now: number,
  ) {
    this.windowStart = now;
  }

  /** `n` records were appended. */
  arrived(n: number): void {
    this.arrivals += n;
  }

  /** Records per second as last measured. */
  get arrivalRate(): number {
    return this.rate;
  }

  /** The least time between the end of one commit and the start of the next, at `now` (monotonic ms). */
  interval(now: number): number {
    const elapsed = now - this.windowStart;
    if (elapsed >= RATE_WINDOW_MS) {
      this.rate = (this.arrivals * 1000) / elapsed;
      this.arrivals = 0;
      this.windowStart = now;
    }
    const paced = Math.min(this.maxIntervalMs, this.rate * MS_PER_RECORD_PER_S);
    return Math.max(this.minIntervalMs, paced);
  }
}
