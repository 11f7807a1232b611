/**
 * Child of the imports bench: argv[2] = data dir, argv[3..] = modules to preload (the word
 * `scrape`: GET /metrics once after start, which creates the metrics registry). Runs the
 * agent with a Modbus-only config (the demo station's devices, pointed at a closed port
 * so they retry; no MQTT), lets it settle, and prints its RSS after a full GC.
 */
import { Agent } from '../../src/agent.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/ports.js';
import { demoConfig } from '../../src/demo/config.js';

const [dir = '.', ...args] = process.argv.slice(2);
const scrape = args.includes('scrape');
const preload = args.filter((a) => a !== 'scrape');
/** tcpmux: nothing listens there, so the devices are refused and back off. */
const CLOSED_PORT = 1;
for (const m of preload) await import(m);

const demo = demoConfig({ modbusPort: CLOSED_PORT, mqttUrl: '', dataDir: dir, httpPort: 0 });
const config = configSchema.parse({ ...demo, mqtt: { topicPrefix: 'edge' }, log: { level: 'error' } });
const agent = new Agent({ config, logger: silentLogger });
await agent.start();
if (scrape) await (await fetch(`http://${agent.httpAddress()}/metrics`)).text();
await new Promise((r) => setTimeout(r, 3000));
(globalThis as { gc?: () => void }).gc?.();
console.log(JSON.stringify({ rss: process.memoryUsage().rss, devices: config.devices.length }));
await agent.stop();
