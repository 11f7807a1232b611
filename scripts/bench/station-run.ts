/**
 * One run of the station bench: the real agent (`edge-agent run`) with `devices` Modbus
 * devices × 50 tags at 1 Hz (half Modbus TCP from pymodbus, half Modbus RTU through 5 DTU
 * links, each a DTU simulator dialling the agent), one S7 PLC with 500 tags (snap7), 50
 * sealed CIP-22 piles sending STATUS at 1 Hz and the MQTT forwarder into mosquitto. The
 * agent alone runs inside a cgroup v1 CPU limit of 25 % of one core (quota 25 % of the
 * given CFS period) and a 128 MB memory cgroup; the peers run in this process, outside it.
 */
import { RELEASE_ENV, RELEASE_NODE_FLAGS } from '../bundle/runtime.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, openSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import { stringify } from 'yaml';
import { startDtuSimulator, type DtuSimulator } from '../../src/tools/dtu-sim/simulator.js';
import type { SimPile } from '../../src/cip22/sim/pile.js';
import { startMosquitto } from '../../test/helpers/mosquitto.js';
import { freePort } from '../../test/helpers/net.js';
import { TestS7Server } from '../../test/helpers/snap7.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { benchPki } from './cip22-pki.js';
import { connectAll, pile } from './cip22.js';
import { percentiles } from './commit.js';
import { startServer } from './poll.js';
import { cpuStat, makeCgroups, metrics, rtuBus, weighPeers, type CpuStat } from './station-probes.js';
import { agentSample, summarise, type AgentSample, type StationRun } from './station-sample.js';

export const TAGS = 50;
export const DTUS = 5;
export const S7_TAGS = 500;
export const PILES = 50;
export const CPU_QUOTA = 0.25;
export const MEMORY_MB = 128;
const SAMPLE_MS = 10_000;
/** The release launcher's flags (scripts/bundle/runtime.ts); BENCH_NODE_FLAGS overrides (e.g. to add --cpu-prof). */
export const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? RELEASE_NODE_FLAGS.join(' '))
  .split(' ')
  .filter(Boolean);

export interface StationOptions {
  readonly devices: number;
  readonly seconds: number;
  readonly warmupS: number;
  /** CFS period of the CPU cgroup (ms); the quota is CPU_QUOTA of it. */
  readonly periodMs: number;
  /** agent.pollSpread; undefined: the agent's default. */
  readonly spread?: boolean;
  /** agent.pollSpreadSlots; undefined: the agent's default. */
  readonly slots?: number;
}

interface Ports {
  modbus: number;
  s7: number;
  dtu: number;
  cip22: number;
  http: number;
}

/** STATION_STORE: JSON merged into the station's store section (e.g. '{"checkpoint":{"worker":true}}'). */
function storeOverrides(): Record<string, unknown> {
  const raw = process.env.STATION_STORE;
  return raw === undefined ? {} : (JSON.parse(raw) as Record<string, unknown>);
}

function stationConfig(
  o: StationOptions,
  ports: Ports,
  mqttUrl: string,
  dir: string,
  pki: ReturnType<typeof benchPki>,
) {
  const tags = Array.from({ length: TAGS }, (_, t) => ({ name: `t${t}`, function: 'holding', address: t }));
  const half = Math.ceil(o.devices / 2);
  return {
    agent: {
      id: 'station',
      site: 'station',
      ...(o.spread === undefined ? {} : { pollSpread: o.spread }),
      ...(o.slots === undefined ? {} : { pollSpreadSlots: o.slots }),
    },
    store: { path: join(dir, 'outbox.db'), ...storeOverrides() },
    mqtt: { url: mqttUrl, allowInsecure: true },
    http: { port: ports.http },
    log: { level: 'warn' },
    dtu: {
      server: { host: '127.0.0.1', port: ports.dtu },
      links: Array.from({ length: DTUS }, (_, k) => ({
        name: `dtu${k}`,
        mode: 'server',
        registration: { ascii: `DTU-${k}` },
        heartbeat: { ascii: 'HB' },
        heartbeatIntervalMs: 30_000,
      })),
    },
    cip22: {
      enabled: true,
      host: '127.0.0.1',
      port: ports.cip22,
      tls: { cert: join(dir, 'server-chain.pem'), key: { file: pki.serverKeyPem } },
      roots: [pki.rootPem],
      // Every bench pile connects from 127.0.0.1; in the field each has its own address.
      perIpHandshakesPerMinute: 10_000,
      verify: { maxQueuePerSource: 64 },
    },
    devices: [
      ...Array.from({ length: o.devices }, (_, i) => ({
        name: `m${i}`,
        driver: 'modbus',
        connection:
          i < half
            ? { transport: 'tcp', host: '127.0.0.1', port: ports.modbus }
            : { transport: 'dtu', dtu: `dtu${i % DTUS}` },
        // Unique per DTU bus up to 5 × 247 devices on the DTU half.
        unitId: (i % 247) + 1,
        intervalMs: 1000,
        timeoutMs: 2000,
        tags,
      })),
      {
        name: 'plc',
        driver: 's7',
        connection: { host: '127.0.0.1', port: ports.s7, rack: 0, slot: 1 },
        intervalMs: 1000,
        tags: Array.from({ length: S7_TAGS }, (_, t) => ({ name: `s${t}`, address: `DB1,INT${2 * t}` })),
      },
    ],
  };
}

