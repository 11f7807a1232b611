import type { Clock, TimerHandle } from './clock.js';

/**
 * One timer for many deadlines, re-armed lazily: arming a later deadline than the one
 * pending costs nothing (the earlier one fires first and the owner re-arms then), so
 * back-to-back requests cost no timer operations.
 */
export class DeadlineTimer {
  private handle: TimerHandle | undefined;
  private at = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly onFire: () => void,
  ) {}

  /** Fires at `at` (monotonic ms) unless an earlier deadline is already armed. */
  arm(at: number): void {
    if (this.handle && this.at <= at) return;
    this.handle?.cancel();
    this.at = at;
    this.handle = this.clock.setTimeout(
      () => {
        this.handle = undefined;
        this.at = Infinity;
        this.onFire();
      },
      Math.max(0, at - this.clock.monotonic()),
    );
  }

  cancel(): void {
    this.handle?.cancel();
    this.handle = undefined;
    this.at = Infinity;
  }
}
