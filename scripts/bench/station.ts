/**
 * A whole station on a Pi's CPU budget (issue 16 item 5), `npm run bench -- station`: the
 * station of station-run.ts (100 Modbus devices × 50 tags at 1 Hz, half through DTU links,
 * an S7 PLC with 500 tags, 50 CIP-22 piles at 1 Hz, the forwarder into mosquitto), the
 * agent alone in a cgroup v1 of 25 % of one core and 128 MB, for 10 minutes, once with the
 * issue's CFS period of 100 ms (quota 25 ms) and once with a period of 10 ms (quota 2.5 ms:
 * the same budget with finer throttling, closer to a slower CPU that never stops).
 *
 * Options: `--seconds=N` (measured seconds per run, after a warm-up of min(30, N/5) s;
 * default 600; BENCH_STATION_S), `--period-ms=100|10` (one period only), `--headroom`
 * (instead: search the largest Modbus device count, 50 tags each, that still keeps up, at
 * the period given, default 100 ms, with runs of `--seconds`, default 60).
 *
 * "Keeps up": poll start lateness p99 ≤ 50 ms (the agent's own histogram of how late each
 * poll started after its slot), CIP-22 STATUS → ACK p99 ≤ 50 ms (client side), outbox
 * depth bounded and ≥ 99 % of the polls due done. Prints the host load average beside
 * every figure: the quota is a cap, not a guarantee, on a shared box; the agent's and the
 * peers' CFS weights (station-probes.ts) make it nearer one.
 * Needs root and a writable cgroup v1 hierarchy; skips with the reason otherwise.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchResult } from './common.js';
import { CPU_QUOTA, DTUS, MEMORY_MB, NODE_FLAGS, PILES, S7_TAGS, TAGS, runStation } from './station-run.js';
import { AGENT_SHARES, PEER_SHARES } from './station-probes.js';
import type { StationRun } from './station-sample.js';

const DEVICES = 100;
const GOAL_MS = 50;

function option(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

function seconds(fallback: number): number {
  return Number(option('seconds') ?? option('duration') ?? process.env.BENCH_STATION_S ?? fallback);
}

const warmup = (s: number): number => Math.min(30, Math.max(10, s / 5));
/** STATION_SPREAD=0|1 and STATION_SLOTS=n set agent.pollSpread and pollSpreadSlots (else the agent's defaults). */
const layout = (): { spread?: boolean; slots?: number } => ({
  ...(process.env.STATION_SPREAD === undefined ? {} : { spread: process.env.STATION_SPREAD !== '0' }),
  ...(process.env.STATION_SLOTS === undefined ? {} : { slots: Number(process.env.STATION_SLOTS) }),
});

const f = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : String(n));

/** The host and the cgroup beside every figure. */
function context(r: StationRun): string {
  const t = r.throttle;
  return (
    `host load ${f(r.load[0], 2)}→${f(r.load[1], 2)} (2 cores; cpu.shares agent ${AGENT_SHARES}, peers ${PEER_SHARES}); throttled in ` +
    `${f((100 * t.throttled) / Math.max(1, t.periods))} % of ${t.periods} periods (${f(t.throttledS)} s)`
  );
}

function label(r: StationRun): string {
  return `[CFS period ${r.periodMs} ms, quota ${(CPU_QUOTA * r.periodMs).toFixed(1)} ms]`;
}

