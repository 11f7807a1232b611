/** Turning the agent's stats into the health gate's progress sample. */
import type { WatchdogConfig } from '../config.js';
import type { StoreProgress } from './health-gate.js';

/**
 * How long a poller may go without a loop step: N of its fastest tag interval, but never
 * less than the floor nor less than two start backoffs (a device that is down steps only
 * once per backoff).
 */
export function pollerStallMs(
  config: Pick<WatchdogConfig, 'pollStallIntervals' | 'pollStallMinMs'>,
  tagIntervalsMs: readonly number[],
  startBackoffMaxMs: number,
): number {
  const fastest = tagIntervalsMs.length > 0 ? Math.min(...tagIntervalsMs) : 0;
  return Math.max(config.pollStallIntervals * fastest, config.pollStallMinMs, 2 * startBackoffMaxMs);
}

export function storeProgress(
  stats: { pendingRecords: number; committedBatches: number } | undefined,
): StoreProgress | undefined {
  return stats ? { pending: stats.pendingRecords, commits: stats.committedBatches } : undefined;
}
