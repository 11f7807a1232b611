/**
 * An array-based OutboxSource for forwarder tests and the drain bench: rowids ascend
 * from 1, `read` binary-searches, `ack` deletes. It records every ack and read so tests
 * can check exactly what was acknowledged.
 */
import type { OutboxSource } from '../../src/core/ports.js';
import { encodeValues, eventToRecord } from '../../src/core/record-codec.js';
import { badValue, goodValue, type NewRecord, type StoredRecord } from '../../src/core/types.js';

export class FakeOutbox implements OutboxSource {
  private records: StoredRecord[] = [];
  private readonly deleted = new Set<number>();
  private head = 0;
  private nextRowid = 1;
  private readonly seqs = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  /** Every ack() call, in order. */
  readonly acks: number[][] = [];
  readonly ackedRowids = new Set<number>();
  /** Called at the start of every read (instrumentation hook). */
  onRead: (() => void) | undefined;
  /** Called at every ack (instrumentation hook). */
  onAck: ((rowids: readonly number[]) => void) | undefined;
  /** Every acked() call (rows PUBACKed, their delete may come later), in PUBACK order. */
  readonly delivered: number[][] = [];
  onDelivered: ((rowids: readonly number[]) => void) | undefined;
  /** Calls to read/ack/acked/onCommit after seal(): a stopped forwarder must make none. */
  readonly callsAfterSeal: string[] = [];
  private sealed = false;

  constructor(private readonly epoch = 'e1') {}

  /** From here on every read/ack/acked/onCommit is recorded in `callsAfterSeal` (and still served). */
  seal(): void {
    this.sealed = true;
  }

  private called(what: string): void {
    if (this.sealed) this.callsAfterSeal.push(what);
  }

  /** Appends and commits records (one commit, listeners notified once). */
  append(records: readonly NewRecord[], notify = true): StoredRecord[] {
    const out: StoredRecord[] = [];
    for (const r of records) {
      const seq = (this.seqs.get(r.device) ?? 0) + 1;
      this.seqs.set(r.device, seq);
      const rowid = this.nextRowid++;
      const stored: StoredRecord = { ...r, rowid, seq, id: `${this.epoch}-${rowid}` };
      this.records.push(stored);
      out.push(stored);
    }
    if (notify) for (const l of [...this.listeners]) l();
    return out;
  }

  get size(): number {
    return this.records.length - this.head - this.deletedAfterHead();
  }

  private deletedAfterHead(): number {
    return this.deleted.size;
  }

  /** Records not acked yet. */
  remaining(): StoredRecord[] {
    return this.records.slice(this.head).filter((r) => !this.deleted.has(r.rowid));
  }

  read(afterRowid: number, limit: number, maxBytes: number, beforeRowid?: number): StoredRecord[] {
    this.called('read');
    this.onRead?.();
    const recs = this.records;
    let lo = this.head;
    let hi = recs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (recs[mid]!.rowid <= afterRowid) lo = mid + 1;
      else hi = mid;
    }
    const out: StoredRecord[] = [];
    let bytes = 0;
    for (let i = lo; i < recs.length && out.length < limit; i++) {
      const r = recs[i]!;
      if (beforeRowid !== undefined && r.rowid >= beforeRowid) break;
      if (this.deleted.has(r.rowid)) continue;
      if (out.length > 0 && bytes + r.body.length > maxBytes) break;
      bytes += r.body.length;
      out.push(r);
    }
    return out;
  }

  acked(rowids: readonly number[]): void {
    this.called('acked');
    this.delivered.push([...rowids]);
    this.onDelivered?.(rowids);
  }

  ack(rowids: readonly number[]): void {
    this.called('ack');
    this.acks.push([...rowids]);
    this.onAck?.(rowids);
    for (const id of rowids) {
      this.ackedRowids.add(id);
      this.deleted.add(id);
    }
    // Compact the deleted prefix so reads stay cheap during a long drain.
    while (this.head < this.records.length && this.deleted.has(this.records[this.head]!.rowid)) {
      this.deleted.delete(this.records[this.head]!.rowid);
      this.head++;
    }
    if (this.head > 100_000 && this.head > this.records.length / 2) {
      this.records = this.records.slice(this.head);
      this.head = 0;
    }
  }

  lastRowid(): number {
    return this.nextRowid - 1;
  }

  onCommit(listener: () => void): () => void {
    this.called('onCommit');
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}

/** A realistic telemetry body of ~150 bytes. */
export function telemetryBody(i: number): string {
  return JSON.stringify({
    'flow.m3h': { v: Math.round((100 + (i % 50) * 1.7) * 100) / 100, q: 'good' },
    'pressure.bar': { v: Math.round((4 + (i % 13) * 0.11) * 1000) / 1000, q: 'good' },
    'pump.running': { v: i % 7 !== 0, q: 'good' },
    'temp.c': { v: 20 + (i % 9), q: 'good' },
  });
}

export function telemetry(device: string, ts: number, i = 0): NewRecord {
  return { device, cls: 'telemetry', ts, body: telemetryBody(i) };
}

export function event(device: string, ts: number, type = 'device-offline'): NewRecord {
  return {
    device,
    cls: 'event',
    ts,
    body: JSON.stringify({ type, severity: 'warning', data: { reason: 'timeout' } }),
  };
}

/** Telemetry and events of two devices, with an escaped tag name and a bad value. */
export function mixedRecords(): NewRecord[] {
  return [
    telemetry('d1', 1_700_000_000_000, 1),
    telemetry('d2', 1_700_000_000_001, 2),
    event('d1', 1_700_000_000_002),
    {
      device: 'd1',
      cls: 'telemetry',
      ts: 1_700_000_000_003,
      body: encodeValues([
        goodValue('t "quoted" é', 'x\n'),
        badValue('t2', 'EDGE_ERR_MODBUS_TIMEOUT', 'no answer'),
      ]),
    },
    eventToRecord({ device: 'd2', ts: 1_700_000_000_004, type: 'device-online', severity: 'info' }),
  ];
}
