/**
 * In-memory outbox with the SqliteOutbox semantics (group commit by size and latency,
 * per-device seq, epoch-prefixed ids, bounded size with telemetry-first eviction and gap
 * events), for unit tests of forwarders and producers. Nothing survives the process.
 */
import { afterTurnOr, systemClock, type Clock, type TimerHandle } from '../../src/core/clock.js';
import type { OnceResult, OnceScan } from '../../src/core/ports.js';
import type { NewRecord, RecordClass, StoredRecord } from '../../src/core/types.js';
import { GAP_ROW_BYTES, GapBook } from '../../src/store/gaps.js';
import {
  EVICT_LOW_WATER,
  type Outbox,
  type OutboxStats,
  byteLength,
  closedError,
  storedRecord,
} from '../../src/store/outbox.js';
import { newEpoch } from '../../src/store/schema.js';

export interface MemoryOutboxOptions {
  readonly clock?: Clock;
  readonly maxRows?: number;
  readonly maxBytes?: number;
  /** Group commit size; default 2000. */
  readonly batchMaxRecords?: number;
  /** Group commit wait; default 0: commit when the event-loop turn of the first pending record ends. */
  readonly batchMaxLatencyMs?: number;
}

interface Waiter {
  resolve(record: StoredRecord): void;
  reject(error: Error): void;
}

export class MemoryOutbox implements Outbox {
  private readonly clock: Clock;
  private readonly maxRows: number;
  private readonly maxBytes: number;
  private readonly maxRecords: number;
  private readonly maxLatencyMs: number;
  private readonly idPrefix = `${newEpoch()}-`;

  /** Committed records in rowid order. */
  private records: StoredRecord[] = [];
  private sizes: number[] = [];
  private pending: NewRecord[] = [];
  private readonly waiters = new Map<NewRecord, Waiter>();
  private readonly gaps = new GapBook();
  private readonly seqs = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  /** appendOnce keys: committed, and pending (with the promise of the group that holds it). */
  private readonly onceKeys = new Set<string>();
  private readonly pendingOnce = new Map<string, Promise<OnceResult>>();
  private timer: TimerHandle | null = null;
  private nextRowid = 1;
  private bytes = 0;
  private closed = false;
  private committedTotal = 0;
  private committedBatches = 0;
  private evictedTelemetry = 0;
  private evictedEvent = 0;

  constructor(options: MemoryOutboxOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.maxRows = options.maxRows ?? Number.MAX_SAFE_INTEGER;
    this.maxBytes = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
    this.maxRecords = options.batchMaxRecords ?? 2000;
    this.maxLatencyMs = options.batchMaxLatencyMs ?? 0;
  }

  append(record: NewRecord): void {
    if (this.closed) throw closedError();
    this.pending.push(record);
    if (this.pending.length >= this.maxRecords) this.commit();
    else if (this.timer === null) {
      this.timer = afterTurnOr(
        this.clock,
        () => {
          this.timer = null;
          this.commit();
        },
        this.maxLatencyMs,
      );
    }
  }

  appendDurable(record: NewRecord): Promise<StoredRecord> {
    if (this.closed) return Promise.reject(closedError());
    const own: NewRecord = { device: record.device, cls: record.cls, ts: record.ts, body: record.body };
    return new Promise((resolve, reject) => {
      this.waiters.set(own, { resolve, reject });
      this.append(own);
    });
  }

  /** Nothing here survives a crash, so a group is atomic by being appended in one go. */
  appendOnce(key: string, records: readonly NewRecord[]): Promise<OnceResult> {
    if (this.closed) return Promise.reject(closedError());
    const duplicate: OnceResult = { duplicate: true, records: [] };
    if (this.onceKeys.has(key)) return Promise.resolve(duplicate);
    const earlier = this.pendingOnce.get(key);
    if (earlier) return earlier.then(() => duplicate);
    const done = Promise.all(records.map((r) => this.appendDurable(r))).then((stored): OnceResult => {
      this.onceKeys.add(key);
      this.pendingOnce.delete(key);
      return { duplicate: false, records: stored };
    });
    this.pendingOnce.set(key, done);
    return done;
  }

  seenOnce(key: string): boolean {
    this.seenOnceCalls++;
    return this.onceKeys.has(key) || this.pendingOnce.has(key);
  }

  /** How often seenOnce was asked (the gateway asks only for a msg_seq at or below its high-water mark). */
  seenOnceCalls = 0;

  highestOnce(prefix: string): OnceScan {
    let high: number | null = null;
    for (const key of [...this.onceKeys, ...this.pendingOnce.keys()]) {
      const tail = key.startsWith(prefix) ? key.slice(prefix.length) : '';
      if (/^[0-9]+$/.test(tail)) high = Math.max(high ?? 0, Number(tail));
    }
    return { high, next: null };
  }

  async flush(): Promise<void> {
    if (this.closed) throw closedError();
    this.commit();
  }

  read(afterRowid: number, limit: number, maxBytes: number, beforeRowid?: number): StoredRecord[] {
    if (this.closed) throw closedError();
    const out: StoredRecord[] = [];
    const before = beforeRowid ?? Number.MAX_SAFE_INTEGER;
    let total = 0;
    for (let i = this.lowerBound(afterRowid + 1); i < this.records.length && out.length < limit; i++) {
      const r = this.records[i]!;
      if (r.rowid >= before) break;
      const size = this.sizes[i]!;
      if (out.length > 0 && total + size > maxBytes) break;
      total += size;
      out.push(r);
    }
    return out;
  }