function results(r: StationRun): BenchResult[] {
  const station = `${r.devices} Modbus devices × ${TAGS} tags @ 1 Hz (${Math.ceil(r.devices / 2)} TCP, ${Math.floor(r.devices / 2)} via ${DTUS} DTUs) + S7 ${S7_TAGS} tags + ${PILES} CIP-22 piles @ 1 Hz → mosquitto`;
  const budgetPct = CPU_QUOTA * 100;
  return [
    {
      name: `station ${label(r)} CPU, ${station}, ${Math.round(r.elapsedS)} s in a ${budgetPct} %-of-a-core, ${MEMORY_MB} MB cgroup`,
      unit: '% of one core',
      value: r.cpuPct,
      baselineName: 'the cgroup CPU budget',
      baseline: budgetPct,
      target: 'keeps up within the budget',
      notes: `${r.keepsUp ? 'KEEPS UP' : `DOES NOT KEEP UP (${r.why.join(', ')})`}; ${f(r.tagsPerS, 0)} tags/s polled (${f(100 * r.pollsRatio)} % of the polls due); ${context(r)}; GC pauses ${f(r.gc.s)} s in all (wall time, so with any throttling or host wait inside them; ${f(r.gc.pctOfCpu)} % of the CPU time if none), ${r.gc.n} pauses, ${r.gc.over10ms} over 10 ms, ${r.gc.over100ms} over 100 ms; event-loop delay max ${f(r.loop.maxMs, 0)} ms, p99 per 10 s median ${f(r.loop.p99MedianMs)} ms; node ${NODE_FLAGS.join(' ')}`,
    },
    {
      name: `station ${label(r)} poll start lateness p99 (after its slot, the agent's histogram)`,
      unit: 'ms',
      value: r.late.p99,
      baselineName: 'goal',
      baseline: GOAL_MS,
      target: `p99 <= ${GOAL_MS} ms`,
      notes: `p50 ${f(r.late.p50)} ms; ${r.late.n} polls, ${r.late.overGoal} later than ${GOAL_MS} ms; interpolated within buckets (5 ms wide at 10–30 ms, 10 ms at 30–60 ms); ${context(r)}`,
    },
    {
      name: `station ${label(r)} CIP-22 STATUS → ACK p99 (client side)`,
      unit: 'ms',
      value: r.ack.p99,
      baselineName: 'goal',
      baseline: GOAL_MS,
      target: `p99 <= ${GOAL_MS} ms`,
      notes:
        `p50 ${f(r.ack.p50)} ms; ${r.ack.n} ACKs (expected ~${Math.round(PILES * r.elapsedS)}); the peers' own ` +
        `event-loop delay (piles and simulators share one process) p99 ${f(r.ack.peerLoopP99Ms)} ms, max ` +
        `${f(r.ack.peerLoopMaxMs)} ms; ${r.ack.slow} ACKs over 50 ms, ${r.ack.slowNearGc} of them sent within the ` +
        `second before one of the agent's ${r.ack.majorGcs} major GCs ended (longest pause ${f(r.ack.majorPauseMaxMs)} ms ` +
        `wall; ${f((100 * r.ack.allNearGc) / Math.max(1, r.ack.n))} % of all ACKs were sent in those seconds); ${context(r)}`,
    },
    {
      name: `station ${label(r)} outbox depth (rows, sampled every 10 s)`,
      unit: 'rows',
      value: r.rows.max,
      baselineName: 'median over the run',
      baseline: r.rows.median,
      target: 'bounded',
      notes: `${r.rows.bounded ? 'bounded' : 'GROWING'}; ${r.rows.series}`,
    },
    {
      name: `station ${label(r)} agent RSS, end of run`,
      unit: 'MB',
      value: r.rss.end,
      baselineName: 'after warm-up',
      baseline: r.rss.start,
      target: `flat, under the ${MEMORY_MB} MB cgroup`,
      notes: `max ${f(r.rss.max)} MB; memory cgroup max usage (RSS + page cache) ${f(r.memMaxMb)} MB`,
    },
  ];
}

const keepsUpLine = (r: StationRun): string =>
  `  ${String(r.devices).padStart(5)} devices (${r.devices * TAGS + S7_TAGS} tags/s): ${r.keepsUp ? 'keeps up' : `no (${r.why.join(', ')})`}; CPU ${f(r.cpuPct)} %, poll p99 ${f(r.late.p99)} ms, ACK p99 ${f(r.ack.p99)} ms, rows max ${r.rows.max}, RSS ${f(r.rss.end)} MB; ${context(r)}`;

