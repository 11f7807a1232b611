/**
 * The failover decision, as a pure state machine: it is fed poll outcomes with their
 * time (`now`, read by the caller from its injected Clock) and says when to switch.
 * No timers, no I/O, so every edge (threshold, window, hysteresis, flapping) is tested
 * by feeding samples.
 *
 * Primary → secondary: while on the primary, the error rate is the share of bad values
 * among all values the primary returned in the trailing `windowMs`. The device fails over
 * when, at a poll, (a) the primary has been observed for a whole window, (b) the window
 * holds at least `minSamples` polls, (c) the rate is at or above `errorRateThreshold`,
 * and (d) the secondary answered its last check (made at most `probeIntervalMs` ago) with
 * a rate below the threshold: a dead secondary is not worth switching to.
 *
 * Secondary → primary (hysteresis): the primary is probed every `probeIntervalMs`; a
 * probe is healthy when its rate is at most `recoverErrorRate` (below the failover
 * threshold). The device switches back once every probe for `recoverAfterMs` was healthy;
 * one unhealthy probe restarts the count. Switching back starts a fresh window, so a
 * failing primary needs a whole window again before the next failover: failovers per
 * hour are bounded by 3600 s / (windowMs + recoverAfterMs), whatever the primary does.
 */

export type Source = 'primary' | 'secondary';

export interface FailoverPolicyOptions {
  readonly errorRateThreshold: number;
  readonly windowMs: number;
  readonly minSamples: number;
  readonly recoverErrorRate: number;
  readonly recoverAfterMs: number;
  readonly probeIntervalMs: number;
}

/** One poll's outcome: how many of its values were bad, and whether the link was down. */
export interface PollSample {
  readonly bad: number;
  readonly total: number;
  readonly linkDown: boolean;
}

export type SwitchCause = 'error-rate' | 'link-down' | 'primary-recovered';

export interface Transition {
  readonly from: Source;
  readonly to: Source;
  readonly cause: SwitchCause;
  /** Primary's rate over the window (to secondary) or over the healthy probes (back). */
  readonly errorRate: number;
  readonly samples: number;
  readonly at: number;
}

interface Timed extends PollSample {
  readonly ts: number;
}

/** Hard cap on samples kept in a window (a 10 ms poll for 100 s); oldest dropped first. */
const MAX_WINDOW_SAMPLES = 10_000;

/** Sliding window of samples with running sums. */
class SampleWindow {
  private samples: Timed[] = [];
  private head = 0;
  private bad = 0;
  private total = 0;

  add(sample: Timed): void {
    if (sample.total <= 0) return;
    this.samples.push(sample);
    this.bad += sample.bad;
    this.total += sample.total;
    if (this.count > MAX_WINDOW_SAMPLES) this.dropOldest();
  }

  /** Drops samples at or before `cutoff`. */
  prune(cutoff: number): void {
    while (this.head < this.samples.length && this.samples[this.head]!.ts <= cutoff) this.dropOldest();
    if (this.head > 1024 && this.head * 2 > this.samples.length) {
      this.samples = this.samples.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.samples = [];
    this.head = 0;
    this.bad = 0;
    this.total = 0;
  }

  get count(): number {
    return this.samples.length - this.head;
  }

  get rate(): number {
    return this.total === 0 ? 0 : this.bad / this.total;
  }

  get latest(): Timed | undefined {
    return this.count > 0 ? this.samples[this.samples.length - 1] : undefined;
  }

  private dropOldest(): void {
    const s = this.samples[this.head++]!;
    this.bad -= s.bad;
    this.total -= s.total;
  }
}

export interface FailoverPolicyState {
  readonly active: Source;
  readonly since: number;
  readonly switches: number;
  readonly window: { readonly errorRate: number; readonly samples: number; readonly observedMs: number };
  readonly secondaryCheck: { readonly at: number; readonly ok: boolean; readonly errorRate: number } | null;
  readonly primaryProbe: {
    readonly at: number;
    readonly errorRate: number;
    readonly healthySince: number | null;
  } | null;
}

function rateOf(sample: PollSample): number {
  return sample.total <= 0 ? 1 : sample.bad / sample.total;
}

export class FailoverPolicy {
  private activeSource: Source = 'primary';
  private since: number;
  private switches = 0;
  private readonly window = new SampleWindow();
  private observingSince: number | undefined;
  private secondaryCheck: { at: number; ok: boolean; errorRate: number } | undefined;
  private lastProbe: { at: number; errorRate: number } | undefined;
  private nextProbeAt = 0;
  private healthySince: number | undefined;
  private healthyProbes = { bad: 0, total: 0, count: 0 };

