/**
 * The agent configuration for the demo station: the devices and tags of station.ts
 * against the simulator's port, the embedded (or given) broker, a data directory.
 * A plain object in the YAML shape; the caller validates it against the schema.
 */
import { join } from 'node:path';
import { DEMO_STATION, type DemoDevice, type DemoTag } from './station.js';

export interface DemoConfigOptions {
  readonly modbusPort: number;
  readonly mqttUrl: string;
  readonly dataDir: string;
  readonly httpPort?: number;
  /** Default 127.0.0.1. */
  readonly modbusHost?: string;
}

export interface DemoTagConfig {
  name: string;
  function: DemoTag['function'];
  address: number;
  type: DemoTag['type'];
  wordOrder: DemoTag['wordOrder'];
  byteOrder: DemoTag['byteOrder'];
  scale: number;
  offset: number;
  length?: number;
}

export interface DemoDeviceConfig {
  name: string;
  driver: 'modbus';
  connection: { transport: 'tcp'; host: string; port: number };
  unitId: number;
  intervalMs: number;
  tags: DemoTagConfig[];
}

export interface DemoAgentConfig {
  agent: { id: string; site: string };
  store: { path: string };
  mqtt: { url: string; topicPrefix: string; allowInsecure: boolean };
  http: { host: string; port: number };
  log: { level: 'info' };
  devices: DemoDeviceConfig[];
}

const DEMO_HTTP_PORT = 9464;

export function demoConfig(opts: DemoConfigOptions): DemoAgentConfig {
  const host = opts.modbusHost ?? '127.0.0.1';
  return {
    agent: { id: 'edge-agent-demo', site: 'demo-site' },
    store: { path: join(opts.dataDir, 'outbox.db') },
    // The demo's broker is local (embedded, or --mqtt-url on a lab network): plaintext allowed.
    mqtt: { url: opts.mqttUrl, topicPrefix: 'edge', allowInsecure: true },
    http: { host: '127.0.0.1', port: opts.httpPort ?? DEMO_HTTP_PORT },
    log: { level: 'info' },
    devices: DEMO_STATION.map((d) => deviceConfig(d, host, opts.modbusPort)),
  };
}

function deviceConfig(device: DemoDevice, host: string, port: number): DemoDeviceConfig {
  return {
    name: device.name,
    driver: 'modbus',
    connection: { transport: 'tcp', host, port },
    unitId: device.unitId,
    intervalMs: device.intervalMs,
    tags: device.tags.map(tagConfig),
  };
}

function tagConfig(tag: DemoTag): DemoTagConfig {
  const out: DemoTagConfig = {
    name: tag.name,
    function: tag.function,
    address: tag.address,
    type: tag.type,
    wordOrder: tag.wordOrder,
    byteOrder: tag.byteOrder,
    scale: tag.scale,
    offset: tag.offset,
  };
  if (tag.length !== undefined) out.length = tag.length;
  return out;
}
