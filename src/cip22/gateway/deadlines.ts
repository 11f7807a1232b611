/**
 * One silence/upgrade timer per pile, armed for its machine's next deadline. Every frame
 * moves that deadline later; re-creating the timer per frame was a timer allocation and
 * two timer-list operations per frame. A timer due at or before the new deadline is kept:
 * when it fires early, the gateway's check finds nothing due and arms it again for the
 * deadline of that moment (one timer per heartbeat period).
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { PileMachine } from '../state/machine.js';

export class PileDeadlines {
  /** Per pile: the armed timer and the clock time it fires at. */
  private readonly armed = new Map<string, { readonly timer: TimerHandle; readonly at: number }>();
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    /** The timer of `pile` fired (its entry is gone): check the machine, arm again if needed. */
    private readonly due: (pile: string, machine: PileMachine) => void,
  ) {}

  arm(pile: string, machine: PileMachine): void {
    const at = machine.nextDeadline();
    const armed = this.armed.get(pile);
    if (armed && at !== null && !this.stopped && armed.at <= at) return;
    armed?.timer.cancel();
    if (at === null || this.stopped) return void this.armed.delete(pile);
    const now = this.clock.now();
    const timer = this.clock.setTimeout(
      () => {
        this.armed.delete(pile);
        this.due(pile, machine);
      },
      Math.max(0, at - now),
    );
    this.armed.set(pile, { timer, at: Math.max(at, now) });
  }

  /** Cancels every timer; later arm() calls do nothing. */
  stop(): void {
    this.stopped = true;
    for (const d of this.armed.values()) d.timer.cancel();
    this.armed.clear();
  }
}