/** One headroom step in a child process (station-step.ts); its stderr passes through. */
async function stationStep(devices: number, s: number, periodMs: number): Promise<StationRun> {
  const step = join(dirname(fileURLToPath(import.meta.url)), 'station-step.js');
  const child = spawn(
    process.execPath,
    [step, `--devices=${devices}`, `--seconds=${s}`, `--period-ms=${periodMs}`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const last = out.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !last.startsWith('{')) throw new Error(`step exited ${code}: ${last.slice(0, 200)}`);
  return JSON.parse(last) as StationRun;
}

/**
 * The largest device count that keeps up: doubling from 100 until a run fails (or from
 * 100 down when 100 fails), then bisection to within 10 % (or 10 devices). One run per
 * size: a size near the edge can go either way on a noisy host.
 */
async function headroom(periodMs: number, s: number): Promise<BenchResult[]> {
  const tried: StationRun[] = [];
  const attempt = async (devices: number): Promise<boolean> => {
    let run: StationRun;
    try {
      run = await stationStep(devices, s, periodMs);
    } catch (e) {
      console.log(`  ${devices} devices: failed (${(e as Error).message.split('\n')[0]})`);
      return false;
    }
    tried.push(run);
    console.log(keepsUpLine(run));
    return run.keepsUp;
  };
  let lo = 0;
  let hi = 0;
  if (await attempt(DEVICES)) {
    lo = DEVICES;
    for (let n = 2 * DEVICES; n <= 3200 && hi === 0; n *= 2) {
      if (await attempt(n)) lo = n;
      else hi = n;
    }
    if (hi === 0) hi = Infinity;
  } else hi = DEVICES;
  while (Number.isFinite(hi) && hi - lo > Math.max(10, lo / 10)) {
    const mid = Math.round((lo + hi) / 20) * 10;
    if (mid <= lo || mid >= hi) break;
    if (await attempt(mid)) lo = mid;
    else hi = mid;
  }
  const best = tried.filter((r) => r.devices === lo).at(-1);
  return [
    {
      name: `station headroom [CFS period ${periodMs} ms]: largest station that keeps up (searched: doubling from ${DEVICES} devices, then bisection, ${s} s runs; S7 ${S7_TAGS} tags and ${PILES} piles in every run)`,
      unit: 'Modbus tags/s',
      value: lo * TAGS,
      baselineName: `the issue's station (${DEVICES} devices × ${TAGS} tags)`,
      baseline: DEVICES * TAGS,
      notes: `${lo} devices keep up${Number.isFinite(hi) ? `, ${hi} do not` : ' (the largest tried)'}${best ? ` at ${f(best.cpuPct)} % CPU; ${context(best)}` : ''}; runs: ${tried.map((r) => `${r.devices}${r.keepsUp ? '✓' : '✗'}`).join(' ')}`,
    },
  ];
}

export async function run(): Promise<BenchResult[]> {
  if (process.getuid?.() !== 0) {
    console.log('station: skipped (needs root for the cgroup v1 CPU and memory limits)');
    return [];
  }
  const periods = option('period-ms') ? [Number(option('period-ms'))] : [100, 10];
  if (process.argv.includes('--headroom')) return headroom(periods[0]!, seconds(60));
  const s = seconds(600);
  const out: BenchResult[] = [];
  for (const periodMs of periods) {
    try {
      out.push(
        ...results(
          await runStation({ devices: DEVICES, seconds: s, warmupS: warmup(s), periodMs, ...layout() }),
        ),
      );
    } catch (e) {
      const message = (e as Error).message;
      if (/cgroup v1 .* not writable/.test(message)) {
        console.log(`station: skipped (${message})`);
        return [];
      }
      throw e;
    }
  }
  return out;
}
