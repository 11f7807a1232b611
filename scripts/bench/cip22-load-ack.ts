/**
 * The cip22 load rounds' pacing and their STATUS → ACK latency (issue 16 item 1: the latency of a CIP-22
 * frame from receipt to ACK at 1,000 piles), client side: each pile's send time, taken
 * when its ACK (or, on the plain TLS baseline, its echo) comes back. One frame per pile is
 * out at a time at 1 Hz, so the pile's index is the match.
 */
import type { BenchResult } from './common.js';
import { median } from './common.js';
import { type Percentiles, percentiles } from './commit.js';
import type { Usage } from './cip22.js';

export type LoadUsage = Usage & { readonly acked: number; readonly ack: Percentiles };

export class RoundTrips {
  readonly values: number[] = [];
  measuring = false;
  private readonly sentAt: Float64Array;

  constructor(piles: number) {
    this.sentAt = new Float64Array(piles);
  }

  sent(i: number): void {
    this.sentAt[i] = performance.now();
  }

  /** An answer with no frame out (a late duplicate, a pile's own resend) is not counted. */
  answered(i: number): void {
    const at = this.sentAt[i]!;
    if (at === 0) return;
    this.sentAt[i] = 0;
    if (this.measuring) this.values.push(performance.now() - at);
  }

  percentiles(): Percentiles {
    return percentiles(this.values);
  }
}

/**
 * Starts `send` for every item at 1 Hz, spread over the second; returns what stops them.
 */
export function everySecond<T>(items: readonly T[], send: (item: T, i: number) => void): () => void {
  const timers: NodeJS.Timeout[] = [];
  items.forEach((item, i) => {
    timers.push(
      setTimeout(() => timers.push(setInterval(() => send(item, i), 1000)), (i * 1000) / items.length),
    );
  });
  return () => {
    for (const t of timers) clearInterval(t);
  };
}

const fmt = (xs: readonly LoadUsage[], k: 'p50' | 'p99'): string =>
  xs.map((x) => x.ack[k].toFixed(1)).join(', ');

export function ackResult(
  piles: number,
  gateway: readonly LoadUsage[],
  echo: readonly LoadUsage[],
  before: readonly LoadUsage[],
): BenchResult {
  const p99 = (xs: readonly LoadUsage[]): number => median(xs.map((x) => x.ack.p99));
  const p50 = (xs: readonly LoadUsage[]): number => median(xs.map((x) => x.ack.p50));
  const beforeNote =
    before.length > 0
      ? `; before (BENCH_CIP22_BEFORE build): p99 ${p99(before).toFixed(2)} ms (per round ${fmt(before, 'p99')})`
      : '';
  return {
    name: `CIP-22 STATUS → ACK p99, ${piles} sealed sessions at 1 Hz each (stored with synchronous=FULL, then ACKed; client side)`,
    unit: 'ms',
    value: p99(gateway),
    baselineName: `plain TLS 1.3 echo round trip of the same-size frame on ${piles} sockets at 1 Hz`,
    baseline: p99(echo),
    target:
      'a figure: the p99 <= 10 ms goal is for 1-50 piles; at 1,000 frames/s the store spaces commits 20 ms apart (sqlite-commit-pace.ts) to pay for fewer fsyncs',
    notes: `p50 ${p50(gateway).toFixed(2)} ms vs echo ${p50(echo).toFixed(2)} ms; p99 per round ${fmt(gateway, 'p99')} ms, echo ${fmt(echo, 'p99')} ms${beforeNote}`,
  };
}
