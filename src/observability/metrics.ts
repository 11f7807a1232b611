/**
 * Prometheus metrics computed at scrape time from the components' plain `stats()`
 * snapshots. Every AgentMetrics owns its own prom-client Registry (never the global
 * default registry), so several agents or tests in one process never collide.
 *
 * Counters are fed from cumulative snapshot values inside collect(): prom-client's
 * Counter has no set(), so each scrape resets the counter and increments it by the
 * running total. The running total is kept by MonotonicTotals, which also survives a
 * component restarting its own counters (a drop is treated as a reset and added on), so
 * the exposed `_total` series never decrease while the process lives.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { systemClock, type Clock } from '../core/clock.js';
import { POLL_LATE_BOUNDS_MS } from '../core/schedule.js';
import type { DriverMetric } from '../drivers/types.js';
import type { AgentStatsSnapshot, StatsProvider } from './snapshot.js';

const METRIC_PREFIX = 'edge_';

export interface MetricsOptions {
  /** Clock for ages (oldest outbox record). Default: system clock. */
  readonly clock?: Clock;
  /** Also collect prom-client's default process/Node.js metrics (prefixed edge_). Default true. */
  readonly defaultMetrics?: boolean;
  /** The drivers' metrics (src/drivers/registry.ts driverMetrics()), read from `snapshot.drivers`. */
  readonly driverMetrics?: readonly { readonly driver: string; readonly metric: DriverMetric<unknown> }[];
}

type Labels = Record<string, string>;
type Series = ReadonlyArray<readonly [Labels, number]>;

/**
 * Turns cumulative values that may restart from zero into monotonic totals, per label
 * set. A series once seen keeps being reported, so a vanished key never makes a counter
 * go backwards.
 */
export class MonotonicTotals {
  private readonly series = new Map<string, { labels: Labels; last: number; total: number }>();

  update(labels: Labels, raw: number): void {
    if (!Number.isFinite(raw) || raw < 0) return;
    const key = labelKey(labels);
    const entry = this.series.get(key);
    if (!entry) {
      this.series.set(key, { labels: { ...labels }, last: raw, total: raw });
      return;
    }
    entry.total += raw >= entry.last ? raw - entry.last : raw;
    entry.last = raw;
  }

  entries(): Series {
    return [...this.series.values()].map((e) => [e.labels, e.total] as const);
  }
}

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join('\u0000');
}

export class AgentMetrics {
  readonly registry: Registry;
  private readonly provider: StatsProvider;
  private readonly clock: Clock;
  /** Snapshot taken once per scrape and shared by all collect() callbacks. */
  private current: AgentStatsSnapshot | undefined;

