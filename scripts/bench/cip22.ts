/**
 * CIP-22 gateway benchmarks (the gateway runs in a child process, cip22-agent.ts).
 * 1. Handshakes: sequential SimPile (P-256) connects to AUTH_OK, latency p99 and
 *    handshakes/s, vs plain TLS 1.3 connect + one echo round trip with the same certs.
 *    Target p99 < 20 ms (seed figure: 86 ms average).
 * 2. BENCH_CIP22_SESSIONS (1000) concurrent sealed sessions sending STATUS at 1 Hz for
 *    BENCH_CIP22_SECONDS (20): the agent process's RSS and CPU %, vs the floor of TLS
 *    alone: the same number of plain TLS 1.3 sockets on the echo server, each sending a
 *    frame of the sealed STATUS's size at 1 Hz and reading its echo (idle sockets, the
 *    earlier baseline, cost no TLS record work at all and are noted beside it).
 * Env: BENCH_ROUNDS (default 3), BENCH_CIP22_HANDSHAKES (per round, default 200).
 * Handshakes are measured twice: first contact (every pile new to the gateway) and
 * reconnects (20 piles cycling: the gateway's certificate cache answers).
 * 3. Event-loop lag under a forged SM2 chain flood, worker pool vs inline (cip22-flood.ts).
 * BENCH_CIP22_PARTS=handshake,load,flood (default all) selects parts.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { SimPile } from '../../src/cip22/sim/pile.js';
import { FRAME_OVERHEAD, SEAL_OVERHEAD, encodeMessage } from '../../src/cip22/codec/index.js';
import { benchRounds, envCount, alternate, median, type BenchResult } from './common.js';
import { type BenchPki, benchPki } from './cip22-pki.js';
import { floodLag } from './cip22-flood.js';
import { ackResult, everySecond, type LoadUsage, RoundTrips } from './cip22-load-ack.js';
import { RELEASE_NODE_FLAGS } from '../bundle/runtime.js';

const ROUNDS = benchRounds(3);
const HANDSHAKES = envCount('BENCH_CIP22_HANDSHAKES', 200);
const SESSIONS = Number(process.env.BENCH_CIP22_SESSIONS ?? 1000);
const SECONDS = Number(process.env.BENCH_CIP22_SECONDS ?? 20);
const RECONNECT_PILES = 20;
const PARTS = new Set((process.env.BENCH_CIP22_PARTS ?? 'handshake,load,flood').split(','));
const AGENT = new URL('./cip22-agent.js', import.meta.url).pathname;
/**
 * BENCH_CIP22_MIN_INTERVAL_MS: store.batch.minIntervalMs of the gateway in the load part
 * (default the schema's): fewer, larger commits for more ACK latency, the CPU lever.
 */
const LOAD_STORE = process.env.BENCH_CIP22_MIN_INTERVAL_MS
  ? { minIntervalMs: Number(process.env.BENCH_CIP22_MIN_INTERVAL_MS) }
  : {};
/**
 * BENCH_CIP22_BEFORE=<another build's dist dir, or its scripts/bench/cip22-agent.js>: the
 * load, ACK and handshake suites run that build's agent too, in the same rounds, as the
 * before figure of a change. (The handshake suite took a dist dir and the others the
 * script: one value failed one of them.)
 */
export const BEFORE_AGENT = beforeAgent(process.env.BENCH_CIP22_BEFORE);

function beforeAgent(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return value.endsWith('.js') ? value : join(value, 'scripts', 'bench', 'cip22-agent.js');
}

/** What the agent child measures: CPU over the window and its memory at the end. */
export interface Usage {
  readonly rss: number;
  readonly cpuPct: number;
  readonly heapUsed?: number;
  readonly external?: number;
  /** Kernel part of cpuPct (socket writes, fsync). */
  readonly systemPct?: number;
  /** Store commits per second in the window (gateway mode). */
  readonly commitsPerS?: number;
}

interface Agent {
  readonly child: ChildProcess;
  readonly port: number;
  usage(): Promise<Usage>;
  stop(): Promise<void>;
}

