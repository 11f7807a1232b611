/**
 * CIP-22 handshake bench (`npm run bench -- cip22-handshake`; also the first figures of
 * `cip22`). Sequential handshakes from one client to the gateway child process
 * (cip22-agent.ts), client-side latency from connect() to AUTH_OK, against plain TLS 1.3
 * connect + one echo round trip on the same certificates, alternated round by round:
 * - P-256 and SM2 piles, each at first contact (every pile new to a fresh gateway) and
 *   reconnecting (RECONNECT_PILES piles cycling: certificate cache hits).
 * - CPU per handshake (user + system) of the agent's process and of this client process,
 *   beside the plain TLS server's and client's: the latency is the client's work plus the
 *   gateway's, and the client's part (SM2 signing, ECDH) must not be taken for the agent's.
 * - The gateway's event loop: the longest synchronous turn during the handshakes
 *   (turn-probe.ts), in one extra round per case (the probe costs CPU per callback),
 *   beside the plain TLS server's. In those rounds the agent's main thread runs alone on
 *   CPU 0 (pin-threads.ts), so a turn's wall time is its own work, and V8's GC pauses
 *   inside a turn are reported apart from it.
 * Each agent first serves WARMUP handshakes of its own piles (worker start, JIT, lazy
 * imports: once per process, not per handshake), both sides alike.
 * Env: BENCH_ROUNDS (3), BENCH_CIP22_HANDSHAKES (200 per round and case),
 * BENCH_CIP22_BEFORE=<dist dir of another build, or its cip22-agent.js>: its gateway agent runs the same cases
 * in the same rounds (before/after in one run).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SimPile } from '../../src/cip22/sim/pile.js';
import { benchRounds, envCount, median, type BenchResult } from './common.js';
import { type BenchPile, type BenchPki, benchPki } from './cip22-pki.js';
import { BEFORE_AGENT, plainConnect, startAgent } from './cip22.js';
import type { TurnStats } from './turn-probe.js';
import { pinAgentMainThread, pinningUnavailable, type Pinning } from './pin-threads.js';

const ROUNDS = benchRounds(3);
const HANDSHAKES = envCount('BENCH_CIP22_HANDSHAKES', 200);
const BEFORE = BEFORE_AGENT;
const RECONNECT_PILES = 20;
const WARMUP = 10;
/** Why the probe rounds run unpinned (their wall times then include waiting for a CPU). */
const PIN_SKIP = pinningUnavailable();

type Alg = 'ecdsa-p256' | 'sm2';
interface Case {
  readonly label: string;
  readonly alg: Alg;
  readonly reconnect: boolean;
  /** Agent script of another build (BENCH_CIP22_BEFORE). */
  readonly agent?: string;
}

interface Round {
  readonly lat: number[];
  readonly turns: TurnStats | undefined;
  /** CPU per measured handshake (user + system), ms: the agent's process and this (client) process. */
  readonly serverCpuMs: number;
  readonly clientCpuMs: number;
}

