/** A sink that hands every record it stores to the station page too (the CIP-22 gateway's records). */
import type { OnceSink } from '../core/ports.js';
import type { NewRecord } from '../core/types.js';

export function tapSink(sink: OnceSink, tap: (record: NewRecord) => void): OnceSink {
  return {
    append(record) {
      sink.append(record);
      tap(record);
    },
    async appendDurable(record) {
      const stored = await sink.appendDurable(record);
      tap(record);
      return stored;
    },
    async appendOnce(key, records) {
      const result = await sink.appendOnce(key, records);
      // A retransmitted frame is stored once; the page shows it once too.
      if (!result.duplicate) for (const record of records) tap(record);
      return result;
    },
    seenOnce: (key) => sink.seenOnce(key),
    ...(sink.highestOnce ? { highestOnce: sink.highestOnce.bind(sink) } : {}),
  };
}
