/**
 * The small contracts between the layers. Drivers (southbound) produce readings and
 * events; the outbox commits them; forwarders (northbound) drain the outbox. Each side
 * sees only the port it needs, so fakes and real implementations are interchangeable.
 */
import type { NewRecord, StoredRecord, TagValue } from './types.js';

/** Structured logger; pino's logger satisfies it. Secrets never go into bindings. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

/** A tag's name and how often it is due. */
export interface TagSpec {
  readonly name: string;
  readonly intervalMs: number;
}

/**
 * One southbound device. Lifecycle as in Telegraf: `init()` validates and does no I/O;
 * `start()` connects and may be retried (reject with a retryable EdgeError);
 * `poll()` reads; `stop()` releases everything and is safe to call twice.
 *
 * Once started, the driver recovers its own link (reconnect with backoff); `poll()`
 * always resolves, with one TagValue per requested tag, bad quality carrying the
 * stable code when the device or link failed. It rejects only on a programming error.
 */
export interface DeviceDriver {
  readonly device: string;
  init(): void;
  tags(): readonly TagSpec[];
  start(): Promise<void>;
  poll(tags: readonly string[]): Promise<readonly TagValue[]>;
  stop(): Promise<void>;
  /** Driver-specific counters for status.json (latency, requests, breaker state…). */
  status(): Readonly<Record<string, unknown>>;
}

/** Where producers put records. `append` never blocks on I/O. */
export interface OutboxSink {
  /** Queues the record for the next group commit. */
  append(record: NewRecord): void;
  /** Queues the record and resolves once it is committed (durable). */
  appendDurable(record: NewRecord): Promise<StoredRecord>;
}

/** What a forwarder needs from the outbox. Reads are synchronous (SQLite is local). */
export interface OutboxSource {
  /**
   * Committed records with rowid > afterRowid (and < beforeRowid when given), in rowid
   * order, at most `limit` records and about `maxBytes` of body (at least one record).
   */
  read(afterRowid: number, limit: number, maxBytes: number, beforeRowid?: number): StoredRecord[];
  /** Deletes records by rowid: call only after the broker acknowledged them. */
  ack(rowids: readonly number[]): void;
  /** Rowid of the newest committed record (0 when none ever). */
  lastRowid(): number;
  /** Called after every commit; returns an unsubscribe function. */
  onCommit(listener: () => void): () => void;
}
