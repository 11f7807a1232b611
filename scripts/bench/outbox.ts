/**
 * Outbox ingest: SqliteOutbox.append (+ flush) with durable group commit (WAL,
 * synchronous=FULL, default batch of 2000) against raw better-sqlite3 inserting the same
 * rows into the same table shape, same batch size, same pragmas. Secondary: read + ack.
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
import { type BenchResult, alternate, formatResult } from './common.js';

const RECORDS = 200_000;
const DEVICES = 10;
const ROUNDS = 5;

/** ~150-byte telemetry bodies as the record codec writes them, 10 devices. */
export function makeRecords(n: number): NewRecord[] {
  const out = new Array<NewRecord>(n);
  const t0 = 1_700_000_000_000;
  for (let i = 0; i < n; i++) {
    const body = JSON.stringify({
      temp: { v: Math.round(200 + 100 * Math.sin(i / 50)) / 10, q: 'good' },
      press: { v: 1 + (i % 97) / 1000, q: 'good' },
      flow: { v: (i * 7) % 1000, q: 'good' },
      running: { v: i % 13 !== 0, q: 'good' },
      mode: { v: i % 2 ? 'auto' : 'manual', q: 'good' },
    });
    out[i] = { device: `plc-${i % DEVICES}`, cls: 'telemetry', ts: t0 + i, body };
  }
  return out;
}

function withDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'bench-outbox-'));
  let result: T;
  try {
    result = fn(dir);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  if (result instanceof Promise) {
    return result.finally(() => rmSync(dir, { recursive: true, force: true })) as T;
  }
  rmSync(dir, { recursive: true, force: true });
  return result;
}

function openBenchOutbox(dir: string): SqliteOutbox {
  return SqliteOutbox.open(storeSchema.parse({ path: join(dir, 'outbox.db'), integrityCheck: 'off' }), {
    clock: systemClock,
    logger: silentLogger,
  });
}

function agentIngest(records: readonly NewRecord[]): Promise<number> {
  return withDir(async (dir) => {
    const outbox = openBenchOutbox(dir);
    const t0 = performance.now();
    for (let i = 0; i < records.length; i++) outbox.append(records[i]!);
    await outbox.flush();
    const dt = performance.now() - t0;
    if (outbox.stats().rows !== records.length) throw new Error('agent lost rows');
    await outbox.close();
    return (records.length / dt) * 1000;
  });
}

function rawIngest(records: readonly NewRecord[], batch: number): number {
  return withDir((dir) => {
    const db = new Database(join(dir, 'raw.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    MIGRATIONS.forEach((m) => m(db));
    const insert = db.prepare('INSERT INTO records (seq, device, cls, ts, body) VALUES (?, ?, ?, ?, ?)');
    const tx = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const r = records[i]!;
        insert.run(i + 1, r.device, 0, r.ts, r.body);
      }
    });
    const t0 = performance.now();
    for (let i = 0; i < records.length; i += batch) tx(i, Math.min(records.length, i + batch));
    const dt = performance.now() - t0;
    db.close();
    return (records.length / dt) * 1000;
  });
}

function agentDrain(records: readonly NewRecord[]): Promise<number> {
  return withDir(async (dir) => {
    const outbox = openBenchOutbox(dir);
    for (const r of records) outbox.append(r);
    await outbox.flush();
    const t0 = performance.now();
    let after = 0;
    let n = 0;
    for (;;) {
      const page = outbox.read(after, 1000, 256 * 1024);
      if (page.length === 0) break;
      after = page[page.length - 1]!.rowid;
      outbox.ack(page.map((r) => r.rowid));
      n += page.length;
    }
    const dt = performance.now() - t0;
    if (n !== records.length) throw new Error(`drained ${n}`);
    await outbox.close();
    return (n / dt) * 1000;
  });
}

function rawDrain(records: readonly NewRecord[]): number {
  return withDir((dir) => {
    const db = new Database(join(dir, 'raw.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    MIGRATIONS.forEach((m) => m(db));
    const insert = db.prepare('INSERT INTO records (seq, device, cls, ts, body) VALUES (?, ?, ?, ?, ?)');
    db.transaction(() => records.forEach((r, i) => insert.run(i + 1, r.device, 0, r.ts, r.body)))();
    const select = db.prepare(
      'SELECT rowid, seq, device, cls, ts, body FROM records WHERE rowid > ? ORDER BY rowid LIMIT 1000',
    );
    const del = db.prepare('DELETE FROM records WHERE rowid BETWEEN ? AND ?');
    const t0 = performance.now();
    let after = 0;
    let n = 0;
    for (;;) {
      const page = select.all(after) as { rowid: number }[];
      if (page.length === 0) break;
      del.run(page[0]!.rowid, page[page.length - 1]!.rowid);
      after = page[page.length - 1]!.rowid;
      n += page.length;
    }
    const dt = performance.now() - t0;
    db.close();
    return (n / dt) * 1000;
  });
}

export async function run(): Promise<BenchResult[]> {
  const records = makeRecords(RECORDS);
  const batch = storeSchema.parse({}).batch.maxRecords;
  const avgBody = Math.round(records.reduce((n, r) => n + r.body.length, 0) / records.length);
  const ingest = await alternate(
    ROUNDS,
    () => agentIngest(records),
    () => rawIngest(records, batch),
  );
  const drainRecords = records.slice(0, 100_000);
  const drain = await alternate(
    ROUNDS,
    () => agentDrain(drainRecords),
    () => rawDrain(drainRecords),
  );
  return [
    {
      name: 'outbox ingest (SqliteOutbox.append, group commit, WAL, synchronous=FULL)',
      unit: 'records/s',
      value: ingest.agent,
      baselineName: `raw better-sqlite3 prepared insert, ${batch}-row transactions, WAL+FULL`,
      baseline: ingest.baseline,
      target: '>= 200000 records/s and >= 80 % of baseline',
      notes: `${RECORDS} records, ${DEVICES} devices, ~${avgBody} B bodies, ${ROUNDS} rounds; agent runs ${ingest.agentRuns.map(Math.round).join(', ')}`,
    },
    {
      name: 'outbox drain (read 1000 / ack)',
      unit: 'records/s',
      value: drain.agent,
      baselineName: 'raw select 1000 + range delete',
      baseline: drain.baseline,
      notes: `${drainRecords.length} records, ${ROUNDS} rounds`,
    },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run()) console.log(formatResult(r));
}
