/** The metrics snapshot from the agent's parts: what /metrics reads at every scrape. */
import type { DevicePoller } from '../core/poller.js';
import type { MqttForwarderStats } from '../forwarders/mqtt/types.js';
import type { OutboxStats } from '../store/outbox.js';
import type { OtaStatusDoc } from '../ota/status.js';
import type { MemoryGuardStats } from './memory-guard.js';
import type { AgentStatsSnapshot, DeviceStats } from './snapshot.js';

export interface SnapshotParts {
  readonly devices: readonly { readonly driver: string; readonly poller: DevicePoller }[];
  readonly store: OutboxStats | undefined;
  readonly forwarder: MqttForwarderStats | undefined;
  readonly forwarderEnabled: boolean;
  readonly memory: MemoryGuardStats | undefined;
  /** Each driver family's stats(), by driver name (the drivers' metrics read them). */
  readonly drivers: Readonly<Record<string, unknown>>;
  /** Commands refused before they ran: by source (device, pile, mqtt) and reason. */
  readonly commandsRefused: Readonly<Record<string, Readonly<Record<string, number | undefined>>>>;
  /** The OTA agent side's status(); undefined before it started. */
  readonly ota?: OtaStatusDoc;
}

function deviceStats(driver: string, poller: DevicePoller): DeviceStats {
  const s = poller.stats();
  const status = poller.driverStatus();
  const perCycle = status.requestsPerCycle;
  return {
    device: s.device,
    driver,
    polls: s.polls,
    pollErrors: s.pollErrors,
    errorsByCode: s.errorsByCode,
    badValuesByCode: s.badValuesByCode,
    suppressedValues: s.suppressedValues,
    online: s.state === 'online',
    lastPollTs: s.lastPollTs,
    requestsPerCycle: typeof perCycle === 'number' ? perCycle : null,
    startLate: s.startLate,
  };
}

export function buildAgentSnapshot(parts: SnapshotParts): AgentStatsSnapshot {
  const { store, forwarder: fwd, memory } = parts;
  return {
    devices: parts.devices.map(({ driver, poller }) => deviceStats(driver, poller)),
    outbox: {
      rows: store?.rows ?? 0,
      bytes: store?.bytes ?? 0,
      oldestTs: store?.oldestTs ?? null,
      committedTotal: store?.committedTotal ?? 0,
      evictedTelemetry: store?.evicted.telemetry ?? 0,
      evictedEvents: store?.evicted.event ?? 0,
      droppedPending: store?.droppedPending ?? 0,
      walBytes: store?.walBytes ?? 0,
      checkpoints: store?.checkpoints ?? 0,
      healthy: store?.healthy ?? false,
    },
    forwarder: {
      enabled: parts.forwarderEnabled,
      connected: fwd?.connected ?? false,
      publishedRecords: fwd?.publishedRecords ?? 0,
      publishedMessages: fwd?.publishedMessages ?? 0,
      inflightMessages: fwd?.inflightMessages ?? 0,
      reconnects: fwd?.reconnects ?? 0,
      lastPubackLatencyMs: fwd?.lastPubackLatencyMs ?? null,
      errorsByCode: fwd?.errorsByCode ?? {},
    },
    memory: {
      heapOverLimitTotal: memory?.heapOverLimitTotal ?? 0,
      snapshotsWritten: memory?.snapshotsWritten ?? 0,
    },
    drivers: parts.drivers,
    commandsRefused: Object.entries(parts.commandsRefused).flatMap(([source, reasons]) =>
      Object.entries(reasons).map(([reason, count]) => ({ source, reason, count: count ?? 0 })),
    ),
    ota: parts.ota ?? null,
  };
}

export interface Health {
  readonly ok: boolean;
  readonly problems: string[];
}

/** What /healthz judges: the store commits, the broker connection (when forwarding), the agent running. */
export function agentHealth(
  store: OutboxStats | undefined,
  forwarder: MqttForwarderStats | undefined,
  state: string,
): Health {
  const problems: string[] = [];
  if (!store) problems.push('store: not open');
  else if (!store.healthy) problems.push(`store: ${store.lastError ?? 'commit failing'}`);
  if (forwarder && !forwarder.connected)
    problems.push(`mqtt: not connected${forwarder.lastError ? ` (${forwarder.lastError})` : ''}`);
  if (state !== 'running') problems.push(`agent: ${state}`);
  return { ok: problems.length === 0, problems };
}
