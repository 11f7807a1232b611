/**
 * Exactly-once per (pile, msg_seq) without a store lookup per frame. A pile counts msg_seq
 * up and resends only what was not ACKed, so almost every frame carries a msg_seq above
 * any the gateway has handed to the store: such a frame is new, known from a per-pile
 * high-water mark learnt from the store (committed and pending keys). Only a msg_seq at
 * or below the mark (a resend after a reconnect or restart, a gap being filled, a counter
 * that wrapped or was reset) asks the store whether its key is there. The store's dedup
 * insert in the commit transaction still decides what is written.
 *
 * The mark is learnt in bounded steps, one per frame of the pile (a pile with a week of
 * keys at 1 Hz has 600,000; reading them at once held the event loop for seconds); until
 * it is known, frames ask the store as before, and their msg_seq joins the mark.
 */
import type { OnceSink } from '../../core/ports.js';

export function onceKey(pile: string, msgSeq: number): string {
  return `cip22/${pile}/${msgSeq}`;
}

/** A mark still being read from the store: the highest msg_seq so far, and where to go on. */
interface Learning {
  high: number;
  next: string | undefined;
}

export class SeqMarks {
  /** Per pile: every key at or below it may have been stored; every key above it was not. */
  private readonly marks = new Map<string, number>();
  private readonly learning = new Map<string, Learning>();

  constructor(private readonly sink: OnceSink) {}

  /**
   * True when (pile, msgSeq) was stored or waits to be; false when it is new, which the
   * caller then hands to appendOnce (the mark moves up to it now).
   */
  seen(pile: string, msgSeq: number): boolean {
    const mark = this.marks.get(pile) ?? this.learn(pile);
    if (mark === undefined) {
      const l = this.learning.get(pile) as Learning;
      l.high = Math.max(l.high, msgSeq);
    } else if (msgSeq > mark) {
      this.marks.set(pile, msgSeq);
      return false;
    }
    return this.sink.seenOnce(onceKey(pile, msgSeq));
  }

  /** One more step of the store's keys of this pile: the mark once they are all read. */
  private learn(pile: string): number | undefined {
    // A sink that cannot tell leaves every frame to seenOnce.
    if (!this.sink.highestOnce) return Infinity;
    const l = this.learning.get(pile) ?? { high: -1, next: undefined };
    const step = this.sink.highestOnce(`cip22/${pile}/`, l.next);
    l.high = Math.max(l.high, step.high ?? -1);
    if (step.next !== null) {
      l.next = step.next;
      this.learning.set(pile, l);
      return undefined;
    }
    this.learning.delete(pile);
    this.marks.set(pile, l.high);
    return l.high;
  }
}