function p99(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function simPile(pki: BenchPki, ca: Buffer, p: BenchPile, port: number): SimPile {
  return new SimPile({
    host: '127.0.0.1',
    port,
    ca: [ca],
    deviceId: p.deviceId,
    alg: p.alg,
    key: p.keyObject,
    certDer: p.certDer,
    issuerDer: p.alg === 'sm2' ? (pki.sm2IssuingDer as Buffer) : pki.issuingDer,
  });
}

async function pileHandshake(pki: BenchPki, ca: Buffer, p: BenchPile, port: number): Promise<number> {
  const t = performance.now();
  const sim = simPile(pki, ca, p, port);
  await sim.connect();
  const ms = performance.now() - t;
  sim.close();
  return ms;
}

async function plainHandshake(pki: BenchPki, port: number): Promise<number> {
  const t = performance.now();
  const s = await plainConnect(pki, port);
  await new Promise<void>((resolve) => {
    s.once('data', () => resolve());
    s.write('ping');
  });
  const ms = performance.now() - t;
  s.destroy();
  return ms;
}

function turnsOf(child: import('node:child_process').ChildProcess): Promise<TurnStats | undefined> {
  return new Promise((resolve) => {
    const on = (m: { turns?: TurnStats }): void => {
      if (!('turns' in m)) return;
      child.off('message', on);
      resolve(m.turns);
    };
    child.on('message', on);
    child.send('turns');
  });
}

/** One agent, WARMUP + HANDSHAKES sequential handshakes; `c` undefined = plain TLS. */
async function round(pki: BenchPki, c: Case | undefined, probe = false): Promise<Round> {
  const agent = await startAgent(pki, c ? 'gateway' : 'plain', 0, {
    probe,
    ...(c?.agent ? { agent: c.agent } : {}),
  });
  const ca = readFileSync(pki.rootPem);
  const piles = c?.alg === 'sm2' ? pki.sm2Piles : pki.piles;
  const one = (i: number): Promise<number> =>
    c ? pileHandshake(pki, ca, piles[i]!, agent.port) : plainHandshake(pki, agent.port);
  let pinned: Pinning | undefined;
  try {
    // First contact: the warm-up piles are never measured. Reconnect: the warm-up is the
    // first contact of the piles that then reconnect.
    const warmup = c?.reconnect ? RECONNECT_PILES : WARMUP;
    for (let i = 0; i < warmup; i++) await one(i);
    if (probe && !PIN_SKIP && agent.child.pid) pinned = pinAgentMainThread(agent.child.pid);
    agent.child.send('mark');
    const since = performance.now();
    const clientCpu = process.cpuUsage();
    const lat: number[] = [];
    for (let i = 0; i < HANDSHAKES; i++) lat.push(await one(c?.reconnect ? i % RECONNECT_PILES : WARMUP + i));
    const { user, system } = process.cpuUsage(clientCpu);
    const turns = probe ? await turnsOf(agent.child) : undefined;
    // BENCH_CPU_PROF=<dir>: the agent writes the profile of the measured handshakes there.
    const usage = await agent.usage();
    return {
      lat,
      turns,
      serverCpuMs: ((usage.cpuPct / 100) * (performance.now() - since)) / HANDSHAKES,
      clientCpuMs: (user + system) / 1000 / HANDSHAKES,
    };
  } finally {
    pinned?.release();
    await agent.stop();
  }
}

function cases(): Case[] {
  const own: Case[] = [
    { label: 'P-256, first contact', alg: 'ecdsa-p256', reconnect: false },
    { label: 'P-256, reconnect', alg: 'ecdsa-p256', reconnect: true },
    { label: 'SM2, first contact', alg: 'sm2', reconnect: false },
    { label: 'SM2, reconnect', alg: 'sm2', reconnect: true },
  ];
  if (!BEFORE) return own;
  const agent = BEFORE;
  // Each case beside its before, so that load drifting within a round affects both alike.
  return own.flatMap((c) => [c, { ...c, label: `${c.label} [before: ${BEFORE}]`, agent }]);
}

const fmt = (xs: readonly number[], digits = 1): string => xs.map((x) => x.toFixed(digits)).join(', ');

function turnNote(rounds: readonly Round[]): string {
  const t = rounds.map((r) => r.turns).filter((x): x is TurnStats => x !== undefined);
  if (t.length === 0) return 'event loop: not probed';
  return (
    `event loop, longest turn (own CPU bound) per round ${fmt(
      t.map((x) => x.maxMs),
      2,
    )} ms, p99.9 ${fmt(
      t.map((x) => x.p999Ms),
      2,
    )} ms, turns > 1 ms ${t.map((x) => x.over1ms).join(', ')} of ${t.map((x) => x.turns).join(', ')} ` +
    `(${t.map((x) => JSON.stringify(x.over1msBy ?? {})).join(', ')}); ` +
    `wall max ${fmt(t.map((x) => x.maxWallMs))} ms; monitorEventLoopDelay max ${fmt(t.map((x) => x.eldMaxMs))} ms, p99 ${fmt(t.map((x) => x.eldP99Ms))} ms\n  ` +
    `  GC pauses taken out: turns > 1 ms ${t.map((x) => x.over1msNoGc ?? NaN).join(', ')}, longest ${fmt(
      t.map((x) => x.maxNoGcMs ?? NaN),
      2,
    )} ms; GC pauses ${t.map((x) => x.gcPauses ?? NaN).join(', ')}, over 1 ms ${t.map((x) => `${x.gcOver1ms ?? NaN} ${JSON.stringify(x.gcOver1msBy ?? {})}`).join(', ')}, longest ${fmt(
      t.map((x) => x.gcMaxMs ?? NaN),
      2,
    )} ms; ${PIN_SKIP ? `unpinned (${PIN_SKIP})` : 'agent main thread pinned alone to CPU 0'}`
  );
}

/**
 * CPU per handshake, medians of the rounds: the gateway's process against the plain TLS
 * server's, and the bench client's own (its signature, ECDH, key schedule) against the
 * plain client's, so that a slow client is seen as such and not taken for the gateway.
 */
function cpuNote(rounds: readonly Round[], plain: readonly Round[]): string {
  const med = (rs: readonly Round[], k: 'serverCpuMs' | 'clientCpuMs'): string =>
    median(rs.map((r) => r[k])).toFixed(2);
  return (
    `CPU per handshake: agent ${med(rounds, 'serverCpuMs')} ms vs plain TLS server ${med(plain, 'serverCpuMs')} ms, ` +
    `bench client ${med(rounds, 'clientCpuMs')} ms vs plain client ${med(plain, 'clientCpuMs')} ms`
  );
}

/**
 * The cases of round `r`: with a before build, each pair's order flips every round. An
 * A/A run (the same build in both places) gave the first of a pair a higher p99 in all
 * four cases (P-256 reconnect 200 against 139 % of plain TLS): position, not code.
 */
function inRound(all: readonly Case[], r: number): readonly Case[] {
  if (!BEFORE || r % 2 === 0) return all;
  return all.map((_, i) => all[i % 2 === 0 ? i + 1 : i - 1]!);
}

/** The handshake figures for a PKI that has at least WARMUP + HANDSHAKES piles of each kind. */
export async function handshakeResults(pki: BenchPki): Promise<BenchResult[]> {
  const all = cases().filter((c) => c.alg === 'ecdsa-p256' || pki.sm2Piles.length > 0);
  const plain: Round[] = [];
  const byCase = new Map<Case, Round[]>(all.map((c) => [c, []]));
  for (let r = 0; r < ROUNDS; r++) {
    plain.push(await round(pki, undefined));
    for (const c of inRound(all, r)) byCase.get(c)!.push(await round(pki, c));
  }
  // The turn probe costs CPU per callback: its rounds are extra, their latencies unused.
  const plainProbe = await round(pki, undefined, true);
  const probes = new Map<Case, Round>();
  for (const c of all) probes.set(c, await round(pki, c, true));
  const plainP99s = plain.map((r) => p99(r.lat));
  const plainMean = mean(plain.flatMap((r) => r.lat));
  const baselineName = 'plain TLS 1.3 connect + 1 echo round trip, same certs, same rounds';
  const results: BenchResult[] = [];
  for (const c of all) {
    const rounds = byCase.get(c)!;
    const p99s = rounds.map((r) => p99(r.lat));
    const lat = rounds.flatMap((r) => r.lat);
    results.push({
      name: `CIP-22 handshake p99, ${c.label} (TLS 1.3 + HELLO/CHALLENGE/AUTH_RESP/AUTH_OK)`,
      unit: 'ms',
      value: median(p99s),
      baselineName,
      baseline: median(plainP99s),
      target: 'p99 <= 200 % of plain TLS',
      notes:
        `p99 per round ${fmt(p99s)} ms vs ${fmt(plainP99s)} ms; median ${median(lat).toFixed(2)} ms, ` +
        `mean ${mean(lat).toFixed(2)} ms vs ${plainMean.toFixed(2)} ms (${(1000 / mean(lat)).toFixed(0)}/s vs ${(1000 / plainMean).toFixed(0)}/s); ` +
        `${HANDSHAKES} sequential per round after warm-up\n  ${cpuNote(rounds, plain)}\n  ${turnNote([probes.get(c)!])}`,
    });
  }
  results.push({
    name: 'plain TLS 1.3 server event loop during the baseline rounds (longest turn, own CPU bound)',
    unit: 'ms',
    value: plainProbe.turns?.maxMs ?? NaN,
    baselineName: 'itself',
    baseline: plainProbe.turns?.maxMs ?? NaN,
    notes: turnNote([plainProbe]),
  });
  return results;
}

export async function run(): Promise<BenchResult[]> {
  const pki = benchPki(WARMUP + HANDSHAKES, WARMUP + HANDSHAKES);
  writeFileSync(join(pki.dir, 'server-chain.pem'), pki.serverChain);
  try {
    return await handshakeResults(pki);
  } finally {
    pki.remove();
  }
}
