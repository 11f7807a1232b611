/**
 * Event-loop turn probe for the benches: how long the loop is held synchronously.
 * - Every callback the loop runs (async_hooks before/after, promise jobs included) is
 *   timed twice: wall clock and the process's CPU time. On this shared 2-core box the
 *   wall time of a turn includes being preempted, and the process CPU time includes
 *   worker threads running meanwhile; the turn's own work is at most the smaller of the
 *   two, so `min(wall, cpu)` is an upper bound that load does not inflate.
 * - perf_hooks.monitorEventLoopDelay as the standard figure (it includes preemption).
 * - Garbage collection: V8's pauses (PerformanceObserver 'gc', main thread) inside a long
 *   turn are subtracted for `over1msNoGc`: the turns our own synchronous code made long,
 *   told apart from the collector's pauses, which are reported on their own.
 * With the agent's main thread pinned alone to a CPU (pin-threads.ts), wall time is the
 * turn's own time and the process-CPU bound is not needed.
 */
import { createHook } from 'node:async_hooks';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

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
  /** Turns over 1 ms once the GC pauses inside them are taken out, and the longest such. */
  readonly over1msNoGc?: number;
  readonly maxNoGcMs?: number;
  /** GC pauses on the main thread: how many, how many over 1 ms, the longest (ms). */
  readonly gcPauses?: number;
  readonly gcOver1ms?: number;
  readonly gcMaxMs?: number;
  /** The pauses over 1 ms by kind (minor: scavenge, major: mark-compact, incremental, weakcb). */
  readonly gcOver1msBy?: Readonly<Record<string, number>>;
}

const GC_KINDS: Readonly<Record<number, string>> = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weakcb' };

interface GcPause {
  readonly start: number;
  readonly end: number;
  readonly kind: string;
}

interface LongTurn {
  readonly start: number;
  readonly end: number;
  readonly bound: number;
}

/** The part of a long turn left once the GC pauses that fall inside it are removed. */
function withoutGc(turn: LongTurn, gcs: readonly GcPause[]): number {
  let gc = 0;
  for (const g of gcs) gc += Math.max(0, Math.min(turn.end, g.end) - Math.max(turn.start, g.start));
  return Math.max(0, turn.bound - gc);
}

export function startTurnProbe(): { stats(): TurnStats; reset(): void } {
  let depth = 0;
  let wall0 = 0;
  let cpu0 = 0;
  let bounds: number[] = [];
  let maxWall = 0;
  let over1msBy: Record<string, number> = {};
  let long: LongTurn[] = [];
  let gcs: GcPause[] = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? 0;
      gcs.push({ start: e.startTime, end: e.startTime + e.duration, kind: GC_KINDS[kind] ?? String(kind) });
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
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
      if (bound > 1) {
        over1msBy[current] = (over1msBy[current] ?? 0) + 1;
        long.push({ start: wall0, end: wall0 + wall, bound });
      }
      if (wall > maxWall) maxWall = wall;
    },
  }).enable();
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  return {
    reset() {
      bounds = [];
      over1msBy = {};
      long = [];
      gcs = [];
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
        ...ownWork(long, gcs),
      };
    },
  };
}

function ownWork(
  long: readonly LongTurn[],
  gcs: readonly GcPause[],
): Pick<TurnStats, 'over1msNoGc' | 'maxNoGcMs' | 'gcPauses' | 'gcOver1ms' | 'gcMaxMs' | 'gcOver1msBy'> {
  const own = long.map((t) => withoutGc(t, gcs));
  const pauses = gcs.map((g) => g.end - g.start);
  const gcOver1msBy: Record<string, number> = {};
  for (const g of gcs) if (g.end - g.start > 1) gcOver1msBy[g.kind] = (gcOver1msBy[g.kind] ?? 0) + 1;
  return {
    gcOver1msBy,
    over1msNoGc: own.filter((x) => x > 1).length,
    maxNoGcMs: Math.max(0, ...own),
    gcPauses: pauses.length,
    gcOver1ms: pauses.filter((x) => x > 1).length,
    gcMaxMs: Math.max(0, ...pauses),
  };
}
