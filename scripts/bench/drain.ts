/**
 * MQTT drain bench: a backlog of BENCH_DRAIN_RECORDS (default 500,000) ~150 B telemetry
 * records of 10 devices, pre-filled into the outbox before timing (once; each round
 * drains a copy of that file), drained by the MqttForwarder to a local mosquitto started
 * here. Timed from start() until every record is acked (PUBACKed and deleted, by the
 * outbox's ack worker unless BENCH_DRAIN_ACKS=inline).
 *
 * Baselines, in the same rounds (alternated, medians):
 * - the raw store: better-sqlite3 on a copy of the same file, select 1000 rows + range
 *   delete (autocommit, WAL, synchronous=FULL), as the outbox suite's raw drain. The
 *   goal is the agent at >= 80 % of it: the drain limited by the store, not by us.
 * - a raw mqtt.js QoS 1 publish loop of the same messages (same payload bytes, same
 *   batching, built before timing), same in-flight window, same broker; timed from
 *   connect until the last PUBACK. It neither reads nor deletes from the outbox.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import { mqttSchema } from '../../src/config/sections/mqtt.js';
import { storeSchema } from '../../src/config/sections/store.js';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger, type OutboxSource } from '../../src/core/ports.js';
import type { NewRecord } from '../../src/core/types.js';
import { MqttForwarder } from '../../src/forwarders/mqtt/forwarder.js';
import { PayloadBuilder, type BuiltMessage } from '../../src/forwarders/mqtt/payload.js';
import { startMosquitto, type MosquittoBroker } from '../../test/helpers/mosquitto.js';
import { FakeOutbox, telemetryBody } from '../../test/mqtt/fake-outbox.js';
import { benchRounds, formatResult, median, type BenchResult, envCount } from './common.js';

const RECORDS = envCount('BENCH_DRAIN_RECORDS', 500_000);
const ROUNDS = Math.max(3, benchRounds(3));
const DEVICES = 10;
/** `inline`: the drain reads and builds on the forwarder's thread (the tree before the worker). */
const READER = process.env.BENCH_DRAIN_READER ?? 'worker';
/** `inline`: the outbox deletes acked records on the forwarder's thread (the tree before the ack worker). */
const ACKS = process.env.BENCH_DRAIN_ACKS ?? 'worker';

type Source = OutboxSource & { close?(): Promise<void>; readonly path?: string };
interface SourceKind {
  readonly name: string;
  /** The pre-filled database file, when the source is SQLite (for the raw baseline). */
  readonly file?: string;
  open(): Promise<{ source: Source; cleanup: () => Promise<void> }>;
  dispose(): void;
}

function record(i: number): NewRecord {
  return {
    device: `plc-${i % DEVICES}`,
    cls: 'telemetry',
    ts: 1_700_000_000_000 + i * 100,
    body: telemetryBody(i),
  };
}

/**
 * The records exist only while a store is filled: kept for the whole run they were 500,000
 * objects (~160 MB) in the heap the agent drains in, which every major GC of the drain
 * marked again (V8's helper threads: ~0.5 µs of CPU per drained record). The agent itself
 * holds none of them.
 */
function makeRecords(): NewRecord[] {
  return Array.from({ length: RECORDS }, (_, i) => record(i));
}

