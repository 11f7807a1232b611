/**
 * `edge-agent demo`: a whole station on one machine. Simulated Modbus devices behind a
 * real Modbus TCP server, an embedded MQTT broker unless --mqtt-url names one, and the
 * agent itself with its outbox, forwarder and status endpoint.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../agent.js';
import { validateConfig } from '../config/load.js';
import { EdgeError } from '../core/errors.js';
import { startEmbeddedBroker } from '../demo/broker.js';
import { demoConfig } from '../demo/config.js';
import { startSimulatedModbusServer } from '../demo/simulator.js';
import { createLogger } from '../observability/logger.js';
import { untilSignal } from './run.js';

export interface DemoOptions {
  readonly dataDir?: string;
  readonly mqttUrl?: string;
  readonly httpPort?: number;
}

export async function demoCommand(
  options: DemoOptions,
  out: (line: string) => void,
  _err: (line: string) => void,
): Promise<number> {
  const dataDir = options.dataDir ?? join(tmpdir(), 'edge-agent-demo');
  mkdirSync(dataDir, { recursive: true });
  const modbus = await startSimulatedModbusServer({ host: '127.0.0.1', port: 0 });
  const latest = new Map<string, string>();
  const broker = options.mqttUrl
    ? undefined
    : await startEmbeddedBroker({
        host: '127.0.0.1',
        port: 0,
        onPublish: (m) => rememberTelemetry(latest, m.topic, m.payload),
      });
  const mqttUrl = options.mqttUrl ?? broker?.url ?? '';
  const raw = {
    ...demoConfig({ modbusPort: modbus.port, mqttUrl, dataDir, httpPort: options.httpPort ?? 9464 }),
    log: { level: 'warn' },
  };
  // aedes speaks MQTT 3.1.1 only; a broker named on the command line gets MQTT 5.
  const checked = validateConfig({ ...raw, mqtt: { ...raw.mqtt, protocolVersion: broker ? 4 : 5 } });
  if (!checked.ok) {
    const issues = checked.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    throw new EdgeError('EDGE_ERR_CONFIG_INVALID', `embedded demo config is invalid: ${issues}`);
  }
  const config = checked.config;
  const logger = createLogger(config.log.level);
  const agent = new Agent({ config, logger });
  await agent.start();
  const http = agent.httpAddress();
  const prefix = `${config.mqtt.topicPrefix}/${config.agent.site}`;
  out('');
  out('edge-agent demo station is running');
  out(
    `  simulated Modbus TCP devices  127.0.0.1:${modbus.port} (${config.devices.map((d) => d.name).join(', ')})`,
  );
  out(`  MQTT broker                   ${mqttUrl}${broker ? ' (embedded)' : ''}`);
  out(`  topics                        ${prefix}/+/telemetry, ${prefix}/+/event, ${prefix}/agent/status`);
  if (http) out(`  metrics / health / status     http://${http}/metrics  /healthz  /status.json`);
  out(`  outbox                        ${config.store.path}`);
  out(`  try: mosquitto_sub -L '${mqttUrl.replace(/^mqtt:/, 'mqtt:')}/${prefix}/#' -v`);
  out('Ctrl-C to stop.');
  out('');
  const ticker = setInterval(() => {
    for (const line of latest.values()) out(line);
  }, 5000);
  ticker.unref();
  const code = await untilSignal(
    async () => {
      clearInterval(ticker);
      await agent.stop();
      await broker?.close();
      await modbus.close();
    },
    config.agent.shutdownTimeoutMs,
    logger,
  );
  return code;
}

/** Keeps, per device, a one-line summary of the newest telemetry seen at the broker. */
function rememberTelemetry(latest: Map<string, string>, topic: string, payload: Buffer): void {
  if (!topic.endsWith('/telemetry')) return;
  try {
    const doc = JSON.parse(payload.toString()) as {
      device: string;
      records: Array<{ seq: number; values: Record<string, { v: unknown; q: string }> }>;
    };
    const last = doc.records.at(-1);
    if (!last) return;
    const values = Object.entries(last.values)
      .map(
        ([tag, { v, q }]) =>
          `${tag}=${q === 'good' ? (typeof v === 'number' ? Number(v.toFixed(2)) : String(v)) : 'BAD'}`,
      )
      .join(' ');
    latest.set(doc.device, `  [broker] ${doc.device} seq ${last.seq}: ${values}`);
  } catch {
    // The demo's own summary must never take the demo down.
  }
}
