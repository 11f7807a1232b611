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
 */
import { afterTurnOr, type Clock, type TimerHandle } from '../../core/clock.js';

export interface OutboxAcksOptions {
  readonly clock: Clock;
  /** Rowids buffered that trigger an ack at the end of the turn. */
  readonly maxRows: number;
  /** Longest a PUBACKed rowid waits for its ack (0: the end of the turn). */
  readonly maxDelayMs: number;
}

/** While draining a backlog: about one 32-message window of 200-record messages per delete. */
export const ACK_DEFAULTS = { maxRows: 4096, maxDelayMs: 20 } as const;

export class OutboxAcks {
  private buffer: number[] = [];
  private timer: TimerHandle | undefined;
  private soon = false;

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
    if (this.buffer.length >= this.opts.maxRows) this.flushAfterTurn();
    else this.timer ??= afterTurnOr(this.opts.clock, () => this.flush(), this.opts.maxDelayMs);
  }

  /** Nothing is in flight: what is buffered is acked at the end of this turn. */
  idle(): void {
    if (this.buffer.length > 0) this.flushAfterTurn();
  }

  /** Acks every PUBACKed rowid not yet acked to the outbox. */
  flush(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.soon = false;
    if (this.buffer.length === 0) return;
    const rowids = this.buffer;
    this.buffer = [];
    try {
      this.ack(rowids);
    } catch (e) {
      this.onError(e as Error);
    }
  }

  private flushAfterTurn(): void {
    if (this.soon) return;
    this.soon = true;
    this.timer?.cancel();
    this.timer = afterTurnOr(this.opts.clock, () => this.flush(), 0);
  }
}
