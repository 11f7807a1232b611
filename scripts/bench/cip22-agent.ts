/**
 * Child process of the cip22 bench: the measured side. argv[2] = JSON
 *   { mode: 'gateway' | 'plain', cert: chain PEM file, key, root, store?, maxLatencyMs? }
 * gateway: Cip22Gateway with a SqliteOutbox; plain: a TLS 1.3 echo server, same cert.
 * IPC: sends {port}; on 'mark' resets the CPU window; on 'usage' replies {rss, cpuPct, heap…}.
 * BENCH_CPU_PROF=<dir>: the window from 'mark' to 'usage' is CPU-profiled into <dir>
 * (a .cpuprofile per round, for `node --cpu-prof`-style inspection of the per-frame path).
 * 'heap' writes a heap snapshot into BENCH_HEAP_SNAPSHOT (a directory) and replies its path.
 * args.probe: event-loop turns are timed (turn-probe.ts) from 'mark'; 'turns' replies the stats.
 * args.telemetryPerTick: the agent is busy with telemetry too: that many records appended
 * to the same outbox every 10 ms (50: 5,000 records/s, 100 devices × 50 tags at 1 Hz).
 * args.noStore: the gateway's floor: records are dropped and every append resolves at once
 * (no SQLite, no fsync, no drain), so what is left is TLS, the seal, the codec, the state
 * machine, building the records and the sealed ACK.
 */
import { Session } from 'node:inspector/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { createServer } from 'node:tls';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger, type OnceResult, type OnceSink } from '../../src/core/ports.js';
import type { NewRecord, StoredRecord } from '../../src/core/types.js';
import { storeSchema } from '../../src/config/sections/store.js';
import { cip22Schema } from '../../src/cip22/config.js';
import { Cip22Gateway } from '../../src/cip22/gateway/gateway.js';
import { loadRoots } from '../../src/cip22/identity/index.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { startTurnProbe } from './turn-probe.js';

interface Args {
  readonly mode: 'gateway' | 'plain';
  readonly cert: string;
  readonly key: string;
  readonly root: string;
  readonly store?: string;
  /** batch.maxLatencyMs of the store (the before figure: 50); default the schema's. */
  readonly maxLatencyMs?: number;
  /** batch.minIntervalMs of the store; default the schema's. */
  readonly minIntervalMs?: number;
  readonly probe?: boolean;
  readonly telemetryPerTick?: number;
  readonly noStore?: boolean;
}

