/**
 * RSS of the real agent process (`edge-agent run`) polling 100 devices × 50 tags at 1 Hz
 * from a pymodbus TCP server, committing to its outbox and forwarding to a local
 * mosquitto. RSS is read from /proc/<pid>/status every 5 s; the figure is the median of
 * the last samples beside the median of the first samples after warm-up (growth shows
 * as a ratio above 100 %). BENCH_AGENT_SOAK_S sets the duration (default 120 s; the
 * issue's figure is 600 s).
 */
import { RELEASE_ENV, RELEASE_NODE_FLAGS } from '../bundle/runtime.js';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startMosquitto } from '../../test/helpers/mosquitto.js';
import { freePort } from '../../test/helpers/net.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { median, type BenchResult, envNumber } from './common.js';
import { startServer } from './poll.js';

const DEVICES = 100;
const DEVICE_NODE_FLAGS = RELEASE_NODE_FLAGS.join(' ');
const TAGS = 50;

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return kb ? Number(kb[1]) / 1024 : NaN;
}

function soakConfig(
  modbusPort: number,
  mqttUrl: string,
  dir: string,
  httpPort: number,
): Record<string, unknown> {
  return {
    agent: { id: 'soak', site: 'soak' },
    store: { path: join(dir, 'outbox.db') },
    mqtt: { url: mqttUrl, allowInsecure: true },
    http: { port: httpPort },
    log: { level: 'warn' },
    devices: Array.from({ length: DEVICES }, (_, i) => ({
      name: `d${i}`,
      driver: 'modbus',
      connection: { transport: 'tcp', host: '127.0.0.1', port: modbusPort },
      unitId: (i % 247) + 1,
      intervalMs: 1000,
      timeoutMs: 2000,
      tags: Array.from({ length: TAGS }, (_, t) => ({ name: `t${t}`, function: 'holding', address: t })),
    })),
  };
}

async function metric(httpPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm');
  let sum = 0;
  for (const m of text.matchAll(re)) sum += Number(m[1]);
  return sum;
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function run(): Promise<BenchResult[]> {
  const seconds = envNumber('BENCH_AGENT_SOAK_S', 120, 1);
  const dir = tempDir('edge-agent-soak-');
  const server = await startServer();
  const broker = await startMosquitto();
  const httpPort = await freePort();
  const configFile = join(dir.path, 'config.yaml');
  writeFileSync(configFile, stringify(soakConfig(server.port, broker.url, dir.path, httpPort)));
  // The V8 flags and environment of the release's launcher; BENCH_NODE_FLAGS overrides the flags.
  const flags = (process.env.BENCH_NODE_FLAGS ?? DEVICE_NODE_FLAGS).split(' ').filter(Boolean);
  const child = spawn(
    process.execPath,
    [...flags, join(process.cwd(), 'dist/src/cli/main.js'), 'run', '--config', configFile],
    { stdio: 'ignore', env: { ...RELEASE_ENV, ...process.env } },
  );
  const samples: number[] = [];
  try {
    const warmupMs = Math.min(30_000, (seconds * 1000) / 5);
    await tick(warmupMs);
    const t0 = Date.now();
    while (Date.now() - t0 < seconds * 1000) {
      samples.push(rssMb(child.pid ?? 0));
      await tick(5000);
    }
    const polls = await metric(httpPort, 'edge_polls_total');
    const published = await metric(httpPort, 'edge_records_published_total');
    const errors = await metric(httpPort, 'edge_poll_errors_total');
    const window = Math.max(1, Math.min(6, Math.floor(samples.length / 3)));
    return [
      {
        name: `agent process RSS, ${DEVICES} devices × ${TAGS} tags @ 1 Hz (run → outbox → mosquitto)`,
        unit: 'MB',
        value: median(samples.slice(-window)),
        baselineName: `same process, first ${window} samples after ${Math.round(warmupMs / 1000)} s warm-up`,
        baseline: median(samples.slice(0, window)),
        target: '<= 80 MB, no growth (ratio ≈ 100 %)',
        notes: `node ${flags.join(' ') || '(no flags)'}; ${seconds} s, ${samples.length} samples, max ${Math.max(...samples).toFixed(1)} MB; ${polls} polls, ${errors} poll errors, ${published} records acknowledged by the broker`,
      },
    ];
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await broker.close();
    await server.close();
    dir.remove();
  }
}
