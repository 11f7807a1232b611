/**
 * DTU benchmarks.
 * 1. Transactions/s reading one slave (10 holding registers per poll, sequential awaits)
 *    through a DTU link — DtuHub server link + Modbus family + device — vs the same reads
 *    done directly by a raw socket loop (write request, wait for the 25-byte answer) on
 *    the same responder. The responder is in-process and answers RTU frames at once, for
 *    both sides, so the comparison isolates our stack. Target ≥ 90 % of raw. A second
 *    figure compares with a raw modbus-serial loop (connectTelnet: RTU over TCP,
 *    how a transparent DTU is read without the hub) on the same responder.
 * 2. 200 registered DTU links idle with heartbeats (FE every BENCH_DTU_HB_MS, default
 *    1000 ms — 30× a typical DTU's rate): the agent process's RSS and CPU % over
 *    BENCH_DTU_IDLE_S seconds (default 20), vs the same process before the links. The DTU
 *    side runs in a child process so only the agent side is measured.
 * Env: BENCH_DTU_TX (transactions per round, default 3000), BENCH_ROUNDS (default 7),
 *      BENCH_DTU_LINKS (default 200).
 */
import { spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import modbusSerial from 'modbus-serial';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { modbusDeviceSchema } from '../../src/drivers/modbus/config.js';
import { dtuSchema } from '../../src/drivers/modbus/dtu/config.js';
import { DtuHub } from '../../src/drivers/modbus/dtu/hub.js';
import { createModbusFamily } from '../../src/drivers/modbus/family.js';
import { buildReadRequest } from '../../src/drivers/modbus/rtu/frame.js';
import {
  benchRounds,
  alternate,
  formatResult,
  median,
  pairedRatio,
  type BenchResult,
  envCount,
  envNumber,
} from './common.js';
import { answerReadHolding } from './station-probes.js';

const TX = envCount('BENCH_DTU_TX', 3000);
const ROUNDS = benchRounds(7);
const IDLE_S = envNumber('BENCH_DTU_IDLE_S', 20, 1);
const LINKS = envCount('BENCH_DTU_LINKS', 200);
const HB_MS = envCount('BENCH_DTU_HB_MS', 1000, 10);

/** Answers every complete 8-byte read-holding request at once (register i = address + i). */
function responder(socket: Socket): void {
  socket.setNoDelay(true);
  let buf: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = answerReadHolding(buf.length ? Buffer.concat([buf, chunk]) : chunk, (f) => socket.write(f));
  });
  socket.on('error', () => undefined);
}

