/**
 * Memory of a Modbus-only station: the agent polling 100 Modbus TCP devices × 50 tags at
 * 1 Hz and forwarding to a local mosquitto (status listener and station page on, no page
 * open), in a fresh child with the release launcher's V8 flags and malloc environment
 * (scripts/bundle/runtime.ts; the environment overrides it). After BENCH_MEM_SETTLE_S (default
 * 20 s) it prints its RSS as it runs and its RSS and V8 heap after a full GC, beside a bare
 * `node -e ''` child measured the same way in the same run (medians of BENCH_ROUNDS).
 * Select with `npm run bench -- mem`; BENCH_MEM_SNAPSHOT=<file> writes a heap snapshot;
 * BENCH_MEM_DETAIL=1 prints where each child's RSS lives (smaps_rollup, smaps by kind of
 * mapping, threads, V8 spaces);
 * BENCH_MEM_COMPARE=<other build>/dist/scripts/bench/mem-agent.js runs that build's agent in the
 * same rounds (before/after figures).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startMosquitto } from '../../test/helpers/mosquitto.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { startSimulatedModbusServer } from '../../src/demo/simulator.js';
import { benchRounds, median, type BenchResult, envCount, envNumber } from './common.js';
import { PRODUCTION_ENV, PRODUCTION_FLAGS } from './imports.js';
import { simulatedDevices } from './station-devices.js';

const DEVICES = envCount('BENCH_MEM_DEVICES', 100);
const TAGS = envCount('BENCH_MEM_TAGS', 50);
const SETTLE_S = envNumber('BENCH_MEM_SETTLE_S', 20, 1);
const ROUNDS = benchRounds(3);
/** Extra node flags for the agent child only, to compare V8 settings: BENCH_MEM_NODE_FLAGS='--v8-pool-size=1'. */
const EXTRA_FLAGS = (process.env.BENCH_MEM_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
const CHILD = new URL('./mem-agent.js', import.meta.url).pathname;

export interface Sample {
  readonly running: number;
  readonly rss: number;
  readonly heap: number;
  /** Share of one core over the second half of the settle time (agent only). */
  readonly cpu?: number;
  /** RSS every 10 s after the first third of the settle time (agent only). */
  readonly samples?: readonly number[];
}

async function node(
  args: readonly string[],
  flags: readonly string[] = PRODUCTION_FLAGS,
  settleS = SETTLE_S,
): Promise<Sample> {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--expose-gc', ...flags, ...args], {
    encoding: 'utf8',
    env: PRODUCTION_ENV,
    timeout: (settleS + 60) * 1000,
    maxBuffer: 1 << 20,
  });
  if (process.env.BENCH_MEM_DETAIL && stderr) console.log(stderr.trimEnd());
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Sample;
}

const BARE =
  'globalThis.gc(); const m = process.memoryUsage(); console.log(JSON.stringify({ running: m.rss, rss: m.rss, heap: m.heapUsed }));';

const MB = (n: number): string => (n / 1e6).toFixed(1);

/** Another build's child (its dist/scripts/bench/mem-agent.js), run in the same rounds: before/after. */
const COMPARE = process.env.BENCH_MEM_COMPARE;

/** RSS samples of agent runs (every 10 s after their first third): medians of first, last and max. */
function flatness(samples: Sample[], who: string): string {
  const runs = samples.filter((a) => (a.samples?.length ?? 0) > 1);
  if (runs.length === 0) return '';
  const pick = (f: (xs: readonly number[]) => number): string =>
    MB(median(runs.map((r) => f(r.samples ?? []))));
  return `; ${who} RSS every 10 s after the first third: first ${pick((xs) => xs[0] ?? NaN)}, last ${pick((xs) => xs.at(-1) ?? NaN)}, max ${pick((xs) => Math.max(...xs))} MB`;
}

/** Every round's figure, the agent's then the other's (a median alone hides a noisy round). */
function runs(agent: Sample[], other: Sample[], k: 'rss' | 'heap'): string {
  const list = (xs: Sample[]): string => xs.map((x) => MB(x[k])).join(', ');
  return `runs ${list(agent)} MB vs ${list(other)} MB`;
}