/** A sink that stores nothing: every append is "durable" at once (args.noStore). */
class NoStore implements OnceSink {
  private rowid = 0;
  append(): void {}
  appendDurable(record: NewRecord): Promise<StoredRecord> {
    const rowid = ++this.rowid;
    return Promise.resolve({ ...record, rowid, id: String(rowid), seq: rowid });
  }
  appendOnce(): Promise<OnceResult> {
    return Promise.resolve({ duplicate: false, records: [] });
  }
  seenOnce(): boolean {
    return false;
  }
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const send = (m: unknown): void => void process.send?.(m);

async function listen(): Promise<number> {
  if (args.mode === 'plain') {
    const server = createServer(
      { cert: readFileSync(args.cert), key: readFileSync(args.key), minVersion: 'TLSv1.3' },
      (s) => {
        s.on('error', () => undefined);
        s.on('data', (b: Buffer) => s.write(b));
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as { port: number }).port;
  }
  const config = {
    ...cip22Schema.parse({
      enabled: true,
      host: '127.0.0.1',
      tls: { cert: args.cert, key: { file: args.key } },
      roots: [args.root],
      perIpHandshakesPerMinute: 1_000_000,
      // Every bench pile connects from 127.0.0.1; in the field each has its own address.
      verify: { maxQueuePerSource: 64 },
      maxSessions: 5000,
    }),
    port: 0,
  };
  const gateway = new Cip22Gateway(config, {
    clock: systemClock,
    logger: silentLogger,
    outbox: args.noStore === true ? new NoStore() : openStore(),
    roots: loadRoots([readFileSync(args.root)]),
    tls: { cert: readFileSync(args.cert), key: readFileSync(args.key) },
  });
  return gateway.start();
}

/** The SQLite outbox the gateway writes to, drained like a forwarder would, with args' telemetry. */
function openStore(): SqliteOutbox {
  const outbox = SqliteOutbox.open(
    storeSchema.parse({
      path: args.store,
      batch: {
        ...(args.maxLatencyMs !== undefined ? { maxLatencyMs: args.maxLatencyMs } : {}),
        ...(args.minIntervalMs !== undefined ? { minIntervalMs: args.minIntervalMs } : {}),
      },
    }),
    {
      clock: systemClock,
      logger: silentLogger,
    },
  );
  // Drain like a forwarder would, so the store does not grow without bound: after the
  // commit's ACKs are sent (a forwarder acks on PUBACK, never inside the commit), and at
  // most one drain per turn. Its delete is a transaction of its own (not fsynced: deleteAcked).
  let draining = false;
  outbox.onCommit(() => {
    if (draining) return;
    draining = true;
    setImmediate(() => {
      draining = false;
      const rows = outbox.read(0, 10_000, 1e9);
      if (rows.length > 0) outbox.ack(rows.map((r) => r.rowid));
    });
  });
  storeStats = () => outbox.stats().committedBatches;
  const perTick = args.telemetryPerTick ?? 0;
  let n = 0;
  const body = JSON.stringify({ t: { v: 1.5, q: 'good' }, x: 'x'.repeat(60) });
  if (perTick > 0)
    setInterval(() => {
      for (let k = 0; k < perTick; k++, n++)
        outbox.append({ device: `dev-${n % 100}`, cls: 'telemetry', ts: Date.now(), body });
    }, 10).unref();
  return outbox;
}

/** Commits (fsyncs) so far: each costs CPU in the kernel, reported beside the CPU figure. */
let storeStats = (): number => 0;
let commitsAtMark = 0;

const profDir = process.env.BENCH_CPU_PROF;
let profiler: Session | undefined;

async function profile(start: boolean): Promise<void> {
  if (!profDir) return;
  if (start) {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    // BENCH_CPU_PROF_US: a finer interval than V8's 1 ms, to see what one event-loop turn holds.
    const us = Number(process.env.BENCH_CPU_PROF_US ?? 0);
    if (us > 0) await profiler.post('Profiler.setSamplingInterval', { interval: us });
    await profiler.post('Profiler.start');
    return;
  }
  if (!profiler) return;
  const { profile: p } = await profiler.post('Profiler.stop');
  writeFileSync(join(profDir, `cip22-${args.mode}-${process.pid}.cpuprofile`), JSON.stringify(p));
  profiler.disconnect();
  profiler = undefined;
}

const turns = args.probe === true ? startTurnProbe() : undefined;
let cpu = process.cpuUsage();
let at = performance.now();
process.on('message', (m: string) => {
  if (m === 'mark') {
    cpu = process.cpuUsage();
    at = performance.now();
    commitsAtMark = storeStats();
    turns?.reset();
    void profile(true);
  } else if (m === 'usage') {
    const d = process.cpuUsage(cpu);
    const mem = process.memoryUsage();
    const usage = {
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      heapTotal: mem.heapTotal,
      external: mem.external,
      cpuPct: ((d.user + d.system) / 1000 / (performance.now() - at)) * 100,
      systemPct: (d.system / 1000 / (performance.now() - at)) * 100,
      commitsPerS: ((storeStats() - commitsAtMark) * 1000) / (performance.now() - at),
    };
    void profile(false).then(() => send(usage));
  } else if (m === 'heap') {
    const dir = process.env.BENCH_HEAP_SNAPSHOT;
    send({
      heap: dir ? writeHeapSnapshot(join(dir, `cip22-${args.mode}-${process.pid}.heapsnapshot`)) : null,
    });
  } else if (m === 'turns') {
    send({ turns: turns?.stats() });
  }
});
send({ port: await listen() });
