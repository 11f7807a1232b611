/** Public types of the MQTT forwarder (re-exported by forwarder.ts). */
import type { SecretRef } from '../../config-kit/common.js';
import type { Clock } from '../../core/clock.js';
import type { EdgeErrorCode } from '../../core/errors.js';
import type { Logger, OutboxSource } from '../../core/ports.js';
import type { Uplink } from './uplink.js';

/** Resolves a secret reference (inline, env, file) to its value. `field` names it in errors. */
export type SecretResolver = (ref: SecretRef, field: string) => string;

export interface MqttForwarderDeps {
  readonly source: OutboxSource;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Uniform [0,1), for the reconnect jitter. */
  readonly random: () => number;
  readonly site: string;
  readonly agentId: string;
  readonly secrets: SecretResolver;
  /**
   * The SQLite outbox file behind `source`: drain chunks are read and built in a worker
   * thread with its own read-only connection (not with an uplink). Absent: on this thread.
   */
  readonly readerFile?: string;
  /** A northbound format with its own session protocol (Sparkplug B); default: the JSON topics. */
  readonly uplink?: Uplink;
  /** The active config (hash, version) for the retained birth message (src/reload). */
  readonly config?: () => { readonly hash: string; readonly version: string | null };
}

export interface MqttForwarderStats {
  readonly connected: boolean;
  /** Broker URL without credentials. */
  readonly url: string;
  readonly publishedRecords: number;
  readonly publishedMessages: number;
  readonly inflightMessages: number;
  readonly inflightRecords: number;
  readonly peakInflightMessages: number;
  /** In-flight window in use: min(inflightWindow, broker receive maximum - 1). */
  readonly window: number;
  readonly connectAttempts: number;
  /** Connections established after a lost one. */
  readonly reconnects: number;
  readonly lastPubackLatencyMs: number | null;
  readonly pubackLatencyMedianMs: number | null;
  readonly pubackLatencyEwmaMs: number | null;
  /** True while a backlog lane (records older than the connect watermark) is being replayed. */
  readonly backlogActive: boolean;
  /** Estimate (rowid distance) of outbox records not yet acknowledged by the broker. */
  readonly backlogRemaining: number;
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** "CODE: message" of the latest error, or null. */
  readonly lastError: string | null;
  readonly lastErrorCode: EdgeErrorCode | null;
  /** Epoch ms of the latest error. */
  readonly lastErrorAt: number | null;
  /** Connections dropped because the broker announced a packet over mqtt.maxPacketBytes. */
  readonly oversizedDropped: number;
}

export interface ConnectedInfo {
  readonly url: string;
  readonly window: number;
  readonly watermark: number;
}
export interface DisconnectedInfo {
  readonly reason: string;
}
export interface ReconnectScheduledInfo {
  readonly delayMs: number;
  readonly attempt: number;
}

export interface MqttForwarderEvents {
  connected: [ConnectedInfo];
  disconnected: [DisconnectedInfo];
  reconnectScheduled: [ReconnectScheduledInfo];
}
