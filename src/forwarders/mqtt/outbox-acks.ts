/**
 * PUBACKed rowids on their way back to the outbox: PUBACKs arriving together are merged
 * into one ack() (one transaction, contiguous rowid ranges) on the next turn of the event
 * loop; flush() acks what is buffered at once (before a connection is dropped).
 */
export class OutboxAcks {
  private buffer: number[] = [];
  private immediate: NodeJS.Immediate | undefined;

  constructor(
    private readonly ack: (rowids: number[]) => void,
    /** An ack that failed: its records stay unacked and will be sent again. */
    private readonly onError: (error: Error) => void,
  ) {}

  add(rowids: readonly number[]): void {
    for (const rowid of rowids) this.buffer.push(rowid);
    if (!this.immediate) this.immediate = setImmediate(() => this.flush());
  }

  /** Acks every PUBACKed rowid not yet acked to the outbox. */
  flush(): void {
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    if (this.buffer.length === 0) return;
    const rowids = this.buffer;
    this.buffer = [];
    try {
      this.ack(rowids);
    } catch (e) {
      this.onError(e as Error);
    }
  }
}
