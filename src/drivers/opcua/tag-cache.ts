/**
 * What subscription mode publishes for each tag, without I/O: the last notification, the
 * catch-up Read after a (re)connection, the link's code after a reset, and the tags whose
 * monitored item the server refused. Order is kept by a sequence number, not by time: a
 * reset and the Read that follows it can share a clock reading (an injected clock always
 * does), and a Read must still fill what the reset cleared.
 */
import { badValue, type TagValue } from '../../core/types.js';
import type { OpcuaTagConfig } from './config.js';
import { nodeQuality, type OpcuaErrorCode } from './errors.js';
import type { StatusLike } from './subscription.js';

type Entry = { readonly value: TagValue; readonly seq: number };

export class TagCache {
  private readonly entries = new Map<string, Entry>();
  /** Tags whose monitored item the server refused on this link: a Read must not make them good. */
  private readonly refused = new Map<string, TagValue>();
  private seq = 0;

  constructor(private readonly tags: readonly OpcuaTagConfig[]) {}

  /** Every tag (or those `named`) bad with `code` (a lost link, or no value yet since the reconnection). */
  reset(code: OpcuaErrorCode, reason: string, named?: readonly string[]): void {
    const seq = ++this.seq;
    for (const name of named ?? this.tags.map((t) => t.name))
      this.entries.set(name, { value: badValue(name, code, reason), seq });
  }

  /** A notification's value. */
  notified(value: TagValue): void {
    this.entries.set(value.tag, { value, seq: ++this.seq });
  }

  /** The mark a catch-up Read takes before it is sent (see `caughtUp`). */
  mark(): number {
    return ++this.seq;
  }

  /** A catch-up Read sent at `mark`: fills each tag no notification updated since then. */
  caughtUp(mark: number, values: readonly TagValue[]): void {
    for (const value of values) {
      const entry = this.entries.get(value.tag);
      if (!entry || entry.seq < mark) this.entries.set(value.tag, { value, seq: mark });
    }
  }

  /**
   * The tags the server refused a monitored item for, as they now stand (replaces the last
   * list): bad with the code of the item's status until the next connection.
   */
  setRefused(refused: ReadonlyArray<{ readonly tag: OpcuaTagConfig; readonly status: StatusLike }>): void {
    this.refused.clear();
    for (const { tag, status } of refused) {
      const quality = nodeQuality(status);
      const code = quality.good ? 'EDGE_ERR_OPCUA_BAD_STATUS' : quality.code;
      this.refused.set(tag.name, badValue(tag.name, code, `monitored item refused (${status.name})`));
    }
  }

  /** What a poll publishes for `name`. */
  value(name: string): TagValue {
    return (
      this.refused.get(name) ??
      this.entries.get(name)?.value ??
      badValue(name, 'EDGE_ERR_OPCUA_NO_DATA', 'no value yet')
    );
  }
}
