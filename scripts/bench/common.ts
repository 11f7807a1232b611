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

export function median(values: readonly number[]): number {
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
