/**
 * Per-tag poll schedule, pure. Each tag is due on its interval grid (multiples of the
 * interval on the clock it is given, shifted by the schedule's phase) so tags with equal intervals fall due together and can be
 * coalesced. A late poll skips missed slots instead of bursting to catch up. One phase for
 * all of a device's tags keeps them coalesced; different phases per device spread the
 * devices' polls over the interval instead of starting them all in the same slot.
 */
import type { TagSpec } from './ports.js';

/**
 * Upper bounds (ms) of the poll start lateness histogram: how long after its slot a poll
 * started. Fine around the 50 ms a station on a small CPU share must keep at p99.
 */
export const POLL_LATE_BOUNDS_MS: readonly number[] = [
  1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 150, 250, 500, 1000, 5000,
];

/** Counts per bucket of POLL_LATE_BOUNDS_MS (the last one: later than every bound), and their sum. */
export class LatenessHistogram {
  readonly counts: number[] = new Array<number>(POLL_LATE_BOUNDS_MS.length + 1).fill(0);
  sumMs = 0;

  add(lateMs: number): void {
    const late = Math.max(0, lateMs);
    let i = 0;
    while (i < POLL_LATE_BOUNDS_MS.length && late > POLL_LATE_BOUNDS_MS[i]!) i++;
    this.counts[i]!++;
    this.sumMs += late;
  }
}

export class TagSchedule {
  // Parallel arrays, not Maps: due() runs for every poll of every device, and a Map's
  // entries and its boxed float times were a tenth of a station's allocations.
  private readonly names: string[] = [];
  private readonly index = new Map<string, number>();
  private readonly intervals: Float64Array;
  private readonly nextDue: Float64Array;

  constructor(
    tags: readonly TagSpec[],
    now: number,
    /** Offset of the grid (ms); 0: slots at multiples of the interval. */
    private readonly phaseMs = 0,
  ) {
    const intervals: number[] = [];
    for (const tag of tags) {
      // A name given twice is one tag with its last interval (as a Map would keep it).
      const i = this.index.get(tag.name) ?? this.names.push(tag.name) - 1;
      this.index.set(tag.name, i);
      intervals[i] = tag.intervalMs;
    }
    this.intervals = Float64Array.from(intervals);
    this.nextDue = new Float64Array(this.names.length).fill(now);
  }

  /** Tags due at `now`; each is moved to its next grid slot after `now`. */
  due(now: number): string[] {
    const due: string[] = [];
    for (let i = 0; i < this.names.length; i++) {
      if (this.nextDue[i]! > now) continue;
      due.push(this.names[i]!);
      const interval = this.intervals[i]!;
      const phase = this.phaseMs % interval;
      this.nextDue[i] = (Math.floor((now - phase) / interval) + 1) * interval + phase;
    }
    return due;
  }

  /** The poll interval of `tag`; undefined for a tag not scheduled. */
  intervalOf(tag: string): number | undefined {
    const i = this.index.get(tag);
    return i === undefined ? undefined : this.intervals[i];
  }

  /** Earliest time any tag is due (Infinity when there are no tags). */
  nextWake(): number {
    let earliest = Infinity;
    for (const at of this.nextDue) earliest = Math.min(earliest, at);
    return earliest;
  }
}

/** Config `agent.pollSpreadSlots` default. */
export const DEFAULT_SPREAD_SLOTS = 10;

/**
 * A device's phase within `spanMs` (its shortest tag interval), from its name: stable
 * across restarts and spread evenly over many devices (FNV-1a, mixed), quantised to one of
 * `slots` phases `spanMs / slots` apart. A few slots rather than a phase per millisecond:
 * devices sharing a slot start their polls in one timer turn and their readings share a
 * group commit and a forwarder batch, while each slot's burst stays a small share of the
 * second (10 slots of a 1 s interval: one per 100 ms CFS period).
 */
export function devicePhase(device: string, spanMs: number, slots = DEFAULT_SPREAD_SLOTS): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < device.length; i++) h = Math.imul(h ^ device.charCodeAt(i), 0x01000193) >>> 0;
  // FNV alone leaves names that differ in their last character (m1, m2, …) in a few
  // clusters of the high bits: finish with murmur3's mixer.
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  const span = Math.max(1, spanMs);
  const n = Math.max(1, Math.min(Math.floor(slots), span));
  return Math.floor((Math.floor((h / 2 ** 32) * n) * span) / n);
}
