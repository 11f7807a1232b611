/**
 * S7 driver benchmarks, on node-snap7's S7Server (native threads, in-process):
 * 1. Tags/s read through the driver vs a raw nodes7 `readAllItems` loop, same server,
 *    same tag set, alternating rounds, medians. Target ≥ 90 % of raw.
 * 2. Requests (PDUs) per cycle for 500 tags vs the fewest the negotiated PDU allows, also
 *    at PDU 240 (S7-300/1200), where filling requests matters most.
 * Env: BENCH_S7_TAGS (tag set of run 1, default 200), BENCH_S7_CYCLES (per round, default 300), BENCH_ROUNDS (default 7).
 */
import { createRequire } from 'node:module';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { s7DeviceSchema } from '../../src/drivers/s7/config.js';
import { S7Device } from '../../src/drivers/s7/device.js';
import { minimumRequests, planItems, type PlanLimits } from '../../src/drivers/s7/plan.js';
import { elementAddress, parseS7Address } from '../../src/drivers/s7/address.js';
import { TestS7Server } from '../../test/helpers/snap7.js';
import { benchRounds, alternate, type BenchResult, envCount } from './common.js';

const require = createRequire(import.meta.url);

interface NodeS7 {
  requestMaxPDU: number;
  initiateConnection(params: Record<string, unknown>, cb: (err?: unknown) => void): void;
  addItems(items: string[]): void;
  readAllItems(cb: (anythingBad: boolean, values: Record<string, unknown>) => void): void;
  dropConnection(cb: () => void): void;
}
const NodeS7 = require('nodes7') as new (opts: { silent: boolean }) => NodeS7;

const TYPES = ['INT', 'REAL', 'DINT', 'WORD'] as const;

/** A station-like tag set: mixed types every 8 bytes over two DBs (neighbours 2–6 bytes apart). */
function tagSet(count: number): { name: string; address: string }[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `t${i}`,
    address: `DB${1 + (i % 2)},${TYPES[i % 4]}${Math.floor(i / 2) * 8}`,
  }));
}

async function driverTagsPerSecond(device: S7Device, names: string[], cycles: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < cycles; i++) {
    const values = await device.poll(names);
    if (values[0]!.quality !== 'good') throw new Error(`driver read failed: ${JSON.stringify(values[0])}`);
  }
  return (names.length * cycles) / ((performance.now() - started) / 1000);
}

function rawTagsPerSecond(conn: NodeS7, count: number, cycles: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let done = 0;
    const next = (): void =>
      conn.readAllItems((bad) => {
        if (bad) return reject(new Error('nodes7 read reported bad values'));
        if (++done === cycles) return resolve((count * cycles) / ((performance.now() - started) / 1000));
        next();
      });
    next();
  });
}

