import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { register as globalRegistry } from 'prom-client';
import { ManualClock } from '../../src/core/clock.js';
import { AgentMetrics, MonotonicTotals, createMetrics } from '../../src/observability/metrics.js';
import { emptySnapshot, type AgentStatsSnapshot } from '../../src/observability/snapshot.js';
import { driverMetrics } from '../../src/drivers/registry.js';

/** Parses exposition text into "name{labels}" → value, and "name" → TYPE. */
function parse(text: string): { values: Map<string, number>; types: Map<string, string> } {
  const values = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    values.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return { values, types };
}

function snapshot(now: number): AgentStatsSnapshot {
  const base = emptySnapshot();
  return {
    devices: [
      {
        device: 'meter-1',
        driver: 'modbus',
        polls: 120,
        pollErrors: 3,
        errorsByCode: { EDGE_ERR_MODBUS_TIMEOUT: 2, EDGE_ERR_MODBUS_ILLEGAL_ADDRESS: 1 },
        online: true,
        lastPollTs: now - 500,
      },
      {
        device: 'charger-1',
        driver: 'modbus',
        polls: 7,
        pollErrors: 0,
        errorsByCode: {},
        online: false,
        lastPollTs: null,
      },
      {
        device: 'line-plc',
        driver: 's7',
        polls: 9,
        pollErrors: 0,
        errorsByCode: {},
        online: true,
        lastPollTs: now,
        requestsPerCycle: 25,
      },
    ],
    outbox: {
      ...base.outbox,
      rows: 42,
      bytes: 4096,
      oldestTs: now - 30_000,
      committedTotal: 1000,
      evictedTelemetry: 5,
      evictedEvents: 1,
      droppedPending: 149,
      walBytes: 8192,
      checkpoints: 3,
      healthy: true,
    },
    forwarder: {
      connected: true,
      publishedRecords: 958,
      publishedMessages: 12,
      inflightMessages: 2,
      reconnects: 1,
      lastPubackLatencyMs: 25,
      errorsByCode: { EDGE_ERR_MQTT_CONNECT: 4 },
      enabled: true,
    },
    memory: { heapOverLimitTotal: 1, snapshotsWritten: 1 },
    drivers: {
      modbus: {
        lateAnswers: { 'rtu:/dev/ttyS1': 4 },
        staleBytes: { 'rtu:/dev/ttyS1': 7 },
        fences: { 'rtu:/dev/ttyS1': 2 },
        dtus: {
          'dtu-north': {
            up: true,
            bytesIn: 5000,
            bytesOut: 800,
            heartbeats: 40,
            timeouts: 2,
            crcErrors: 1,
            garbageBytes: 17,
            registrations: 3,
            livenessCloses: 1,
          },
        },
        dtuUnknownRegistrations: 4,
      },
    },
    commandsRefused: [
      { source: 'device', reason: 'retained', count: 3 },
      { source: 'mqtt', reason: 'oversized', count: 1 },
    ],
  };
}

