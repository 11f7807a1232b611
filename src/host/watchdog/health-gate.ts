/**
 * The watchdog's health gate: pure logic deciding whether the agent makes progress, so
 * a ping may go out. Three things must move:
 * - the event loop: its worst delay since the last check stays under a bound;
 * - the store: records that are pending get committed (no pending records = idle, fine);
 * - every poller's loop: a step (a poll, or a start attempt while the device is down)
 *   completes within its stall window. A device that does not answer still makes its
 *   poller step (bad-quality values, backoff retries), so a dead device never stops the
 *   pings; only a loop that stopped stepping does. A poller that gave up on a fatal
 *   start error is parked and not expected to step.
 * Time comes in as monotonic milliseconds from the caller; nothing here reads a clock.
 */

export interface StoreProgress {
  /** Records waiting for a commit. */
  readonly pending: number;
  /** Commit transactions since open; any change means a commit succeeded. */
  readonly commits: number;
}

export interface PollerProgress {
  readonly device: string;
  /** Completed poll-loop steps (polls and start attempts); any change is progress. */
  readonly steps: number;
  /** True when the poller stopped on purpose (fatal start error): not expected to step. */
  readonly parked: boolean;
  /** How long this poller may go without a step. */
  readonly stallMs: number;
}

export interface ProgressSample {
  /** Worst event-loop delay since the previous sample, ms. */
  readonly loopLagMs: number;
  /** Absent when the store is not open (yet): nothing to judge. */
  readonly store?: StoreProgress;
  readonly pollers: readonly PollerProgress[];
}

export interface GateOptions {
  readonly maxLoopLagMs: number;
  readonly storeStallMs: number;
}

export interface GateVerdict {
  readonly ok: boolean;
  /** One human-readable line per failing part; empty when ok. */
  readonly reasons: readonly string[];
}

interface Seen {
  value: number;
  since: number;
}

export class HealthGate {
  private store: Seen | undefined;
  private readonly pollers = new Map<string, Seen>();

  constructor(private readonly options: GateOptions) {}

  /** Judges one sample taken at monotonic time `now`. */
  check(sample: ProgressSample, now: number): GateVerdict {
    const reasons: string[] = [];
    if (sample.loopLagMs > this.options.maxLoopLagMs) {
      reasons.push(`event loop lag ${Math.round(sample.loopLagMs)} ms > ${this.options.maxLoopLagMs} ms`);
    }
    const store = this.checkStore(sample.store, now);
    if (store) reasons.push(store);
    for (const p of sample.pollers) {
      const stalled = this.checkPoller(p, now);
      if (stalled) reasons.push(stalled);
    }
    return { ok: reasons.length === 0, reasons };
  }

  private checkStore(store: StoreProgress | undefined, now: number): string | undefined {
    if (!store) return undefined;
    const seen = this.store;
    // Idle (nothing pending) counts as progress: the stall clock starts when work waits.
    if (!seen || seen.value !== store.commits || store.pending === 0) {
      this.store = { value: store.commits, since: now };
      return undefined;
    }
    const stalled = now - seen.since;
    if (stalled < this.options.storeStallMs) return undefined;
    return `store wedged: ${store.pending} records pending, no commit for ${Math.round(stalled)} ms`;
  }

  private checkPoller(p: PollerProgress, now: number): string | undefined {
    const seen = this.pollers.get(p.device);
    if (!seen || seen.value !== p.steps || p.parked) {
      this.pollers.set(p.device, { value: p.steps, since: now });
      return undefined;
    }
    const stalled = now - seen.since;
    if (stalled < p.stallMs) return undefined;
    return `poller ${p.device} stuck: no poll-loop step for ${Math.round(stalled)} ms (bound ${p.stallMs} ms)`;
  }
}