export async function startAgent(
  pki: BenchPki,
  mode: 'gateway' | 'plain',
  round: number,
  store: {
    maxLatencyMs?: number;
    minIntervalMs?: number;
    probe?: boolean;
    agent?: string;
    telemetryPerTick?: number;
    noStore?: boolean;
  } = {},
  script = AGENT,
): Promise<Agent> {
  const { agent, ...options } = store;
  const args = {
    ...options,
    mode,
    cert: join(pki.dir, 'server-chain.pem'),
    key: pki.serverKeyPem,
    root: pki.pinnedPem,
    store: join(pki.dir, `outbox-${round}-${Date.now()}.db`),
  };
  // The release's V8 flags (the launcher's and the CLI's shebang), as the agent runs in production.
  const child = fork(agent ?? script, [JSON.stringify(args)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // BENCH_AGENT_NODE_FLAGS (e.g. --perf-basic-prof for `perf record -p`) are added to them.
    execArgv: [
      ...RELEASE_NODE_FLAGS,
      ...(process.env.BENCH_AGENT_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
    ],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (c) => reject(new Error(`cip22 agent exited ${c}`)));
  });
  return {
    child,
    port,
    usage: () =>
      new Promise((resolve) => {
        child.once('message', (m: Usage) => resolve(m));
        child.send('usage');
      }),
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export function pile(pki: BenchPki, i: number, port: number): SimPile {
  const p = pki.piles[i]!;
  return new SimPile({
    host: '127.0.0.1',
    port,
    ca: [readFileSync(pki.rootPem)],
    deviceId: p.deviceId,
    alg: 'ecdsa-p256',
    key: p.key,
    certDer: p.certDer,
    issuerDer: pki.issuingDer,
  });
}

export function plainConnect(pki: BenchPki, port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({
      host: '127.0.0.1',
      port,
      ca: [readFileSync(pki.rootPem)],
      minVersion: 'TLSv1.3',
      checkServerIdentity: () => undefined,
    });
    s.once('error', reject);
    s.once('secureConnect', () => resolve(s));
  });
}

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
}

/** One round of sequential handshakes: latencies in ms. */
async function handshakeRound(
  pki: BenchPki,
  mode: 'gateway' | 'plain',
  distinctPiles = pki.piles.length,
): Promise<number[]> {
  const agent = await startAgent(pki, mode, 0);
  const lat: number[] = [];
  try {
    for (let i = 0; i < HANDSHAKES; i++) {
      const t = performance.now();
      if (mode === 'gateway') {
        const p = pile(pki, i % distinctPiles, agent.port);
        await p.connect();
        lat.push(performance.now() - t);
        p.close();
      } else {
        const s = await plainConnect(pki, agent.port);
        await new Promise<void>((resolve) => {
          s.once('data', () => resolve());
          s.write('ping');
        });
        lat.push(performance.now() - t);
        s.destroy();
      }
    }
  } finally {
    await agent.stop();
  }
  return lat;
}

export async function connectAll<T>(n: number, open: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await open(i);
      }
    }),
  );
  return out;
}

/** The STATUS every bench pile sends; `i` makes energy differ per pile. */
function statusFields(i: number): { type: 'STATUS'; state: 0; voltageMv: number; energyWh: number } {
  return { type: 'STATUS', state: 0, voltageMv: 48_000, energyWh: i };
}

/** Bytes of pile i's sealed STATUS frame on the wire (msg_seq of the same width as the piles'). */
function sealedStatusBytes(i: number): number {
  const { payload } = encodeMessage({ msgSeq: 1000, ...statusFields(i) });
  return FRAME_OVERHEAD + payload.length + SEAL_OVERHEAD;
}

/**
 * One load round: connect, settle, measure RSS and CPU over SECONDS. 'gateway': sealed
 * sessions sending STATUS at 1 Hz; 'plain': TLS echo sockets doing the same-size frame
 * at 1 Hz (`idle`: sockets that send nothing).
 */
export async function loadRound(
  pki: BenchPki,
  mode: 'gateway' | 'plain',
  round: number,
  script = AGENT,
  idle = false,
  noStore = false,
): Promise<LoadUsage> {
  const options = mode === 'gateway' ? { ...LOAD_STORE, ...(noStore ? { noStore } : {}) } : {};
  const agent = await startAgent(pki, mode, round, options, script);
  const closers: (() => void)[] = [];
  let acked = 0;
  // STATUS (or echo frame) → ACK (or echo) per pile, client side, in the measured window.
  const lat = new RoundTrips(SESSIONS);
  try {
    if (mode === 'gateway') {
      const piles = await connectAll(SESSIONS, async (i) => {
        const p = pile(pki, i, agent.port);
        await p.connect();
        p.onFrame((m) => {
          if (m.type !== 'ACK') return;
          acked++;
          lat.answered(i);
        });
        return p;
      });
      for (const p of piles) closers.push(() => p.close());
      closers.push(
        everySecond(piles, (p, i) => {
          lat.sent(i);
          p.send(statusFields(i));
        }),
      );
    } else {
      const sockets = await connectAll(SESSIONS, () => plainConnect(pki, agent.port));
      sockets.forEach((s, i) => {
        s.on('data', () => {
          acked++;
          lat.answered(i);
        });
        closers.push(() => s.destroy());
      });
      if (!idle) {
        const frames = sockets.map((_, i) => Buffer.alloc(sealedStatusBytes(i), i & 0xff));
        closers.push(
          everySecond(sockets, (s, i) => {
            lat.sent(i);
            s.write(frames[i]!);
          }),
        );
      }
    }
    await new Promise((r) => setTimeout(r, 2000));
    acked = 0;
    lat.measuring = true;
    agent.child.send('mark');
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const usage = await agent.usage();
    if (process.env.BENCH_HEAP_SNAPSHOT)
      await new Promise((resolve) => {
        agent.child.once('message', resolve);
        agent.child.send('heap');
      });
    lat.measuring = false;
    return { ...usage, acked, ack: lat.percentiles() };
  } finally {
    for (const c of closers.reverse()) c();
    await agent.stop();
  }
}

