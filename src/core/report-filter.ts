/**
 * Report by exception: decides which values of a poll become part of a record. Pure and
 * per device (one instance per poller, no module state), time comes from the caller.
 *
 * Safety rules, in the order they are checked for each value:
 * - no reported value yet (start, reconnect, policy change): report;
 * - quality, error code or source differs from the last reported one: report at once;
 * - maxPeriodMs passed since the last report of the tag: report (a consumer can tell
 *   "unchanged" from "agent dead");
 * - mode change: the value moved beyond the deadband *from the last reported value*
 *   (so slow drift accumulates until it is reported) and minIntervalMs has passed;
 * - a change beyond the deadband inside minIntervalMs is held, not dropped: the one
 *   farthest from the last reported value (the first, for non-numbers), with the time it
 *   was read. It is reported when the interval ends, as a reading of its own at that time
 *   (takeEarlier), and the current value is then judged against it: a value that went and
 *   came back within the interval is reported as it went, then as it came back, one
 *   interval later. It goes out first, too, when anything else reports the tag (a quality
 *   change, maxPeriodMs, a reset). So every excursion beyond the deadband reaches the
 *   consumer, at most one value per tag per minIntervalMs, each one read at its time;
 * - a poll that reports something also carries the tags past half their maxPeriodMs.
 * Only telemetry goes through here; events and billing records never do.
 */
import type { TagScalar, TagValue } from './types.js';

export type ReportMode = 'all' | 'change' | 'period';
export type Deadband = { readonly abs: number } | { readonly percent: number };

export interface ReportPolicy {
  readonly mode: ReportMode;
  readonly deadband: Deadband;
  readonly minIntervalMs: number;
  readonly maxPeriodMs: number;
}

export interface DeviceReportPolicy extends ReportPolicy {
  readonly tags: Readonly<Record<string, Partial<ReportPolicy>>>;
}

interface Reported {
  readonly value: TagScalar;
  readonly quality: 'good' | 'bad';
  readonly code: string | undefined;
  readonly source: string | undefined;
  readonly ts: number;
  readonly policy: ReportPolicy;
}

/** A change held inside minIntervalMs: `mono` is the filter's time, `ts` the wall time it was read. */
interface Held {
  readonly value: TagValue;
  readonly mono: number;
  readonly ts: number;
}

/** Held values reported late: a reading of their own, at the time they were read. */
export interface EarlierReading {
  readonly ts: number;
  readonly values: TagValue[];
}

export interface ReportFilterStats {
  /** Values not reported (suppressed by the policy) since start. */
  readonly suppressed: number;
  /** Values reported. */
  readonly reported: number;
}

export function policyForTag(device: DeviceReportPolicy, tag: string): ReportPolicy {
  const own = device.tags[tag];
  if (!own) return device;
  return {
    mode: own.mode ?? device.mode,
    deadband: own.deadband ?? device.deadband,
    minIntervalMs: own.minIntervalMs ?? device.minIntervalMs,
    maxPeriodMs: own.maxPeriodMs ?? device.maxPeriodMs,
  };
}

/** True when the device policy filters nothing: the poller then skips the filter entirely. */
export function reportsEverything(device: DeviceReportPolicy): boolean {
  return device.mode === 'all' && Object.values(device.tags).every((t) => (t.mode ?? 'all') === 'all');
}

/** How far a value moved: numbers by their difference, anything else not comparable (0). */
function distance(from: TagScalar, to: TagScalar): number {
  if (typeof from !== 'number' || typeof to !== 'number') return 0;
  const d = Math.abs(to - from);
  return Number.isNaN(d) ? Infinity : d;
}

function beyondDeadband(last: TagScalar, next: TagScalar, deadband: Deadband): boolean {
  if (typeof last !== 'number' || typeof next !== 'number') return last !== next;
  if (Number.isNaN(last) || Number.isNaN(next)) return !(Number.isNaN(last) && Number.isNaN(next));
  const delta = Math.abs(next - last);
  if ('abs' in deadband) return deadband.abs === 0 ? delta > 0 : delta >= deadband.abs;
  if (last === 0 || deadband.percent === 0) return delta > 0;
  return delta >= (Math.abs(last) * deadband.percent) / 100;
}

export class ReportFilter {
  private readonly last = new Map<string, Reported>();
  private readonly policies = new Map<string, ReportPolicy>();
  private readonly held = new Map<string, Held>();
  private earlier: EarlierReading[] = [];
  private suppressed = 0;
  private reported = 0;

  constructor(private readonly device: DeviceReportPolicy) {}

