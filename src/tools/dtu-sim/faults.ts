/**
 * Fault settings for the DTU simulator. Every fault applies to response frames going from
 * the serial bus to the agent (heartbeat timing is never altered, except by `silent`).
 *
 * A `FaultRate` says which responses a fault hits: `true` = every response, `false` /
 * absent = none, `{ every: N }` = every Nth response, `{ probability: p }` = each response
 * with probability p (from the seeded PRNG), both = either. "Every Nth" counts the responses
 * read from the bus since the faults were last set (start or `setFaults`), starting at 1.
 */
import type { Random } from './prng.js';

export type FaultRate = boolean | { every?: number; probability?: number };

export interface DtuFaults {
  /** Put a heartbeat packet inside a response (at a random interior byte offset). */
  heartbeatMidFrame?: FaultRate;
  /** Send a response as 2..splitMaxChunks separate TCP writes. */
  split?: FaultRate;
  /** Upper bound on chunks per split response (default 4, at most the frame length). */
  splitMaxChunks?: number;
  /** Gap between the chunks: 0 (default) = one event-loop turn (setImmediate), else milliseconds.
   *  Use 1–5 ms when the agent runs in another process or host, or the pieces may coalesce. */
  splitGapMs?: number;
  /** Hold a response and send it glued (one write) to the next heartbeat or the next response. */
  glue?: FaultRate;
  /** A held response is sent alone after this long if nothing came to glue it to (default 10000). */
  glueMaxHoldMs?: number;
  /** Prepend random garbage bytes to a response. */
  garbage?: FaultRate;
  /** Garbage length bounds, inclusive (default 1..8). */
  garbageMinBytes?: number;
  garbageMaxBytes?: number;
  /** Delay a response by this many ms (responses behind it queue up: one byte stream). */
  delayMs?: number;
  /** Which responses to delay: every Nth (default 1 = all, when delayMs > 0). */
  delayEvery?: number;
  /** Which responses to delay, as a rate (replaces `delayEvery` when set): random late answers. */
  delayRate?: FaultRate;
  /** Upper bound of a random delay: each delayed response waits delayMs..delayMaxMs (default delayMs). */
  delayMaxMs?: number;
  /** Every Nth response is discarded and the TCP link closed (dial mode then re-dials). */
  dropEvery?: number;
  /** Do not send a write of a response (UDP: a lost datagram; each piece of a split response draws on its own). */
  lose?: FaultRate;
  /** Send a write of a response twice (UDP: a duplicated datagram). */
  duplicate?: FaultRate;
  /** The copy follows this many ms later (default 0: at once). */
  duplicateDelayMs?: number;
  /** Send nothing at all to the agent: no registration, no heartbeats, no responses. */
  silent?: boolean;
}

export const FAULT_KINDS = [
  'heartbeatMidFrame',
  'split',
  'glue',
  'garbage',
  'delay',
  'drop',
  'silent',
  'lose',
  'duplicate',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Does the fault with this rate hit response number `index` (1-based)? */
export function hits(rate: FaultRate | undefined, index: number, random: Random): boolean {
  if (rate === undefined || rate === false) return false;
  if (rate === true) return true;
  let hit = false;
  if (rate.every !== undefined && rate.every >= 1 && index % Math.floor(rate.every) === 0) hit = true;
  if (rate.probability !== undefined && rate.probability > 0) {
    // always draw when a probability is set, so the PRNG sequence does not depend on `every`
    if (random() < rate.probability) hit = true;
  }
  return hit;
}

/**
 * Parses a rate from the CLI: `always`/`true`, `never`/`false`/`off`, `every:N`, `p:0.3`,
 * a bare integer N >= 1 (every Nth), or a bare fraction 0 < p < 1 (probability).
 * Several may be joined with `,` (`every:5,p:0.1`).
 */
export function parseRate(text: string): FaultRate {
  const t = text.trim().toLowerCase();
  if (t === '' || t === 'always' || t === 'true' || t === 'all') return true;
  if (t === 'never' || t === 'false' || t === 'off' || t === 'none') return false;
  const rate: { every?: number; probability?: number } = {};
  for (const part of t.split(',')) {
    const m = /^(every:|e:|p:|probability:)?\s*([0-9]*\.?[0-9]+)$/.exec(part.trim());
    if (!m) throw new Error(`bad fault rate "${text}" (want always, every:N, p:0.25, N or 0.25)`);
    const value = Number(m[2]);
    const prefix = m[1] ?? '';
    const isProbability = prefix.startsWith('p') || (prefix === '' && (value < 1 || m[2]!.includes('.')));
    if (isProbability) {
      if (!(value >= 0 && value <= 1)) throw new Error(`bad probability in "${text}"`);
      rate.probability = value;
    } else {
      if (!Number.isInteger(value) || value < 1) throw new Error(`bad "every" count in "${text}"`);
      rate.every = value;
    }
  }
  return rate;
}

export function describeFaults(f: DtuFaults): string {
  const parts: string[] = [];
  const rate = (r: FaultRate | undefined): string | undefined =>
    r === undefined || r === false
      ? undefined
      : r === true
        ? 'always'
        : [
            r.every !== undefined ? `every:${r.every}` : '',
            r.probability !== undefined ? `p:${r.probability}` : '',
          ]
            .filter(Boolean)
            .join(',');
  for (const k of ['heartbeatMidFrame', 'split', 'glue', 'garbage', 'lose', 'duplicate'] as const) {
    const r = rate(f[k]);
    if (r) parts.push(`${k}=${r}`);
  }
  if (f.delayMs) {
    const span = f.delayMaxMs && f.delayMaxMs > f.delayMs ? `..${f.delayMaxMs}` : '';
    const which = f.delayRate !== undefined ? (rate(f.delayRate) ?? 'never') : `every ${f.delayEvery ?? 1}`;
    parts.push(`delay=${f.delayMs}${span}ms ${which}`);
  }
  if (f.duplicateDelayMs) parts.push(`duplicateDelay=${f.duplicateDelayMs}ms`);
  if (f.dropEvery) parts.push(`dropEvery=${f.dropEvery}`);
  if (f.silent) parts.push('silent');
  return parts.length ? parts.join(' ') : 'none';
}
