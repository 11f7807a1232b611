/**
 * V8 flags measured, not guessed (issue 16 item 3): the mem suite's station (the agent
 * polling 100 Modbus TCP devices × 50 tags at 1 Hz into mosquitto) under each flag set,
 * beside the production flags in the same round (rounds alternate: production, then every
 * variant), medians. Each flag set gets its RSS as it runs, its RSS and V8 heap after a
 * full GC, and its CPU (share of one core over the second half of the settle time): a flag
 * that saves memory by giving up the JIT costs CPU, and both are printed side by side.
 * BENCH_MEM_SETTLE_S (default 30) and BENCH_ROUNDS (default 3) size the run;
 * BENCH_V8_FLAGS='--a --b;--c' replaces the variants (flag sets separated by ';');
 * BENCH_V8_PARALLEL=1 runs each round's agents at the same time.
 */
import { pathToFileURL } from 'node:url';
import { benchRounds, formatResult, type BenchResult, envNumber } from './common.js';
import { PRODUCTION_FLAGS } from './imports.js';
import { STATION_NAME, figures, startStation, type Sample } from './mem.js';

const ROUNDS = benchRounds(3);
const SETTLE_S = envNumber('BENCH_MEM_SETTLE_S', 30, 1);
/** Runs a round's agents side by side (a long settle in half the time; both see the same load). */
const PARALLEL = process.env.BENCH_V8_PARALLEL === '1';

const DEFAULT_VARIANTS: readonly (readonly string[])[] = [
  [],
  [...PRODUCTION_FLAGS, '--lite-mode'],
  [...PRODUCTION_FLAGS, '--no-opt'],
  [...PRODUCTION_FLAGS, '--no-sparkplug'],
  [...PRODUCTION_FLAGS, '--max-old-space-size=48'],
  [...PRODUCTION_FLAGS, '--single-threaded'],
  [...PRODUCTION_FLAGS, '--bytecode-old-age=1'],
  [...PRODUCTION_FLAGS, '--stack-size=256'],
];

function variants(): readonly (readonly string[])[] {
  const given = process.env.BENCH_V8_FLAGS;
  if (given === undefined) return DEFAULT_VARIANTS;
  return given.split(';').map((set) => set.split(' ').filter((f) => f !== ''));
}

export async function run(): Promise<BenchResult[]> {
  const sets = variants();
  const station = await startStation(SETTLE_S);
  const production: Sample[] = [];
  const runs: Sample[][] = sets.map(() => []);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      if (PARALLEL) {
        const all = await Promise.all([
          station.sample(),
          ...sets.map((flags) => station.sample(undefined, flags)),
        ]);
        all.forEach((sample, i) => (i === 0 ? production : runs[i - 1])?.push(sample));
        continue;
      }
      production.push(await station.sample());
      for (const [i, flags] of sets.entries()) runs[i]?.push(await station.sample(undefined, flags));
    }
  } finally {
    await station.close();
  }
  const baselineName = `production flags ${PRODUCTION_FLAGS.join(' ')}`;
  return sets.flatMap((flags, i) => {
    const name = `${STATION_NAME}, ${SETTLE_S} s, node ${flags.join(' ') || '(no flags)'}`;
    return figures(name, runs[i] ?? [], production, baselineName, flags);
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run()) console.log(formatResult(r));
}
