/** Values that flow from drivers through the outbox to the forwarders. */
export type TagScalar = number | boolean | string | null;

/**
 * One tag's value with its quality. A bad value carries the stable error code and a
 * human reason; `value` is then null — we never report a stale value as current.
 */
export type TagValue =
  | { readonly tag: string; readonly value: TagScalar; readonly quality: 'good'; readonly source?: TagSource }
  | {
      readonly tag: string;
      readonly value: null;
      readonly quality: 'bad';
      readonly code: string;
      readonly reason: string;
      readonly source?: TagSource;
    };

/**
 * Where a value came from, set only when it is not the device's own (primary) source:
 * a device with failover running on its secondary. Encoded as `"src"` in telemetry.
 */
export type TagSource = 'primary' | 'secondary';

export function goodValue(tag: string, value: TagScalar): TagValue {
  return { tag, value, quality: 'good' };
}

export function badValue(tag: string, code: string, reason: string): TagValue {
  return { tag, value: null, quality: 'bad', code, reason };
}

/** A driver's reading of several tags of one device at one instant. */
export interface Reading {
  readonly device: string;
  readonly ts: number;
  readonly values: readonly TagValue[];
}

export type EventSeverity = 'info' | 'warning' | 'error';

/** Something that happened (device offline, store recovered, records evicted…). */
export interface AgentEvent {
  readonly device: string;
  readonly ts: number;
  readonly type: string;
  readonly severity: EventSeverity;
  readonly data?: Readonly<Record<string, unknown>>;
}

export type RecordClass = 'telemetry' | 'event';

/** A record as handed to the outbox, before commit gives it an id and a sequence. */
export interface NewRecord {
  readonly device: string;
  readonly cls: RecordClass;
  readonly ts: number;
  /** JSON text: for telemetry the `values` object, for an event `{type,severity,data}`. */
  readonly body: string;
}

/** A committed record. `rowid` orders the queue; `id` and `seq` are what consumers see. */
export interface StoredRecord extends NewRecord {
  readonly rowid: number;
  /** Stable unique id, unique across store re-creations (epoch-prefixed). */
  readonly id: string;
  /** Per-device sequence, assigned at commit, strictly increasing, never reused. */
  readonly seq: number;
}
