/**
 * Child process of the page bench: the measured side, a whole agent polling N Modbus TCP
 * devices × M tags with its status listener and station page. argv[2] = JSON
 *   { modbusPort, devices, tags, store }
 * IPC: sends {http}; on 'mark' resets the CPU window; on 'usage' replies {rss, cpuPct}.
 */
import { Agent } from '../../src/agent.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/ports.js';
import { modbusDevicesConfig } from './station-devices.js';

interface Args {
  readonly modbusPort: number;
  readonly devices: number;
  readonly tags: number;
  readonly store: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const agent = new Agent({
  config: configSchema.parse({
    agent: { id: 'bench-page', site: 'bench' },
    store: { path: args.store },
    http: { host: '127.0.0.1', port: 0 },
    devices: modbusDevicesConfig(args.modbusPort, args.devices, args.tags),
  }),
  logger: silentLogger,
});
await agent.start();

let cpu = process.cpuUsage();
let at = performance.now();
process.on('message', (m: string) => {
  if (m === 'mark') {
    cpu = process.cpuUsage();
    at = performance.now();
  } else if (m === 'usage') {
    const d = process.cpuUsage(cpu);
    process.send?.({
      rss: process.memoryUsage().rss,
      cpuPct: ((d.user + d.system) / 1000 / (performance.now() - at)) * 100,
    });
  } else if (m === 'stop') {
    void agent.stop().then(() => process.exit(0));
  }
});
process.send?.({ http: agent.httpAddress() });
