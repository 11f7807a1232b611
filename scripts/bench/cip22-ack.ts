/**
 * CIP-22 STATUS → ACK latency, client side, with 1 and 50 sealed piles: each pile sends a
 * STATUS, waits for its ACK (the gateway ACKs once the frame is committed to the SQLite
 * outbox, synchronous=FULL), pauses, repeats. Beside it in the same run: a plain TLS 1.3
 * echo round trip on as many sockets at the same pace, and the gateway with the store's
 * old fixed 50 ms group-commit window (the before figure; with BENCH_CIP22_BEFORE, that
 * build instead). The 50 piles run a second time with the agent busy with telemetry
 * (5,000 records/s into the same outbox). Part of the cip22 suite; alone:
 * `npm run bench -- cip22-ack`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchRounds, type BenchResult, formatResult, median } from './common.js';
import { type BenchPki, benchPki } from './cip22-pki.js';
import { BEFORE_AGENT, connectAll, pile, plainConnect, startAgent } from './cip22.js';
import { type Percentiles, percentiles } from './commit.js';

const ROUNDS = benchRounds(3);
const SECONDS = Number(process.env.BENCH_CIP22_ACK_SECONDS ?? 3);
const PILE_COUNTS = [1, 50];
/** Piles, and records appended every 10 ms beside them. */
const SCENARIOS = [
  { n: 1, perTick: 0 },
  { n: 50, perTick: 0 },
  { n: 50, perTick: 50 },
];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Each of the n clients: round trip, pause gapMs, repeat until the end; start times spread over a gap. */
async function paced(n: number, roundTrips: ((i: number) => Promise<void>)[]): Promise<number[]> {
  const gapMs = n === 1 ? 20 : 100;
  const end = performance.now() + SECONDS * 1000;
  const lat: number[] = [];
  await Promise.all(
    roundTrips.map(async (trip, i) => {
      await sleep((i * gapMs) / n);
      for (let k = 0; performance.now() < end; k++) {
        const t = performance.now();
        await trip(k);
        lat.push(performance.now() - t);
        await sleep(gapMs);
      }
    }),
  );
  return lat;
}

async function gatewayRound(
  pki: BenchPki,
  n: number,
  round: number,
  maxLatencyMs?: number,
  script?: string,
  telemetryPerTick = 0,
): Promise<number[]> {
  const store = { ...(maxLatencyMs === undefined ? {} : { maxLatencyMs }), telemetryPerTick };
  const agent = await startAgent(pki, 'gateway', round, store, script);
  try {
    const piles = await connectAll(n, async (i) => {
      const p = pile(pki, i, agent.port);
      await p.connect();
      return p;
    });
    try {
      return await paced(
        n,
        piles.map(
          (p, i) => (k: number) =>
            new Promise<void>((resolve) => {
              let seq = -1;
              const off = p.onFrame((m) => {
                if (m.type === 'ACK' && m.msgSeq === seq) {
                  off();
                  resolve();
                }
              });
              seq = p.send({ type: 'STATUS', state: 0, voltageMv: 48_000, energyWh: i * 1000 + k });
            }),
        ),
      );
    } finally {
      for (const p of piles) p.close();
    }
  } finally {
    await agent.stop();
  }
}

async function plainRound(pki: BenchPki, n: number, round: number): Promise<number[]> {
  const agent = await startAgent(pki, 'plain', round);
  try {
    const sockets = await connectAll(n, () => plainConnect(pki, agent.port));
    try {
      return await paced(
        n,
        sockets.map(
          (s) => () =>
            new Promise<void>((resolve) => {
              s.once('data', () => resolve());
              s.write('STATUS');
            }),
        ),
      );
    } finally {
      for (const s of sockets) s.destroy();
    }
  } finally {
    await agent.stop();
  }
}

export async function ackResults(pki: BenchPki): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  let round = 1000;
  for (const { n, perTick } of SCENARIOS) {
    const runs = {
      now: [] as Percentiles[],
      before: [] as Percentiles[],
      plain: [] as Percentiles[],
      build: [] as Percentiles[],
    };
    for (let r = 0; r < ROUNDS; r++) {
      runs.plain.push(percentiles(await plainRound(pki, n, ++round)));
      const now = async (): Promise<void> =>
        void runs.now.push(percentiles(await gatewayRound(pki, n, ++round, undefined, undefined, perTick)));
      const build = async (): Promise<void> =>
        void runs.build.push(
          percentiles(await gatewayRound(pki, n, ++round, undefined, BEFORE_AGENT, perTick)),
        );
      // Alternating which goes first, so a burst of load on the box hits both alike.
      const order = BEFORE_AGENT ? (r % 2 === 0 ? [now, build] : [build, now]) : [now];
      for (const go of order) await go();
      if (!BEFORE_AGENT) runs.before.push(percentiles(await gatewayRound(pki, n, ++round, 50)));
    }
    const med = (xs: Percentiles[], q: keyof Percentiles): number => median(xs.map((x) => x[q]));
    for (const q of ['p50', 'p99'] as const) {
      out.push({
        name: `CIP-22 STATUS → ACK ${q}, ${n} pile${n > 1 ? 's' : ''}${perTick > 0 ? `, agent busy with ${perTick * 100} telemetry records/s` : ''}, adaptive group commit (SQLite, synchronous=FULL)`,
        unit: 'ms',
        value: med(runs.now, q),
        baselineName: `plain TLS 1.3 echo round trip, ${n} socket${n > 1 ? 's' : ''}, same pace`,
        baseline: med(runs.plain, q),
        target: q === 'p99' ? 'p99 <= 10 ms' : undefined,
        notes: `${runs.before.length > 0 ? `before (fixed 50 ms window): ${med(runs.before, q).toFixed(2)} ms; ` : ''}per round ${runs.now.map((x) => x[q].toFixed(1)).join(', ')} ms${
          runs.build.length > 0
            ? `; BENCH_CIP22_BEFORE build, same rounds: ${med(runs.build, q).toFixed(2)} ms (per round ${runs.build.map((x) => x[q].toFixed(1)).join(', ')})`
            : ''
        }`,
      });
    }
  }
  return out;
}

export async function run(): Promise<BenchResult[]> {
  const pki = benchPki(Math.max(...PILE_COUNTS));
  writeFileSync(join(pki.dir, 'server-chain.pem'), pki.serverChain);
  try {
    return await ackResults(pki);
  } finally {
    pki.remove();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await run()) console.log(formatResult(r));
}
