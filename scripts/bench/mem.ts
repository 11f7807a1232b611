/**
 * Memory of a Modbus-only station: the agent polling 100 Modbus TCP devices × 50 tags at
 * 1 Hz and forwarding to a local mosquitto (status listener and station page on, no page
 * open), in a fresh child with the production V8 flags. After BENCH_MEM_SETTLE_S (default
 * 20 s) it prints its RSS as it runs and its RSS and V8 heap after a full GC, beside a bare
 * `node -e ''` child measured the same way in the same run (medians of BENCH_ROUNDS).
 * Select with `npm run bench -- mem`; BENCH_MEM_SNAPSHOT=<file> writes a heap snapshot;
 * BENCH_MEM_DETAIL=1 prints where each child's RSS lives (smaps by mapping, V8 spaces);
 * BENCH_MEM_COMPARE=<other build>/dist/scripts/bench/mem-agent.js runs that build's agent in the
 * same rounds (before/after figures).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startMosquitto } from '../../test/helpers/mosquitto.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { startSimulatedModbusServer } from '../../src/demo/simulator.js';
import { median, type BenchResult } from './common.js';
import { PRODUCTION_FLAGS } from './imports.js';
import { simulatedDevices } from './station-devices.js';

const DEVICES = Number(process.env.BENCH_MEM_DEVICES ?? 100);
const TAGS = Number(process.env.BENCH_MEM_TAGS ?? 50);
const SETTLE_S = Number(process.env.BENCH_MEM_SETTLE_S ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Extra node flags for the agent child only, to compare V8 settings: BENCH_MEM_NODE_FLAGS='--v8-pool-size=1'. */
const EXTRA_FLAGS = (process.env.BENCH_MEM_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
const CHILD = new URL('./mem-agent.js', import.meta.url).pathname;

interface Sample {
  readonly running: number;
  readonly rss: number;
  readonly heap: number;
}

async function node(args: readonly string[]): Promise<Sample> {
  const { stdout, stderr } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', ...PRODUCTION_FLAGS, ...args],
    { encoding: 'utf8', timeout: (SETTLE_S + 60) * 1000, maxBuffer: 1 << 20 },
  );
  if (process.env.BENCH_MEM_DETAIL && stderr) console.log(stderr.trimEnd());
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Sample;
}

const BARE =
  'globalThis.gc(); const m = process.memoryUsage(); console.log(JSON.stringify({ running: m.rss, rss: m.rss, heap: m.heapUsed }));';

const MB = (n: number): string => (n / 1e6).toFixed(1);

/** Another build's child (its dist/scripts/bench/mem-agent.js), run in the same rounds: before/after. */
const COMPARE = process.env.BENCH_MEM_COMPARE;

function figures(station: string, agent: Sample[], other: Sample[], otherName: string): BenchResult[] {
  const med = (xs: Sample[], k: keyof Sample): number => median(xs.map((x) => x[k])) / 1e6;
  return [
    {
      name: `${station}: RSS as it runs`,
      unit: 'MB',
      value: med(agent, 'running'),
      baselineName: otherName,
      baseline: med(other, 'running'),
      target: '<= 64 MB',
      notes: `flags ${[...PRODUCTION_FLAGS, ...EXTRA_FLAGS].join(' ')}; runs ${agent.map((s) => MB(s.running)).join(', ')} MB vs ${other.map((s) => MB(s.running)).join(', ')} MB`,
    },
    {
      name: `${station}: RSS after a full GC`,
      unit: 'MB',
      value: med(agent, 'rss'),
      baselineName: otherName,
      baseline: med(other, 'rss'),
    },
    {
      name: `${station}: V8 heap used after a full GC`,
      unit: 'MB',
      value: med(agent, 'heap'),
      baselineName: otherName,
      baseline: med(other, 'heap'),
    },
  ];
}

export async function run(): Promise<BenchResult[]> {
  const dir = tempDir('edge-agent-bench-mem-');
  const broker = await startMosquitto();
  const modbus = await startSimulatedModbusServer({ devices: simulatedDevices(DEVICES, TAGS) });
  let round = 0;
  const station = (child: string): Promise<Sample> =>
    node([
      ...EXTRA_FLAGS,
      child,
      JSON.stringify({
        modbusPort: modbus.port,
        mqttUrl: broker.url,
        devices: DEVICES,
        tags: TAGS,
        store: join(dir.path, `outbox-${round++}.db`),
        settleMs: SETTLE_S * 1000,
      }),
    ]);
  try {
    const agent: Sample[] = [];
    const bare: Sample[] = [];
    const other: Sample[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      bare.push(await node(['-e', BARE]));
      agent.push(await station(CHILD));
      if (COMPARE) other.push(await station(COMPARE));
    }
    const name = `agent, Modbus-only ${DEVICES} devices × ${TAGS} tags at 1 Hz + MQTT, after ${SETTLE_S} s`;
    return [
      ...figures(name, agent, bare, "bare node -e ''"),
      ...(COMPARE ? figures(name, agent, other, `the same agent built from ${COMPARE}`) : []),
    ];
  } finally {
    await modbus.close();
    await broker.close();
    dir.remove();
  }
}
