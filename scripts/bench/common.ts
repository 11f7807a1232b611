/** Shared benchmark plumbing: medians of repeated runs, each figure beside its baseline. */
export interface BenchResult {
  readonly name: string;
  readonly unit: string;
  /** Median of the agent's runs. */
  readonly value: number;
  readonly baselineName: string;
  /** Median of the baseline's runs, measured in the same process run. */
  readonly baseline: number;
  /** Optional target, e.g. '>= 200000 records/s and >= 80 % of baseline'. */
  readonly target?: string;
  readonly notes?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** `env[name]` as a number that passes `ok`, `fallback` when unset; else an error naming the variable. */
function envChecked(
  name: string,
  fallback: number,
  env: Env,
  ok: (n: number) => boolean,
  expected: string,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!ok(n)) throw new Error(`${name}=${JSON.stringify(raw)}: expected ${expected}`);
  return n;
}

/**
 * A count from the environment (`BENCH_ROUNDS` and the like), checked: an integer >= `min`.
 * Zero rounds would leave nothing to take a median of, so it is refused by name here
 * rather than crash later on an empty list.
 */
export function envCount(name: string, fallback: number, min = 1, env: Env = process.env): number {
  return envChecked(name, fallback, env, (n) => Number.isInteger(n) && n >= min, `an integer >= ${min}`);
}

/** A number from the environment (seconds, bytes), checked: finite and >= `min`. */
export function envNumber(name: string, fallback: number, min = 0, env: Env = process.env): number {
  return envChecked(name, fallback, env, (n) => Number.isFinite(n) && n >= min, `a number >= ${min}`);
}

/** BENCH_ROUNDS, checked (>= 1); `fallback` when unset. */
export function benchRounds(fallback: number): number {
  return envCount('BENCH_ROUNDS', fallback);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values (zero rounds?)');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Runs agent and baseline alternately (so noise hits both alike) and returns medians. */
export async function alternate(
  rounds: number,
  agent: () => Promise<number> | number,
  baseline: () => Promise<number> | number,
): Promise<{ agent: number; baseline: number; agentRuns: number[]; baselineRuns: number[] }> {
  const agentRuns: number[] = [];
  const baselineRuns: number[] = [];
  for (let i = 0; i < rounds; i++) {
    baselineRuns.push(await baseline());
    agentRuns.push(await agent());
  }
  return { agent: median(agentRuns), baseline: median(baselineRuns), agentRuns, baselineRuns };
}

export function formatResult(r: BenchResult): string {
  const ratio = r.baseline > 0 ? (r.value / r.baseline) * 100 : NaN;
  const fmt = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));
  return [
    `${r.name}: ${fmt(r.value)} ${r.unit} (median)`,
    `  baseline ${r.baselineName}: ${fmt(r.baseline)} ${r.unit}`,
    `  ratio: ${ratio.toFixed(1)} %${r.target ? `   target: ${r.target}` : ''}`,
    ...(r.notes ? [`  ${r.notes}`] : []),
  ].join('\n');
}

/**
 * Median of the per-round ratios agent/baseline (%), rounds paired as `alternate` ran
 * them: a round slowed by load slows both of its runs, so this holds where the ratio
 * of the two medians can swing.
 */
export function pairedRatio(agentRuns: readonly number[], baselineRuns: readonly number[]): number {
  const n = Math.min(agentRuns.length, baselineRuns.length);
  return median(Array.from({ length: n }, (_, i) => (agentRuns[i]! / baselineRuns[i]!) * 100));
}
