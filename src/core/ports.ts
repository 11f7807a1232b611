/**
 * The small contracts between the layers. Drivers (southbound) produce readings and
 * events; the outbox commits them; forwarders (northbound) drain the outbox. Each side
 * sees only the port it needs, so fakes and real implementations are interchangeable.
 */
import type { NewRecord, StoredRecord, TagScalar, TagValue } from './types.js';

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
  /**
   * Writes one tag (only drivers that support writes implement it). The driver checks
   * that the tag is configured `writable` and that the value fits its type, then performs
   * exactly one write attempt: it is never retried, because repeating a command to a
   * machine is not harmless. Resolves when the device confirmed; rejects with an EdgeError
   * whose code says why (not writable, bad value, device refused with its own code in
   * `context`, link down, timeout: outcome unknown).
   */
  write?(tag: string, value: WriteValue): Promise<void>;
}

/** A value to write: a scalar, or an array for array tags. */
export type WriteValue = Exclude<TagScalar, null> | readonly (number | boolean)[];

/** A message received on a subscribed command topic. */
export interface InboundMessage {
  /** Full MQTT topic, e.g. `edge/site-1/meter-1/cmd`. */
  readonly topic: string;
  readonly payload: Buffer;
  /** The broker delivered a stored retained message (it does so at every subscribe). */
  readonly retained?: boolean;
  /** MQTT 5 message expiry left, in seconds, when the publisher set one. */
  readonly expiryIntervalSec?: number;
}

/**
 * The northbound command path (MQTT subscriptions). Topics are given as a suffix under
 * `{prefix}/{site}/`; the channel adds the prefix, keeps subscriptions across reconnects
 * and never throws into the broker client from a handler.
 */
export interface CommandChannel {
  /** Subscribes (QoS 1) to `{prefix}/{site}/{suffix}`; `+`/`#` allowed. Returns an unsubscribe. */
  subscribe(suffix: string, handler: (message: InboundMessage) => void): () => void;
  /**
   * Publishes QoS 1 to `{prefix}/{site}/{suffix}` outside the outbox (command results,
   * progress). Resolves on PUBACK; rejects (EDGE_ERR_MQTT_PUBLISH) when offline — callers
   * that must not lose the result also append it to the outbox as an event.
   */
  publish(suffix: string, payload: string | Buffer): Promise<void>;
}

/** Where producers put records. `append` never blocks on I/O. */
export interface OutboxSink {
  /** Queues the record for the next group commit. */
  append(record: NewRecord): void;
  /** Queues the record and resolves once it is committed (durable). */
  appendDurable(record: NewRecord): Promise<StoredRecord>;
}

/** What `appendOnce` did: committed the group, or found its key already committed. */
export interface OnceResult {
  readonly duplicate: boolean;
  /** The committed records, in order; empty for a duplicate. */
  readonly records: readonly StoredRecord[];
}

/**
 * Exactly-once appends for producers whose peer resends until acknowledged (CIP-22
 * msg_seq): the key is recorded in the same transaction as the records, so "stored" and
 * "seen" can never disagree across a crash. Keys are kept for a bounded retention.
 */
export interface OnceSink extends OutboxSink {
  /**
   * Commits `records` (at least one) in one transaction together with `key`, unless `key`
   * was committed before: then nothing is written. Resolves once durable in both cases.
   */
  appendOnce(key: string, records: readonly NewRecord[]): Promise<OnceResult>;
  /** True when `key` is committed (within retention) or waiting in a pending appendOnce. */
  seenOnce(key: string): boolean;
  /**
   * The largest integer n such that `prefix + n` is a committed (within retention) or
   * pending key, or null, read in bounded steps: pass `next` back until it is null. The
   * first step (no `after`) covers the pending keys. A producer whose keys count up
   * (msg_seq) learns it once and then knows every larger key is new without `seenOnce`.
   */
  highestOnce?(prefix: string, after?: string): OnceScan;
}

/** One step of `highestOnce`: the largest tail in it, and where the next step starts (null: done). */
export interface OnceScan {
  readonly high: number | null;
  readonly next: string | null;
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
  /**
   * ack() done elsewhere (off the event loop): resolves once the records are deleted,
   * rejects when the delete failed (they stay and are acked again). Forwarders prefer it.
   */
  ackAsync?(rowids: readonly number[]): Promise<void>;
  /**
   * The broker acknowledged these records; their ack() follows later, batched. Until then
   * they are delivered, not lost: a size policy deletes them first and books no gap for them.
   */
  acked?(rowids: readonly number[]): void;
  /**
   * These records were published and await their PUBACK: a size policy does not evict them
   * (the consumer may receive them), until acked() or unsent() gets the same array.
   */
  sending?(rowids: readonly number[]): void;
  /** The publish of `sending(rowids)` (the same array) will get no PUBACK: evictable again. */
  unsent?(rowids: readonly number[]): void;
  /**
   * Records evicted by a size policy since open: when it changes, records read but not
   * yet published may be gone (booked lost) and must not be published.
   */
  evictions?(): number;
  /** Rowid of the newest committed record (0 when none ever). */
  lastRowid(): number;
  /** Called after every commit; returns an unsubscribe function. */
  onCommit(listener: () => void): () => void;
}