/** "; before (BENCH_CIP22_BEFORE build): median (per round)", or nothing without that build. */
function beforeNote(xs: Usage[], k: 'rss' | 'cpuPct', scale: number, unit: string): string {
  if (xs.length === 0) return '';
  const v = xs.map((x) => x[k] * scale);
  return `; before (BENCH_CIP22_BEFORE build, same rounds): ${median(v).toFixed(2)} ${unit} (per round ${v.map((x) => x.toFixed(2)).join(', ')})`;
}

/**
 * The gateway with its store taken out (args.noStore), every round: what the protocol
 * itself costs here (TLS, seal, codec, state machine, records, sealed ACK), the floor
 * under the CPU target that no change to the store can go below.
 */
function noStoreNote(xs: Usage[]): string {
  if (xs.length === 0) return '';
  const cpu = xs.map((x) => x.cpuPct);
  return `the gateway without its store (records dropped, no SQLite, no fsync, no drain): ${median(cpu).toFixed(2)} % (per round ${cpu.map((x) => x.toFixed(2)).join(', ')}), RSS ${median(xs.map((x) => x.rss / 1e6)).toFixed(0)} MB`;
}

async function handshakes(pki: BenchPki): Promise<BenchResult[]> {
  const lat = { gateway: [] as number[], plain: [] as number[] };
  const p99s = await alternate(
    ROUNDS,
    async () =>
      p99((lat.gateway = lat.gateway.concat(await handshakeRound(pki, 'gateway'))).slice(-HANDSHAKES)),
    async () => p99((lat.plain = lat.plain.concat(await handshakeRound(pki, 'plain'))).slice(-HANDSHAKES)),
  );
  // Piles that were seen before (reconnects after a link drop, the common case in the field):
  // their certificates are parsed and their chain signatures checked from the gateway's cache.
  const again = { gateway: [] as number[], plain: [] as number[] };
  const reconnectP99s = await alternate(
    ROUNDS,
    async () =>
      p99(
        (again.gateway = again.gateway.concat(
          await handshakeRound(pki, 'gateway', Math.min(RECONNECT_PILES, pki.piles.length)),
        )).slice(-HANDSHAKES),
      ),
    async () =>
      p99((again.plain = again.plain.concat(await handshakeRound(pki, 'plain'))).slice(-HANDSHAKES)),
  );
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  return [
    {
      name: 'CIP-22 handshake p99 (TLS 1.3 + HELLO/CHALLENGE/AUTH_RESP/AUTH_OK, P-256 pile)',
      unit: 'ms',
      value: p99s.agent,
      baselineName: 'plain TLS 1.3 connect + 1 echo round trip, same certs',
      baseline: p99s.baseline,
      target: 'p99 < 20 ms (seed: 86 ms average)',
      notes: `mean ${mean(lat.gateway).toFixed(2)} ms vs ${mean(lat.plain).toFixed(2)} ms; p99 per round ${p99s.agentRuns.map((x) => x.toFixed(1)).join(', ')} ms; ${HANDSHAKES} sequential per round`,
    },
    {
      name: `CIP-22 handshake p99, reconnecting piles (${RECONNECT_PILES} piles seen before: certificate cache hits)`,
      unit: 'ms',
      value: reconnectP99s.agent,
      baselineName: 'plain TLS 1.3 connect + 1 echo round trip, same certs',
      baseline: reconnectP99s.baseline,
      target: 'p99 < 20 ms',
      notes: `mean ${mean(again.gateway).toFixed(2)} ms vs ${mean(again.plain).toFixed(2)} ms; p99 per round ${reconnectP99s.agentRuns.map((x) => x.toFixed(1)).join(', ')} ms`,
    },
    {
      name: 'CIP-22 handshakes/s (sequential, one client)',
      unit: 'handshakes/s',
      value: 1000 / mean(lat.gateway),
      baselineName: 'plain TLS 1.3 connect + echo',
      baseline: 1000 / mean(lat.plain),
    },
  ];
}