const SLOW_ACK_MS = 50;
const GC_TRACE = fileURLToPath(new URL('./gc-trace.js', import.meta.url));

/** STATION_ACK_TRACE=<file>: every ACK slower than 50 ms as [s since the run's start, ms], and the start's wall time. */
function traceAcks(piles: Piles, t0: number): void {
  const file = process.env.STATION_ACK_TRACE;
  if (file === undefined) return;
  const slow = piles.acks.flatMap((ms, i) =>
    ms > SLOW_ACK_MS ? [[((piles.sent[i] ?? 0) - t0) / 1000, ms]] : [],
  );
  writeFileSync(file, JSON.stringify({ startMs: performance.timeOrigin + t0, slow }));
}

/** The agent's major GCs (gc-trace.ts) and how many of the run's slow ACKs were sent in the second before one ended. */
function slowAcksByGc(
  piles: Piles,
  startMs: number,
  gcFile: string,
): { slow: number; slowNearGc: number; allNearGc: number; majorGcs: number; majorPauseMaxMs: number } {
  let gcs: [number, number][] = [];
  try {
    gcs = readFileSync(gcFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' ').map(Number) as [number, number])
      .filter(([at]) => at >= startMs);
  } catch {
    // no major GC during the run: the agent never wrote the file
  }
  let slow = 0;
  let slowNearGc = 0;
  let allNearGc = 0;
  piles.acks.forEach((ms, i) => {
    const sent = performance.timeOrigin + (piles.sent[i] ?? 0);
    const nearGc = gcs.some(([at, pause]) => sent <= at + pause && at + pause - sent <= 1000);
    if (nearGc) allNearGc++;
    if (ms <= SLOW_ACK_MS) return;
    slow++;
    if (nearGc) slowNearGc++;
  });
  const majorPauseMaxMs = Math.max(0, ...gcs.map(([, pause]) => pause));
  return { slow, slowNearGc, allNearGc, majorGcs: gcs.length, majorPauseMaxMs };
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Piles {
  acks: number[];
  /** performance.now() at each ACK's send, beside acks (STATION_ACK_TRACE). */
  sent: number[];
  stop(): void;
}

/** 50 piles, each sending STATUS at 1 Hz (phases spread over the second) and timing its ACK. */
async function startPiles(pki: ReturnType<typeof benchPki>, port: number): Promise<Piles> {
  const acks: number[] = [];
  const sent: number[] = [];
  const timers: NodeJS.Timeout[] = [];
  const piles: SimPile[] = await connectAll(PILES, async (i) => {
    const p = pile(pki, i, port);
    await p.connect();
    return p;
  });
  piles.forEach((p, i) => {
    let sentAt = 0;
    p.onFrame((m) => {
      if (m.type === 'ACK' && sentAt > 0) {
        acks.push(performance.now() - sentAt);
        sent.push(sentAt);
        sentAt = 0;
      }
    });
    const send = (): void => {
      sentAt = performance.now();
      p.send({ type: 'STATUS', state: 0, voltageMv: 48_000, energyWh: i });
    };
    timers.push(setTimeout(() => timers.push(setInterval(send, 1000)), (i * 1000) / PILES));
  });
  return {
    acks,
    sent,
    stop: () => {
      for (const t of timers) clearInterval(t);
      for (const p of piles) p.close();
    },
  };
}

async function waitUntil(
  what: string,
  test: () => Promise<boolean>,
  died: () => string | undefined,
): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const reason = died();
    if (reason) throw new Error(`station agent ${reason} before ${what}`);
    if (await test()) return;
    await tick(200);
  }
  throw new Error(`station agent: no ${what} within 60 s`);
}

const listening = (port: number): Promise<boolean> =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

