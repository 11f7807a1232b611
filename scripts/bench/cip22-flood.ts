/**
 * Event-loop lag of the gateway while 20 clients send forged SM2 chains (each a ~17 ms
 * pure-JS verification): with the worker pool (verify.workers 1) vs the same flood
 * verified on the event loop (workers 0), alternating rounds, p99 of
 * perf_hooks.monitorEventLoopDelay from the first refusal to the FLOOD_FORGED-th. This
 * was a timed test (p99 < 50 ms) that failed under load; the test now checks where the
 * verifications run (test/cip22/gateway-cpu.test.ts) and the lag is this figure.
 * Env: BENCH_ROUNDS, BENCH_CIP22_FLOOD_FORGED (chains per round, default 120).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { FLOOD_CLIENTS, forgedFlood } from '../../test/cip22/forged-flood.js';
import { alternate, type BenchResult, envCount } from './common.js';

const FORGED = envCount('BENCH_CIP22_FLOOD_FORGED', 120);

async function lagRound(workers: number): Promise<{ p99: number; max: number }> {
  const { result } = await forgedFlood(workers, FORGED, () => {
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    return {
      stop: () => {
        h.disable();
        return { p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
      },
    };
  });
  return result;
}

export async function floodLag(rounds: number): Promise<BenchResult> {
  const pool: { p99: number; max: number }[] = [];
  const inline: { p99: number; max: number }[] = [];
  const r = await alternate(
    rounds,
    async () => (pool.push(await lagRound(1)), pool.at(-1)!.p99),
    async () => (inline.push(await lagRound(0)), inline.at(-1)!.p99),
  );
  const fmt = (xs: { p99: number; max: number }[]): string =>
    xs.map((x) => `${x.p99.toFixed(1)}/${x.max.toFixed(0)}`).join(', ');
  return {
    name: `CIP-22 gateway event-loop lag p99, ${FLOOD_CLIENTS} clients flooding forged SM2 chains (verify worker pool)`,
    unit: 'ms',
    value: r.agent,
    baselineName: 'the same flood verified on the event loop (verify.workers 0)',
    baseline: r.baseline,
    target: 'p99 < 50 ms (was a timed test)',
    notes: `p99/max per round: pool ${fmt(pool)} ms; inline ${fmt(inline)} ms; ${FORGED} chains refused per round`,
  };
}
