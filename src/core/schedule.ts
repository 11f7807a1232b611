/**
 * Per-tag poll schedule, pure. Each tag is due on its interval grid (multiples of the
 * interval on the clock it is given, shifted by the schedule's phase) so tags with equal intervals fall due together and can be
 * coalesced. A late poll skips missed slots instead of bursting to catch up. One phase for
 * all of a device's tags keeps them coalesced; different phases per device spread the
 * devices' polls over the interval instead of starting them all in the same slot.
 */
import type { TagSpec } from './ports.js';

export class TagSchedule {
  private readonly nextDue = new Map<string, number>();
  private readonly intervals = new Map<string, number>();

  constructor(
    tags: readonly TagSpec[],
    now: number,
    /** Offset of the grid (ms); 0: slots at multiples of the interval. */
    private readonly phaseMs = 0,
  ) {
    for (const tag of tags) {
      this.intervals.set(tag.name, tag.intervalMs);
      this.nextDue.set(tag.name, now);
    }
  }

  /** Tags due at `now`; each is moved to its next grid slot after `now`. */
  due(now: number): string[] {
    const due: string[] = [];
    for (const [name, at] of this.nextDue) {
      if (at > now) continue;
      due.push(name);
      const interval = this.intervals.get(name) ?? 1000;
      const phase = this.phaseMs % interval;
      this.nextDue.set(name, (Math.floor((now - phase) / interval) + 1) * interval + phase);
    }
    return due;
  }

  /** The poll interval of `tag`; undefined for a tag not scheduled. */
  intervalOf(tag: string): number | undefined {
    return this.intervals.get(tag);
  }

  /** Earliest time any tag is due (Infinity when there are no tags). */
  nextWake(): number {
    let earliest = Infinity;
    for (const at of this.nextDue.values()) earliest = Math.min(earliest, at);
    return earliest;
  }
}

/**
 * A device's phase within `spanMs` (its shortest tag interval), from its name: stable
 * across restarts and spread evenly over many devices (FNV-1a, mixed).
 */
export function devicePhase(device: string, spanMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < device.length; i++) h = Math.imul(h ^ device.charCodeAt(i), 0x01000193) >>> 0;
  // FNV alone leaves names that differ in their last character (m1, m2, …) in a few
  // clusters of the high bits: finish with murmur3's mixer.
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return Math.floor((h / 2 ** 32) * Math.max(1, spanMs));
}
