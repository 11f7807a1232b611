/**
 * Uplink bench (issue 14): a seeded day of a station (uplink-trace.ts) through the real
 * ReportFilter, record codec and PayloadBuilder, for today's JSON (baseline), report by
 * exception, + compact, + compression. Bytes are counted from the built messages as MQTT 5
 * PUBLISH packets (fixed header, topic, packet id, properties, payload) plus the 4-byte
 * PUBACK — computed from the payload builder's output, not through a broker; TCP/TLS
 * framing is not counted. Messages are built per poll cycle (what the forwarder does when
 * connected: each group commit drains at once); a second table batches 60 s (a backlog).
 *
 * The information check decodes every message as a consumer would (decodePayload) and
 * walks the true trace: at every poll, the consumer's last received value of each tag must
 * be within the tag's deadband of the true value with the same quality and code, and no
 * tag may go more than maxPeriodMs without a report. Compact variants must decode to
 * exactly the records of the JSON variant with the same filter.
 *
 * Then every variant and Sparkplug B again through the real forwarder into mosquitto, bytes
 * counted on the wire by a proxy (uplink-broker.ts; BENCH_UPLINK_BROKER=0 leaves it out).
 */
import { createHash } from 'node:crypto';
import { encodeValues } from '../../src/core/record-codec.js';
import { ReportFilter } from '../../src/core/report-filter.js';
import type { StoredRecord } from '../../src/core/types.js';
import {
  decodePayload,
  type PayloadCompression,
  type PayloadFormat,
} from '../../src/forwarders/mqtt/compact.js';
import { PayloadBuilder, type BuiltMessage } from '../../src/forwarders/mqtt/payload.js';
import { benchRounds, median, formatResult, type BenchResult, envNumber, envCount } from './common.js';
import { brokerResults } from './uplink-broker.js';
import { addReport, checkTrace, fromStored, type Seen, type TraceCheck } from './uplink-check.js';
import { stationDay, type Trace } from './uplink-trace.js';

const ROUNDS = benchRounds(3);
const DEVICES = envCount('BENCH_UPLINK_DEVICES', 10);
const HOURS = envNumber('BENCH_UPLINK_HOURS', 24, 1);
const SEED = 14;
const ORIGIN = { agent: 'st-0042-gw', site: 'st-0042' };

interface Variant {
  readonly name: string;
  readonly filter: boolean;
  readonly format: PayloadFormat;
  readonly compression: PayloadCompression;
}

const VARIANTS: readonly Variant[] = [
  { name: "today's JSON", filter: false, format: 'json', compression: 'none' },
  { name: 'report by exception (JSON)', filter: true, format: 'json', compression: 'none' },
  { name: 'report by exception + compact', filter: true, format: 'compact', compression: 'none' },
  {
    name: 'report by exception + compact + deflate',
    filter: true,
    format: 'compact',
    compression: 'deflate',
  },
  { name: 'report by exception + compact + brotli', filter: true, format: 'compact', compression: 'brotli' },
];

