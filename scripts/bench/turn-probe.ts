/**
 * Event-loop turn probe for the benches: how long the loop is held synchronously.
 * - Every callback the loop runs (async_hooks before/after, promise jobs included) is
 *   timed twice: wall clock and the process's CPU time. On this shared 2-core box the
 *   wall time of a turn includes being preempted, and the process CPU time includes
 *   worker threads running meanwhile; the turn's own work is at most the smaller of the
 *   two, so `min(wall, cpu)` is an upper bound that load does not inflate.
 * - perf_hooks.monitorEventLoopDelay as the standard figure (it includes preemption).
 */
import { createHook } from 'node:async_hooks';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface TurnStats {
  /** Turns timed. */
  readonly turns: number;
  /** Longest turn, upper bound of its own CPU (ms). */
  readonly maxMs: number;
  /** 99.9th percentile of the same (ms). */
  readonly p999Ms: number;
  /** Turns whose bound exceeded 1 ms. */
  readonly over1ms: number;
  /** Longest wall-clock turn (ms, includes preemption). */
  readonly maxWallMs: number;
  /** monitorEventLoopDelay max and p99 (ms, 1 ms resolution, includes preemption). */
  readonly eldMaxMs: number;
  readonly eldP99Ms: number;
  /** Turns over 1 ms by the async resource that ran them (Timeout, TLSWRAP, PROMISE…). */
  readonly over1msBy?: Readonly<Record<string, number>>;
}

export function startTurnProbe(): { stats(): TurnStats; reset(): void } {
  let depth = 0;
  let wall0 = 0;
  let cpu0 = 0;
  let bounds: number[] = [];
  let maxWall = 0;
  let over1msBy: Record<string, number> = {};
  const types = new Map<number, string>();
  let current = '';
  const cpuNow = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  createHook({
    init(asyncId, type) {
      types.set(asyncId, type);
    },
    destroy(asyncId) {
      types.delete(asyncId);
    },
    promiseResolve(asyncId) {
      types.delete(asyncId);
    },
    before(asyncId) {
      if (depth++ > 0) return;
      current = types.get(asyncId) ?? 'other';
      wall0 = performance.now();
      cpu0 = cpuNow();
    },
    after() {
      if (--depth > 0) return;
      const wall = performance.now() - wall0;
      const cpu = cpuNow() - cpu0;
      const bound = Math.min(wall, cpu);
      bounds.push(bound);
      if (bound > 1) over1msBy[current] = (over1msBy[current] ?? 0) + 1;
      if (wall > maxWall) maxWall = wall;
    },
  }).enable();
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  return {
    reset() {
      bounds = [];
      over1msBy = {};
      maxWall = 0;
      eld.reset();
    },
    stats() {
      const sorted = [...bounds].sort((a, b) => a - b);
      const at = (q: number): number =>
        sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
      return {
        turns: sorted.length,
        maxMs: sorted.at(-1) ?? 0,
        p999Ms: at(0.999),
        over1ms: sorted.filter((x) => x > 1).length,
        maxWallMs: maxWall,
        eldMaxMs: eld.max / 1e6,
        eldP99Ms: eld.percentile(99) / 1e6,
        over1msBy,
      };
    },
  };
}
