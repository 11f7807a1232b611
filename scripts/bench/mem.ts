/**
 * Memory of a Modbus-only station: the agent polling 100 Modbus TCP devices × 50 tags at
 * 1 Hz and forwarding to a local mosquitto (status listener and station page on, no page
 * open), in a fresh child with the production V8 flags. After BENCH_MEM_SETTLE_S (default
 * 20 s) it prints its RSS as it runs and its RSS and V8 heap after a full GC, beside a bare
 * `node -e ''` child measured the same way in the same run (medians of BENCH_ROUNDS).
 * Select with `npm run bench -- mem`; BENCH_MEM_SNAPSHOT=<file> writes a heap snapshot.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startMosquitto } from '../../test/helpers/mosquitto.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { startSimulatedModbusServer } from '../../src/demo/simulator.js';
import { alternate, median, type BenchResult } from './common.js';
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
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', ...PRODUCTION_FLAGS, ...args],
    { encoding: 'utf8', timeout: (SETTLE_S + 60) * 1000, maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Sample;
}

const BARE =
  'globalThis.gc(); const m = process.memoryUsage(); console.log(JSON.stringify({ running: m.rss, rss: m.rss, heap: m.heapUsed }));';

const MB = (n: number): string => (n / 1e6).toFixed(1);

export async function run(): Promise<BenchResult[]> {
  const dir = tempDir('edge-agent-bench-mem-');
  const broker = await startMosquitto();
  const modbus = await startSimulatedModbusServer({ devices: simulatedDevices(DEVICES, TAGS) });
  try {
    const agent: Sample[] = [];
    const bare: Sample[] = [];
    let round = 0;
    await alternate(
      ROUNDS,
      async () => {
        const args = {
          modbusPort: modbus.port,
          mqttUrl: broker.url,
          devices: DEVICES,
          tags: TAGS,
          store: join(dir.path, `outbox-${round++}.db`),
          settleMs: SETTLE_S * 1000,
        };
        const s = await node([...EXTRA_FLAGS, CHILD, JSON.stringify(args)]);
        agent.push(s);
        return s.rss;
      },
      async () => {
        const s = await node(['-e', BARE]);
        bare.push(s);
        return s.rss;
      },
    );
    const med = (xs: Sample[], k: keyof Sample): number => median(xs.map((x) => x[k]));
    const station = `agent, Modbus-only ${DEVICES} devices × ${TAGS} tags at 1 Hz + MQTT, after ${SETTLE_S} s`;
    return [
      {
        name: `${station}: RSS as it runs`,
        unit: 'MB',
        value: med(agent, 'running') / 1e6,
        baselineName: "bare node -e ''",
        baseline: med(bare, 'running') / 1e6,
        target: '<= 64 MB',
        notes: `flags ${[...PRODUCTION_FLAGS, ...EXTRA_FLAGS].join(' ')}; runs ${agent.map((s) => MB(s.running)).join(', ')} MB`,
      },
      {
        name: `${station}: RSS after a full GC`,
        unit: 'MB',
        value: med(agent, 'rss') / 1e6,
        baselineName: "bare node -e ''",
        baseline: med(bare, 'rss') / 1e6,
      },
      {
        name: `${station}: V8 heap used after a full GC`,
        unit: 'MB',
        value: med(agent, 'heap') / 1e6,
        baselineName: "bare node -e ''",
        baseline: med(bare, 'heap') / 1e6,
      },
    ];
  } finally {
    await modbus.close();
    await broker.close();
    dir.remove();
  }
}
