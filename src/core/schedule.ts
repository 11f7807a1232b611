/**
 * Per-tag poll schedule, pure. Each tag is due on its interval grid (multiples of the
 * interval on the clock it is given) so tags with equal intervals fall due together and can be
 * coalesced. A late poll skips missed slots instead of bursting to catch up.
 */
import type { TagSpec } from './ports.js';

export class TagSchedule {
  private readonly nextDue = new Map<string, number>();
  private readonly intervals = new Map<string, number>();

  constructor(tags: readonly TagSpec[], now: number) {
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
      this.nextDue.set(name, (Math.floor(now / interval) + 1) * interval);
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
