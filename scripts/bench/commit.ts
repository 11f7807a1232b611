/**
 * Group-commit latency: append → durable (appendDurable resolves) with the store's
 * defaults (WAL, synchronous=FULL, adaptive group commit, the WAL's fdatasync on the
 * thread pool), at 1, 50 and 1,000 concurrent producers (closed loop: each appends,
 * awaits, repeats) and at 5,000 records/s of telemetry (50 records every 10 ms: 100
 * devices × 50 tags at 1 Hz). Beside each, in the same run and alternating rounds: a raw
 * better-sqlite3 insert + commit of the same rows, same pragmas, and the store with
 * SQLite's own FULL fsync in the event loop (walSync 'inline', the before figure); and
 * the event loop's delay p99 (monitorEventLoopDelay) with each store mode.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { NewRecord } from '../../src/core/types.js';
import { storeSchema } from '../../src/config/sections/store.js';
import { MIGRATIONS } from '../../src/store/schema.js';
import { SqliteOutbox } from '../../src/store/sqlite-outbox.js';
import { benchRounds, type BenchResult, formatResult, median, envNumber } from './common.js';
import { makeRecords } from './outbox.js';

const ROUNDS = benchRounds(3);
const SECONDS = envNumber('BENCH_COMMIT_SECONDS', 1.5, 0.1);
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

interface OutboxRound {
  /** Append → durable (ms). */
  readonly lat: number[];
  /** Event-loop delay p99 over the round (ms). */
  readonly eldP99: number;
}

/** Latencies (ms) from append to durable through the outbox, and the loop's delay meanwhile. */
function outboxRound(load: Load, walSync: 'thread' | 'inline'): Promise<OutboxRound> {
  return inDir(async (dir) => {
    const outbox = SqliteOutbox.open(
      storeSchema.parse({ path: join(dir, 'outbox.db'), integrityCheck: 'off' }),
      { clock: systemClock, logger: silentLogger, walSync },
    );
    const eld = monitorEventLoopDelay({ resolution: 1 });
    eld.enable();
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
    eld.disable();
    await outbox.close();
    return { lat, eldP99: eld.percentile(99) / 1e6 };
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
  readonly thread: Percentiles;
  readonly inline: Percentiles;
  readonly raw: Percentiles;
  readonly eld: { readonly thread: number; readonly inline: number };
  readonly rates: { readonly thread: number; readonly inline: number };
}

/** Rounds alternating raw, thread and inline (order rotated); medians of per-round figures. */
async function measureLoad(load: Load): Promise<Figures> {
  const runs = { thread: [] as OutboxRound[], inline: [] as OutboxRound[], raw: [] as Percentiles[] };
  for (let r = 0; r < ROUNDS; r++) {
    runs.raw.push(percentiles(await rawRound(load)));
    const order: ('thread' | 'inline')[] = r % 2 === 0 ? ['thread', 'inline'] : ['inline', 'thread'];
    for (const mode of order) runs[mode].push(await outboxRound(load, mode));
  }
  const med = (xs: Percentiles[]): Percentiles => ({
    p50: median(xs.map((x) => x.p50)),
    p99: median(xs.map((x) => x.p99)),
  });
  const pct = (rounds: OutboxRound[]): Percentiles => med(rounds.map((x) => percentiles(x.lat)));
  const rate = (rounds: OutboxRound[]): number => median(rounds.map((x) => x.lat.length / SECONDS));
  return {
    thread: pct(runs.thread),
    inline: pct(runs.inline),
    raw: med(runs.raw),
    eld: {
      thread: median(runs.thread.map((x) => x.eldP99)),
      inline: median(runs.inline.map((x) => x.eldP99)),
    },
    rates: { thread: rate(runs.thread), inline: rate(runs.inline) },
  };
}

function results(label: string, f: Figures): BenchResult[] {
  const row = (q: 'p50' | 'p99'): BenchResult => ({
    name: `append → durable ${q}, ${label}, group commit, WAL fdatasync on the thread pool (synchronous=FULL durability)`,
    unit: 'ms',
    value: f.thread[q],
    baselineName: 'raw better-sqlite3 insert + commit, same rows, WAL+FULL',
    baseline: f.raw[q],
    target: q === 'p99' ? 'p99 <= 10 ms' : undefined,
    notes:
      `before (SQLite's FULL fsync in the event loop): ${f.inline[q].toFixed(2)} ms; ` +
      `records/s durable: ${Math.round(f.rates.thread)} (before ${Math.round(f.rates.inline)})`,
  });
  const eld: BenchResult = {
    name: `event-loop delay p99 while appending, ${label}, WAL fdatasync on the thread pool`,
    unit: 'ms',
    value: f.eld.thread,
    baselineName: "SQLite's FULL fsync in the event loop (before), same run",
    baseline: f.eld.inline,
  };
  return [row('p50'), row('p99'), eld];
}

export async function run(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  out.push(...results('1 producer', await measureLoad({ kind: 'producers', n: 1 })));
  out.push(...results('50 concurrent producers', await measureLoad({ kind: 'producers', n: 50 })));
  out.push(...results('1,000 concurrent producers', await measureLoad({ kind: 'producers', n: 1000 })));
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
