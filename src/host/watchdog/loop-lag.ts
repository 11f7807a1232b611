/**
 * Event-loop delay, worst value since the previous read. Two sources behind one port:
 * perf_hooks' histogram (libuv-timer based, cheap) and, for the gate's own tick, the
 * drift of a timer against its schedule. The watchdog uses the larger of both.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface LagSource {
  /** Worst loop delay in ms since the previous call (or since start). */
  takeMaxMs(): number;
  close(): void;
}

/** perf_hooks monitorEventLoopDelay: samples every `resolutionMs`. */
export class HistogramLagSource implements LagSource {
  private readonly histogram: IntervalHistogram;

  constructor(resolutionMs = 20) {
    this.histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    this.histogram.enable();
  }

  takeMaxMs(): number {
    // The histogram records in ns; an empty one reports max 0.
    const max = this.histogram.max / 1e6;
    this.histogram.reset();
    return Number.isFinite(max) ? max : 0;
  }

  close(): void {
    this.histogram.disable();
  }
}

/** How late a timer fired: actual elapsed minus the interval asked for, never negative. */
export function timerDriftMs(scheduledAt: number, firedAt: number, intervalMs: number): number {
  return Math.max(0, firedAt - scheduledAt - intervalMs);
}
