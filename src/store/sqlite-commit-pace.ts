/**
 * How far apart the adaptive group commit (sqlite-group-commit.ts) spaces its commits: at
 * least `batch.minIntervalMs`, and under a heavy stream a spacing that grows with the
 * arrival rate, up to `batch.maxIntervalMs`. A commit costs about the same CPU whatever
 * it carries (~0.8 ms here: the transaction, its WAL frames, the fdatasync, a
 * forwarder's read and delete), so at 1,000 CIP-22 frames/s the 4 ms spacing alone meant
 * ~200 commits/s, about half the gateway's CPU.
 *
 * While durable appends flow (CIP-22 frames, ACKed once committed), only their rate
 * counts: telemetry beside 50 piles does not delay their ACKs. Up to
 * KNEE_PER_S durable appends a second (50 piles in a tight loop) the spacing stays
 * minIntervalMs, and an idle store still commits at once (the spacing counts from the
 * end of the previous commit). Fire-and-forget telemetry alone is spaced by its own rate.
 */

/** Arrivals a second up to which the spacing stays minIntervalMs. */
export const KNEE_PER_S = 500;
/** Above the knee, 1 ms more spacing per this many arrivals a second: 1,000/s → 20 ms. */
export const PER_S_PER_MS = 25;
/** The arrival rate is counted over windows of this length (the last complete one is used). */
export const RATE_WINDOW_MS = 250;

export class CommitPace {
  private all = 0;
  private durable = 0;
  private windowStart: number;
  /** Records per second over the last complete window (a longer one when arrivals paused). */
  private allRate = 0;
  private durableRate = 0;

  constructor(
    private readonly minIntervalMs: number,
    private readonly maxIntervalMs: number,
    now: number,
  ) {
    this.windowStart = now;
  }

  /** `n` records were appended; `durable`: their producer waits for the commit. */
  arrived(n: number, durable: boolean): void {
    this.all += n;
    if (durable) this.durable += n;
  }

  /**
   * The least time between the end of one commit and the start of the next, at `now`
   * (monotonic ms); `durablePending`: a durable append waits in the batch.
   */
  interval(now: number, durablePending: boolean): number {
    const elapsed = now - this.windowStart;
    if (elapsed >= RATE_WINDOW_MS) {
      this.allRate = (this.all * 1000) / elapsed;
      this.durableRate = (this.durable * 1000) / elapsed;
      this.all = 0;
      this.durable = 0;
      this.windowStart = now;
    }
    // Durable appends flowing (a frame waiting now, or some in the last window): their rate alone.
    const rate = durablePending || this.durableRate > 0 ? this.durableRate : this.allRate;
    const paced = Math.min(this.maxIntervalMs, (rate - KNEE_PER_S) / PER_S_PER_MS);
    return Math.max(this.minIntervalMs, paced);
  }
}
