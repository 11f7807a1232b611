/**
 * Child of the mem bench: the agent polling N Modbus TCP devices × M tags at 1 Hz and
 * forwarding to MQTT (status listener and station page on, no page open). argv[2] = JSON
 *   { modbusPort, mqttUrl, devices, tags, store, settleMs }
 * Prints its RSS as it runs, then RSS and V8 heap after a full GC, the CommonJS packages it
 * loaded, the CPU it used (share of one core) over the second half of the settle time, and
 * RSS samples every SAMPLE_MS after the first third (flat or not, over a long settle).
 * BENCH_MEM_SNAPSHOT=<file> also writes a heap snapshot there.
 * BENCH_MEM_HTTP=0 runs the agent without its status listener and page (http.enabled
 * false): what they cost, and the agent's floor without them.
 */
import { createRequire } from 'node:module';
import { writeHeapSnapshot } from 'node:v8';
import { Agent } from '../../src/agent.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/ports.js';
import { memoryDetail } from './mem-breakdown.js';
import { modbusDevicesConfig } from './station-devices.js';

interface Args {
  readonly modbusPort: number;
  readonly mqttUrl: string;
  readonly devices: number;
  readonly tags: number;
  readonly store: string;
  readonly settleMs: number;
}

const SAMPLE_MS = 10_000;
const samples: number[] = [];

/** Waits settleMs; returns the CPU share of one core over its second half, sampling RSS after its first third. */
async function steadyState(settleMs: number): Promise<number> {
  const start = Date.now();
  let cpuFrom: { at: number; usage: NodeJS.CpuUsage } | undefined;
  const sampler = setInterval(() => {
    if (Date.now() - start >= settleMs / 3) samples.push(process.memoryUsage().rss);
  }, SAMPLE_MS);
  const half = setTimeout(() => (cpuFrom = { at: Date.now(), usage: process.cpuUsage() }), settleMs / 2);
  await new Promise((r) => setTimeout(r, settleMs));
  clearInterval(sampler);
  clearTimeout(half);
  if (cpuFrom === undefined) return NaN;
  const used = process.cpuUsage(cpuFrom.usage);
  return (used.user + used.system) / 1000 / (Date.now() - cpuFrom.at);
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const agent = new Agent({
  config: configSchema.parse({
    agent: { id: 'bench-mem', site: 'bench' },
    store: { path: args.store },
    mqtt: { url: args.mqttUrl, allowInsecure: true },
    http: process.env.BENCH_MEM_HTTP === '0' ? { enabled: false } : { host: '127.0.0.1', port: 0 },
    devices: modbusDevicesConfig(args.modbusPort, args.devices, args.tags),
  }),
  logger: silentLogger,
});
await agent.start();
const cpu = await steadyState(args.settleMs);
const running = process.memoryUsage().rss;
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const m = process.memoryUsage();
const snapshot = process.env.BENCH_MEM_SNAPSHOT;
if (snapshot) writeHeapSnapshot(snapshot);
if (process.env.BENCH_MEM_DETAIL) process.stderr.write(`${memoryDetail()}\n`);
const packages = new Set<string>();
for (const file of Object.keys(createRequire(import.meta.url).cache)) {
  const p = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (p?.[1] !== undefined) packages.add(p[1]);
}
const { outbox, forwarder } = agent.status() as { outbox: unknown; forwarder: unknown };
console.log(
  JSON.stringify({
    running,
    rss: m.rss,
    heap: m.heapUsed,
    external: m.external,
    cpu,
    samples,
    outbox,
    forwarder,
    packages: [...packages].sort(),
  }),
);
await agent.stop();
