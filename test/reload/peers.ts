/** Real peers of the reload tests: TCP proxies that count connections, and a broker watcher. */
import { connect, createServer, type Server, type Socket } from 'node:net';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { Agent } from '../../src/agent.js';
import { silentLogger } from '../../src/core/ports.js';
import { initialInfo, loadStartupConfig, startReload, type ReloadRuntime } from '../../src/reload/runtime.js';

/** A loopback TCP proxy in front of a Modbus server: counts the connections the agent opens. */
export interface CountingProxy {
  readonly port: number;
  readonly connections: () => number;
  close(): Promise<void>;
}

export async function countingProxy(targetPort: number): Promise<CountingProxy> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    count++;
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    connections: () => count,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface SeenRecord {
  readonly device: string;
  readonly seq: number;
  readonly telemetry: boolean;
  readonly good: boolean;
  readonly values?: Record<string, { v: unknown; q: string }>;
  readonly event?: { type: string; data?: Record<string, unknown> };
}

/** Every record, config result and birth message the broker carries for a site. */
export class SiteWatcher {
  readonly records: SeenRecord[] = [];
  readonly results: Array<Record<string, unknown>> = [];
  readonly status: Array<Record<string, unknown>> = [];
  private constructor(private readonly client: mqtt.MqttClient) {}

  static async connect(url: string, prefix: string): Promise<SiteWatcher> {
    const client = await mqtt.connectAsync(url, {
      clean: true,
      reconnectPeriod: 0,
      clientId: `w-${process.pid}-${Date.now()}`,
    });
    const watcher = new SiteWatcher(client);
    client.on('message', (topic, payload) => watcher.onMessage(topic, payload));
    await client.subscribeAsync(`${prefix}/#`, { qos: 1 });
    return watcher;
  }

  private onMessage(topic: string, payload: Buffer): void {
    const doc = JSON.parse(payload.toString()) as Record<string, unknown>;
    if (topic.endsWith('/agent/config/result')) return void this.results.push(doc);
    if (topic.endsWith('/agent/status')) return void this.status.push(doc);
    const records = doc.records as
      | Array<{
          seq: number;
          values?: Record<string, { v: unknown; q: string }>;
          event?: SeenRecord['event'];
        }>
      | undefined;
    if (!Array.isArray(records)) return;
    for (const r of records) {
      const good = r.values ? Object.values(r.values).every((v) => v.q === 'good') : true;
      this.records.push({
        device: String(doc.device),
        seq: r.seq,
        telemetry: r.values !== undefined,
        good,
        ...(r.values ? { values: r.values } : {}),
        ...(r.event ? { event: r.event } : {}),
      });
    }
  }

  telemetry(device: string): SeenRecord[] {
    return this.records.filter((r) => r.device === device && r.telemetry);
  }

  publish(topic: string, payload: string, retain = false): Promise<unknown> {
    return this.client.publishAsync(topic, payload, { qos: 1, retain });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** The seqs of a device (telemetry and events share them) have no hole; duplicates after a replay are fine. */
export function seqHoles(records: readonly SeenRecord[], device: string): number[] {
  const seqs = [...new Set(records.filter((r) => r.device === device).map((r) => r.seq))].sort(
    (a, b) => a - b,
  );
  const holes: number[] = [];
  for (let i = 1; i < seqs.length; i++) if (seqs[i]! !== seqs[i - 1]! + 1) holes.push(seqs[i - 1]! + 1);
  return holes;
}

/** After the agent stopped: every device's seq is whole and no value it published was bad. */
export function assertNothingLost(
  watcher: SiteWatcher,
  devices: readonly string[],
  options: { badAllowed?: boolean } = {},
): void {
  for (const name of devices) {
    assert.deepEqual(seqHoles(watcher.records, name), [], `${name}: no seq hole`);
    if (options.badAllowed === true) continue;
    assert.ok(
      watcher.telemetry(name).every((r) => r.good),
      `${name}: no bad value`,
    );
  }
}

/** An agent run in this process as `run --config FILE` runs it (reloads wired, no pid file, no restart expected). */
export interface InProcessAgent {
  readonly agent: Agent;
  readonly reload: ReloadRuntime;
  stop(): Promise<void>;
}

export async function startInProcess(
  file: string,
  restart: (reason: string) => void = () => assert.fail('no restart expected'),
): Promise<InProcessAgent> {
  const startup = loadStartupConfig(file);
  const live: { reload?: ReloadRuntime } = {};
  const agent = new Agent({
    config: startup.config,
    logger: silentLogger,
    configInfo: () => live.reload?.reloader.info() ?? initialInfo(startup.text, startup.history),
  });
  await agent.start();
  const reload = await startReload({
    agent,
    file,
    startup,
    logger: silentLogger,
    restart,
  });
  live.reload = reload;
  return {
    agent,
    reload,
    stop: async () => {
      await reload.stop();
      await agent.stop();
    },
  };
}
