/**
 * The simulator's waits (fault delays, split gaps) on its clock, all ended at once when
 * it closes: a fault stage still waiting must not keep the process alive or write to a
 * link that is gone.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';

export class Sleeps {
  private readonly pending = new Set<{ timer: TimerHandle; resolve: () => void }>();

  constructor(private readonly clock: Clock) {}

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: this.clock.setTimeout(() => {
          this.pending.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      this.pending.add(entry);
    });
  }

  /** Cancels every timer and resolves its wait now. */
  wakeAll(): void {
    for (const s of this.pending) {
      s.timer.cancel();
      s.resolve();
    }
    this.pending.clear();
  }
}
