/**
 * Group-commit latency: append → durable (appendDurable resolves) with the store's
 * defaults (WAL, synchronous=FULL, adaptive group commit), at 1 and 50 concurrent
 * producers (closed loop: each appends, awaits, repeats) and at 5,000 records/s of
 * telemetry (50 records every 10 ms: 100 devices × 50 tags at 1 Hz). Beside each: a raw
 * better-sqlite3 insert + commit of the same rows, same pragmas, in the same run, and the
 * old fixed 50 ms window (batch.maxLatencyMs: 50) as the before figure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { NewRecord } from '../../src/core/types.js';
import { storeSchema } from '../../src/config/sections/store.js';
import { MIGRATIONS } from '../../src/store/schema.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { type BenchResult, formatResult, median } from './common.js';
import { makeRecords } from './outbox.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_COMMIT_SECONDS ?? 1.5);
const RECORDS = makeRecords(5000);

export interface Percentiles {
  readonly p50: number;
  readonly p99: number;
}

export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

type Load = { kind: 'producers'; n: number } | { kind: 'rate'; perTick: number; tickMs: number };

async function inDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-commit-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function record(i: number): NewRecord {
  const r = RECORDS.at(i % RECORDS.length);
  if (r === undefined) throw new Error('no bench records');
  return r;
}

/** Latencies (ms) from append to durable through the outbox. */
function outboxRound(load: Load, maxLatencyMs: number): Promise<number[]> {
  return inDir(async (dir) => {
    const outbox = SqliteOutbox.open(
      storeSchema.parse({ path: join(dir, 'outbox.db'), integrityCheck: 'off', batch: { maxLatencyMs } }),
      { clock: systemClock, logger: silentLogger },
    );
    const lat: number[] = [];
    const end = performance.now() + SECONDS * 1000;
    let i = 0;
    const one = async (): Promise<void> => {
      const t = performance.now();
      await outbox.appendDurable(record(i++));
      lat.push(performance.now() - t);
    };
    if (load.kind === 'producers') {
      await Promise.all(
        Array.from({ length: load.n }, async () => {
          while (performance.now() < end) await one();
        }),
      );
    } else {
      const inFlight: Promise<void>[] = [];
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (performance.now() >= end) return void (clearInterval(timer), resolve());
          for (let k = 0; k < load.perTick; k++) inFlight.push(one());
        }, load.tickMs);
      });
      await Promise.all(inFlight);
    }
    await outbox.close();
    return lat;
  });
}

/** The same load on raw better-sqlite3: each producer's row (or each tick's rows) inserted and committed. */
function rawRound(load: Load): Promise<number[]> {
  return inDir(async (dir) => {
    const db = new Database(join(dir, 'raw.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    MIGRATIONS.forEach((m) => m(db));
    const insert = db.prepare('INSERT INTO records (seq, device, cls, ts, body) VALUES (?, ?, ?, ?, ?)');
    let i = 0;
    const tx = db.transaction((n: number) => {
      for (let k = 0; k < n; k++, i++) {
        const r = record(i);
        insert.run(i + 1, r.device, 0, r.ts, r.body);
      }
    });
    const lat: number[] = [];
    const end = performance.now() + SECONDS * 1000;
    if (load.kind === 'producers') {
      // One connection commits one row at a time: a producer's latency is its wait for the
      // commits queued before its own plus its own (the n producers take turns).
      while (performance.now() < end) {
        const t = performance.now();
        for (let p = 0; p < load.n; p++) {
          tx(1);
          lat.push(performance.now() - t);
        }
        await new Promise<void>((r) => setImmediate(r));
      }
    } else {
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (performance.now() >= end) return void (clearInterval(timer), resolve());
          const t = performance.now();
          tx(load.perTick);
          const dt = performance.now() - t;
          for (let k = 0; k < load.perTick; k++) lat.push(dt);
        }, load.tickMs);
      });
    }
    db.close();
    return lat;
  });
}

interface Figures {
  readonly adaptive: Percentiles;
  readonly fixed50: Percentiles;
  readonly raw: Percentiles;
  readonly commitsNote: string;
}

/** Rounds alternating raw, adaptive and the old 50 ms window; medians of per-round percentiles. */
async function measureLoad(load: Load): Promise<Figures> {
  const runs = { adaptive: [] as Percentiles[], fixed50: [] as Percentiles[], raw: [] as Percentiles[] };
  let samples = 0;
  for (let r = 0; r < ROUNDS; r++) {
    runs.raw.push(percentiles(await rawRound(load)));
    const lat = await outboxRound(load, 0);
    samples += lat.length;
    runs.adaptive.push(percentiles(lat));
    runs.fixed50.push(percentiles(await outboxRound(load, 50)));
  }
  const med = (xs: Percentiles[]): Percentiles => ({
    p50: median(xs.map((x) => x.p50)),
    p99: median(xs.map((x) => x.p99)),
  });
  return {
    adaptive: med(runs.adaptive),
    fixed50: med(runs.fixed50),
    raw: med(runs.raw),
    commitsNote: `${Math.round(samples / ROUNDS / SECONDS)} records/s made durable (adaptive)`,
  };
}

function results(label: string, f: Figures): BenchResult[] {
  const row = (q: 'p50' | 'p99'): BenchResult => ({
    name: `append → durable ${q}, ${label}, adaptive group commit (WAL, synchronous=FULL)`,
    unit: 'ms',
    value: f.adaptive[q],
    baselineName: 'raw better-sqlite3 insert + commit, same rows, WAL+FULL',
    baseline: f.raw[q],
    target: q === 'p99' ? 'p99 <= 10 ms' : undefined,
    notes: `before (fixed 50 ms window, batch.maxLatencyMs: 50): ${f.fixed50[q].toFixed(2)} ms; ${f.commitsNote}`,
  });
  return [row('p50'), row('p99')];
}

export async function run(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  out.push(...results('1 producer', await measureLoad({ kind: 'producers', n: 1 })));
  out.push(...results('50 concurrent producers', await measureLoad({ kind: 'producers', n: 50 })));
  out.push(
    ...results(
      '5,000 telemetry records/s (50 every 10 ms)',
      await measureLoad({ kind: 'rate', perTick: 50, tickMs: 10 }),
    ),
  );
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run()) console.log(formatResult(r));
}
