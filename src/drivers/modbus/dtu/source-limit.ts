/**
 * Unknown registrations per source address in the current minute: the DTU listener closes
 * a source's connections at accept once it sent too many (a scan or a misconfigured DTU
 * must not fill the log or hold sockets). Bounded: cleared when it tracks too many sources.
 */
import type { Clock } from '../../../core/clock.js';

const WINDOW_MS = 60_000;
const MAX_SOURCES = 10_000;

export class UnknownSourceCounter {
  private readonly bySource = new Map<string, { windowStart: number; count: number }>();

  constructor(private readonly clock: Clock) {}

  /** Unknown registrations from `source` in its current minute. */
  count(source: string | undefined): number {
    const e = source === undefined ? undefined : this.bySource.get(source);
    if (!e || this.clock.monotonic() - e.windowStart >= WINDOW_MS) return 0;
    return e.count;
  }

  add(source: string | undefined): void {
    if (source === undefined) return;
    const now = this.clock.monotonic();
    let e = this.bySource.get(source);
    if (!e || now - e.windowStart >= WINDOW_MS) {
      if (this.bySource.size >= MAX_SOURCES) this.bySource.clear();
      e = { windowStart: now, count: 0 };
      this.bySource.set(source, e);
    }
    e.count++;
  }
}
