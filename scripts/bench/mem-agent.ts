/**
 * Child of the mem bench: the agent polling N Modbus TCP devices × M tags at 1 Hz and
 * forwarding to MQTT (status listener and station page on, no page open). argv[2] = JSON
 *   { modbusPort, mqttUrl, devices, tags, store, settleMs }
 * Prints its RSS as it runs, then RSS and V8 heap after a full GC, and the CommonJS
 * packages it loaded. BENCH_MEM_SNAPSHOT=<file> also writes a heap snapshot there.
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

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const agent = new Agent({
  config: configSchema.parse({
    agent: { id: 'bench-mem', site: 'bench' },
    store: { path: args.store },
    mqtt: { url: args.mqttUrl, allowInsecure: true },
    http: { host: '127.0.0.1', port: 0 },
    devices: modbusDevicesConfig(args.modbusPort, args.devices, args.tags),
  }),
  logger: silentLogger,
});
await agent.start();
await new Promise((r) => setTimeout(r, args.settleMs));
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
    outbox,
    forwarder,
    packages: [...packages].sort(),
  }),
);
await agent.stop();
