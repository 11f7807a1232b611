/**
 * Rate limit for repeated failures of the same kind (a notify that keeps failing, an LED
 * that is gone): the first one is logged, then at most one per `everyMs`, carrying how
 * many were suppressed in between. `everyMs: Infinity` logs only the first.
 */
import type { Clock } from '../core/clock.js';

export class LogLimiter {
  private lastAt: number | undefined;
  private suppressed = 0;

  constructor(
    private readonly clock: Clock,
    private readonly everyMs: number,
  ) {}

  /** Null when this occurrence stays silent; else how many were suppressed before it. */
  take(): { suppressed: number } | null {
    const now = this.clock.monotonic();
    if (this.lastAt !== undefined && now - this.lastAt < this.everyMs) {
      this.suppressed++;
      return null;
    }
    this.lastAt = now;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    return { suppressed };
  }

  /** Back to "next one is logged" (the failure cleared). */
  reset(): void {
    this.lastAt = undefined;
    this.suppressed = 0;
  }
}