function varintLength(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/** MQTT 5 PUBLISH (QoS 1) plus its PUBACK, in bytes. */
function wireBytes(m: BuiltMessage): number {
  const payload = m.bytes?.length ?? Buffer.byteLength(m.payload, 'utf8');
  const p = m.properties;
  let props = 0;
  if (p) {
    props += 3 + Buffer.byteLength(p.contentType) + 2;
    for (const [k, v] of Object.entries(p.userProperties ?? {})) props += 5 + k.length + v.length;
  }
  const remaining = 2 + Buffer.byteLength(m.topic) + 2 + varintLength(props) + props + payload;
  return 1 + varintLength(remaining) + remaining + 4;
}

interface RunResult {
  bytes: number;
  messages: number;
  records: number;
  cpuUs: number;
}

type Sink = (m: BuiltMessage) => void;

function runVariant(trace: Trace, v: Variant, flushEvery: number, sink?: Sink): RunResult {
  const builder = new PayloadBuilder({
    topicPrefix: 'edge',
    site: ORIGIN.site,
    agentId: ORIGIN.agent,
    maxRecords: 200,
    maxBytes: 128 * 1024,
    format: v.format,
    compression: v.compression,
  });
  const filters = trace.devices.map((d) => new ReportFilter(d.report));
  const seqs = trace.devices.map(() => 0);
  const result: RunResult = { bytes: 0, messages: 0, records: 0, cpuUs: 0 };
  let rowid = 0;
  let pending: StoredRecord[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    for (const m of builder.build(pending, false)) {
      result.bytes += wireBytes(m);
      result.messages++;
      sink?.(m);
    }
    pending = [];
  };
  const cpu = process.cpuUsage();
  for (let p = 0; p < trace.polls; p++) {
    const ts = trace.t0 + p * trace.pollMs;
    trace.devices.forEach((device, d) => {
      const values = device.polls[p] ?? [];
      const reported = v.filter ? (filters[d]?.filter(values, ts - trace.t0) ?? values) : values;
      if (reported.length === 0) return;
      rowid++;
      const seq = (seqs[d] ?? 0) + 1;
      seqs[d] = seq;
      pending.push({
        rowid,
        id: `k3f9a2-${rowid}`,
        seq,
        device: device.name,
        cls: 'telemetry',
        ts,
        body: encodeValues(reported),
      });
      result.records++;
    });
    if ((p + 1) % flushEvery === 0) flush();
  }
  flush();
  const used = process.cpuUsage(cpu);
  result.cpuUs = used.user + used.system;
  return result;
}

interface Check extends TraceCheck {
  /** sha256 of every decoded record, in order. */
  digest: string;
}

/** Decodes every message as a consumer and checks it against the true trace. */
function informationCheck(trace: Trace, v: Variant, flushEvery: number): Check {
  const seen: Seen = new Map();
  const hash = createHash('sha256');
  runVariant(trace, v, flushEvery, (m) => {
    const message = decodePayload(m.bytes ?? Buffer.from(m.payload, 'utf8'), m.properties, ORIGIN);
    for (const r of message.records) {
      hash.update(JSON.stringify(r));
      for (const [tag, x] of Object.entries(r.values ?? {}))
        addReport(seen, message.device, tag, r.ts, fromStored(tag, x));
    }
  });
  return { ...checkTrace(trace, seen), digest: hash.digest('hex') };
}

export async function run(): Promise<BenchResult[]> {
  const trace = stationDay(SEED, DEVICES, 5000, HOURS);
  const maxPeriod = trace.devices[0]?.report.maxPeriodMs ?? 0;
  const perPoll = 1;
  const samples = VARIANTS.map(() => ({ bytes: 0, messages: 0, records: 0, cpu: [] as number[] }));
  for (let round = 0; round < ROUNDS; round++)
    VARIANTS.forEach((v, i) => {
      const r = runVariant(trace, v, perPoll);
      const s = samples[i];
      if (!s) return;
      Object.assign(s, { bytes: r.bytes, messages: r.messages, records: r.records });
      s.cpu.push(r.cpuUs / (trace.polls * trace.devices.length));
    });
  const checks = VARIANTS.map((v) => informationCheck(trace, v, perPoll));
  const jsonRbeDigest = checks[1]?.digest;
  const base = samples[0];
  const baseCpu = median(base?.cpu ?? [0]);
  const scale = 86_400_000 / (trace.polls * trace.pollMs);
  const results: BenchResult[] = [];
  VARIANTS.forEach((v, i) => {
    const s = samples[i];
    const c = checks[i];
    if (!s || !c || !base) return;
    const sameRecords =
      v.format === 'compact'
        ? `; decodes to the JSON variant's records: ${c.digest === jsonRbeDigest ? 'yes' : 'NO'}`
        : '';
    results.push({
      name: `uplink ${v.name}: MQTT 5 bytes/day, counted from the payload builder (${trace.devices.length} devices, 5 s polls, per-poll messages)`,
      unit: 'B/day',
      value: s.bytes * scale,
      baselineName: "today's JSON",
      baseline: base.bytes * scale,
      target: '>= 10x fewer bytes (<= 10 %)',
      notes:
        `${(base.bytes / s.bytes).toFixed(1)}x fewer bytes; messages/day ${Math.round(s.messages * scale).toLocaleString('en-US')} ` +
        `(baseline ${Math.round(base.messages * scale).toLocaleString('en-US')}), records/day ${Math.round(s.records * scale).toLocaleString('en-US')}\n` +
        `  information check: polls where the consumer's value was off by >= deadband or in quality: ${c.missed}; ` +
        `longest silence of a tag ${Math.round(c.maxGapMs / 1000)} s (maxPeriodMs ${maxPeriod / 1000} s): ${c.maxGapMs <= maxPeriod ? 'ok' : 'VIOLATED'}${sameRecords}`,
    });
    results.push({
      name: `uplink ${v.name}: CPU per polled record`,
      unit: 'µs',
      value: median(s.cpu),
      baselineName: "today's JSON",
      baseline: baseCpu,
      target: '<= 120 % of baseline',
      notes: `filter + codec + builder + compression; per published record ${((median(s.cpu) * trace.polls * trace.devices.length) / Math.max(1, s.records)).toFixed(2)} µs`,
    });
  });
  if (process.env.BENCH_UPLINK_BROKER !== '0') results.push(...(await brokerResults(trace)));
  const batched = VARIANTS.map((v) => runVariant(trace, v, 12));
  const b0 = batched[0];
  batched.forEach((r, i) => {
    if (!b0 || i === 0) return;
    results.push({
      name: `uplink ${VARIANTS[i]?.name ?? ''}: bytes/day, 60 s batches`,
      unit: 'B/day',
      value: r.bytes * scale,
      baselineName: "today's JSON, 60 s batches",
      baseline: b0.bytes * scale,
      notes: `${(b0.bytes / r.bytes).toFixed(1)}x fewer bytes; messages/day ${Math.round(r.messages * scale).toLocaleString('en-US')} (baseline ${Math.round(b0.messages * scale).toLocaleString('en-US')})`,
    });
  });
  return results;
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`)
  for (const r of await run()) console.log(formatResult(r));
