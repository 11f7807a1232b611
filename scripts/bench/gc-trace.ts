/**
 * Preloaded into the station's agent (`--import`, station-run.ts): appends the wall time
 * of each major GC, as "<epoch ms> <pause ms>" lines, to the file named by
 * EDGE_BENCH_GC_TRACE, once a second. The bench lines its slow ACKs up against them:
 * on a 25 % CPU budget a major GC's pause is where the quota runs out.
 */
import { appendFileSync } from 'node:fs';
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const file = process.env.EDGE_BENCH_GC_TRACE;
if (file !== undefined && isMainThread) {
  const lines: string[] = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { readonly detail?: { readonly kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR)
        lines.push(`${(performance.timeOrigin + e.startTime).toFixed(1)} ${e.duration.toFixed(1)}`);
    }
  }).observe({ entryTypes: ['gc'] });
  setInterval(() => {
    if (lines.length > 0) appendFileSync(file, `${lines.splice(0).join('\n')}\n`);
  }, 1000).unref();
}
