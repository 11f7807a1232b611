/** Runs the real CLI as a child process against real peers, and watches the broker. */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { waitFor } from '../helpers/wait.js';

export const CLI = join(process.cwd(), 'dist/src/cli/main.js');

export interface ReceivedRecord {
  readonly id: string;
  readonly seq: number;
  readonly device: string;
  readonly topic: string;
  readonly replay: boolean;
  readonly eventType?: string;
  /** Telemetry: the values object as JSON, and whether every value was good. */
  readonly raw?: string;
  readonly good?: boolean;
}

/** Subscribes to every topic of the site and keeps each record it sees, in order. */
export class Watcher {
  readonly records: ReceivedRecord[] = [];
  readonly ids = new Set<string>();
  readonly status: string[] = [];
  private constructor(private readonly client: mqtt.MqttClient) {}

  static async connect(url: string, prefix: string): Promise<Watcher> {
    const client = await mqtt.connectAsync(url, {
      clean: true,
      reconnectPeriod: 0,
      clientId: `watcher-${process.pid}-${Date.now()}`,
    });
    const watcher = new Watcher(client);
    client.on('message', (topic, payload) => watcher.onMessage(topic, payload));
    await client.subscribeAsync(`${prefix}/#`, { qos: 1 });
    return watcher;
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic.endsWith('/agent/status')) return void this.status.push(payload.toString());
    const doc = JSON.parse(payload.toString()) as {
      device: string;
      replay?: boolean;
      records: Array<{
        id: string;
        seq: number;
        event?: { type: string };
        values?: Record<string, { q: string }>;
      }>;
    };
    for (const r of doc.records) {
      this.ids.add(r.id);
      const good = r.values ? Object.values(r.values).every((v) => v.q === 'good') : undefined;
      const raw = r.values ? JSON.stringify(r.values) : undefined;
      this.records.push({
        id: r.id,
        seq: r.seq,
        device: doc.device,
        topic,
        replay: doc.replay === true,
        eventType: r.event?.type,
        raw,
        good,
      });
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

export function writeConfig(dir: string, config: Record<string, unknown>): string {
  const file = join(dir, 'config.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

export interface AgentProcess {
  readonly child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnAgent(configFile: string, extraEnv: Record<string, string> = {}): AgentProcess {
  const child = spawn(process.execPath, [CLI, 'run', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...extraEnv },
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, output: () => out, exited };
}

export async function waitForRecords(
  watcher: Watcher,
  count: number,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  await waitFor(what, () => watcher.records.length >= count, timeoutMs);
}
