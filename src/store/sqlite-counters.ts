/** The SQLite outbox's commit counters, kept by the group commit and reported by stats(). */

/** Running totals since open, reported by stats(). */
export interface CommitCounters {
  committedTotal: number;
  committedBatches: number;
  evictedTelemetry: number;
  evictedEvent: number;
  droppedPending: number;
  lastCommitMs: number;
  healthy: boolean;
  lastError: string | null;
}

export function newCounters(lastError: string | null): CommitCounters {
  return {
    committedTotal: 0,
    committedBatches: 0,
    evictedTelemetry: 0,
    evictedEvent: 0,
    droppedPending: 0,
    lastCommitMs: 0,
    healthy: true,
    lastError,
  };
}