  /**
   * Forget every reported value: the next value of each tag is reported (reconnect). A held
   * change is kept: it goes out, at its own time, before that value.
   */
  reset(): void {
    this.last.clear();
  }

  stats(): ReportFilterStats {
    return { suppressed: this.suppressed, reported: this.reported };
  }

  /**
   * The values of one poll at `now` (ms) that must be reported; the rest are counted.
   * When a poll reports anything, tags past half their maxPeriodMs ride along: the
   * device's heartbeats then fall into one record instead of one message per tag.
   * `intervalOf` gives a tag's poll interval: a tag whose next poll would come after its
   * maxPeriodMs is reported now rather than late.
   */
  filter(
    values: readonly TagValue[],
    now: number,
    intervalOf?: (tag: string) => number | undefined,
    ts = now,
  ): TagValue[] {
    const keep = values.map((v) => this.shouldReport(v, now, intervalOf?.(v.tag) ?? 0, ts));
    if (keep.includes(true))
      values.forEach((v, i) => {
        if (!keep[i]) keep[i] = !this.held.has(v.tag) && this.halfStale(v.tag, now);
      });
    const out: TagValue[] = [];
    values.forEach((v, i) => {
      if (!keep[i]) {
        if (this.held.get(v.tag)?.value !== v) this.suppressed++;
        return;
      }
      this.flush(v.tag);
      this.remember(v, now);
      out.push(v);
      this.reported++;
    });
    return out;
  }

  /** The held changes the last filter() reported, grouped by the time they were read. */
  takeEarlier(): EarlierReading[] {
    const out = this.earlier;
    this.earlier = [];
    return out;
  }

  /** Every change still held, reported now at the times they were read (the poller stops). */
  drain(): EarlierReading[] {
    for (const tag of [...this.held.keys()]) this.flush(tag);
    return this.takeEarlier();
  }

  private remember(v: TagValue, now: number): void {
    this.last.set(v.tag, {
      value: v.value,
      quality: v.quality,
      code: v.quality === 'bad' ? v.code : undefined,
      source: v.source,
      ts: now,
      policy: this.policy(v.tag),
    });
  }

  /** The change held for `tag` is reported now, at the time it was read. */
  private flush(tag: string): void {
    const held = this.held.get(tag);
    if (!held) return;
    this.held.delete(tag);
    this.remember(held.value, held.mono);
    const group = this.earlier.find((r) => r.ts === held.ts);
    if (group) group.values.push(held.value);
    else this.earlier.push({ ts: held.ts, values: [held.value] });
    this.reported++;
  }

  /** Keeps the change farthest from the last reported value (the first, for non-numbers). */
  private hold(v: TagValue, now: number, ts: number, last: Reported): void {
    const held = this.held.get(v.tag);
    if (held && !(distance(last.value, v.value) > distance(last.value, held.value.value))) return;
    if (held) this.suppressed++;
    this.held.set(v.tag, { value: v, mono: now, ts });
  }

  private halfStale(tag: string, now: number): boolean {
    const last = this.last.get(tag);
    return last !== undefined && now - last.ts >= last.policy.maxPeriodMs / 2;
  }

  private policy(tag: string): ReportPolicy {
    let p = this.policies.get(tag);
    if (!p) {
      p = policyForTag(this.device, tag);
      this.policies.set(tag, p);
    }
    return p;
  }

  private shouldReport(v: TagValue, now: number, interval: number, ts: number): boolean {
    const policy = this.policy(v.tag);
    if (policy.mode === 'all') return true;
    let last = this.last.get(v.tag);
    if (!last || last.policy !== policy) return true;
    // The interval after the last report ended: what was held in it goes out first.
    if (this.held.has(v.tag) && now - last.ts >= policy.minIntervalMs) {
      this.flush(v.tag);
      last = this.last.get(v.tag)!;
    }
    if (v.quality !== last.quality || v.source !== last.source) return true;
    if (v.quality === 'bad' && v.code !== last.code) return true;
    // A clock stepped back must not silence a tag until it catches up again.
    const since = now - last.ts;
    if (since >= policy.maxPeriodMs || since < 0) return true;
    // Waiting for the next poll would leave the tag silent past maxPeriodMs whenever this
    // poll ended a little early (a slower poll before it): report now.
    if (since + interval > policy.maxPeriodMs) return true;
    switch (policy.mode) {
      case 'period':
        return false;
      case 'change':
        if (!beyondDeadband(last.value, v.value, policy.deadband)) return false;
        if (since >= policy.minIntervalMs) return true;
        this.hold(v, now, ts, last);
        return false;
    }
  }
}
