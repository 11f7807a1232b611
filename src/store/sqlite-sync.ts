/**
 * `PRAGMA synchronous` of the outbox connection, per transaction: FULL unless every record
 * of a batch is of a class configured `normal` and nobody waits for it; acks run NORMAL.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { StoreConfig } from '../config/sections/store.js';
import type { NewRecord } from '../core/types.js';

export type SyncMode = 'FULL' | 'NORMAL';

export class SyncModes {
  private mode: SyncMode = 'FULL';
  private readonly statements = new Map<SyncMode, BetterSqlite3.Statement>();
  private readonly telemetry: SyncMode;
  private readonly event: SyncMode;

  constructor(
    private readonly db: BetterSqlite3.Database,
    config: StoreConfig,
  ) {
    this.telemetry = config.synchronous.telemetry === 'normal' ? 'NORMAL' : 'FULL';
    this.event = config.synchronous.event === 'normal' ? 'NORMAL' : 'FULL';
  }

  /** The mode the connection is in. */
  get current(): SyncMode {
    return this.mode;
  }

  /**
   * FULL when a record's class asks for it, and whenever a record has a waiter: a durable
   * append (appendDurable, appendOnce) tells its producer the record is stored, and the
   * producer lets go of it (a CIP-22 pile forgets the frame it got an ACK for), so
   * `normal` only ever applies to fire-and-forget appends.
   */
  forBatch<W>(batch: readonly NewRecord[], n: number, waiters: ReadonlyMap<NewRecord, W>): SyncMode {
    if (this.telemetry === 'FULL' && this.event === 'FULL') return 'FULL';
    const awaited = waiters.size > 0;
    let hasTelemetry = false;
    let hasEvent = false;
    for (let i = 0; i < n; i++) {
      const r = batch[i]!;
      if (awaited && waiters.has(r)) return 'FULL';
      if (r.cls === 'event') hasEvent = true;
      else hasTelemetry = true;
      if (!awaited && hasTelemetry && hasEvent) break;
    }
    if ((hasEvent && this.event === 'FULL') || (hasTelemetry && this.telemetry === 'FULL')) return 'FULL';
    return 'NORMAL';
  }

  set(mode: SyncMode): void {
    if (mode === this.mode) return;
    // Prepared once: acks switch the mode twice per transaction.
    let st = this.statements.get(mode);
    if (!st) {
      st = this.db.prepare(`PRAGMA synchronous = ${mode}`);
      this.statements.set(mode, st);
    }
    st.run();
    this.mode = mode;
  }
}
