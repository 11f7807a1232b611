/**
 * The appendOnce keys of the SQLite outbox (table `dedup`): claimed inside the batch
 * transaction, pruned by age and count. The caller restores `count` when the transaction
 * rolls back.
 */
import type { Clock } from '../core/clock.js';
import type { OnceScan } from '../core/ports.js';
import type { NewRecord } from '../core/types.js';
import type { OnceMark } from './sqlite-queue.js';
import type { QueueStatements } from './sqlite-statements.js';

const DEDUP_DEFAULTS = { maxAgeMs: 7 * 24 * 3600 * 1000, maxKeys: 1_000_000 };
/** Pruning by age runs at most this often (and whenever the key count is over its bound). */
const DEDUP_PRUNE_INTERVAL_MS = 60_000;

export class DedupKeys {
  private readonly limits: { readonly maxAgeMs: number; readonly maxKeys: number };
  private lastPrune = Number.NEGATIVE_INFINITY;
  /** Wall and monotonic time at open: the age cutoff never runs ahead of the time really elapsed. */
  private readonly openedWall: number;
  private readonly openedMono: number;

  constructor(
    private readonly s: QueueStatements,
    /** Keys stored. */
    public count: number,
    limits: { readonly maxAgeMs: number; readonly maxKeys: number } | undefined,
    private readonly clock: Clock,
  ) {
    this.limits = limits ?? DEDUP_DEFAULTS;
    this.openedWall = clock.now();
    this.openedMono = clock.monotonic();
  }

  /**
   * Inserts the key of every group marked in `once`; returns the batch without the groups
   * whose key was already there (null when there were none), noting their first records.
   */
  claim(
    batch: readonly NewRecord[],
    n: number,
    once: ReadonlyMap<NewRecord, OnceMark>,
    duplicates: NewRecord[],
  ): NewRecord[] | null {
    const now = this.clock.now();
    let kept: NewRecord[] | null = null;
    for (let i = 0; i < n; i++) {
      const r = batch[i];
      if (r === undefined) continue;
      const group = once.get(r);
      if (group === undefined || this.s.dedupInsert.run(group.key, now).changes === 1) {
        if (group !== undefined) this.count++;
        kept?.push(r);
        continue;
      }
      duplicates.push(r);
      kept ??= batch.slice(0, i);
      i += group.size - 1;
    }
    return kept;
  }

  /** Drops keys past their retention age, then the oldest while over the count bound. */
  prune(): void {
    if (this.count === 0) return;
    const now = this.clock.now();
    const { maxAgeMs, maxKeys } = this.limits;
    if (this.count <= maxKeys && now - this.lastPrune < DEDUP_PRUNE_INTERVAL_MS) return;
    this.lastPrune = now;
    // A wall clock stepped forward (NTP on a box without RTC) must not age the keys claimed
    // before the step: the cutoff follows the time that really passed since open.
    const elapsed = this.openedWall + (this.clock.monotonic() - this.openedMono);
    this.count -= this.s.dedupPruneAge.run(Math.min(now, elapsed) - maxAgeMs).changes;
    if (this.count > maxKeys) this.count -= this.s.dedupPruneOldest.run(this.count - maxKeys).changes;
  }
}

/** The first string after every string that starts with `prefix` (its last code unit + 1). */
function prefixEnd(prefix: string): string {
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

/** Keys read per highestOnce step: 600,000 keys of one pile take 296 steps (read at once: 3 s here, load average 25). */
export const ONCE_SCAN_STEP = 2048;

/** The largest integer tail of `keys` after `prefix` (tails that are not digits are skipped), or `high`. */
export function highestTail(keys: Iterable<string>, prefix: string, high: number | null): number | null {
  for (const key of keys) {
    if (!key.startsWith(prefix)) continue;
    const tail = key.slice(prefix.length);
    if (!/^[0-9]+$/.test(tail)) continue;
    const n = Number(tail);
    if (high === null || n > high) high = n;
  }
  return high;
}

/** One step of the stored keys that start with `prefix`, after the key `after` (from the first when null). */
export function scanKeys(s: QueueStatements, prefix: string, after: string | undefined): OnceScan {
  if (prefix.length === 0) throw new RangeError('highestOnce needs a non-empty prefix');
  const keys = s.dedupRange.all(after ?? prefix, prefixEnd(prefix), ONCE_SCAN_STEP) as string[];
  return {
    high: highestTail(keys, prefix, null),
    next: keys.length === ONCE_SCAN_STEP ? (keys[keys.length - 1] as string) : null,
  };
}