  ack(rowids: readonly number[]): void {
    if (this.closed) throw closedError();
    if (rowids.length === 0) return;
    const gone = new Set(rowids);
    const keep: StoredRecord[] = [];
    const keepSizes: number[] = [];
    for (let i = 0; i < this.records.length; i++) {
      if (gone.has(this.records[i]!.rowid)) this.bytes -= this.sizes[i]!;
      else {
        keep.push(this.records[i]!);
        keepSizes.push(this.sizes[i]!);
      }
    }
    this.records = keep;
    this.sizes = keepSizes;
    this.gaps.acked((rowid) => gone.has(rowid));
  }

  lastRowid(): number {
    if (this.closed) throw closedError();
    return this.nextRowid - 1;
  }

  onCommit(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  stats(): OutboxStats {
    return {
      rows: this.records.length,
      bytes: this.bytes,
      oldestTs: this.records.length > 0 ? this.records[0]!.ts : null,
      committedTotal: this.committedTotal,
      committedBatches: this.committedBatches,
      evicted: { telemetry: this.evictedTelemetry, event: this.evictedEvent },
      droppedPending: 0,
      pendingRecords: this.pending.length,
      checkpoints: 0,
      walBytes: 0,
      lastCommitMs: 0,
      healthy: true,
      lastError: null,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.commit();
    this.closed = true;
    this.listeners.clear();
  }

  private lowerBound(rowid: number): number {
    let lo = 0;
    let hi = this.records.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.records[mid]!.rowid < rowid) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private store(r: NewRecord): StoredRecord {
    const seq = (this.seqs.get(r.device) ?? 0) + 1;
    this.seqs.set(r.device, seq);
    const rowid = this.nextRowid++;
    const stored = storedRecord(r, this.idPrefix, rowid, seq);
    const size = byteLength(r.body);
    this.records.push(stored);
    this.sizes.push(size);
    this.bytes += size;
    this.committedTotal++;
    return stored;
  }

  private commit(): void {
    this.timer?.cancel();
    this.timer = null;
    while (this.pending.length > 0) {
      const batch = this.pending.slice(0, this.maxRecords);
      this.pending = this.pending.slice(batch.length);
      const settled: [Waiter, StoredRecord][] = [];
      for (const r of batch) {
        const stored = this.store(r);
        const w = this.waiters.get(r);
        if (w !== undefined) {
          this.waiters.delete(r);
          settled.push([w, stored]);
        }
      }
      this.gaps.begin();
      for (let pass = 0; pass < 4 && this.overBounds(); pass++) if (!this.evict()) break;
      this.writeGaps();
      this.gaps.commit();
      this.committedBatches++;
      for (const [w, stored] of settled) w.resolve(stored);
      for (const listener of this.listeners) {
        try {
          listener();
        } catch {
          /* a listener's failure is its own */
        }
      }
    }
  }

  private overBounds(): boolean {
    return (
      this.records.length + this.gaps.rowsToAdd() > this.maxRows ||
      this.bytes + this.gaps.pendingDevices * GAP_ROW_BYTES > this.maxBytes
    );
  }

  /** Same policy as sqlite-evict.ts: oldest telemetry, then events, down to low water less the gap rows. */
  private evict(): boolean {
    const fits = (rows: number, bytes: number): boolean => {
      const add = this.gaps.rowsToAdd();
      const room = this.gaps.pendingDevices * GAP_ROW_BYTES;
      return (
        rows + add <= Math.max(Math.floor(this.maxRows * EVICT_LOW_WATER), add) &&
        bytes + room <= Math.max(Math.floor(this.maxBytes * EVICT_LOW_WATER), room)
      );
    };
    let rows = this.records.length;
    let bytes = this.bytes;
    const drop = new Set<number>();
    for (const cls of ['telemetry', 'event'] as RecordClass[]) {
      for (let i = 0; i < this.records.length && !fits(rows, bytes); i++) {
        const r = this.records[i];
        if (r === undefined || r.cls !== cls || drop.has(i)) continue;
        drop.add(i);
        if (!this.gaps.isOpenGap(r.device, r.rowid)) {
          if (cls === 'event') this.evictedEvent++;
          else this.evictedTelemetry++;
        }
        this.gaps.evicted(r.device, r.rowid, r.seq, cls);
        rows--;
        bytes -= this.sizes[i] ?? 0;
      }
    }
    if (drop.size === 0) return false;
    this.records = this.records.filter((_, i) => !drop.has(i));
    this.sizes = this.sizes.filter((_, i) => !drop.has(i));
    this.bytes = bytes;
    return true;
  }

  /** One gap event per device with losses, replacing (merging) its stored one. */
  private writeGaps(): void {
    for (const w of this.gaps.drain(this.clock.now())) {
      if (w.replaces) {
        const rowid = w.replaces.rowid;
        const i = this.records.findIndex((r) => r.rowid === rowid);
        if (i >= 0) {
          this.bytes -= this.sizes[i] ?? 0;
          this.records.splice(i, 1);
          this.sizes.splice(i, 1);
        }
      }
      const stored = this.store(w.record);
      this.gaps.opened(w.device, {
        rowid: stored.rowid,
        seq: stored.seq,
        bytes: byteLength(stored.body),
        data: w.data,
      });
    }
  }
}
