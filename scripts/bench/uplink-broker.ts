/**
 * The uplink bench through a real broker: the trace's records, filtered by the real
 * ReportFilter, are committed to an outbox one poll cycle at a time and drained by the real
 * MqttForwarder (and the Sparkplug uplink) into mosquitto through a counting TCP proxy.
 * Bytes are what crossed the agent's connection both ways (MQTT framing, CONNECT,
 * subscriptions, births, PUBACKs; not TCP/IP or TLS headers). Each cycle waits for its
 * PUBACKs, as a live station does. A subscriber on the broker keeps every payload and
 * decodes them after the run (its work is not in the CPU figure) for the information check.
 */
import { createServer, connect, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { mqttSchema } from '../../src/config/sections/mqtt.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { encodeValues } from '../../src/core/record-codec.js';
import { ReportFilter } from '../../src/core/report-filter.js';
import type { NewRecord, TagValue } from '../../src/core/types.js';
import { decodePayload as decodeJson } from '../../src/forwarders/mqtt/compact.js';
import { MqttForwarder } from '../../src/forwarders/mqtt/forwarder.js';
import { memoryBdSeqStore } from '../../src/forwarders/sparkplug/bdseq.js';
import { inferDatatype, type SparkplugDevice } from '../../src/forwarders/sparkplug/metrics.js';
import {
  DataType,
  decodePayload as decodeSparkplug,
  toNumber,
  type DataTypeCode,
} from '../../src/forwarders/sparkplug/proto.js';
import { SparkplugUplink } from '../../src/forwarders/sparkplug/uplink.js';
import type { MosquittoBroker } from '../../test/helpers/mosquitto.js';
import { FakeOutbox } from '../../test/mqtt/fake-outbox.js';
import type { BenchResult } from './common.js';
import { addReport, checkTrace, fromStored, type Seen } from './uplink-check.js';
import type { Trace } from './uplink-trace.js';

export interface BrokerVariant {
  readonly name: string;
  readonly filter: boolean;
  readonly format: 'json' | 'compact' | 'sparkplug';
  readonly compression: 'none' | 'deflate' | 'brotli';
}

export interface BrokerRun {
  readonly bytes: number;
  readonly messages: number;
  readonly records: number;
  readonly cpuUs: number;
  readonly seen: Seen;
}

const ORIGIN = { agent: 'st-0042-gw', site: 'st-0042' };

/** A TCP proxy that counts the bytes of every connection, both ways. */
async function countingProxy(
  target: number,
): Promise<{ port: number; bytes: () => number; close: () => Promise<void> }> {
  let bytes = 0;
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = connect({ host: '127.0.0.1', port: target });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.setNoDelay(true); // as mqtt.js and mosquitto do: no Nagle delay added by the proxy
      s.on('data', (chunk: Buffer) => (bytes += chunk.length));
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: (server.address() as { port: number }).port,
    bytes: () => bytes,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** The datatypes a configuration would give: Double for a tag that ever has a fraction. */
function sparkplugDevicesOf(trace: Trace): SparkplugDevice[] {
  return trace.devices.map((d) => {
    const tags = new Map<string, DataTypeCode>();
    for (const poll of d.polls)
      for (const v of poll) {
        if (v.quality !== 'good') continue;
        const dt = inferDatatype(v.value);
        if (!tags.has(v.tag) || dt === DataType.Double) tags.set(v.tag, dt);
      }
    return { name: d.name, tags };
  });
}

interface Kept {
  readonly topic: string;
  readonly payload: Buffer;
  readonly properties: { contentType?: string; userProperties?: Record<string, string> };
}

/** What the subscriber got, as the consumer's reports per tag. */
function decodeAll(kept: readonly Kept[]): Seen {
  const seen: Seen = new Map();
  const aliases = new Map<number, { device: string; tag: string }>();
  for (const m of kept) {
    const parts = m.topic.split('/');
    if (parts[0] === 'spBv1.0') {
      const type = parts[2];
      const device = parts[4];
      if (!device || (type !== 'DBIRTH' && type !== 'DDATA')) continue;
      for (const metric of decodeSparkplug(m.payload).metrics ?? []) {
        const alias = toNumber(metric.alias) ?? -1;
        if (metric.name !== undefined) aliases.set(alias, { device, tag: metric.name });
        const at = aliases.get(alias);
        // Births repeat the last values (already counted from their DDATA) or carry nulls.
        if (!at || type === 'DBIRTH') continue;
        const ts = toNumber(metric.timestamp) ?? 0;
        const props = metric.properties;
        const code = props?.values[props.keys.indexOf('EDGE_ERR')]?.stringValue;
        const value: TagValue = metric.isNull
          ? { tag: at.tag, value: null, quality: 'bad', code: code ?? '', reason: '' }
          : {
              tag: at.tag,
              value:
                metric.booleanValue ??
                metric.doubleValue ??
                metric.floatValue ??
                metric.intValue ??
                toNumber(metric.longValue) ??
                metric.stringValue ??
                null,
              quality: 'good',
            };
        addReport(seen, at.device, at.tag, ts, value);
      }
      continue;
    }
    if (parts.at(-1) !== 'telemetry') continue;
    const message = decodeJson(m.payload, m.properties, ORIGIN);
    for (const r of message.records)
      for (const [tag, x] of Object.entries(r.values ?? {}))
        addReport(seen, message.device, tag, r.ts, fromStored(tag, x));
  }
  return seen;
}

export async function brokerRun(broker: MosquittoBroker, trace: Trace, v: BrokerVariant): Promise<BrokerRun> {
  const proxy = await countingProxy(broker.port);
  const kept: Kept[] = [];
  const consumer = mqtt.connect(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
  await new Promise((ok) => consumer.once('connect', ok));
  await consumer.subscribeAsync(['edge/#', 'spBv1.0/#'], { qos: 1 });
  consumer.on('message', (topic, payload, packet) => {
    const p = packet.properties ?? {};
    const userProperties = Object.fromEntries(
      Object.entries(p.userProperties ?? {}).map(([k, x]) => [k, Array.isArray(x) ? String(x[0]) : x]),
    );
    kept.push({
      topic,
      payload,
      properties: { ...(p.contentType ? { contentType: p.contentType } : {}), userProperties },
    });
  });
  const config = mqttSchema.parse({
    url: `mqtt://127.0.0.1:${proxy.port}`,
    allowInsecure: true,
    topicPrefix: 'edge',
    payload: { format: v.format, compression: v.compression },
  });
  const uplink =
    v.format === 'sparkplug'
      ? new SparkplugUplink(
          {
            groupId: ORIGIN.site,
            edgeNodeId: ORIGIN.agent,
            json: { topicPrefix: 'edge', site: ORIGIN.site, agentId: ORIGIN.agent },
            batch: config.batch,
            devices: sparkplugDevicesOf(trace),
          },
          { clock: systemClock, logger: silentLogger, bdSeq: memoryBdSeqStore() },
        )
      : undefined;
  const outbox = new FakeOutbox('k3f9a2');
  const forwarder = new MqttForwarder(config, {
    source: outbox,
    clock: systemClock,
    logger: silentLogger,
    random: () => 0.5,
    site: ORIGIN.site,
    agentId: ORIGIN.agent,
    secrets: () => '',
    ...(uplink ? { uplink } : {}),
  });
  let drained: (() => void) | undefined;
  // onAck runs before the FakeOutbox deletes the rowids.
  outbox.onAck = () =>
    queueMicrotask(() => {
      if (outbox.size === 0) drained?.();
    });
  const connected = new Promise((ok) => forwarder.once('connected', ok));
  await forwarder.start();
  await connected;
  const filters = trace.devices.map((d) => new ReportFilter(d.report));
  let records = 0;
  const cpu = process.cpuUsage();
  for (let p = 0; p < trace.polls; p++) {
    const ts = trace.t0 + p * trace.pollMs;
    const batch: NewRecord[] = [];
    trace.devices.forEach((device, d) => {
      const values = device.polls[p] ?? [];
      const reported = v.filter ? (filters[d]?.filter(values, ts - trace.t0) ?? values) : values;
      if (reported.length > 0)
        batch.push({ device: device.name, cls: 'telemetry', ts, body: encodeValues(reported) });
    });
    if (batch.length === 0) continue;
    records += batch.length;
    const done = new Promise<void>((ok) => (drained = ok));
    outbox.append(batch);
    await done;
  }
  const used = process.cpuUsage(cpu);
  const messages = forwarder.stats().publishedMessages;
  await forwarder.stop();
  const deadline = Date.now() + 30_000;
  while (kept.filter((k) => /DDATA|telemetry$/.test(k.topic)).length < messages && Date.now() < deadline)
    await new Promise((ok) => setTimeout(ok, 20));
  const bytes = proxy.bytes();
  await consumer.endAsync(true);
  await proxy.close();
  return { bytes, messages, records, cpuUs: used.user + used.system, seen: decodeAll(kept) };
}

export const BROKER_VARIANTS: readonly BrokerVariant[] = [
  { name: "today's JSON", filter: false, format: 'json', compression: 'none' },
  { name: 'report by exception (JSON)', filter: true, format: 'json', compression: 'none' },
  { name: 'RBE + compact', filter: true, format: 'compact', compression: 'none' },
  { name: 'RBE + compact + deflate', filter: true, format: 'compact', compression: 'deflate' },
  { name: 'RBE + compact + brotli', filter: true, format: 'compact', compression: 'brotli' },
  { name: 'RBE + Sparkplug B', filter: true, format: 'sparkplug', compression: 'none' },
  // Every poll, as today's JSON: the CPU of the format itself, record for record.
  { name: 'Sparkplug B, every poll', filter: false, format: 'sparkplug', compression: 'none' },
];

/** Every variant through mosquitto, with the ratio and the information check side by side. */
export async function brokerResults(trace: Trace): Promise<BenchResult[]> {
  const { startMosquitto } = await import('../../test/helpers/mosquitto.js');
  // Without it mosquitto's PUBACKs wait for delayed ACKs (~40 ms a cycle): the run, not the bytes, would change.
  const broker = await startMosquitto({ extra: ['set_tcp_nodelay true'] });
  try {
    const runs: BrokerRun[] = [];
    for (const v of BROKER_VARIANTS) runs.push(await brokerRun(broker, trace, v));
    const base = runs[0];
    if (!base) return [];
    const scale = 86_400_000 / (trace.polls * trace.pollMs);
    const polled = trace.polls * trace.devices.length;
    const maxPeriod = trace.devices[0]?.report.maxPeriodMs ?? 0;
    const baseCpu = base.cpuUs / polled;
    const results: BenchResult[] = [];
    BROKER_VARIANTS.forEach((v, i) => {
      const r = runs[i];
      if (!r) return;
      const check = checkTrace(trace, r.seen);
      results.push({
        name: `uplink ${v.name}: bytes/day on the wire through mosquitto (counting proxy, MQTT 5 both ways)`,
        unit: 'B/day',
        value: r.bytes * scale,
        baselineName: "today's JSON",
        baseline: base.bytes * scale,
        target: '>= 10x fewer bytes (<= 10 %)',
        notes:
          `${(base.bytes / r.bytes).toFixed(1)}x fewer bytes | information: off by >= deadband or quality at ${check.missed} polls, ` +
          `longest silence ${Math.round(check.maxGapMs / 1000)} s (maxPeriodMs ${maxPeriod / 1000} s): ${check.maxGapMs <= maxPeriod ? 'ok' : 'VIOLATED'} | ` +
          `messages/day ${Math.round(r.messages * scale).toLocaleString('en-US')}, records/day ${Math.round(r.records * scale).toLocaleString('en-US')}`,
      });
      results.push({
        name: `uplink ${v.name}: CPU per polled record through the forwarder`,
        unit: 'µs',
        value: r.cpuUs / polled,
        baselineName: "today's JSON",
        baseline: baseCpu,
        target: '<= 120 % of baseline',
        notes: `per published record ${(r.cpuUs / Math.max(1, r.records)).toFixed(1)} µs (today's JSON ${(base.cpuUs / Math.max(1, base.records)).toFixed(1)} µs); filter, codec, outbox (in RAM), forwarder, mqtt.js and the counting proxy; one run`,
      });
    });
    return results;
  } finally {
    await broker.close();
  }
}