async function throughput(): Promise<BenchResult[]> {
  // --- DTU path: the responder dials the hub and registers
  const hub = new DtuHub(
    dtuSchema.parse({
      server: { host: '127.0.0.1', port: 0 },
      links: [
        { name: 'bench', mode: 'server', registration: { ascii: 'DTU-BENCH' }, heartbeat: { hex: 'FE' } },
      ],
    }),
    { clock: systemClock, logger: silentLogger, random: Math.random },
  );
  await hub.start();
  const dtuSide = connect({ host: '127.0.0.1', port: hub.address()!.port });
  await new Promise((r) => dtuSide.once('connect', r));
  dtuSide.write('DTU-BENCH');
  responder(dtuSide);
  while (!hub.status().bench!.up) await new Promise((r) => setTimeout(r, 5));
  const fam = createModbusFamily(
    { clock: systemClock, logger: silentLogger, random: Math.random },
    { dtu: hub },
  );
  const device = fam.create(
    modbusDeviceSchema.parse({
      name: 'bench',
      driver: 'modbus',
      connection: { transport: 'dtu', dtu: 'bench' },
      unitId: 1,
      timeoutMs: 1000,
      tags: Array.from({ length: 10 }, (_, i) => ({ name: `r${i}`, function: 'holding', address: i })),
    }),
  );
  device.init();
  await device.start();
  const names = Array.from({ length: 10 }, (_, i) => `r${i}`);

  // --- direct path: a raw socket loop on the same responder
  const server = createServer(responder);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const raw = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
  raw.setNoDelay(true);
  await new Promise((r) => raw.once('connect', r));
  let rawBuf: Buffer = Buffer.alloc(0);
  let rawWaiter: (() => void) | undefined;
  raw.on('data', (chunk: Buffer) => {
    rawBuf = rawBuf.length ? Buffer.concat([rawBuf, chunk]) : chunk;
    if (rawBuf.length >= 25) rawWaiter?.();
  });
  const rawRead = (): Promise<number[]> =>
    new Promise((resolve) => {
      rawWaiter = () => {
        rawWaiter = undefined;
        const frame = rawBuf.subarray(0, 25);
        rawBuf = rawBuf.subarray(25);
        resolve(Array.from({ length: 10 }, (_, i) => frame.readUInt16BE(3 + 2 * i)));
      };
      raw.write(buildReadRequest(1, 3, 0, 10));
    });

  // CPU µs per transaction of this process (responder included, alike for both sides)
  const cpu = { dtu: [] as number[], direct: [] as number[] };
  const cpuPerTx = (since: NodeJS.CpuUsage): number => {
    const c = process.cpuUsage(since);
    return (c.user + c.system) / TX;
  };
  const viaDtu = async (): Promise<number> => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < TX; i++) {
      const v = await device.poll(names);
      if (v[9]!.quality !== 'good' || v[9]!.value !== 9) throw new Error(`bad read ${JSON.stringify(v[9])}`);
    }
    const rate = TX / ((performance.now() - t0) / 1000);
    cpu.dtu.push(cpuPerTx(c0));
    return rate;
  };
  const direct = async (): Promise<number> => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < TX; i++) {
      const v = await rawRead();
      if (v[9] !== 9) throw new Error('bad raw read');
    }
    const rate = TX / ((performance.now() - t0) / 1000);
    cpu.direct.push(cpuPerTx(c0));
    return rate;
  };
  const ModbusRTU = modbusSerial.default;
  const ms = new ModbusRTU();
  await ms.connectTelnet('127.0.0.1', { port: (server.address() as { port: number }).port });
  ms.setID(1);
  ms.setTimeout(1000);
  const viaModbusSerial = async (): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < TX; i++) {
      const r = await ms.readHoldingRegisters(0, 10);
      if (r.data[9] !== 9) throw new Error('bad modbus-serial read');
    }
    return TX / ((performance.now() - t0) / 1000);
  };
  await viaDtu();
  await direct();
  await viaModbusSerial();
  cpu.dtu.length = 0;
  cpu.direct.length = 0;
  const load0 = loadavg()[0]!;
  const res = await alternate(ROUNDS, viaDtu, direct);
  const load = `load average ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}`;
  const cpuDtu = cpu.dtu.slice(0, ROUNDS);
  const res2 = await alternate(ROUNDS, viaDtu, viaModbusSerial);
  await new Promise<void>((r) => ms.close(() => r()));
  raw.destroy();
  await new Promise((r2) => server.close(() => r2(undefined)));
  await fam.close();
  dtuSide.destroy();
  await hub.stop();
  return [
    {
      name: 'DTU link: Modbus RTU reads through DtuHub + driver (10 holding regs/poll)',
      unit: 'tx/s',
      value: res.agent,
      baselineName: 'raw socket loop, same in-process responder',
      baseline: res.baseline,
      target: '>= 90 % of baseline',
      notes:
        `${ROUNDS} rounds × ${TX} tx; median of per-round ratios ${pairedRatio(res.agentRuns, res.baselineRuns).toFixed(1)} %; ` +
        `runs agent ${res.agentRuns.map(Math.round).join('/')}, raw ${res.baselineRuns.map(Math.round).join('/')}; ${load}`,
    },
    {
      name: 'DTU link: CPU of the process per transaction (hub + driver + responder)',
      unit: 'µs',
      value: median(cpuDtu),
      baselineName: 'raw socket loop + the same responder',
      baseline: median(cpu.direct),
      target: 'repeatable under load, unlike throughput: what the hub and driver cost per read',
      notes: `runs DTU ${cpuDtu.map((v) => v.toFixed(1)).join('/')}, raw ${cpu.direct.map((v) => v.toFixed(1)).join('/')}`,
    },
    {
      name: 'DTU link: Modbus RTU reads through DtuHub + driver (10 holding regs/poll)',
      unit: 'tx/s',
      value: res2.agent,
      baselineName: 'raw modbus-serial loop (connectTelnet), same responder',
      baseline: res2.baseline,
      target: '>= 90 % of baseline',
      notes: `runs agent ${res2.agentRuns.map(Math.round).join('/')}, modbus-serial ${res2.baselineRuns.map(Math.round).join('/')}`,
    },
  ];
}

