/**
 * Shared by the eviction-gap tests (inflight-evict-gap, acked-evict-gap): a small SQLite
 * outbox over its size cap, a source that hands every call through to it (a test
 * overrides the one call whose turn it squeezes a commit into), and the split of what the
 * consumer received into data seqs and gap events.
 */
import { join } from 'node:path';
import { storeSchema } from '../../src/config/sections/store.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger, type OutboxSource } from '../../src/core/ports.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { tempDir } from '../helpers/tmp.js';
import { telemetry } from './fake-outbox.js';
import type { Received } from './util.js';

export const MAX_ROWS = 50;

export interface GapSpan {
  readonly from: number;
  readonly to: number;
  /** Seqs this gap says are lost: its evicted records and the earlier gap events folded in. */
  readonly lost: number;
}

/** Data seqs received, and the gap events received by their own seq (duplicates once). */
export function received(messages: readonly Received[]): { seqs: Set<number>; gaps: Map<number, GapSpan> } {
  const seqs = new Set<number>();
  const gaps = new Map<number, GapSpan>();
  for (const m of messages)
    for (const r of m.json.records ?? []) {
      const gap = r.event as
        | { type?: string; data?: { fromSeq: number; toSeq: number; evicted: number; merged?: number } }
        | undefined;
      if (gap?.type === 'gap' && gap.data) {
        const { fromSeq, toSeq, evicted, merged } = gap.data;
        gaps.set(r.seq, { from: fromSeq, to: toSeq, lost: evicted + (merged ?? 0) });
      } else seqs.add(r.seq);
    }
  return { seqs, gaps };
}

export interface SqueezedOutbox {
  readonly outbox: SqliteOutbox;
  readonly path: string;
  /** Appends n telemetry records of device `d` with the next seqs. */
  appendBurst(n: number): void;
  /** Every OutboxSource call handed through to the outbox, with `overrides` in their place. */
  source(overrides: Partial<OutboxSource>): OutboxSource;
  remove(): Promise<void>;
}

/** An outbox capped at MAX_ROWS rows, already holding 40 committed records. */
export async function openSqueezedOutbox(): Promise<SqueezedOutbox> {
  const dir = tempDir();
  const path = join(dir.path, 'outbox.db');
  const outbox = SqliteOutbox.open(storeSchema.parse({ path, maxRows: MAX_ROWS, integrityCheck: 'off' }), {
    clock: systemClock,
    logger: silentLogger,
  });
  let next = 0;
  const appendBurst = (n: number): void => {
    for (let i = 0; i < n; i++) outbox.append(telemetry('d', 1_700_000_000_000 + next, next++));
  };
  appendBurst(40);
  await outbox.flush();
  const source = (overrides: Partial<OutboxSource>): OutboxSource => ({
    read: (a, l, b, before) => outbox.read(a, l, b, before),
    lastRowid: () => outbox.lastRowid(),
    onCommit: (fn) => outbox.onCommit(fn),
    ack: (rowids) => outbox.ack(rowids),
    acked: (rowids) => outbox.acked(rowids),
    sending: (rowids) => outbox.sending(rowids),
    unsent: (rowids) => outbox.unsent(rowids),
    evictions: () => outbox.evictions(),
    ...overrides,
  });
  const remove = async (): Promise<void> => {
    await outbox.close();
    dir.remove();
  };
  return { outbox, path, appendBurst, source, remove };
}
