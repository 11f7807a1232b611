/**
 * PUBACKed rowids on their way back to the outbox, batched so that deleting them costs
 * few transactions and none runs in the turn that handles a PUBACK: the buffer is acked
 * (one transaction, contiguous rowid ranges) at the end of the turn in which it reached
 * `maxRows` or in which idle() said nothing is left in flight, else `maxDelayMs` after
 * its first rowid at the latest. flush() acks what is buffered at once (before a
 * connection is dropped).
 *
 * Late deletes are safe: a record PUBACKed but not yet deleted when the agent dies is
 * sent again (at least once, same id); a record is never deleted before its PUBACK.
 *
 * Runs: each message carries one device's records, so the rowids PUBACKed so far are
 * often a comb (devices 0–4 of a rowid span, not 5–9 yet), and deleting a comb costs two
 * statements per tooth (a drain of 10 devices deleted 8 rows per range on average). A
 * batch that is due while messages are in flight deletes only the runs of at least
 * `minRun` consecutive rowids; shorter ones wait for their neighbours' PUBACKs (up to
 * `maxHeld` rows), and go with everything else once nothing is in flight or at flush().
 */
import { afterTurnOr, type Clock, type TimerHandle } from '../../core/clock.js';

export interface OutboxAcksOptions {
  readonly clock: Clock;
  /** Rowids buffered that trigger an ack at the end of the turn. */
  readonly maxRows: number;
  /** Longest a PUBACKed rowid waits for its ack (0: the end of the turn), short runs aside. */
  readonly maxDelayMs: number;
  /** Shortest run of consecutive rowids deleted while messages are in flight (default 1). */
  readonly minRun?: number;
  /** Rows of shorter runs held back at most (default maxRows). */
  readonly maxHeld?: number;
}

/** While draining a backlog: about one 32-message window of 200-record messages per delete. */
export const ACK_DEFAULTS = { maxRows: 4096, maxDelayMs: 20, minRun: 64, maxHeld: 16_384 } as const;

export class OutboxAcks {
  private buffer: number[] = [];
  private timer: TimerHandle | undefined;
  private soon = false;
  /** Rows of short runs the last batch left in the buffer. */
  private held = 0;

  constructor(
    private readonly ack: (rowids: number[]) => void,
    /** An ack that failed: its records stay unacked and will be sent again. */
    private readonly onError: (error: Error) => void,
    private readonly opts: OutboxAcksOptions,
  ) {}

  get buffered(): number {
    return this.buffer.length;
  }

  add(rowids: readonly number[]): void {
    for (const rowid of rowids) this.buffer.push(rowid);
    if (this.buffer.length - this.held >= this.opts.maxRows) this.flushAfterTurn();
    else this.timer ??= afterTurnOr(this.opts.clock, () => this.due(false), this.opts.maxDelayMs);
  }

  /** Nothing is in flight: everything buffered is acked at the end of this turn. */
  idle(): void {
    if (this.buffer.length > 0) this.flushAfterTurn(true);
  }

  /** Acks every PUBACKed rowid not yet acked to the outbox. */
  flush(): void {
    this.due(true);
  }

  private due(all: boolean): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.soon = false;
    if (this.buffer.length === 0) return;
    let rowids = this.buffer;
    this.buffer = [];
    this.held = 0;
    if (!all && (this.opts.minRun ?? 1) > 1) {
      const { runs, held } = splitRuns(rowids, this.opts.minRun ?? 1);
      if (held.length <= (this.opts.maxHeld ?? this.opts.maxRows)) {
        rowids = runs;
        this.buffer = held;
        this.held = held.length;
        if (held.length > 0)
          this.timer = afterTurnOr(this.opts.clock, () => this.due(false), this.opts.maxDelayMs);
      }
    }
    if (rowids.length === 0) return;
    try {
      this.ack(rowids);
    } catch (e) {
      this.onError(e as Error);
    }
  }

  private flushAfterTurn(all = false): void {
    if (this.soon && !all) return;
    this.soon = true;
    this.timer?.cancel();
    this.timer = afterTurnOr(this.opts.clock, () => this.due(all), 0);
  }
}

/** Sorted rowids split into runs of at least `minRun` consecutive ones and the rest. */
function splitRuns(rowids: readonly number[], minRun: number): { runs: number[]; held: number[] } {
  const sorted = Float64Array.from(rowids).sort();
  const runs: number[] = [];
  const held: number[] = [];
  let start = 0;
  for (let i = 1; i <= sorted.length; i++) {
    if (i < sorted.length && sorted[i] === sorted[i - 1]! + 1) continue;
    const into = i - start >= minRun ? runs : held;
    for (let j = start; j < i; j++) into.push(sorted[j]!);
    start = i;
  }
  return { runs, held };
}