/** Runs one station; throws when a peer or the agent fails (the agent's log tail in the error). */
export async function runStation(o: StationOptions): Promise<StationRun> {
  const groups = makeCgroups(`edge-bench-station-${process.pid}`, CPU_QUOTA, MEMORY_MB, o.periodMs);
  if (typeof groups === 'string') throw new Error(groups);
  const unweighPeers = weighPeers(`edge-bench-station-peers-${process.pid}`);
  const dir = tempDir('edge-agent-station-');
  const pki = benchPki(PILES);
  writeFileSync(join(dir.path, 'server-chain.pem'), pki.serverChain);
  const modbus = await startServer();
  const broker = await startMosquitto();
  const s7 = await TestS7Server.start();
  s7.register('DB', 1, Buffer.alloc(2 * S7_TAGS));
  const ports: Ports = {
    modbus: modbus.port,
    s7: s7.port,
    dtu: await freePort(),
    cip22: await freePort(),
    http: await freePort(),
  };
  const configFile = join(dir.path, 'config.yaml');
  writeFileSync(configFile, stringify(stationConfig(o, ports, broker.url, dir.path, pki)));
  const logFile = join(dir.path, 'agent.log');
  const gcFile = join(dir.path, 'gc.log');
  const logFd = openSync(logFile, 'w');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...NODE_FLAGS,
      '--import',
      GC_TRACE,
      join(process.cwd(), 'dist/src/cli/main.js'),
      'run',
      '--config',
      configFile,
    ],
    {
      stdio: ['ignore', logFd, logFd],
      env: { ...RELEASE_ENV, ...process.env, EDGE_BENCH_GC_TRACE: gcFile },
    },
  );
  closeSync(logFd);
  const pid = child.pid ?? 0;
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited (code ${code}, signal ${signal})`));
  const sims: DtuSimulator[] = [];
  let piles: Piles | undefined;
  try {
    groups.join(pid);
    const died = (): string | undefined => exited;
    await waitUntil(
      '/metrics',
      () =>
        metrics(ports.http).then(
          () => true,
          () => false,
        ),
      died,
    );
    // The gateway listens a moment after /metrics answers.
    await waitUntil('CIP-22 listener', () => listening(ports.cip22), died);
    for (let k = 0; k < DTUS; k++)
      sims.push(
        await startDtuSimulator({
          agent: { host: '127.0.0.1', port: ports.dtu },
          serial: { stream: rtuBus() },
          registration: `ascii:DTU-${k}`,
          heartbeat: 'ascii:HB',
          heartbeatIntervalMs: 30_000,
        }),
      );
    piles = await startPiles(pki, ports.cip22);
    await tick(o.warmupS * 1000);
    const acks = piles.acks;
    acks.length = 0;
    piles.sent.length = 0;
    // The piles and simulators share this process: its own lateness bounds what the ACK figure can show.
    const peerLoop = monitorEventLoopDelay({ resolution: 5 });
    peerLoop.enable();
    const samples: AgentSample[] = [];
    const cpu0: CpuStat = cpuStat(groups.dirs[0]!);
    const load0 = loadavg()[0]!;
    const t0 = performance.now();
    samples.push(await agentSample(pid, ports.http, 0));
    while (performance.now() - t0 < o.seconds * 1000) {
      await tick(Math.min(SAMPLE_MS, o.seconds * 1000 - (performance.now() - t0)));
      if (exited) throw new Error(`station agent ${exited} during the run (memory cgroup ${MEMORY_MB} MB?)`);
      samples.push(await agentSample(pid, ports.http, (performance.now() - t0) / 1000));
    }
    peerLoop.disable();
    const ack: StationRun['ack'] = {
      ...percentiles(acks),
      n: acks.length,
      peerLoopP99Ms: peerLoop.percentile(99) / 1e6,
      peerLoopMaxMs: peerLoop.max / 1e6,
      ...slowAcksByGc(piles, performance.timeOrigin + t0, gcFile),
    };
    traceAcks(piles, t0);
    const throttle = cpuStat(groups.dirs[0]!, cpu0);
    const memMaxMb =
      Number(readFileSync(join(groups.dirs[1]!, 'memory.max_usage_in_bytes'), 'utf8')) / 2 ** 20;
    return summarise(o, samples, { ack, throttle, memMaxMb, load: [load0, loadavg()[0]!] });
  } catch (e) {
    (e as Error).message += `\nstation agent log (tail):\n${readFileSync(logFile, 'utf8').slice(-3000)}`;
    throw e;
  } finally {
    piles?.stop();
    for (const s of sims) await s.close();
    if (!exited) {
      child.kill('SIGTERM');
      await new Promise((r) =>
        child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r),
      );
    }
    for (const d of groups.dirs) {
      try {
        rmdirSync(d);
      } catch {
        /* a straggler thread: the kernel removes an empty group later */
      }
    }
    await broker.close();
    s7.stop();
    await modbus.close();
    // STATION_AGENT_LOG=<file>: the agent's log (and any --trace-gc output) kept for inspection.
    if (process.env.STATION_AGENT_LOG) copyFileSync(logFile, process.env.STATION_AGENT_LOG);
    dir.remove();
    pki.remove();
    unweighPeers();
  }
}
