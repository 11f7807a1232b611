/**
 * What the station bench reads from the agent while it runs (its /metrics every 10 s and
 * /proc), and the summary of one run: CPU, throttling, poll start lateness (the agent's
 * own histogram of how late each poll started after its slot), ACK latency, outbox depth,
 * RSS, GC pauses, event-loop delay, whether it kept up.
 */
import { POLL_LATE_BOUNDS_MS } from '../../src/core/schedule.js';
import type { Percentiles } from './commit.js';
import { median } from './common.js';
import { metrics, metricValues, procCpuMs, rssMb, type CpuStat } from './station-probes.js';

const GOAL_MS = 50;
const TAGS = 50;
const S7_TAGS = 500;

export interface AgentSample {
  readonly s: number;
  readonly cpuMs: number;
  readonly rssMb: number;
  readonly outboxRows: number;
  readonly polls: number;
  /** Cumulative poll start lateness counts per POLL_LATE_BOUNDS_MS bucket (the last: +Inf). */
  readonly late: number[];
  /** GC pauses: count, total seconds, and count of pauses over 10 ms / 100 ms. */
  readonly gc: { n: number; s: number; over10ms: number; over100ms: number };
  /** Event-loop delay since the previous scrape (prom-client resets it): max and p99, ms. */
  readonly loopMaxMs: number;
  readonly loopP99Ms: number;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** Sum over label sets of `name`{…le="<le>"…} (a histogram bucket). */
function bucket(text: string, name: string, le: string): number {
  const re = new RegExp(`^edge_${name}_bucket\\{[^}]*le="${le.replace('+', '\\+')}"[^}]*\\} (\\S+)$`, 'gm');
  return sum([...text.matchAll(re)].map((m) => Number(m[1])));
}

export async function agentSample(pid: number, httpPort: number, s: number): Promise<AgentSample> {
  const text = await metrics(httpPort);
  const les = [...POLL_LATE_BOUNDS_MS.map((b) => String(b / 1000)), '+Inf'];
  const gcN = sum(metricValues(text, 'nodejs_gc_duration_seconds_count'));
  return {
    s,
    cpuMs: procCpuMs(pid),
    rssMb: rssMb(pid),
    outboxRows: metricValues(text, 'outbox_rows')[0] ?? NaN,
    polls: sum(metricValues(text, 'polls_total')),
    late: les.map((le) => bucket(text, 'poll_start_late_seconds', le)),
    gc: {
      n: gcN,
      s: sum(metricValues(text, 'nodejs_gc_duration_seconds_sum')),
      over10ms: gcN - bucket(text, 'nodejs_gc_duration_seconds', '0.01'),
      over100ms: gcN - bucket(text, 'nodejs_gc_duration_seconds', '0.1'),
    },
    loopMaxMs: (metricValues(text, 'nodejs_eventloop_lag_max_seconds')[0] ?? NaN) * 1000,
    loopP99Ms: (metricValues(text, 'nodejs_eventloop_lag_p99_seconds')[0] ?? NaN) * 1000,
  };
}

/** Quantile `q` of a histogram (cumulative counts per upper bound, last +Inf), linear within a bucket. */
export function histogramQuantile(
  bounds: readonly number[],
  cumulative: readonly number[],
  q: number,
): number {
  const total = cumulative.at(-1) ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  for (let i = 0; i < cumulative.length; i++) {
    if (cumulative[i]! < rank) continue;
    if (i >= bounds.length) return Infinity;
    const lo = i === 0 ? 0 : bounds[i - 1]!;
    const below = i === 0 ? 0 : cumulative[i - 1]!;
    return lo + ((bounds[i]! - lo) * (rank - below)) / Math.max(1, cumulative[i]! - below);
  }
  return Infinity;
}

export interface StationRun {
  readonly devices: number;
  readonly periodMs: number;
  readonly elapsedS: number;
  readonly cpuPct: number;
  readonly throttle: CpuStat;
  readonly late: Percentiles & { n: number; overGoal: number };
  readonly ack: Percentiles & {
    n: number;
    peerLoopP99Ms: number;
    peerLoopMaxMs: number;
    /** ACKs over 50 ms, and those of them sent within the second before a major GC of the agent ended. */
    slow: number;
    slowNearGc: number;
    /** All ACKs sent in those seconds (what chance alone would put there). */
    allNearGc: number;
    majorGcs: number;
    majorPauseMaxMs: number;
  };
  readonly pollsRatio: number;
  readonly tagsPerS: number;
  readonly rows: { last: number; median: number; max: number; bounded: boolean; series: string };
  readonly rss: { start: number; end: number; max: number };
  readonly memMaxMb: number;
  readonly gc: AgentSample['gc'] & { pctOfCpu: number };
  readonly loop: { maxMs: number; p99MedianMs: number };
  readonly load: readonly [number, number];
  readonly keepsUp: boolean;
  readonly why: string[];
}

export function summarise(
  o: { devices: number; periodMs: number },
  samples: readonly AgentSample[],
  extra: { ack: StationRun['ack']; throttle: CpuStat; memMaxMb: number; load: [number, number] },
): StationRun {
  const first = samples[0]!;
  const last = samples.at(-1)!;
  const elapsedS = last.s - first.s;
  const cpuMs = last.cpuMs - first.cpuMs;
  const late = last.late.map((n, i) => n - first.late[i]!);
  const lateN = late.at(-1) ?? 0;
  const goalIndex = POLL_LATE_BOUNDS_MS.indexOf(GOAL_MS);
  const rows = samples.map((x) => x.outboxRows);
  const half = rows.slice(Math.floor(rows.length / 2));
  const bounded = Math.max(...half) <= Math.max(1000, 2 * median(rows));
  const polls = last.polls - first.polls;
  const pollsRatio = polls / ((o.devices + 1) * elapsedS);
  const every = Math.max(1, Math.floor(samples.length / 12));
  const gcS = last.gc.s - first.gc.s;
  const run = {
    devices: o.devices,
    periodMs: o.periodMs,
    elapsedS,
    cpuPct: (cpuMs / 1000 / elapsedS) * 100,
    throttle: extra.throttle,
    late: {
      p50: histogramQuantile(POLL_LATE_BOUNDS_MS, late, 0.5),
      p99: histogramQuantile(POLL_LATE_BOUNDS_MS, late, 0.99),
      n: lateN,
      overGoal: lateN - late[goalIndex]!,
    },
    ack: extra.ack,
    pollsRatio,
    tagsPerS: pollsRatio * (o.devices * TAGS + S7_TAGS),
    rows: {
      last: rows.at(-1) ?? NaN,
      median: median(rows),
      max: Math.max(...rows),
      bounded,
      series: samples
        .filter((_, i) => i % every === 0 || i === samples.length - 1)
        .map((x) => `${Math.round(x.s)}s:${x.outboxRows}`)
        .join(' '),
    },
    rss: { start: first.rssMb, end: last.rssMb, max: Math.max(...samples.map((x) => x.rssMb)) },
    memMaxMb: extra.memMaxMb,
    gc: {
      n: last.gc.n - first.gc.n,
      s: gcS,
      over10ms: last.gc.over10ms - first.gc.over10ms,
      over100ms: last.gc.over100ms - first.gc.over100ms,
      pctOfCpu: (gcS * 1000 * 100) / Math.max(1, cpuMs),
    },
    loop: {
      maxMs: Math.max(...samples.slice(1).map((x) => x.loopMaxMs)),
      p99MedianMs: median(samples.slice(1).map((x) => x.loopP99Ms)),
    },
    load: extra.load,
  };
  const why: string[] = [];
  if (!(run.late.p99 <= GOAL_MS)) why.push(`poll start p99 ${run.late.p99.toFixed(0)} ms`);
  if (!(run.ack.p99 <= GOAL_MS)) why.push(`ACK p99 ${run.ack.p99.toFixed(0)} ms`);
  if (!bounded) why.push('outbox growing');
  if (!(pollsRatio >= 0.99)) why.push(`${(pollsRatio * 100).toFixed(1)} % of the polls due`);
  return { ...run, keepsUp: why.length === 0, why };
}
