/**
 * The system clock, counting the timers armed on it that have neither fired nor been
 * cancelled. For tests against real peers that need real time yet must prove "no timer
 * left behind" (after stop(), nothing of the code under test can fire any more).
 */
import { systemClock, type Clock, type TimerHandle } from '../../src/core/clock.js';

export class TrackingClock implements Clock {
  private readonly live = new Set<TimerHandle>();

  now(): number {
    return systemClock.now();
  }

  monotonic(): number {
    return systemClock.monotonic();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle: TimerHandle = {
      cancel: () => {
        this.live.delete(handle);
        inner.cancel();
      },
    };
    const inner = systemClock.setTimeout(() => {
      this.live.delete(handle);
      fn();
    }, ms);
    this.live.add(handle);
    return handle;
  }

  /** Timers armed and not yet fired nor cancelled. */
  get pendingCount(): number {
    return this.live.size;
  }
}