  constructor(
    private readonly opts: FailoverPolicyOptions,
    start: number,
  ) {
    this.since = start;
  }

  get active(): Source {
    return this.activeSource;
  }

  /** A poll of the primary: the active source's poll, or a probe while on the secondary. */
  recordPrimary(now: number, sample: PollSample): void {
    if (this.activeSource === 'primary') {
      if (sample.total <= 0) return;
      this.observingSince ??= now;
      this.window.add({ ...sample, ts: now });
      return;
    }
    const errorRate = rateOf(sample);
    this.lastProbe = { at: now, errorRate };
    this.nextProbeAt = now + this.opts.probeIntervalMs;
    if (sample.total > 0 && errorRate <= this.opts.recoverErrorRate) {
      if (this.healthySince === undefined) {
        this.healthySince = now;
        this.healthyProbes = { bad: 0, total: 0, count: 0 };
      }
      this.healthyProbes.bad += sample.bad;
      this.healthyProbes.total += sample.total;
      this.healthyProbes.count++;
    } else this.healthySince = undefined;
  }

  /** A poll of the secondary: a check before failing over, or its polls while active. */
  recordSecondary(now: number, sample: PollSample): void {
    const errorRate = rateOf(sample);
    this.secondaryCheck = {
      at: now,
      ok: sample.total > 0 && errorRate < this.opts.errorRateThreshold,
      errorRate,
    };
  }

  /** The primary's window says "fail over" (the secondary is not considered). */
  primaryFailing(now: number): boolean {
    if (this.activeSource !== 'primary' || this.observingSince === undefined) return false;
    this.window.prune(now - this.opts.windowMs);
    return (
      now - this.observingSince >= this.opts.windowMs &&
      this.window.count >= this.opts.minSamples &&
      this.window.rate >= this.opts.errorRateThreshold
    );
  }

  /** On the primary and failing, with no recent check of the secondary: check it now. */
  secondaryCheckDue(now: number): boolean {
    if (!this.primaryFailing(now)) return false;
    return this.secondaryCheck === undefined || now - this.secondaryCheck.at >= this.opts.probeIntervalMs;
  }

  /** On the secondary: time to probe the primary. */
  probeDue(now: number): boolean {
    if (this.activeSource !== 'secondary') return false;
    return now >= this.nextProbeAt;
  }

  /** Applies and returns the switch due at `now`, if any. */
  decide(now: number): Transition | undefined {
    if (this.activeSource === 'primary') {
      if (!this.primaryFailing(now)) return undefined;
      const check = this.secondaryCheck;
      if (!check || !check.ok || now - check.at > this.opts.probeIntervalMs) return undefined;
      const latest = this.window.latest;
      const transition: Transition = {
        from: 'primary',
        to: 'secondary',
        cause: latest?.linkDown ? 'link-down' : 'error-rate',
        errorRate: this.window.rate,
        samples: this.window.count,
        at: now,
      };
      this.switchTo('secondary', now);
      return transition;
    }
    if (this.healthySince === undefined || now - this.healthySince < this.opts.recoverAfterMs)
      return undefined;
    const { bad, total, count } = this.healthyProbes;
    const transition: Transition = {
      from: 'secondary',
      to: 'primary',
      cause: 'primary-recovered',
      errorRate: total === 0 ? 0 : bad / total,
      samples: count,
      at: now,
    };
    this.switchTo('primary', now);
    return transition;
  }

  state(now: number): FailoverPolicyState {
    if (this.activeSource === 'primary') this.window.prune(now - this.opts.windowMs);
    return {
      active: this.activeSource,
      since: this.since,
      switches: this.switches,
      window: {
        errorRate: this.window.rate,
        samples: this.window.count,
        observedMs: this.observingSince === undefined ? 0 : now - this.observingSince,
      },
      secondaryCheck: this.secondaryCheck ?? null,
      primaryProbe: this.lastProbe ? { ...this.lastProbe, healthySince: this.healthySince ?? null } : null,
    };
  }

  private switchTo(source: Source, now: number): void {
    this.activeSource = source;
    this.since = now;
    this.switches++;
    this.window.clear();
    this.observingSince = undefined;
    this.secondaryCheck = undefined;
    this.healthySince = undefined;
    this.lastProbe = undefined;
    // the first probe of the primary comes one probe interval after failing over
    this.nextProbeAt = now + this.opts.probeIntervalMs;
  }
}
