/**
 * PUBACKed rowids on their way back to the outbox, batched so that deleting them costs
 * few transactions and none runs in the turn that handles a PUBACK: the buffer is acked
 * (one transaction, contiguous rowid ranges) at the end of the turn in which it reached
 * `maxRows` or in which idle() said nothing is left in flight, else `maxDelayMs` after
 * its first rowid at the latest. flush() acks what is buffered at once (before a
 * connection is dropped).
 *
 * Combs: a message carries one device's records, so the rowids PUBACKed so far are often
 * a comb (devices 0–4 of a rowid span, 5–9 still in flight); deleting a comb costs two
 * statements per tooth and writes each page twice (a 10-device drain deleted 8 rows per
 * range on average). So a batch due while messages are in flight holds back rowids whose
 * neighbours may still come: with `settled` (the drain's floors, the forwarder's way) each
 * rowid above its lane's lowest unacknowledged one (a 10-device drain then deletes runs
 * of thousands); without, for one more batch at most, the messages whose rowids are not
 * yet inside a run of `minRun` consecutive ones (each ack() then whole messages, in PUBACK
 * order). idle() and flush() take everything.
 *
 * Late deletes are safe: a record PUBACKed but not yet deleted when the agent dies is
 * sent again (at least once, same id); a record is never deleted before its PUBACK.
 *
 * An ack may answer later (a Promise: the outbox deletes in a worker thread): several may
 * be under way, a rejection counts as a failed ack, and settled() tells when none is.
 *
 * A failed ack keeps its rowids and is retried with backoff (`failing` until one
 * succeeds, then `onRecovered`): the drain publishes nothing new meanwhile, so the rows
 * the outbox holds as delivered stay bounded by one window, none is lost and none is read
 * and published again. cancelRetry() (the forwarder stops) leaves them to the next start.
 */
import { Backoff } from '../../core/backoff.js';
import { afterTurnOr, type Clock, type TimerHandle } from '../../core/clock.js';

const RETRY_POLICY = { initialMs: 100, maxMs: 5000, multiplier: 2, jitter: 0 };

export interface OutboxAcksOptions {
  readonly clock: Clock;
  /** Rowids buffered that trigger an ack at the end of the turn. */
  readonly maxRows: number;
  /** Longest a PUBACKed rowid waits for its ack (0: the end of the turn), a held comb aside. */
  readonly maxDelayMs: number;
  /** Run of consecutive rowids a message must lie in to go while others are in flight (default 1). */
  readonly minRun?: number;
  /** An ack succeeded after failing ones. */
  readonly onRecovered?: () => void;
  /**
   * The drain's floors (DrainWindow.ackedBelowFloor): a batch due while messages are in
   * flight takes only the rowids it says are settled and holds the others (rowid by
   * rowid, up to HOLD_MAX_ROWS), in place of the minRun rule.
   */
  readonly settled?: () => (rowid: number) => boolean;
}

/** Rowids held back for their neighbours at most; past it a batch takes everything. */
export const HOLD_MAX_ROWS = 32_768;

/** While draining a backlog: about one 32-message window of 200-record messages per delete. */
export const ACK_DEFAULTS = { maxRows: 4096, maxDelayMs: 20, minRun: 64 } as const;

interface Acked {
  readonly rowids: readonly number[];
  /** Held back once already: goes with the next batch whatever its neighbours. */
  held: boolean;
}

export class OutboxAcks {
  private buffer: Acked[] = [];
  private rows = 0;
  private heldRows = 0;
  private timer: TimerHandle | undefined;
  private soon = false;
  private failures = 0;
  private running = 0;
  private readonly whenSettled: (() => void)[] = [];
  private readonly backoff = new Backoff(RETRY_POLICY);

  constructor(
    private readonly ack: (rowids: number[]) => void | Promise<void>,
    /** An ack that failed: its records stay unacked and will be sent again. */
    private readonly onError: (error: Error) => void,
    private readonly opts: OutboxAcksOptions,
  ) {}

  get buffered(): number {
    return this.rows;
  }

  /** The last ack failed: its rowids wait for the retry (publish nothing new meanwhile). */
  get failing(): boolean {
    return this.failures > 0;
  }

  /** Acks answered later and not yet answered. */
  get underWay(): number {
    return this.running;
  }

