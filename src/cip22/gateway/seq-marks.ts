/**
 * Exactly-once per (pile, msg_seq) without a store lookup per frame. A pile counts msg_seq
 * up and resends only what was not ACKed, so almost every frame carries a msg_seq above
 * any the gateway has handed to the store: such a frame is new, known from a per-pile
 * high-water mark seeded once from the store (committed and pending keys). Only a msg_seq
 * at or below the mark (a resend after a reconnect or restart, a gap being filled, a
 * counter that wrapped or was reset) asks the store whether its key is there. The store's
 * dedup insert in the commit transaction still decides what is written.
 */
import type { OnceSink } from '../../core/ports.js';

export function onceKey(pile: string, msgSeq: number): string {
  return `cip22/${pile}/${msgSeq}`;
}

export class SeqMarks {
  /** Per pile: every key at or below it may have been stored; every key above it was not. */
  private readonly marks = new Map<string, number>();

  constructor(private readonly sink: OnceSink) {}

  /**
   * True when (pile, msgSeq) was stored or waits to be; false when it is new, which the
   * caller then hands to appendOnce (the mark moves up to it now).
   */
  seen(pile: string, msgSeq: number): boolean {
    const mark = this.marks.get(pile) ?? this.seed(pile);
    if (msgSeq > mark) {
      this.marks.set(pile, msgSeq);
      return false;
    }
    return this.sink.seenOnce(onceKey(pile, msgSeq));
  }

  /** The store's highest key of this pile; a sink that cannot tell leaves every frame to seenOnce. */
  private seed(pile: string): number {
    const mark = this.sink.highestOnce ? (this.sink.highestOnce(`cip22/${pile}/`) ?? -1) : Infinity;
    this.marks.set(pile, mark);
    return mark;
  }
}
