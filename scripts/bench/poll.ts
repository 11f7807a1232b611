/**
 * Modbus driver benchmarks.
 * 1. Modbus TCP transactions/s through the driver (one device, one read of 10 holding
 *    registers per poll, sequential awaits) vs a raw modbus-serial client loop doing the
 *    same reads on the same server (pymodbus in its own process; modbus-serial's
 *    ServerTCP as a fallback). Target ≥ 95 % of raw. Beside it, the CPU time of this
 *    process per transaction, driver vs raw: repeatable under load, where throughput is not.
 * 2. Optional in-process soak (BENCH_SOAK_S seconds, default 0: off). The figure that
 *    counts is `bench soak`, which measures the real agent process.
 * Env: BENCH_MODBUS_TX (transactions per round, default 3000), BENCH_ROUNDS (default 7).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import modbusSerial, { ServerTCP } from 'modbus-serial';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { freePort } from '../../test/helpers/net.js';
import { benchRounds, alternate, formatResult, median, type BenchResult } from './common.js';

interface BenchServer {
  readonly name: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * pymodbus (test/helpers/pymodbus_server.py) answers ~10× faster than modbus-serial's
 * ServerTCP (which adds ~1 ms per transaction), so it is preferred when available, so
 * that the server is not the bottleneck; ServerTCP in-process is the fallback.
 */
async function startPymodbus(): Promise<BenchServer | undefined> {
  const script = join(process.cwd(), 'test/helpers/pymodbus_server.py');
  if (!existsSync('/usr/bin/python3') || !existsSync(script)) return undefined;
  const port = await freePort();
  const slaves = Object.fromEntries(
    Array.from({ length: 100 }, (_, i) => [
      i + 1,
      { holding: { size: 100, values: { 0: Array.from({ length: 100 }, (_, k) => k) } } },
    ]),
  );
  const child = spawn('/usr/bin/python3', [script, JSON.stringify({ transport: 'tcp', port, slaves })], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const ready = await new Promise<boolean>((resolve) => {
    let out = '';
    const timer = setTimeout(() => resolve(false), 30_000); // a loaded box starts Python slowly
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (/^READY$/m.test(out)) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    child.once('exit', () => resolve(false));
  });
  const close = () =>
    new Promise<void>((res) => {
      if (child.exitCode !== null) return res();
      const kill = setTimeout(() => child.kill('SIGKILL'), 2000);
      child.once('exit', () => (clearTimeout(kill), res()));
      child.stdin.end();
    });
  if (!ready) {
    await close();
    return undefined;
  }
  return { name: 'pymodbus TCP server (separate process)', port, close };
}

export async function startServer(): Promise<BenchServer> {
  const py = process.env.BENCH_MODBUS_SERVER === 'servertcp' ? undefined : await startPymodbus();
  if (py) return py;
  const port = await freePort();
  const server = new ServerTCP(
    {
      getHoldingRegister: (addr: number) => addr & 0xffff,
      getMultipleHoldingRegisters: (addr: number, length: number) =>
        Array.from({ length }, (_, i) => (addr + i) & 0xffff),
    },
    { host: '127.0.0.1', port, unitID: 255 },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('error', reject);
  }).catch(() => undefined);
  return {
    name: 'in-process modbus-serial ServerTCP',
    port,
    close: () => new Promise<void>((res) => server.close(() => res())),
  };
}

const device = (name: string, port: number, unitId: number, tags: number) =>
  modbusDeviceSchema.parse({
    name,
    driver: 'modbus',
    unitId,
    connection: { transport: 'tcp', host: '127.0.0.1', port },
    timeoutMs: 2000,
    tags: Array.from({ length: tags }, (_, i) => ({ name: `t${i}`, function: 'holding', address: i })),
  });

/**
 * CPU time of this process per transaction (µs), per run: repeatable under load where
 * throughput is not (the server is another process, so this is the client side alone).
 */
const cpuUs = { driver: [] as number[], raw: [] as number[] };

function cpuPerTx(since: NodeJS.CpuUsage, count: number): number {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / count;
}

