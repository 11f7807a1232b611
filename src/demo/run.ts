/**
 * The whole demo station started in one call (the `demo` command, the page's browser
 * tests, the page bench): the Modbus TCP simulator, the embedded broker unless a URL is
 * given, the DTU and the piles (extras.ts), and the agent with its station page.
 */
import { mkdirSync } from 'node:fs';
import { Agent } from '../agent.js';
import { validateConfig } from '../config/load.js';
import type { EdgeConfig } from '../config/schema.js';
import { EdgeError } from '../core/errors.js';
import type { Logger } from '../core/ports.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker.js';
import { demoConfig } from './config.js';
import { prepareDemoExtras, type DemoExtras } from './extras.js';
import { startSimulatedModbusServer, type SimulatedModbusServer } from './simulator.js';

export interface DemoStationOptions {
  readonly dataDir: string;
  readonly mqttUrl?: string;
  /** Default 9464; 0 picks a free port (tests). */
  readonly httpPort?: number;
  /** Config overrides for the `http` section (a test binds beyond loopback with a login). */
  readonly http?: Record<string, unknown>;
  readonly logger: (level: string) => Logger;
  readonly logLevel?: string;
  readonly onPublish?: (topic: string, payload: Buffer) => void;
  /** The simulators' diagnostics (pile-sim refusals). */
  readonly err: (line: string) => void;
}

export interface DemoStation {
  readonly agent: Agent;
  readonly config: EdgeConfig;
  readonly modbus: SimulatedModbusServer;
  readonly broker: EmbeddedBroker | undefined;
  readonly extras: DemoExtras;
  /** http://host:port/ of the station page. */
  readonly url: string | undefined;
  close(): Promise<void>;
}

export async function startDemoStation(options: DemoStationOptions): Promise<DemoStation> {
  mkdirSync(options.dataDir, { recursive: true });
  const modbus = await startSimulatedModbusServer({ host: '127.0.0.1', port: 0 });
  const onPublish = options.onPublish;
  const broker = options.mqttUrl
    ? undefined
    : await startEmbeddedBroker({
        host: '127.0.0.1',
        port: 0,
        ...(onPublish ? { onPublish: (m) => onPublish(m.topic, m.payload) } : {}),
      });
  const mqttUrl = options.mqttUrl ?? broker?.url ?? '';
  const extras = await prepareDemoExtras(options.dataDir);
  const base = demoConfig({
    modbusPort: modbus.port,
    mqttUrl,
    dataDir: options.dataDir,
    httpPort: options.httpPort ?? 9464,
  });
  const raw = {
    ...base,
    ...extras.config,
    http: { ...base.http, ...options.http },
    devices: [...base.devices, ...extras.config.devices],
    log: { level: options.logLevel ?? 'warn' },
  };
  // aedes speaks MQTT 3.1.1 only; a broker named on the command line gets MQTT 5.
  const checked = validateConfig({ ...raw, mqtt: { ...raw.mqtt, protocolVersion: broker ? 4 : 5 } });
  if (!checked.ok) {
    await broker?.close();
    await modbus.close();
    const issues = checked.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new EdgeError('EDGE_ERR_CONFIG_INVALID', `embedded demo config is invalid: ${issues}`);
  }
  const config = checked.config;
  const agent = new Agent({ config, logger: options.logger(config.log.level) });
  await agent.start();
  await extras.start(options.err);
  const http = agent.httpAddress();
  return {
    agent,
    config,
    modbus,
    broker,
    extras,
    url: http ? `http://${http}/` : undefined,
    async close() {
      await extras.close();
      await agent.stop();
      await broker?.close();
      await modbus.close();
    },
  };
}
