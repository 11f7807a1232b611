/**
 * Child of the imports bench: argv[2] = data dir, argv[3..] = modules to preload. Runs the
 * agent with a Modbus-only config (the demo station's devices, pointed at a closed port
 * so they retry; no MQTT), lets it settle, and prints its RSS after a full GC.
 */
import { createServer } from 'node:net';
import { Agent } from '../../src/agent.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/ports.js';
import { demoConfig } from '../../src/demo/config.js';

const [dir = '.', ...preload] = process.argv.slice(2);
for (const m of preload) await import(m);

/** A loopback port with nothing listening: the devices connect, are refused, back off. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const demo = demoConfig({ modbusPort: await closedPort(), mqttUrl: '', dataDir: dir, httpPort: 0 });
const config = configSchema.parse({ ...demo, mqtt: { topicPrefix: 'edge' }, log: { level: 'error' } });
const agent = new Agent({ config, logger: silentLogger });
await agent.start();
await new Promise((r) => setTimeout(r, 3000));
(globalThis as { gc?: () => void }).gc?.();
console.log(JSON.stringify({ rss: process.memoryUsage().rss, devices: config.devices.length }));
await agent.stop();