export async function run(): Promise<BenchResult[]> {
  const count = envCount('BENCH_S7_TAGS', 200);
  const cycles = envCount('BENCH_S7_CYCLES', 300);
  const rounds = benchRounds(7);
  const server = await TestS7Server.start();
  server.register('DB', 1, Buffer.alloc(8192));
  server.register('DB', 2, Buffer.alloc(8192));
  const tags = tagSet(count);
  // Same PDU for both: nodes7 sizes packets by PDU only (79 items at 960) while snap7, like
  // classic CPUs, answers at most 20 items; nodes7 then misreads the answer and throws a
  // RangeError out of its socket handler (process crash). At 240 it sends ≤ 19 items.
  const device = new S7Device(
    s7DeviceSchema.parse({
      name: 'bench',
      driver: 's7',
      connection: { host: '127.0.0.1', port: server.port },
      pduSize: 240,
      tags,
    }),
    { clock: systemClock, logger: silentLogger, random: Math.random },
  );
  const wide = new S7Device(
    s7DeviceSchema.parse({
      name: 'wide',
      driver: 's7',
      connection: { host: '127.0.0.1', port: server.port },
      tags,
    }),
    { clock: systemClock, logger: silentLogger, random: Math.random },
  );
  const raw = new NodeS7({ silent: true });
  raw.requestMaxPDU = 240;
  try {
    await device.start();
    await wide.start();
    await new Promise<void>((resolve, reject) =>
      raw.initiateConnection(
        { host: '127.0.0.1', port: server.port, rack: 0, slot: 1, timeout: 5000 },
        (err: unknown) =>
          err ? reject(err instanceof Error ? err : new Error(JSON.stringify(err))) : resolve(),
      ),
    );
    raw.addItems(tags.map((t) => t.address));
    const names = tags.map((t) => t.name);
    await driverTagsPerSecond(device, names, 20);
    await rawTagsPerSecond(raw, count, 20);
    const speed = await alternate(
      rounds,
      () => driverTagsPerSecond(device, names, cycles),
      () => rawTagsPerSecond(raw, count, cycles),
    );
    const status = device.status();
    const wideSpeed = await alternate(
      rounds,
      () => driverTagsPerSecond(wide, names, cycles),
      () => rawTagsPerSecond(raw, count, cycles),
    );
    const wideStatus = wide.status();

    const scattered = await pdusFor500(server.port, 'scattered');
    const packed = await pdusFor500(server.port, 'contiguous');
    const packed240 = await pdusFor500(server.port, 'contiguous', 240);
    return [
      {
        name: `s7 read, ${count} tags through the driver`,
        unit: 'tags/s',
        value: speed.agent,
        baselineName: 'raw nodes7 readAllItems loop',
        baseline: speed.baseline,
        target: '>= 90 % of raw',
        notes: `negotiated PDU ${String(status.pduSize)}, ${String(status.requestsPerCycle)} requests per cycle; rounds agent ${speed.agentRuns.map(Math.round).join('/')} raw ${speed.baselineRuns.map(Math.round).join('/')}`,
      },
      {
        name: `s7 read, ${count} tags through the driver with its defaults (PDU ${String(wideStatus.pduSize)})`,
        unit: 'tags/s',
        value: wideSpeed.agent,
        baselineName: 'raw nodes7 readAllItems loop (PDU 240)',
        baseline: wideSpeed.baseline,
        notes: `${String(wideStatus.requestsPerCycle)} requests per cycle`,
      },
      {
        name: '500 scattered INTs (no neighbours to merge): requests per cycle',
        unit: 'PDUs',
        value: scattered.driver,
        baselineName: `fewest the ${scattered.pduSize}-byte PDU and 20-item cap allow`,
        baseline: scattered.minimum,
        target: '= 100 %',
      },
      {
        name: '500 contiguous INTs (merged items): requests per cycle',
        unit: 'PDUs',
        value: packed.driver,
        baselineName: 'fewest for the merged items',
        baseline: packed.minimum,
        target: '= 100 %',
        notes: `PDU ${packed.pduSize}`,
      },
      {
        name: '500 contiguous INTs at PDU 240 (S7-300/1200): requests per cycle',
        unit: 'PDUs',
        value: packed240.driver,
        baselineName: 'fewest for the merged items',
        baseline: packed240.minimum,
        target: '= 100 % (was 6 vs 5)',
        notes: `PDU ${packed240.pduSize}`,
      },
    ];
  } finally {
    await device.stop();
    await wide.stop();
    await new Promise<void>((resolve) => raw.dropConnection(() => resolve()));
    server.stop();
  }
}

async function pdusFor500(
  port: number,
  layout: 'scattered' | 'contiguous',
  pduSize?: number,
): Promise<{ driver: number; minimum: number; pduSize: number }> {
  const tags = Array.from({ length: 500 }, (_, i) => ({
    name: `p${i}`,
    address: `DB${1 + (i % 2)},INT${layout === 'scattered' ? Math.floor(i / 2) * 16 : Math.floor(i / 2) * 2}`,
  }));
  const device = new S7Device(
    s7DeviceSchema.parse({
      name: 'pdus',
      driver: 's7',
      connection: { host: '127.0.0.1', port },
      ...(pduSize ? { pduSize } : {}),
      tags,
    }),
    {
      clock: systemClock,
      logger: silentLogger,
      random: Math.random,
    },
  );
  try {
    await device.start();
    const values = await device.poll(tags.map((t) => t.name));
    if (values.some((v) => v.quality !== 'good')) throw new Error('500-tag read failed');
    const points = tags.map((t) => {
      const parsed = parseS7Address(t.address);
      if (!parsed.ok) throw new Error(parsed.reason);
      return {
        name: t.name,
        tag: t.name,
        address: elementAddress(parsed.address, 0),
        scale: 1,
        offset: 0,
        intervalMs: 1000,
      };
    });
    const negotiated = Number(device.status().pduSize);
    const limits: PlanLimits = {
      pduSize: negotiated,
      maxItems: device.config.maxItemsPerRequest,
      maxGap: device.config.maxGap,
    };
    return {
      driver: Number(device.status().requestsLastPoll),
      minimum: minimumRequests(planItems(points, limits), limits),
      pduSize: negotiated,
    };
  } finally {
    await device.stop();
  }
}
