/**
 * V8 flags measured, not guessed (issue 16 item 3): the RSS of the Modbus-only agent
 * (the imports suite's child: demo station config, modules on demand, after a full GC)
 * under each flag set, beside the flags it runs with in production, alternated rounds,
 * medians. RSS only: a flag that saves memory by giving up the JIT costs CPU, which this
 * suite does not measure (the station suite does, for the production flags).
 */
import { pathToFileURL } from 'node:url';
import { alternate, formatResult, type BenchResult } from './common.js';
import { PRODUCTION_FLAGS, agentRss } from './imports.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const VARIANTS: readonly (readonly string[])[] = [
  [],
  ['--max-semi-space-size=1'],
  ['--optimize-for-size'],
  [...PRODUCTION_FLAGS, '--max-old-space-size=32'],
  [...PRODUCTION_FLAGS, '--single-threaded-gc'],
  [...PRODUCTION_FLAGS, '--lite-mode'],
];

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const flags of VARIANTS) {
    const r = await alternate(
      ROUNDS,
      () => agentRss([], flags),
      () => agentRss([]),
    );
    results.push({
      name: `agent RSS, Modbus-only config, node ${flags.join(' ') || '(no flags)'}`,
      unit: 'MB',
      value: r.agent / 1e6,
      baselineName: `production flags ${PRODUCTION_FLAGS.join(' ')}`,
      baseline: r.baseline / 1e6,
      notes: `runs ${r.agentRuns.map((x) => (x / 1e6).toFixed(1)).join(', ')} MB vs ${r.baselineRuns.map((x) => (x / 1e6).toFixed(1)).join(', ')} MB`,
    });
  }
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run()) console.log(formatResult(r));
}
