/**
 * What the group commit (sqlite-group-commit.ts) reports when a commit fails: the
 * EDGE_ERR_STORE_WRITE a failure becomes (SQLite's own error kept as its cause), the log
 * line naming the batch and the next retry, the backoff of those retries, and the error
 * producers get when their records stay uncommitted, or when the WAL sync after their
 * commit failed. Only the failure path runs this.
 */
import { EdgeError, toEdgeError } from '../core/errors.js';
import type { Logger } from '../core/ports.js';
import type { Waiter } from './sqlite-commit-ports.js';
import type { CommitCounters } from './sqlite-counters.js';

export const RETRY_POLICY = { initialMs: 100, maxMs: 5000, multiplier: 2, jitter: 0.2 };

/** A failed commit's error as EDGE_ERR_STORE_WRITE, whatever SQLite threw. */
export function commitWriteError(e: unknown, path: string): EdgeError {
  const err = toEdgeError(e, 'EDGE_ERR_STORE_WRITE', { path });
  return err.code === 'EDGE_ERR_STORE_WRITE'
    ? err
    : new EdgeError('EDGE_ERR_STORE_WRITE', err.message, { cause: e });
}

export function logCommitFailure(
  log: Logger,
  e: unknown,
  error: EdgeError,
  context: { batch: number; pending: number; retryInMs: number },
): void {
  const sqlite = (e as { code?: unknown } | null)?.code;
  log.error(
    { code: 'EDGE_ERR_STORE_WRITE', sqlite, err: error.message, ...context },
    'outbox commit failed; records stay pending',
  );
}

/** Records could not be committed (flush, close): `lastFailure` is why. */
export function uncommittedError(message: string, lastFailure: EdgeError | null): EdgeError {
  return new EdgeError('EDGE_ERR_STORE_WRITE', message, { cause: lastFailure ?? undefined });
}

/** The WAL sync of committed batches failed: their producers hear it (the rows stay stored). */
export function syncFailed(counters: CommitCounters, error: EdgeError, held: readonly Waiter[]): void {
  counters.healthy = false;
  counters.lastError = error.code;
  for (const w of held) w.reject(error);
}