async function driverRun(port: number, count: number): Promise<number> {
  const family = createModbusFamily({ clock: systemClock, logger: silentLogger, random: Math.random });
  const d = family.create(device('bench', port, 1, 10));
  d.init();
  await d.start();
  const names = d.tags().map((t) => t.name);
  await d.poll(names);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const vs = await d.poll(names);
    if (vs[9]!.quality !== 'good') throw new Error(`bad value in bench: ${JSON.stringify(vs[9])}`);
  }
  const elapsed = performance.now() - t0;
  cpuUs.driver.push(cpuPerTx(c0, count));
  await d.stop();
  await family.close();
  return (count / elapsed) * 1000;
}

async function rawRun(port: number, count: number): Promise<number> {
  const client = new modbusSerial.default();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(1);
  client.setTimeout(2000);
  await client.readHoldingRegisters(0, 10);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const r = await client.readHoldingRegisters(0, 10);
    if (r.data.length !== 10) throw new Error('short read');
  }
  const elapsed = performance.now() - t0;
  cpuUs.raw.push(cpuPerTx(c0, count));
  await new Promise<void>((res) => client.destroy(() => res()));
  return (count / elapsed) * 1000;
}

const rssMb = (): number => process.memoryUsage().rss / 1024 / 1024;

async function soak(port: number, seconds: number): Promise<BenchResult> {
  const family = createModbusFamily({ clock: systemClock, logger: silentLogger, random: Math.random });
  const devices = Array.from({ length: 100 }, (_, i) =>
    family.create(device(`d${i}`, port, (i % 247) + 1, 50)),
  );
  for (const d of devices) d.init();
  for (const d of devices) await d.start();
  const names = devices[0]!.tags().map((t) => t.name);
  await Promise.all(devices.map((d) => d.poll(names)));
  (globalThis as { gc?: () => void }).gc?.();
  const start = rssMb();
  let cycles = 0;
  let bad = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const tick = performance.now();
    const results = await Promise.all(devices.map((d) => d.poll(names)));
    for (const vs of results) for (const v of vs) if (v.quality !== 'good') bad++;
    cycles++;
    const wait = 1000 - (performance.now() - tick);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  (globalThis as { gc?: () => void }).gc?.();
  const end = rssMb();
  for (const d of devices) await d.stop();
  await family.close();
  return {
    name: 'modbus soak RSS (100 devices × 50 tags @ 1 Hz)',
    unit: 'MB',
    value: end,
    baselineName: 'RSS at start',
    baseline: start,
    target: 'no growth trend (end ≈ start)',
    notes: `${seconds} s, ${cycles} cycles, ${cycles * 100} polls, ${bad} bad values; set BENCH_SOAK_S=600 for the 10-minute soak`,
  };
}

export async function run(): Promise<BenchResult[]> {
  const count = Number(process.env.BENCH_MODBUS_TX ?? 3000);
  const rounds = benchRounds(7);
  // The in-process soak shares the heap of every suite before it; `bench soak` measures the real agent process.
  const soakSeconds = Number(process.env.BENCH_SOAK_S ?? 0);
  const server = await startServer();
  try {
    await rawRun(server.port, 200); // warm-up
    await driverRun(server.port, 200);
    cpuUs.driver.length = 0;
    cpuUs.raw.length = 0;
    const r = await alternate(
      rounds,
      () => driverRun(server.port, count),
      () => rawRun(server.port, count),
    );
    const results: BenchResult[] = [
      {
        name: 'modbus TCP read 10 holding registers through the driver',
        unit: 'transactions/s',
        value: r.agent,
        baselineName: 'raw modbus-serial client loop',
        baseline: r.baseline,
        target: '>= 95 % of baseline',
        notes: `${rounds} rounds × ${count} sequential transactions, server: ${server.name}; runs driver ${r.agentRuns.map(Math.round).join('/')}, raw ${r.baselineRuns.map(Math.round).join('/')}`,
      },
      {
        name: 'modbus TCP read, CPU of the client process per transaction (driver)',
        unit: 'µs',
        value: median(cpuUs.driver),
        baselineName: 'raw modbus-serial client loop',
        baseline: median(cpuUs.raw),
        target: "repeatable under load, unlike throughput: the driver's own cost per poll",
        notes: `runs driver ${cpuUs.driver.map((v) => v.toFixed(1)).join('/')}, raw ${cpuUs.raw.map((v) => v.toFixed(1)).join('/')}`,
      },
    ];
    if (soakSeconds > 0) results.push(await soak(server.port, soakSeconds));
    return results;
  } finally {
    await server.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const results = await run();
  for (const r of results) console.log(formatResult(r));
}
