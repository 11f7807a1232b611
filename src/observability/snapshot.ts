/**
 * The plain, synchronous snapshot the agent's components expose through `stats()`.
 * Metrics are computed from it at scrape time (see metrics.ts); nothing in the hot path
 * touches prom-client. Counters here are cumulative since the component started; the
 * metrics layer keeps the exposed counters monotonic even if a component restarts.
 */
import type { OtaStatusDoc } from '../ota/status.js';

export interface DeviceStats {
  /** Device name (the {device} topic level). */
  readonly device: string;
  /** Driver name, e.g. "modbus". */
  readonly driver: string;
  /** Polls completed (successful or not). */
  readonly polls: number;
  /** Polls that returned at least one bad-quality value or failed. */
  readonly pollErrors: number;
  /** Failed or partly failed polls by stable error code (EDGE_ERR_*): once per poll and code. */
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** Bad values published, by code (one per tag and poll). */
  readonly badValuesByCode?: Readonly<Record<string, number>>;
  /** Values read but not reported by the device's report-by-exception policy. */
  readonly suppressedValues?: number;
  /** The link is up and the last poll returned good data. */
  readonly online: boolean;
  /** Epoch ms of the last completed poll; null before the first one. */
  readonly lastPollTs: number | null;
  /** Requests one poll of every tag takes (drivers that pack tags into requests, e.g. s7). */
  readonly requestsPerCycle?: number | null;
  /** Poll start lateness after the slot: counts per POLL_LATE_BOUNDS_MS bucket (src/core/schedule.ts) and their sum. */
  readonly startLate?: { readonly counts: readonly number[]; readonly sumMs: number };
}

export interface OutboxStats {
  /** Records stored and not yet acknowledged. */
  readonly rows: number;
  /** Bytes of stored record bodies. */
  readonly bytes: number;
  /** Epoch ms of the oldest stored record; null when empty. */
  readonly oldestTs: number | null;
  /** Records committed since start. */
  readonly committedTotal: number;
  /** Telemetry records evicted by the size policy since start. */
  readonly evictedTelemetry: number;
  /** Event records evicted by the size policy since start. */
  readonly evictedEvents: number;
  /** Records dropped before their commit (pending buffer full while commits failed) since start. */
  readonly droppedPending: number;
  /** Current size of the WAL file. */
  readonly walBytes: number;
  /** WAL checkpoints run since start. */
  readonly checkpoints: number;
  /** False after a failed commit until the next successful one. */
  readonly healthy: boolean;
}

export interface ForwarderStats {
  readonly connected: boolean;
  /** Records acknowledged by the broker since start. */
  readonly publishedRecords: number;
  /** MQTT messages acknowledged by the broker since start. */
  readonly publishedMessages: number;
  /** QoS 1 messages sent and not yet acknowledged. */
  readonly inflightMessages: number;
  /** Reconnections since start (not counting the first connect). */
  readonly reconnects: number;
  /** Publish-to-PUBACK latency of the last acknowledged message; null before the first. */
  readonly lastPubackLatencyMs: number | null;
  /** Failures by stable error code (EDGE_ERR_MQTT_*). */
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** False when no broker is configured (store only). */
  readonly enabled: boolean;
}

export interface MemoryStats {
  /** Times the heap crossed above the configured limit. */
  readonly heapOverLimitTotal: number;
  /** Heap snapshots written. */
  readonly snapshotsWritten: number;
}

export interface AgentStatsSnapshot {
  readonly devices: readonly DeviceStats[];
  readonly outbox: OutboxStats;
  readonly forwarder: ForwarderStats;
  readonly memory: MemoryStats;
  /** Each driver family's stats(), by driver name: what the drivers' metrics read. */
  readonly drivers: Readonly<Record<string, unknown>>;
  /** Commands refused before they ran (retained, expired, duplicate, oversized…). */
  readonly commandsRefused: readonly CommandRefusalStats[];
  /** What the agent knows of updates (src/ota/status.ts); null before OTA started. */
  readonly ota?: OtaStatusDoc | null;
}

export interface CommandRefusalStats {
  /** device (tag writes), pile (CIP-22 commands) or mqtt (the connection's packet guard). */
  readonly source: string;
  readonly reason: string;
  readonly count: number;
}

/** Called at every scrape; must be cheap and synchronous. */
export type StatsProvider = () => AgentStatsSnapshot;

/** A snapshot with everything at zero (for tests and for the time before start). */
export function emptySnapshot(): AgentStatsSnapshot {
  return {
    devices: [],
    outbox: {
      rows: 0,
      bytes: 0,
      oldestTs: null,
      committedTotal: 0,
      evictedTelemetry: 0,
      evictedEvents: 0,
      droppedPending: 0,
      walBytes: 0,
      checkpoints: 0,
      healthy: true,
    },
    forwarder: {
      connected: false,
      publishedRecords: 0,
      publishedMessages: 0,
      inflightMessages: 0,
      reconnects: 0,
      lastPubackLatencyMs: null,
      errorsByCode: {},
      enabled: false,
    },
    memory: { heapOverLimitTotal: 0, snapshotsWritten: 0 },
    drivers: {},
    commandsRefused: [],
    ota: null,
  };
}