async function loads(pki: BenchPki): Promise<BenchResult[]> {
  type Load = LoadUsage;
  const load = {
    gateway: [] as Load[],
    echo: [] as Load[],
    before: [] as Load[],
    idle: [] as Load[],
    noStore: [] as Load[],
  };
  let round = 0;
  await alternate(
    ROUNDS,
    async () => {
      load.gateway.push(await loadRound(pki, 'gateway', ++round));
      if (BEFORE_AGENT) load.before.push(await loadRound(pki, 'gateway', ++round, BEFORE_AGENT));
      load.noStore.push(await loadRound(pki, 'gateway', ++round, AGENT, false, true));
      return 0;
    },
    async () => {
      load.echo.push(await loadRound(pki, 'plain', ++round));
      // Idle sockets once: the earlier baseline, for comparison with older reports.
      if (load.idle.length === 0) load.idle.push(await loadRound(pki, 'plain', ++round, AGENT, true));
      return 0;
    },
  );
  const med = (xs: Usage[], k: keyof Usage): number => median(xs.map((x) => x[k] ?? 0));
  const rate = (xs: Load[]): string => median(xs.map((x) => x.acked / SECONDS)).toFixed(0);
  const idle = load.idle[0];
  const floor = `${SESSIONS} plain TLS 1.3 sockets, each a 1 Hz echo of a sealed-STATUS-size frame (${sealedStatusBytes(0)} B)`;
  return [
    {
      name: `agent RSS, ${SESSIONS} sealed sessions, STATUS at 1 Hz each, ${SECONDS} s`,
      unit: 'MB',
      value: med(load.gateway, 'rss') / 1e6,
      baselineName: floor,
      baseline: med(load.echo, 'rss') / 1e6,
      target: '<= 120 MB',
      notes: `ACKs received ${rate(load.gateway)}/s, echoes ${rate(load.echo)}/s (expected ${SESSIONS}/s); RSS per round ${load.gateway.map((x) => (x.rss / 1e6).toFixed(0)).join(', ')} MB, echo ${load.echo.map((x) => (x.rss / 1e6).toFixed(0)).join(', ')} MB; V8 heap used ${(med(load.gateway, 'heapUsed') / 1e6).toFixed(1)} MB vs echo ${(med(load.echo, 'heapUsed') / 1e6).toFixed(1)} MB; idle sockets (1 round) ${((idle?.rss ?? 0) / 1e6).toFixed(0)} MB${beforeNote(load.before, 'rss', 1e-6, 'MB')}`,
    },
    {
      name: `agent CPU, ${SESSIONS} sealed sessions, STATUS at 1 Hz each (stored in SQLite, ACKed)`,
      unit: '% of one core',
      value: med(load.gateway, 'cpuPct'),
      baselineName: floor,
      baseline: med(load.echo, 'cpuPct'),
      target: '<= 6 %',
      notes: `per round ${load.gateway.map((x) => x.cpuPct.toFixed(2)).join(', ')} %, echo ${load.echo.map((x) => x.cpuPct.toFixed(2)).join(', ')} %; kernel part ${med(load.gateway, 'systemPct').toFixed(2)} % vs echo ${med(load.echo, 'systemPct').toFixed(2)} %; store commits ${med(load.gateway, 'commitsPerS').toFixed(0)}/s; idle sockets (1 round) ${(idle?.cpuPct ?? 0).toFixed(2)} %\n  ${noStoreNote(load.noStore)}${beforeNote(load.before, 'cpuPct', 1, '%')}${load.before.length > 0 ? `, its store commits ${med(load.before, 'commitsPerS').toFixed(0)}/s` : ''}`,
    },
    ackResult(SESSIONS, load.gateway, load.echo, load.before),
  ];
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  if (PARTS.has('handshake') || PARTS.has('load')) {
    const pki = benchPki(Math.max(SESSIONS, 1));
    writeFileSync(join(pki.dir, 'server-chain.pem'), pki.serverChain);
    try {
      if (PARTS.has('handshake')) results.push(...(await handshakes(pki)));
      if (PARTS.has('load')) results.push(...(await loads(pki)));
    } finally {
      pki.remove();
    }
  }
  if (PARTS.has('flood')) results.push(await floodLag(ROUNDS));
  return results;
}