describe('AgentMetrics', () => {
  it('exposes every edge_ metric with values from the snapshot', async () => {
    const clock = new ManualClock();
    const metrics = createMetrics(() => snapshot(clock.now()), { clock, driverMetrics: driverMetrics() });
    const text = await metrics.metrics();
    const { values: v, types } = parse(text);

    assert.equal(v.get('edge_polls_total{device="meter-1"}'), 120);
    assert.equal(v.get('edge_polls_total{device="charger-1"}'), 7);
    assert.equal(v.get('edge_poll_errors_total{device="meter-1",code="EDGE_ERR_MODBUS_TIMEOUT"}'), 2);
    assert.equal(v.get('edge_poll_errors_total{device="meter-1",code="EDGE_ERR_MODBUS_ILLEGAL_ADDRESS"}'), 1);
    assert.equal(v.get('edge_device_online{device="meter-1"}'), 1);
    assert.equal(v.get('edge_modbus_late_answers_total{line="rtu:/dev/ttyS1"}'), 4);
    assert.equal(v.get('edge_modbus_stale_bytes_total{line="rtu:/dev/ttyS1"}'), 7);
    assert.equal(v.get('edge_modbus_fences_total{line="rtu:/dev/ttyS1"}'), 2);
    assert.equal(v.get('edge_device_online{device="charger-1"}'), 0);
    assert.equal(
      v.get('edge_device_last_poll_timestamp_seconds{device="meter-1"}'),
      (clock.now() - 500) / 1000,
    );
    assert.equal(v.has('edge_device_last_poll_timestamp_seconds{device="charger-1"}'), false);
    assert.equal(v.get('edge_device_requests_per_cycle{device="line-plc"}'), 25);
    assert.equal(v.has('edge_device_requests_per_cycle{device="meter-1"}'), false);
    assert.equal(v.get('edge_outbox_rows'), 42);
    assert.equal(v.get('edge_outbox_bytes'), 4096);
    assert.equal(v.get('edge_outbox_oldest_record_age_seconds'), 30);
    assert.equal(v.get('edge_outbox_committed_total'), 1000);
    assert.equal(v.get('edge_outbox_evicted_total{class="telemetry"}'), 5);
    assert.equal(v.get('edge_outbox_evicted_total{class="event"}'), 1);
    assert.equal(v.get('edge_outbox_dropped_pending_total'), 149);
    assert.equal(v.get('edge_outbox_wal_bytes'), 8192);
    assert.equal(v.get('edge_outbox_checkpoints_total'), 3);
    assert.equal(v.get('edge_outbox_healthy'), 1);
    assert.equal(v.get('edge_dtu_up{dtu="dtu-north"}'), 1);
    assert.equal(v.get('edge_dtu_bytes_received_total{dtu="dtu-north"}'), 5000);
    assert.equal(v.get('edge_dtu_heartbeats_total{dtu="dtu-north"}'), 40);
    assert.equal(v.get('edge_dtu_crc_errors_total{dtu="dtu-north"}'), 1);
    assert.equal(v.get('edge_dtu_garbage_bytes_total{dtu="dtu-north"}'), 17);
    assert.equal(v.get('edge_dtu_liveness_closes_total{dtu="dtu-north"}'), 1);
    assert.equal(v.get('edge_dtu_unknown_registrations_total'), 4);
    assert.equal(v.get('edge_commands_refused_total{source="device",reason="retained"}'), 3);
    assert.equal(v.get('edge_commands_refused_total{source="mqtt",reason="oversized"}'), 1);
    assert.equal(v.get('edge_records_published_total'), 958);
    assert.equal(v.get('edge_messages_published_total'), 12);
    assert.equal(v.get('edge_mqtt_inflight_messages'), 2);
    assert.equal(v.get('edge_mqtt_connected'), 1);
    assert.equal(v.get('edge_mqtt_enabled'), 1);
    assert.equal(v.get('edge_mqtt_reconnects_total'), 1);
    assert.equal(v.get('edge_mqtt_puback_latency_seconds'), 0.025);
    assert.equal(v.get('edge_mqtt_errors_total{code="EDGE_ERR_MQTT_CONNECT"}'), 4);
    assert.equal(v.get('edge_memory_heap_over_limit_total'), 1);
    assert.equal(v.get('edge_heap_snapshots_total'), 1);

    assert.equal(types.get('edge_polls_total'), 'counter');
    assert.equal(types.get('edge_outbox_rows'), 'gauge');
    assert.equal(types.get('edge_mqtt_puback_latency_seconds'), 'gauge');
    // Default process metrics on the same registry, prefixed.
    assert.ok(v.has('edge_process_resident_memory_bytes'), 'process RSS');
    assert.ok(
      [...v.keys()].some((k) => k.startsWith('edge_nodejs_heap_size_used_bytes')),
      'heap used',
    );
    for (const name of types.keys()) assert.ok(name.startsWith('edge_'), `${name} is prefixed`);
  });

  it('uses its own registry, never the global one, and two instances coexist', async () => {
    const a = new AgentMetrics(() => emptySnapshot());
    const b = new AgentMetrics(() => emptySnapshot());
    assert.notEqual(a.registry, globalRegistry);
    assert.equal(globalRegistry.getSingleMetric('edge_polls_total'), undefined);
    assert.match(await a.metrics(), /edge_outbox_rows 0/);
    assert.match(await b.metrics(), /edge_outbox_rows 0/);
    assert.match(a.contentType, /^text\/plain; version=0\.0\.4/);
  });

  it('takes one snapshot per scrape', async () => {
    let calls = 0;
    const metrics = new AgentMetrics(() => (calls++, emptySnapshot()), { defaultMetrics: false });
    await metrics.metrics();
    assert.equal(calls, 1);
  });

  it('reports empty outbox age as 0 and a missing PUBACK latency as NaN', async () => {
    const { values: v } = parse(
      await new AgentMetrics(() => emptySnapshot(), { defaultMetrics: false }).metrics(),
    );
    assert.equal(v.get('edge_outbox_oldest_record_age_seconds'), 0);
    assert.ok(Number.isNaN(v.get('edge_mqtt_puback_latency_seconds')));
    assert.equal(v.get('edge_mqtt_connected'), 0);
  });

  it('keeps counters monotonic across scrapes, even when a component restarts its counts', async () => {
    const clock = new ManualClock();
    let current = snapshot(clock.now());
    const metrics = new AgentMetrics(() => current, { clock, defaultMetrics: false });
    const scrape = async () => parse(await metrics.metrics()).values;

    const first = await scrape();
    assert.equal(first.get('edge_polls_total{device="meter-1"}'), 120);

    current = {
      ...current,
      devices: current.devices.map((d) => (d.device === 'meter-1' ? { ...d, polls: 150 } : d)),
    };
    const second = await scrape();
    assert.equal(second.get('edge_polls_total{device="meter-1"}'), 150);

    // The forwarder was recreated: its counts restart from small numbers and the error
    // code seen before is gone from its map.
    current = {
      ...current,
      devices: current.devices.map((d) => (d.device === 'meter-1' ? { ...d, polls: 10 } : d)),
      forwarder: { ...current.forwarder, publishedRecords: 8, errorsByCode: {} },
    };
    const third = await scrape();
    assert.equal(third.get('edge_polls_total{device="meter-1"}'), 160);
    assert.equal(third.get('edge_records_published_total'), 966);
    assert.equal(third.get('edge_mqtt_errors_total{code="EDGE_ERR_MQTT_CONNECT"}'), 4);

    // Every counter in every scrape is >= its value in the previous scrape.
    const scrapes = [first, second, third, await scrape()];
    for (let i = 1; i < scrapes.length; i++) {
      for (const [key, before] of scrapes[i - 1]!) {
        if (!key.includes('_total')) continue;
        const after = scrapes[i]!.get(key);
        assert.ok(after !== undefined && after >= before, `${key}: ${before} -> ${after}`);
      }
    }
  });
});

describe('MonotonicTotals', () => {
  it('adds increments, treats a drop as a restart and ignores invalid values', () => {
    const t = new MonotonicTotals();
    t.update({ a: 'x' }, 5);
    t.update({ a: 'x' }, 7);
    t.update({ a: 'x' }, 2);
    t.update({ a: 'x' }, Number.NaN);
    t.update({ a: 'x' }, -1);
    t.update({ a: 'x' }, 3);
    assert.deepEqual(t.entries(), [[{ a: 'x' }, 10]]);
  });
});
