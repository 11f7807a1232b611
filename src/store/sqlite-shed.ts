/**
 * The group commit's pending bound (sqlite-group-commit.ts): while commits fail, pending
 * grows; past `store.maxPendingRecords` the oldest pending telemetry is dropped (never
 * events, never a member of an appendOnce group), counted per device for the gap event
 * the next commit writes.
 */
import { EdgeError } from '../core/errors.js';
import type { Logger } from '../core/ports.js';
import type { NewRecord } from '../core/types.js';
import type { PendingOnceGroups } from './sqlite-once-groups.js';

export interface ShedContext {
  readonly counters: { droppedPending: number };
  readonly log: Logger;
  readonly maxPending: number;
}

/** Drops the oldest pending telemetry record, rejecting its durable append if it has one. */
export function shedOldestTelemetry(
  pending: NewRecord[],
  groups: PendingOnceGroups,
  waiters: Map<NewRecord, { reject(error: Error): void }>,
  droppedByDevice: Map<string, number>,
  ctx: ShedContext,
): void {
  for (let i = 0; i < pending.length; i++) {
    const r = pending[i]!;
    // Group members are never shed: a group commits whole or not at all.
    if (r.cls !== 'telemetry' || groups.isMember(r)) continue;
    pending.splice(i, 1);
    const dropped = ++ctx.counters.droppedPending;
    // A new episode: nothing dropped since the last gap event was committed.
    const episodeStart = droppedByDevice.size === 0;
    droppedByDevice.set(r.device, (droppedByDevice.get(r.device) ?? 0) + 1);
    const w = waiters.get(r);
    if (w !== undefined) {
      waiters.delete(r);
      w.reject(
        new EdgeError(
          'EDGE_ERR_STORE_FULL',
          'pending telemetry dropped: outbox cannot commit and its pending buffer is full',
        ),
      );
    }
    if (episodeStart) {
      ctx.log.error(
        { code: 'EDGE_ERR_STORE_FULL', droppedPending: dropped, maxPendingRecords: ctx.maxPending },
        'outbox pending buffer full: dropping oldest pending telemetry',
      );
    }
    return;
  }
}

/** A commit wrote the gap events of `booked` (a copy of droppedByDevice): those drops are accounted for. */
export function unbookDropped(
  droppedByDevice: Map<string, number>,
  booked: ReadonlyMap<string, number>,
): void {
  for (const [device, count] of booked) {
    const left = (droppedByDevice.get(device) ?? 0) - count;
    if (left > 0) droppedByDevice.set(device, left);
    else droppedByDevice.delete(device);
  }
}

/** A commit wrote the gap events of a pending-overflow episode: it is over. */
export function logDropsBooked(
  log: Logger,
  droppedPending: number,
  devices: readonly { device: string; fromSeq: number; toSeq: number }[],
): void {
  log.error(
    { code: 'EDGE_ERR_STORE_FULL', droppedPending, devices },
    'outbox pending-overflow episode over: dropped records accounted for by gap events (seq ranges)',
  );
}