/** The DTU side of the idle test, in a child process: LINKS sockets, registration, heartbeats. */
const CHILD = `
import { connect } from 'node:net';
const [port, links, hbMs] = process.argv.slice(1).map(Number);
const sockets = [];
for (let i = 0; i < links; i++) {
  const s = connect({ host: '127.0.0.1', port });
  s.on('error', () => undefined);
  s.once('connect', () => s.write('DTU-' + String(i).padStart(4, '0')));
  sockets.push(s);
}
// heartbeats spread over the period
sockets.forEach((s, i) => setTimeout(() => setInterval(() => s.write(Buffer.of(0xfe)), hbMs), (i * hbMs) / links));
process.stdin.on('data', () => undefined);
process.stdin.on('end', () => process.exit(0));
`;

interface Usage {
  cpuPct: number;
  rssMb: number;
  heapMb: number;
}

async function measure(seconds: number): Promise<Usage> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const rss: number[] = [];
  const heap: number[] = [];
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    await new Promise((r) => setTimeout(r, 500));
    const m = process.memoryUsage();
    rss.push(m.rss / 2 ** 20);
    heap.push(m.heapUsed / 2 ** 20);
  }
  const c = process.cpuUsage(c0);
  const elapsed = (performance.now() - t0) * 1000; // µs
  return { cpuPct: ((c.user + c.system) / elapsed) * 100, rssMb: median(rss), heapMb: median(heap) };
}

async function idleLinks(): Promise<BenchResult[]> {
  const links = Array.from({ length: LINKS }, (_, i) => ({
    name: `dtu-${i}`,
    mode: 'server' as const,
    registration: { ascii: `DTU-${String(i).padStart(4, '0')}` },
    heartbeat: { hex: 'FE' },
    heartbeatIntervalMs: HB_MS,
    missedHeartbeats: 3,
  }));
  const hub = new DtuHub(
    dtuSchema.parse({ server: { host: '127.0.0.1', port: 0, maxLinks: LINKS + 10 }, links }),
    {
      clock: systemClock,
      logger: silentLogger,
      random: Math.random,
    },
  );
  await hub.start();
  // a family with a device on every link, not polling (as in an agent between polls)
  const fam = createModbusFamily(
    { clock: systemClock, logger: silentLogger, random: Math.random },
    { dtu: hub },
  );
  for (const l of links) {
    const d = fam.create(
      modbusDeviceSchema.parse({
        name: l.name,
        driver: 'modbus',
        connection: { transport: 'dtu', dtu: l.name },
        tags: [{ name: 'v', function: 'holding', address: 0 }],
      }),
    );
    d.init();
    await d.start();
  }
  global.gc?.();
  const before = await measure(IDLE_S);
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', CHILD, String(hub.address()!.port), String(LINKS), String(HB_MS)],
    {
      stdio: ['pipe', 'ignore', 'inherit'],
    },
  );
  const deadline = Date.now() + 30_000;
  while (Object.values(hub.status()).filter((s) => s.up).length < LINKS) {
    if (Date.now() > deadline) throw new Error('links did not all register');
    await new Promise((r) => setTimeout(r, 50));
  }
  const during = await measure(IDLE_S);
  const st = Object.values(hub.status());
  const up = st.filter((s) => s.up).length;
  const heartbeats = st.reduce((n, s) => n + s.heartbeats, 0);
  const closes = st.reduce((n, s) => n + s.livenessCloses, 0);
  child.stdin.end();
  await new Promise((r) => child.once('exit', r));
  await fam.close();
  await hub.stop();
  const notes = `${up}/${LINKS} links up at the end, ${heartbeats} heartbeats, ${closes} liveness closes; heartbeat every ${HB_MS} ms per link; ${IDLE_S} s windows; heap ${before.heapMb.toFixed(1)} → ${during.heapMb.toFixed(1)} MB`;
  return [
    {
      name: `DTU: ${LINKS} idle links with heartbeats, agent RSS`,
      unit: 'MB',
      value: during.rssMb,
      baselineName: 'same process before the links',
      baseline: before.rssMb,
      notes,
    },
    {
      name: `DTU: ${LINKS} idle links with heartbeats, agent CPU`,
      unit: '%',
      value: during.cpuPct,
      baselineName: 'same process before the links',
      baseline: before.cpuPct,
    },
  ];
}

export async function run(): Promise<BenchResult[]> {
  // idle links first: the baseline RSS is then not inflated by the throughput rounds
  const idle = IDLE_S > 0 ? await idleLinks() : [];
  return [...(await throughput()), ...idle];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run()
    .then((rs) => rs.forEach((r) => console.log(formatResult(r))))
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    });
}