export function figures(
  station: string,
  agent: Sample[],
  other: Sample[],
  otherName: string,
  flags: readonly string[] = [...PRODUCTION_FLAGS, ...EXTRA_FLAGS],
): BenchResult[] {
  const med = (xs: Sample[], k: 'running' | 'rss' | 'heap'): number => median(xs.map((x) => x[k])) / 1e6;
  return [
    {
      name: `${station}: RSS as it runs`,
      unit: 'MB',
      value: med(agent, 'running'),
      baselineName: otherName,
      baseline: med(other, 'running'),
      target: '<= 64 MB',
      notes: `flags ${flags.join(' ') || '(none)'}; runs ${agent.map((s) => MB(s.running)).join(', ')} MB vs ${other.map((s) => MB(s.running)).join(', ')} MB${flatness(agent, 'agent')}${flatness(other, 'baseline')}`,
    },
    {
      name: `${station}: RSS after a full GC`,
      unit: 'MB',
      value: med(agent, 'rss'),
      baselineName: otherName,
      baseline: med(other, 'rss'),
      notes: runs(agent, other, 'rss'),
    },
    {
      name: `${station}: V8 heap used after a full GC`,
      unit: 'MB',
      value: med(agent, 'heap'),
      baselineName: otherName,
      baseline: med(other, 'heap'),
      notes: runs(agent, other, 'heap'),
    },
    ...(other.every((o) => o.cpu !== undefined) ? [cpuFigure(station, agent, other, otherName)] : []),
  ];
}

export function cpuFigure(station: string, agent: Sample[], other: Sample[], otherName: string): BenchResult {
  const pct = (xs: Sample[]): number[] => xs.map((x) => (x.cpu ?? NaN) * 100);
  return {
    name: `${station}: CPU over the second half of the settle time`,
    unit: '% of a core',
    value: median(pct(agent)),
    baselineName: otherName,
    baseline: median(pct(other)),
    notes: `runs ${pct(agent)
      .map((x) => x.toFixed(2))
      .join(', ')} vs ${pct(other)
      .map((x) => x.toFixed(2))
      .join(', ')}`,
  };
}

/** The peers of a station (mosquitto, simulated Modbus devices) and a way to run agents against them. */
export interface StationPeers {
  /** One agent child (CHILD or another build's) with these V8 flags. */
  sample(child?: string, flags?: readonly string[]): Promise<Sample>;
  close(): Promise<void>;
}

export async function startStation(settleS = SETTLE_S): Promise<StationPeers> {
  const dir = tempDir('edge-agent-bench-mem-');
  const broker = await startMosquitto();
  const modbus = await startSimulatedModbusServer({ devices: simulatedDevices(DEVICES, TAGS) });
  let round = 0;
  return {
    sample: (child = CHILD, flags = PRODUCTION_FLAGS) =>
      node(
        [
          ...EXTRA_FLAGS,
          child,
          JSON.stringify({
            modbusPort: modbus.port,
            mqttUrl: broker.url,
            devices: DEVICES,
            tags: TAGS,
            store: join(dir.path, `outbox-${round++}.db`),
            settleMs: settleS * 1000,
          }),
        ],
        flags,
        settleS,
      ),
    close: async () => {
      await modbus.close();
      await broker.close();
      dir.remove();
    },
  };
}

export const STATION_NAME = `agent, Modbus-only ${DEVICES} devices × ${TAGS} tags at 1 Hz + MQTT`;

export async function run(): Promise<BenchResult[]> {
  const station = await startStation();
  try {
    const agent: Sample[] = [];
    const bare: Sample[] = [];
    const other: Sample[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      bare.push(await node(['-e', BARE]));
      agent.push(await station.sample());
      if (COMPARE) other.push(await station.sample(COMPARE));
    }
    const name = `${STATION_NAME}, after ${SETTLE_S} s`;
    return [
      ...figures(name, agent, bare, "bare node -e ''"),
      ...(COMPARE ? figures(name, agent, other, `the same agent built from ${COMPARE}`) : []),
    ];
  } finally {
    await station.close();
  }
}
