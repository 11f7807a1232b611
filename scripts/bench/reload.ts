/**
 * Hot reload on a 100-device station (one pymodbus server, 100 slaves, 1 s polls: at 100 ms
 * the single pymodbus process saturates and its queueing, not the agent, sets the jitter), the
 * in-process agent and the Reloader a SIGHUP drives:
 * 1. time from the reload to the changed device's first reading with the new settings (a
 *    tag added to device 0), against the poll interval as baseline;
 * 2. poll jitter p99 of the 99 unchanged devices in the 4 s after a reload, against the
 *    same window with no reload. Target: within 10 ms of the baseline.
 * Readings are read back from the outbox (no broker: nothing leaves it).
 * Env: BENCH_ROUNDS (default 5).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { Agent } from '../../src/agent.js';
import { silentLogger } from '../../src/core/ports.js';
import { loadStartupConfig, startReload } from '../../src/reload/runtime.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { benchRounds, median, type BenchResult } from './common.js';
import { startServer } from './poll.js';

const DEVICES = 100;
const INTERVAL_MS = 1000;
const WINDOW_MS = 4000;

function config(dir: string, port: number, withExtraTag: boolean): Record<string, unknown> {
  return {
    agent: { id: 'bench', site: 'bench' },
    store: { path: join(dir, 'outbox.db'), maxRows: 10_000_000 },
    http: { enabled: false },
    log: { level: 'error' },
    reload: { historyDir: join(dir, 'history'), trialWindowSec: 3600 },
    devices: Array.from({ length: DEVICES }, (_, i) => ({
      name: `d${i}`,
      driver: 'modbus',
      connection: { transport: 'tcp', host: '127.0.0.1', port },
      unitId: i + 1,
      intervalMs: INTERVAL_MS,
      tags: [
        { name: 't0', function: 'holding', address: 0, type: 'u16' },
        ...(i === 0 && withExtraTag ? [{ name: 't1', function: 'holding', address: 1, type: 'u16' }] : []),
      ],
    })),
  };
}

/** p99 of |interval − INTERVAL_MS| over the unchanged devices' readings in [from, to). */
function jitterP99(db: Database.Database, from: number, to: number): number {
  const rows = db
    .prepare(
      "SELECT device, ts FROM records WHERE device != 'd0' AND device != 'agent' AND ts >= ? AND ts < ? ORDER BY device, ts",
    )
    .all(from, to) as Array<{ device: string; ts: number }>;
  const deviations: number[] = [];
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]!;
    const b = rows[i]!;
    if (a.device === b.device) deviations.push(Math.abs(b.ts - a.ts - INTERVAL_MS));
  }
  deviations.sort((x, y) => x - y);
  return deviations[Math.min(deviations.length - 1, Math.floor(deviations.length * 0.99))] ?? NaN;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function run(): Promise<BenchResult[]> {
  const rounds = benchRounds(5);
  const server = await startServer();
  const dir = tempDir('edge-bench-reload-');
  const file = join(dir.path, 'config.yaml');
  writeFileSync(file, stringify(config(dir.path, server.port, false)));
  const startup = loadStartupConfig(file);
  const agent = new Agent({ config: startup.config, logger: silentLogger });
  await agent.start();
  const reload = await startReload({ agent, file, startup, logger: silentLogger, restart: () => undefined });
  const db = new Database(join(dir.path, 'outbox.db'), { readonly: true });
  const applyMs: number[] = [];
  const jitterApply: number[] = [];
  const jitterQuiet: number[] = [];
  try {
    await pause(3000); // every device connected and polling
    for (let i = 0; i < rounds; i++) {
      const quietFrom = Date.now();
      await pause(WINDOW_MS + 200);
      jitterQuiet.push(jitterP99(db, quietFrom, quietFrom + WINDOW_MS));

      const extra = i % 2 === 0;
      writeFileSync(file, stringify(config(dir.path, server.port, extra)));
      const t0 = Date.now();
      const result = await reload.reloader.reloadFile();
      if (result.status !== 'applied') throw new Error(`reload ${result.status}: ${JSON.stringify(result)}`);
      const first = db.prepare(
        `SELECT ts FROM records WHERE device = 'd0' AND ts >= ? AND body ${extra ? '' : 'NOT '}LIKE '%"t1"%' ORDER BY ts LIMIT 1`,
      );
      for (;;) {
        const row = first.get(t0) as { ts: number } | undefined;
        if (row) {
          applyMs.push(row.ts - t0);
          break;
        }
        await pause(5);
      }
      await pause(WINDOW_MS + 200 - (Date.now() - t0));
      jitterApply.push(jitterP99(db, t0, t0 + WINDOW_MS));
    }
  } finally {
    db.close();
    await reload.stop();
    await agent.stop();
    await server.close();
    dir.remove();
  }
  return [
    {
      name: `reload → changed device polling with new settings (${DEVICES} devices)`,
      unit: 'ms',
      value: median(applyMs),
      baselineName: 'poll interval',
      baseline: INTERVAL_MS,
      notes: `runs: ${applyMs.join(', ')}`,
    },
    {
      name: `poll jitter p99 of the ${DEVICES - 1} unchanged devices, ${WINDOW_MS} ms after a reload`,
      unit: 'ms',
      value: median(jitterApply),
      baselineName: 'same window without a reload',
      baseline: median(jitterQuiet),
      target: 'within 10 ms of the baseline',
      notes: `runs: ${jitterApply.join(', ')} vs ${jitterQuiet.join(', ')}`,
    },
  ];
}