async function sourceKind(): Promise<SourceKind> {
  try {
    const { SqliteOutbox } = await import('../../src/store/sqlite-outbox.js');
    const dir = mkdtempSync(join(tmpdir(), 'bench-drain-'));
    const template = join(dir, 'template.db');
    const openAt = (path: string): ReturnType<typeof SqliteOutbox.open> =>
      SqliteOutbox.open(storeSchema.parse({ path, integrityCheck: 'off' }), {
        clock: systemClock,
        logger: silentLogger,
      });
    const filled = openAt(template);
    for (const r of makeRecords()) filled.append(r);
    await filled.flush();
    await filled.close(); // checkpointed: the copy is the whole database
    let n = 0;
    return {
      name: 'SqliteOutbox (WAL, synchronous=FULL, pre-filled before timing)',
      file: template,
      async open() {
        const path = join(dir, `round-${++n}.db`);
        copyFileSync(template, path);
        const outbox = openAt(path);
        return {
          source: outbox,
          async cleanup() {
            await outbox.close();
            for (const f of [path, `${path}-wal`, `${path}-shm`]) rmSync(f, { force: true });
          },
        };
      },
      dispose: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    return {
      name: `in-memory FakeOutbox (SqliteOutbox unavailable: ${(e as Error).message})`,
      async open() {
        const box = new FakeOutbox();
        box.append(makeRecords(), false);
        return { source: box, cleanup: async () => undefined };
      },
      dispose: () => undefined,
    };
  }
}

/** The raw store: select 1000 + range delete on a copy of the same file. */
async function rawStoreRound(template: string): Promise<number> {
  const { default: Database } = await import('better-sqlite3');
  const dir = mkdtempSync(join(tmpdir(), 'bench-drain-raw-'));
  try {
    const path = join(dir, 'raw.db');
    copyFileSync(template, path);
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const select = db
      .prepare(
        'SELECT rowid, seq, device, cls, ts, body FROM records WHERE rowid > ? ORDER BY rowid LIMIT 1000',
      )
      .raw();
    const del = db.prepare('DELETE FROM records WHERE rowid BETWEEN ? AND ?');
    const t0 = performance.now();
    let after = 0;
    let n = 0;
    for (;;) {
      const page = select.all(after) as [number][];
      const first = page[0];
      const last = page.at(-1);
      if (!first || !last) break;
      del.run(first[0], last[0]);
      after = last[0];
      n += page.length;
    }
    const dt = performance.now() - t0;
    db.close();
    return (n / dt) * 1000;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const config = mqttSchema.parse({ url: 'mqtt://127.0.0.1:1', topicPrefix: 'bench', allowInsecure: true });

async function agentRound(broker: MosquittoBroker, kind: SourceKind, records: number): Promise<number> {
  const { source, cleanup } = await kind.open();
  let acked = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const count = (n: number): void => {
    acked += n;
    if (acked >= records) done();
  };
  const counting: OutboxSource = {
    read: (a, l, b, before) => source.read(a, l, b, before),
    ack: (rowids) => {
      source.ack(rowids);
      count(rowids.length);
    },
    ...(source.ackAsync && ACKS !== 'inline'
      ? { ackAsync: (rowids: readonly number[]) => source.ackAsync!(rowids).then(() => count(rowids.length)) }
      : {}),
    ...(source.acked ? { acked: (rowids: readonly number[]) => source.acked?.(rowids) } : {}),
    ...(source.sending ? { sending: (rowids: readonly number[]) => source.sending?.(rowids) } : {}),
    ...(source.unsent ? { unsent: (rowids: readonly number[]) => source.unsent?.(rowids) } : {}),
    ...(source.evictions ? { evictions: () => source.evictions?.() ?? 0 } : {}),
    lastRowid: () => source.lastRowid(),
    onCommit: (fn) => source.onCommit(fn),
  };
  const fwd = new MqttForwarder(
    { ...config, url: broker.url },
    {
      source: counting,
      clock: systemClock,
      logger: silentLogger,
      random: Math.random,
      site: 'bench-site',
      agentId: 'bench-agent',
      secrets: (ref) => JSON.stringify(ref), // no secret is referenced by the bench config
      ...(source.path && READER !== 'inline' ? { readerFile: source.path } : {}),
    },
  );
  const before = threadCpu();
  const t0 = performance.now();
  await fwd.start();
  await finished;
  const dt = performance.now() - t0;
  agentCpu.push(cpuPerRecord(before, threadCpu(), records));
  lastAgentStats = fwd.stats();
  await fwd.stop();
  await cleanup();
  if (acked !== records) throw new Error(`acked ${acked} of ${records}`);
  return (records / dt) * 1000;
}
let lastAgentStats: ReturnType<MqttForwarder['stats']> | undefined;

/** CPU seconds of each thread of this process, by tid (Linux /proc; empty elsewhere). */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, (Number(f[11]) + Number(f[12])) / 100); // utime + stime, USER_HZ
    }
  } catch {
    // a thread ended while listed, or no /proc: what was read is kept
  }
  return out;
}

interface ThreadCpu {
  readonly main: number;
  /** Threads started during the round: the drain's reader and the outbox's ack worker. */
  readonly workers: number;
  /** Threads that were there before (V8's GC and compiler helpers, libuv's pool). */
  readonly others: number;
}
const agentCpu: ThreadCpu[] = [];

/** µs of CPU per record of each kind of thread (ended threads are not seen: a floor). */
function cpuPerRecord(before: Map<string, number>, after: Map<string, number>, records: number): ThreadCpu {
  const us = (s: number): number => (s * 1e6) / records;
  let main = 0;
  let workers = 0;
  let others = 0;
  for (const [tid, cpu] of after) {
    const was = before.get(tid);
    if (tid === String(process.pid)) main += cpu - (was ?? 0);
    else if (was === undefined) workers += cpu;
    else others += cpu - was;
  }
  return { main: us(main), workers: us(workers), others: us(others) };
}