  constructor(provider: StatsProvider, options: MetricsOptions = {}) {
    this.provider = provider;
    this.clock = options.clock ?? systemClock;
    this.registry = new Registry();
    this.defineDeviceMetrics();
    this.definePollLatenessMetrics();
    this.defineOutboxMetrics();
    this.defineForwarderMetrics();
    this.defineMemoryMetrics();
    for (const { driver, metric } of options.driverMetrics ?? []) this.defineDriverMetric(driver, metric);
    this.defineCommandMetrics();
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
    }
  }

  /** `Content-Type` of the exposition text (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text; takes one snapshot from the provider for the whole scrape. */
  async metrics(): Promise<string> {
    this.current = this.provider();
    try {
      return await this.registry.metrics();
    } finally {
      this.current = undefined;
    }
  }

  private snapshot(): AgentStatsSnapshot {
    return this.current ?? this.provider();
  }

  private counter(
    name: string,
    help: string,
    labelNames: readonly string[],
    read: (s: AgentStatsSnapshot) => Series,
  ): void {
    const totals = new MonotonicTotals();
    const snapshot = (): AgentStatsSnapshot => this.snapshot();
    new Counter({
      name: METRIC_PREFIX + name,
      help,
      labelNames: [...labelNames],
      registers: [this.registry],
      collect(this: Counter<string>) {
        for (const [labels, value] of read(snapshot())) totals.update(labels, value);
        this.reset();
        for (const [labels, value] of totals.entries()) this.inc(labels, value);
      },
    });
  }

  private gauge(
    name: string,
    help: string,
    labelNames: readonly string[],
    read: (s: AgentStatsSnapshot) => Series,
  ): void {
    const snapshot = (): AgentStatsSnapshot => this.snapshot();
    new Gauge({
      name: METRIC_PREFIX + name,
      help,
      labelNames: [...labelNames],
      registers: [this.registry],
      collect(this: Gauge<string>) {
        const series = read(snapshot());
        this.reset();
        for (const [labels, value] of series) this.set(labels, value);
      },
    });
  }

  private defineDeviceMetrics(): void {
    this.counter('polls_total', 'Polls completed per device (good or bad)', ['device'], (s) =>
      s.devices.map((d) => [{ device: d.device }, d.polls] as const),
    );
    this.counter(
      'poll_errors_total',
      'Failed or partly failed polls per device, by error code',
      ['device', 'code'],
      (s) =>
        s.devices.flatMap((d) =>
          Object.entries(d.errorsByCode).map(([code, n]) => [{ device: d.device, code }, n] as const),
        ),
    );
    this.counter(
      'bad_values_total',
      'Bad-quality values published per device, by error code (one per tag and poll)',
      ['device', 'code'],
      (s) =>
        s.devices.flatMap((d) =>
          Object.entries(d.badValuesByCode ?? {}).map(
            ([code, n]) => [{ device: d.device, code }, n] as const,
          ),
        ),
    );
    this.counter(
      'suppressed_values_total',
      'Values read but not reported per device (report by exception: unchanged within the deadband)',
      ['device'],
      (s) => s.devices.map((d) => [{ device: d.device }, d.suppressedValues ?? 0] as const),
    );
    this.gauge(
      'device_online',
      '1 when the device link is up and its last poll returned good data',
      ['device'],
      (s) => s.devices.map((d) => [{ device: d.device }, d.online ? 1 : 0] as const),
    );
    this.gauge(
      'device_last_poll_timestamp_seconds',
      'Unix time of the last completed poll per device',
      ['device'],
      (s) =>
        s.devices
          .filter((d) => d.lastPollTs !== null)
          .map((d) => [{ device: d.device }, (d.lastPollTs ?? 0) / 1000] as const),
    );
    this.gauge(
      'device_requests_per_cycle',
      'Requests (PDUs) one poll of all tags takes, for drivers that pack tags',
      ['device'],
      (s) =>
        s.devices
          .filter((d) => typeof d.requestsPerCycle === 'number')
          .map((d) => [{ device: d.device }, d.requestsPerCycle ?? 0] as const),
    );
  }

  /**
   * Poll start lateness over all devices, as a Prometheus histogram's series (cumulative
   * `_bucket{le}`, `_sum`, `_count`; histogram_quantile works on them) exposed as counters:
   * the values are totals from the snapshot, which prom-client's Histogram cannot take.
   */
  private definePollLatenessMetrics(): void {
    const total = (s: AgentStatsSnapshot): { counts: number[]; sumMs: number } => {
      const counts = new Array<number>(POLL_LATE_BOUNDS_MS.length + 1).fill(0);
      let sumMs = 0;
      for (const d of s.devices) {
        d.startLate?.counts.forEach((n, i) => (counts[i]! += n));
        sumMs += d.startLate?.sumMs ?? 0;
      }
      return { counts, sumMs };
    };
    const help = 'How long after its scheduled slot each poll started, all devices';
    this.counter('poll_start_late_seconds_bucket', help, ['le'], (s) => {
      let cumulative = 0;
      return total(s).counts.map((n, i) => {
        cumulative += n;
        const le = i < POLL_LATE_BOUNDS_MS.length ? String(POLL_LATE_BOUNDS_MS[i]! / 1000) : '+Inf';
        return [{ le }, cumulative] as const;
      });
    });
    this.counter('poll_start_late_seconds_sum', help, [], (s) => [[{}, total(s).sumMs / 1000]]);
    this.counter('poll_start_late_seconds_count', help, [], (s) => [
      [{}, total(s).counts.reduce((a, b) => a + b, 0)],
    ]);
  }

  private defineOutboxMetrics(): void {
    this.gauge('outbox_rows', 'Records in the outbox not yet acknowledged by the broker', [], (s) => [
      [{}, s.outbox.rows],
    ]);
    this.gauge('outbox_bytes', 'Bytes of record bodies in the outbox', [], (s) => [[{}, s.outbox.bytes]]);
    this.gauge(
      'outbox_oldest_record_age_seconds',
      'Age of the oldest record in the outbox (0 when empty)',
      [],
      (s) => {
        const oldest = s.outbox.oldestTs;
        return [[{}, oldest === null ? 0 : Math.max(0, this.clock.now() - oldest) / 1000]];
      },
    );
    this.counter('outbox_committed_total', 'Records committed to the outbox', [], (s) => [
      [{}, s.outbox.committedTotal],
    ]);
    this.counter(
      'outbox_evicted_total',
      'Records evicted by the outbox size policy, by record class',
      ['class'],
      (s) => [
        [{ class: 'telemetry' }, s.outbox.evictedTelemetry],
        [{ class: 'event' }, s.outbox.evictedEvents],
      ],
    );
    this.counter(
      'outbox_dropped_pending_total',
      'Records dropped before their commit: pending buffer full while commits failed (each in a gap event)',
      [],
      (s) => [[{}, s.outbox.droppedPending]],
    );
    this.gauge('outbox_wal_bytes', 'Size of the outbox SQLite WAL file', [], (s) => [
      [{}, s.outbox.walBytes],
    ]);
    this.counter('outbox_checkpoints_total', 'WAL checkpoints run on the outbox', [], (s) => [
      [{}, s.outbox.checkpoints],
    ]);
    this.gauge('outbox_healthy', '0 after a failed group commit until the next successful one', [], (s) => [
      [{}, s.outbox.healthy ? 1 : 0],
    ]);
  }

  private defineForwarderMetrics(): void {
    this.counter('records_published_total', 'Records acknowledged by the MQTT broker', [], (s) => [
      [{}, s.forwarder.publishedRecords],
    ]);
    this.counter('messages_published_total', 'MQTT messages acknowledged by the broker (PUBACK)', [], (s) => [
      [{}, s.forwarder.publishedMessages],
    ]);
    this.gauge('mqtt_inflight_messages', 'QoS 1 messages sent and not yet acknowledged', [], (s) => [
      [{}, s.forwarder.inflightMessages],
    ]);
    this.gauge('mqtt_connected', '1 when connected to the MQTT broker (0 when disabled)', [], (s) => [
      [{}, s.forwarder.connected ? 1 : 0],
    ]);
    this.gauge('mqtt_enabled', '1 when an MQTT broker is configured', [], (s) => [
      [{}, s.forwarder.enabled ? 1 : 0],
    ]);
    this.counter('mqtt_reconnects_total', 'Reconnections to the MQTT broker', [], (s) => [
      [{}, s.forwarder.reconnects],
    ]);
    this.gauge(
      'mqtt_puback_latency_seconds',
      'Publish-to-PUBACK latency of the last acknowledged message (NaN before the first)',
      [],
      (s) => {
        const ms = s.forwarder.lastPubackLatencyMs;
        return [[{}, ms === null ? Number.NaN : ms / 1000]];
      },
    );
    this.counter('mqtt_errors_total', 'MQTT failures by error code', ['code'], (s) =>
      Object.entries(s.forwarder.errorsByCode).map(([code, n]) => [{ code }, n] as const),
    );
  }

  /** A metric a driver declares, read from its family's stats() in the snapshot. */
  private defineDriverMetric(driver: string, metric: DriverMetric<unknown>): void {
    const read = (s: AgentStatsSnapshot): Series => metric.samples(s.drivers[driver]);
    if (metric.type === 'gauge') this.gauge(metric.name, metric.help, metric.labels, read);
    else this.counter(metric.name, metric.help, metric.labels, read);
  }

  private defineCommandMetrics(): void {
    this.counter(
      'commands_refused_total',
      'Commands refused before they ran, by source (device, pile, mqtt) and reason (retained, expired, future, no-expiry, duplicate, oversized, malformed)',
      ['source', 'reason'],
      (s) => s.commandsRefused.map((r) => [{ source: r.source, reason: r.reason }, r.count] as const),
    );
  }

  private defineMemoryMetrics(): void {
    this.counter(
      'memory_heap_over_limit_total',
      'Times the V8 heap crossed above the configured limit',
      [],
      (s) => [[{}, s.memory.heapOverLimitTotal]],
    );
    this.counter('heap_snapshots_total', 'Heap snapshots written by the memory guard', [], (s) => [
      [{}, s.memory.snapshotsWritten],
    ]);
  }
}

/** Metrics over a per-instance registry, read from `provider` at every scrape. */
export function createMetrics(provider: StatsProvider, options: MetricsOptions = {}): AgentMetrics {
  return new AgentMetrics(provider, options);
}
