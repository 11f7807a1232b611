/**
 * Station page bench: the agent's CPU (child process, % of one core) polling 100 Modbus
 * TCP devices × 50 tags once a second, with 10 pages open on the live stream (/events:
 * snapshot, then deltas every 250 ms) vs the same agent with none. Goal: the pages cost
 * < 5 % of one core. Windows alternate (noise hits both alike); medians.
 * Env: BENCH_PAGE_DEVICES (100), BENCH_PAGE_TAGS (50), BENCH_PAGE_CLIENTS (10),
 *      BENCH_PAGE_WINDOW_S (8), BENCH_ROUNDS (3).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { get, type ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulatedModbusServer } from '../../src/demo/simulator.js';
import { benchRounds, alternate, median, type BenchResult, envNumber, envCount } from './common.js';
import { simulatedDevices } from './station-devices.js';

const DEVICES = envCount('BENCH_PAGE_DEVICES', 100);
const TAGS = envCount('BENCH_PAGE_TAGS', 50);
const CLIENTS = envCount('BENCH_PAGE_CLIENTS', 10);
const WINDOW_S = envNumber('BENCH_PAGE_WINDOW_S', 8, 1);
const ROUNDS = benchRounds(3);

const ask = <T>(child: ChildProcess, message: string): Promise<T> =>
  new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send(message);
  });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Clients {
  bytes: number;
  close(): void;
}

function openClients(url: string, n: number): Clients {
  const requests: ClientRequest[] = [];
  const state = {
    bytes: 0,
    close: () => {
      for (const r of requests) r.destroy();
    },
  };
  for (let i = 0; i < n; i++)
    requests.push(
      get(`${url}/events`, (res) => {
        res.on('data', (chunk: Buffer) => void (state.bytes += chunk.length));
        res.on('error', () => undefined);
      }).on('error', () => undefined),
    );
  return state;
}

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-bench-page-'));
  const modbus = await startSimulatedModbusServer({ devices: simulatedDevices(DEVICES, TAGS) });
  const child = fork(
    new URL('./page-agent.js', import.meta.url).pathname,
    [
      JSON.stringify({
        modbusPort: modbus.port,
        devices: DEVICES,
        tags: TAGS,
        store: join(dir, 'outbox.db'),
      }),
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  try {
    const { http } = await new Promise<{ http: string }>((r) =>
      child.once('message', (m) => r(m as { http: string })),
    );
    const url = `http://${http}`;
    await sleep(5000); // every device connected and polling; the page's rings filling
    const bytesPerS: number[] = [];
    const firstSecond: number[] = [];
    const window = async (clients: number): Promise<number> => {
      const open = clients > 0 ? openClients(url, clients) : undefined;
      await sleep(1000); // snapshots sent: the window measures the steady stream
      const start = open?.bytes ?? 0;
      if (open) firstSecond.push(start / clients);
      child.send('mark');
      await sleep(WINDOW_S * 1000);
      const usage = await ask<{ cpuPct: number }>(child, 'usage');
      if (open) bytesPerS.push((open.bytes - start) / WINDOW_S / clients);
      open?.close();
      return usage.cpuPct;
    };
    const r = await alternate(
      ROUNDS,
      () => window(CLIENTS),
      () => window(0),
    );
    return [
      {
        name: `agent CPU, ${DEVICES} devices × ${TAGS} tags, ${CLIENTS} pages on /events`,
        unit: '% of one core',
        value: r.agent,
        baselineName: 'same agent, no page open',
        baseline: r.baseline,
        target: `pages cost < 5 % of one core`,
        notes:
          `pages cost ${(r.agent - r.baseline).toFixed(2)} % of one core (difference of the medians); ` +
          `runs with ${r.agentRuns.map((v) => v.toFixed(1)).join('/')}, without ${r.baselineRuns.map((v) => v.toFixed(1)).join('/')}; ` +
          `stream ${Math.round(median(bytesPerS) / 1024)} KiB/s per page; ` +
          `first second (snapshot + deltas) ${Math.round(median(firstSecond) / 1024)} KiB per page`,
      },
    ];
  } finally {
    child.send('stop');
    await new Promise((r) => child.once('exit', r));
    await modbus.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