/** The messages the forwarder would send: read in the same chunks, same builder. */
async function buildMessages(kind: SourceKind): Promise<BuiltMessage[]> {
  const { source, cleanup } = await kind.open();
  const builder = new PayloadBuilder({
    topicPrefix: 'bench',
    site: 'bench-site',
    agentId: 'bench-agent',
    maxRecords: config.batch.maxRecords,
    maxBytes: config.batch.maxBytes,
  });
  const out: BuiltMessage[] = [];
  let cursor = 0;
  for (;;) {
    const chunk = source.read(
      cursor,
      config.batch.maxRecords * config.inflightWindow,
      config.batch.maxBytes * config.inflightWindow,
    );
    if (chunk.length === 0) break;
    cursor = chunk[chunk.length - 1]!.rowid;
    for (const m of builder.build(chunk, true)) out.push(m);
  }
  await cleanup();
  return out;
}

async function baselineRound(
  broker: MosquittoBroker,
  messages: readonly BuiltMessage[],
  window: number,
): Promise<number> {
  const records = messages.reduce((n, m) => n + m.rowids.length, 0);
  const t0 = performance.now();
  const client = mqtt.connect(broker.url, {
    protocolVersion: 5,
    clean: true,
    reconnectPeriod: 0,
    queueQoSZero: false,
    clientId: 'bench-raw',
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    let next = 0;
    let inflight = 0;
    let acked = 0;
    const send = (): void => {
      while (inflight < window && next < messages.length) {
        const m = messages[next++]!;
        inflight++;
        client.publish(m.topic, m.payload, { qos: 1 }, (err) => {
          if (err) return reject(err);
          inflight--;
          acked++;
          if (acked === messages.length) resolve();
          else send();
        });
      }
    };
    send();
  });
  const dt = performance.now() - t0;
  await client.endAsync();
  return (records / dt) * 1000;
}

function cpuMedian(kind: keyof ThreadCpu): string {
  return median(agentCpu.map((c) => c[kind])).toFixed(2);
}

export async function run(): Promise<BenchResult[]> {
  const broker = await startMosquitto({ extra: ['max_inflight_messages 100'] });
  const kind = await sourceKind();
  try {
    const sample = Math.min(1000, RECORDS);
    let bodies = 0;
    for (let i = 0; i < sample; i++) bodies += record(i).body.length;
    const avgBody = Math.round(bodies / sample);
    const messages = await buildMessages(kind);
    const avgPayload = Math.round(messages.reduce((n, m) => n + m.payload.length, 0) / messages.length);
    const window = Math.min(config.inflightWindow, 100 - 1);
    const agentRuns: number[] = [];
    const storeRuns: number[] = [];
    const publishRuns: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      if (kind.file) storeRuns.push(await rawStoreRound(kind.file));
      publishRuns.push(await baselineRound(broker, messages, window));
      agentRuns.push(await agentRound(broker, kind, RECORDS));
    }
    const agent = median(agentRuns);
    const s = lastAgentStats;
    const common =
      `${RECORDS} records, ${DEVICES} devices, ~${avgBody} B bodies, ~${avgPayload} B payloads (batch ${config.batch.maxRecords} records), ` +
      `source: ${kind.name}; ${ROUNDS} rounds; agent runs ${agentRuns.map(Math.round).join(', ')}` +
      (s
        ? `; PUBACK latency median ${s.pubackLatencyMedianMs?.toFixed(2)} ms, window ${s.window} (peak ${s.peakInflightMessages})`
        : '') +
      `; agent CPU µs/record, medians: main thread ${cpuMedian('main')}, reader + ack workers ${cpuMedian('workers')}, ` +
      `V8/libuv helper threads ${cpuMedian('others')}`;
    const results: BenchResult[] = [];
    if (storeRuns.length > 0)
      results.push({
        name: 'mqtt drain of a backlog vs the raw store (outbox → mosquitto, QoS 1, acked)',
        unit: 'records/s',
        value: agent,
        baselineName: 'raw better-sqlite3 select 1000 + range delete of the same rows (no MQTT)',
        baseline: median(storeRuns),
        target: '>= 80 % of the raw store',
        notes: `${common}; raw store runs ${storeRuns.map(Math.round).join(', ')}`,
      });
    results.push({
      name: 'mqtt drain of a backlog vs a raw publish loop (outbox → mosquitto, QoS 1, acked)',
      unit: 'records/s',
      value: agent,
      baselineName: `raw mqtt.js QoS 1 publish loop, same ${messages.length} messages, window ${window}`,
      baseline: median(publishRuns),
      target: '>= 50000 records/s',
      notes: `${common}; raw publish runs ${publishRuns.map(Math.round).join(', ')}`,
    });
    return results;
  } finally {
    kind.dispose();
    await broker.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run()) console.log(formatResult(r));
}
