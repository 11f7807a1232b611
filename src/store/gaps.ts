/**
 * Gap events: how the outbox accounts, by seq range, for every record it lost (evicted by
 * the size policy, or dropped from pending while commits failed). Shared by both outbox
 * implementations so they write the same bodies.
 *
 * A device has at most one gap event in the store at a time (its "open" gap). A new loss
 * is merged into it: the open gap's row is replaced by one event whose range covers the
 * old range, the old event's own seq and the new losses. So a gap event is never lost
 * (eviction folds it into its successor instead of deleting its information), and gap
 * events never pile up against `maxRows`. Once a gap event is published (PUBACK awaited
 * or received), the next loss opens a new one: folding a gap the consumer may receive into
 * another would count its losses twice.
 */
import type { NewRecord, RecordClass } from '../core/types.js';

export type GapReason = 'store-full' | 'pending-overflow';

export interface GapData {
  /** Records lost: their seqs lie within [fromSeq, toSeq] (kept records of the range were delivered). */
  evicted: number;
  fromSeq: number;
  toSeq: number;
  /** Cause of the latest loss merged in. */
  reason: GapReason;
  /** Of `evicted`: records dropped from pending before their commit (seqs reserved for them). */
  droppedPending?: number;
  /** Earlier gap events of the device folded into this one (their seqs are in the range, never delivered). */
  merged?: number;
  /** Present when events (not only telemetry) were lost. */
  class?: 'event';
}

/** A device's gap event currently stored (not yet acknowledged). */
export interface OpenGap {
  readonly rowid: number;
  readonly seq: number;
  readonly bytes: number;
  readonly data: GapData;
}

/** Losses of one device in the running transaction. */
interface Part {
  telemetry: number;
  events: number;
  dropped: number;
  fromSeq: number;
  toSeq: number;
  /** The open gap's row was deleted by this transaction's eviction (fold it in, nothing to delete). */
  openEvicted: boolean;
  reason: GapReason;
}

/** What one device's gap row needs: the record, and the stored gap it replaces (still to delete). */
export interface GapWrite {
  readonly device: string;
  readonly record: NewRecord;
  readonly data: GapData;
  readonly replaces: OpenGap | undefined;
}

/** Room to keep for each gap row a transaction adds (body bytes; gap bodies are about 150 B). */
export const GAP_ROW_BYTES = 256;

export function gapBody(data: GapData): string {
  return JSON.stringify({ type: 'gap', severity: data.class === 'event' ? 'error' : 'warning', data });
}

/** The gap data of a stored body, or undefined when it is not a gap event written by this scheme. */
export function parseGap(body: string): GapData | undefined {
  if (!body.startsWith('{"type":"gap"')) return undefined;
  try {
    const parsed = JSON.parse(body) as { data?: Partial<GapData> };
    const d = parsed.data;
    if (d && typeof d.fromSeq === 'number' && typeof d.toSeq === 'number' && typeof d.evicted === 'number')
      return d as GapData;
  } catch {
    /* not ours */
  }
  return undefined;
}

export class GapBook {
  private open = new Map<string, OpenGap>();
  private parts = new Map<string, Part>();
  private saved: Map<string, OpenGap> | null = null;

  /** Start of a transaction: what rollback() returns to. */
  begin(): void {
    this.saved = new Map(this.open);
    this.parts.clear();
  }

  rollback(): void {
    if (this.saved) this.open = this.saved;
    this.saved = null;
    this.parts.clear();
  }

  /** A stored gap row found at open (the latest per device wins). */
  restore(device: string, gap: OpenGap): void {
    const cur = this.open.get(device);
    if (!cur || cur.rowid < gap.rowid) this.open.set(device, gap);
  }

  isOpenGap(device: string, rowid: number): boolean {
    return this.open.get(device)?.rowid === rowid;
  }

  private part(device: string, reason: GapReason): Part {
    let p = this.parts.get(device);
    if (!p) {
      p = {
        telemetry: 0,
        events: 0,
        dropped: 0,
        fromSeq: Infinity,
        toSeq: -Infinity,
        openEvicted: false,
        reason,
      };
      this.parts.set(device, p);
    }
    p.reason = reason;
    return p;
  }

  /** A committed row deleted by the size policy. */
  evicted(device: string, rowid: number, seq: number, cls: RecordClass): void {
    const p = this.part(device, 'store-full');
    if (this.isOpenGap(device, rowid)) {
      p.openEvicted = true;
      return;
    }
    if (cls === 'event') p.events++;
    else p.telemetry++;
    p.fromSeq = Math.min(p.fromSeq, seq);
    p.toSeq = Math.max(p.toSeq, seq);
  }

  /** Pending records dropped before their commit; the caller reserved seqs [fromSeq, toSeq] for them. */
  dropped(device: string, fromSeq: number, toSeq: number): void {
    const p = this.part(device, 'pending-overflow');
    p.dropped += toSeq - fromSeq + 1;
    p.fromSeq = Math.min(p.fromSeq, fromSeq);
    p.toSeq = Math.max(p.toSeq, toSeq);
  }

  /** Gap rows the pending losses add (a device whose open gap row still exists replaces it). */
  rowsToAdd(): number {
    let n = 0;
    for (const [device, p] of this.parts) if (p.openEvicted || !this.open.has(device)) n++;
    return n;
  }

  get pendingDevices(): number {
    return this.parts.size;
  }

  /** Per-device counts of this transaction's losses (for the log lines). */
  losses(): Array<{
    device: string;
    telemetry: number;
    events: number;
    dropped: number;
    fromSeq: number;
    toSeq: number;
  }> {
    return [...this.parts].map(([device, p]) => ({ device, ...p }));
  }

  /** The gap rows to write, each merged with the device's open gap; clears the parts. */
  drain(ts: number): GapWrite[] {
    const out: GapWrite[] = [];
    for (const [device, p] of this.parts) {
      const prev = this.open.get(device);
      const data: GapData = {
        evicted: p.telemetry + p.events + p.dropped + (prev?.data.evicted ?? 0),
        fromSeq: Math.min(p.fromSeq, prev?.data.fromSeq ?? Infinity, prev?.seq ?? Infinity),
        toSeq: Math.max(p.toSeq, prev?.data.toSeq ?? -Infinity, prev?.seq ?? -Infinity),
        reason: p.reason,
      };
      const dropped = p.dropped + (prev?.data.droppedPending ?? 0);
      if (dropped > 0) data.droppedPending = dropped;
      const merged = prev ? (prev.data.merged ?? 0) + 1 : 0;
      if (merged > 0) data.merged = merged;
      if (p.events > 0 || prev?.data.class === 'event') data.class = 'event';
      out.push({
        device,
        data,
        record: { device, cls: 'event', ts, body: gapBody(data) },
        replaces: prev && !p.openEvicted ? prev : undefined,
      });
    }
    this.parts.clear();
    return out;
  }

  /** The gap row just written for `device`. */
  opened(device: string, gap: OpenGap): void {
    this.open.set(device, gap);
  }

  /** Rows published or acknowledged: such a gap is closed (the next loss opens a new one). */
  acked(isAcked: (rowid: number) => boolean): void {
    for (const [device, gap] of this.open) if (isAcked(gap.rowid)) this.open.delete(device);
  }

  /** The same, for rowids sorted ascending (binary search). */
  ackedSorted(sorted: ArrayLike<number>): void {
    this.acked((rowid) => {
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((sorted[mid] ?? 0) < rowid) lo = mid + 1;
        else hi = mid;
      }
      return sorted[lo] === rowid;
    });
  }

  /** End of a successful transaction. */
  commit(): void {
    this.saved = null;
  }
}
