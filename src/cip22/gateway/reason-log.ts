/**
 * Refusal logging bounded per reason: at most LOGS_PER_REASON lines per reason and
 * minute; the rest are counted and summarised when that reason is next logged in a later
 * minute. A peer choosing to fail cannot flood the journal.
 */
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/ports.js';

const LOGS_PER_REASON = 5;
const LOG_WINDOW_MS = 60_000;

export class ReasonLog {
  private readonly windows = new Map<string, { start: number; logged: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {}

  /** Logs `fields` at warn unless this reason's quota for the minute is used (then counts it). */
  warn(reason: string, fields: Record<string, unknown>, message: string): void {
    const now = this.clock.now();
    let entry = this.windows.get(reason);
    if (!entry || now - entry.start >= LOG_WINDOW_MS) {
      if (entry && entry.suppressed > 0)
        this.log.warn(
          { code: 'EDGE_ERR_CIP22_SESSION', reason, suppressed: entry.suppressed },
          'cip22: more sessions ended with this reason (not logged one by one)',
        );
      entry = { start: now, logged: 0, suppressed: 0 };
      this.windows.set(reason, entry);
    }
    if (entry.logged >= LOGS_PER_REASON) return void entry.suppressed++;
    entry.logged++;
    this.log.warn({ ...fields, reason }, message);
  }
}
