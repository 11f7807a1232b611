/**
 * `npm run bench`: every figure beside a baseline measured in the same run, as a ratio,
 * medians of repeated rounds (the box is 2 cores and noisy). Select with
 * `npm run bench -- outbox drain poll`; `station` is not in the default set (minutes long,
 * needs root for its cgroups): `npm run bench -- station [--seconds=600] [--period-ms=100|10] [--headroom]`.
 */
import { formatResult, type BenchResult } from './common.js';

const SUITES: Record<string, () => Promise<{ run(): Promise<BenchResult[]> }>> = {
  outbox: () => import('./outbox.js'),
  drain: () => import('./drain.js'),
  poll: () => import('./poll.js'),
  soak: () => import('./soak.js'),
  dtu: () => import('./dtu.js'),
  sm4: () => import('./sm4.js'),
  s7: () => import('./s7.js'),
  cip22: () => import('./cip22.js'),
  'cip22-handshake': () => import('./cip22-handshake.js'),
  'cip22-ack': () => import('./cip22-ack.js'),
  commit: () => import('./commit.js'),
  imports: () => import('./imports.js'),
  mem: () => import('./mem.js'),
  station: () => import('./station.js'),
  'v8-flags': () => import('./v8-flags.js'),
  uplink: () => import('./uplink.js'),
  page: () => import('./page.js'),
  reload: () => import('./reload.js'),
};

async function main(): Promise<void> {
  // Options (--seconds=600) are read by the suites themselves.
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const names = wanted.length > 0 ? wanted : Object.keys(SUITES).filter((n) => n !== 'station');
  console.log(
    `edge-agent benchmarks — node ${process.version}, ${process.arch}, ${new Date().toISOString()}`,
  );
  for (const name of names) {
    const load = SUITES[name];
    if (!load) throw new Error(`unknown bench "${name}" (known: ${Object.keys(SUITES).join(', ')})`);
    console.log(`\n== ${name}`);
    const results = await (await load()).run();
    for (const result of results) console.log(formatResult(result));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
