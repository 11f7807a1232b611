/**
 * `edge-agent demo`: a whole station on one machine. Simulated Modbus devices behind a
 * real Modbus TCP server, a meter behind a DTU (the DTU simulator), three CIP-22 piles
 * (the pile simulator) charging and faulting, an embedded MQTT broker unless --mqtt-url
 * names one, and the agent itself with its outbox, forwarder and station page.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoStation } from '../demo/run.js';
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
  err: (line: string) => void,
): Promise<number> {
  const dataDir = options.dataDir ?? join(tmpdir(), 'edge-agent-demo');
  const latest = new Map<string, string>();
  // Errors only: the expected trouble of the demo (its bad tag) shows on the page, and the
  // page's URL must be the first line a newcomer reads.
  const logger = createLogger('error');
  const station = await startDemoStation({
    dataDir,
    mqttUrl: options.mqttUrl,
    httpPort: options.httpPort,
    logger: () => logger,
    onPublish: (topic, payload) => rememberTelemetry(latest, topic, payload),
    err,
  });
  const { config, broker, modbus, extras, url } = station;
  const mqttUrl = config.mqtt.url ?? '';
  const prefix = `${config.mqtt.topicPrefix}/${config.agent.site}`;
  if (url) out(`station page: ${url}`);
  out('');
  out('edge-agent demo station is running');
  out(`  simulated Modbus TCP devices  127.0.0.1:${modbus.port} (meter-1, charger-1)`);
  out(
    `  meter behind a DTU            ${extras.config.devices.map((d) => (d as { name: string }).name).join(', ')} (DTU simulator dials in)`,
  );
  out(
    `  CIP-22 piles                  ${extras.pilesSkipped ? `left out: ${extras.pilesSkipped}` : 'PILE-01, PILE-02, PILE-03 (pile simulator)'}`,
  );
  out(`  MQTT broker                   ${mqttUrl}${broker ? ' (embedded)' : ''}`);
  out(`  topics                        ${prefix}/+/telemetry, ${prefix}/+/event, ${prefix}/agent/status`);
  if (url) out(`  metrics / health / status     ${url}metrics  /healthz  /status.json`);
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
      await station.close();
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
