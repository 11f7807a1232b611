/**
 * Timers of the MQTT forwarder, all on the injected clock: the reconnect schedule (a
 * capped, jittered backoff, core/backoff) and the bounded waits of stop().
 */
import { Backoff, type BackoffPolicy } from '../../core/backoff.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { ReconnectScheduledInfo } from './types.js';

/**
 * One pending reconnect at most. The backoff restarts on a successful connection, except
 * after a rejected publish: then it keeps growing until a publish succeeds, so a broker
 * that accepts connections but refuses our messages is not hammered.
 */
export class ReconnectScheduler {
  private readonly backoff: Backoff;
  private timer: TimerHandle | undefined;
  private resetOnConnect = true;

  constructor(
    policy: BackoffPolicy,
    random: () => number,
    private readonly clock: Clock,
  ) {
    this.backoff = new Backoff(policy, random);
  }

  /** Arms the timer to call `fire`; undefined (and nothing armed) when one is already pending. */
  schedule(fire: () => void): ReconnectScheduledInfo | undefined {
    if (this.timer) return undefined;
    const delayMs = this.backoff.next();
    const attempt = this.backoff.attempts;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      fire();
    }, delayMs);
    return { delayMs, attempt };
  }

  cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** A connection was established. */
  connected(): void {
    if (this.resetOnConnect) this.backoff.reset();
  }

  /** The broker rejected a publish: grow the backoff until a publish succeeds. */
  publishRejected(): void {
    this.resetOnConnect = false;
  }

  /** The broker acknowledged a publish. */
  publishAcked(): void {
    if (!this.resetOnConnect) {
      this.resetOnConnect = true;
      this.backoff.reset();
    }
  }
}

/** Runs `fn(done)`; resolves true when done() came before `ms` elapsed on the clock. */
export function within(clock: Clock, ms: number, fn: (done: () => void) => void): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const timer = clock.setTimeout(() => {
      if (settled) return;
      settled = true;
      resolve(false);
    }, ms);
    fn(() => {
      if (settled) return;
      settled = true;
      timer.cancel();
      resolve(true);
    });
  });
}