  /** Resolves once no ack is under way (a new connection reads after the deletes it sent). */
  settled(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.whenSettled.push(resolve));
  }

  /** The rowids of one PUBACKed message. */
  add(rowids: readonly number[]): void {
    this.buffer.push({ rowids, held: false });
    this.rows += rowids.length;
    if (this.failing) return; // they go with the retry
    if (this.rows - this.heldRows >= this.opts.maxRows) this.flushAfterTurn();
    else this.timer ??= afterTurnOr(this.opts.clock, () => this.due(false), this.opts.maxDelayMs);
  }

  /** Nothing is in flight: what is buffered is acked at the end of this turn. */
  idle(): void {
    if (this.rows > 0 && !this.failing) this.flushAfterTurn(true);
  }

  /** Acks every PUBACKed rowid not yet acked to the outbox. */
  flush(): void {
    this.due(true);
  }

  /** No more retries (the forwarder stops): what is buffered is sent again after a restart. */
  cancelRetry(): void {
    if (!this.failing) return;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private due(all: boolean): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.soon = false;
    if (this.rows === 0) return;
    const [go, keep] = all ? [this.buffer, []] : this.hold();
    this.buffer = keep;
    this.heldRows = 0;
    for (const m of keep) {
      m.held = true;
      this.heldRows += m.rowids.length;
    }
    this.rows = this.heldRows;
    if (keep.length > 0)
      this.timer = afterTurnOr(this.opts.clock, () => this.due(false), this.opts.maxDelayMs);
    if (go.length === 0) return;
    const rowids: number[] = [];
    for (const m of go) for (const r of m.rowids) rowids.push(r);
    let answer: void | Promise<void>;
    try {
      answer = this.ack(rowids);
    } catch (e) {
      this.failed(rowids, e as Error);
      return;
    }
    if (!answer) return this.succeeded();
    this.running++;
    answer.then(
      () => this.answered(() => this.succeeded()),
      (e: Error) => this.answered(() => this.failed(rowids, e)),
    );
  }

  private answered(then: () => void): void {
    this.running--;
    then();
    if (this.running === 0) for (const resolve of this.whenSettled.splice(0)) resolve();
  }

  private succeeded(): void {
    if (this.failures === 0) return;
    this.failures = 0;
    this.backoff.reset();
    this.opts.onRecovered?.();
  }

  private failed(rowids: readonly number[], e: Error): void {
    this.retryLater(rowids);
    this.onError(e);
  }

  /** What goes now and what is held, by the settled floors or else by the minRun rule. */
  private hold(): [Acked[], Acked[]] {
    const settled = this.opts.settled?.();
    if (!settled) {
      const minRun = this.opts.minRun ?? 1;
      return minRun <= 1 ? [this.buffer, []] : split(this.buffer, minRun);
    }
    const go: number[] = [];
    const keep: number[] = [];
    for (const m of this.buffer) for (const r of m.rowids) (settled(r) ? go : keep).push(r);
    if (keep.length > HOLD_MAX_ROWS) return [this.buffer, []];
    return [
      go.length > 0 ? [{ rowids: go, held: false }] : [],
      keep.length > 0 ? [{ rowids: keep, held: true }] : [],
    ];
  }

  /** Keeps `rowids` (first, held) and tries everything buffered again after a backoff. */
  private retryLater(rowids: readonly number[]): void {
    this.failures++;
    this.buffer.unshift({ rowids, held: true });
    this.rows += rowids.length;
    this.heldRows += rowids.length;
    this.soon = false;
    this.timer?.cancel();
    this.timer = this.opts.clock.setTimeout(() => this.due(true), this.backoff.next());
  }

  private flushAfterTurn(all = false): void {
    if (this.soon && !all) return;
    this.soon = true;
    this.timer?.cancel();
    this.timer = afterTurnOr(this.opts.clock, () => this.due(all), 0);
  }
}

/** Messages that go (inside a run of at least `minRun` rowids, or held once) and those held. */
function split(buffer: readonly Acked[], minRun: number): [Acked[], Acked[]] {
  let n = 0;
  for (const m of buffer) n += m.rowids.length;
  const sorted = new Float64Array(n);
  n = 0;
  for (const m of buffer) for (const r of m.rowids) sorted[n++] = r;
  sorted.sort();
  // longUntil[i]: last rowid of the run holding sorted[i] when that run is long enough, else 0.
  const longUntil = new Float64Array(n);
  let start = 0;
  for (let i = 1; i <= n; i++) {
    if (i < n && sorted[i] === sorted[i - 1]! + 1) continue;
    if (i - start >= minRun) longUntil.fill(sorted[i - 1]!, start, i);
    start = i;
  }
  const inLongRun = (rowid: number): boolean => {
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! < rowid) lo = mid + 1;
      else hi = mid;
    }
    return longUntil[lo]! > 0;
  };
  const go: Acked[] = [];
  const keep: Acked[] = [];
  for (const m of buffer) {
    const ready = m.held || m.rowids.every(inLongRun);
    (ready ? go : keep).push(m);
  }
  return [go, keep];
}
