/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Pictures: sparklines drawn straight on a small canvas (thousands of tags, no library
 * object each), and two uPlot charts (outbox over the last hour, poll latency per device).
 * uPlot is loaded by its own script tag as a global (served from the agent).
 */

export interface Series {
  t: number[];
  v: number[];
}

interface UPlotInstance {
  setData(data: Array<Array<number | null>>): void;
  setSize(size: { width: number; height: number }): void;
  destroy(): void;
}
type UPlotCtor = new (opts: object, data: Array<Array<number | null>>, target: HTMLElement) => UPlotInstance;
declare global {
  interface Window {
    uPlot?: UPlotCtor;
  }
}

export function pushPoint(series: Series, t: number, v: number, cap: number, minSpacingMs = 0): void {
  const last = series.t.length - 1;
  if (last >= 0 && t - (series.t[last] ?? 0) < minSpacingMs) {
    series.v[last] = v;
    return;
  }
  series.t.push(t);
  series.v.push(v);
  if (series.t.length > cap) {
    series.t.splice(0, series.t.length - cap);
    series.v.splice(0, series.v.length - cap);
  }
}

export function drawSpark(canvas: HTMLCanvasElement, series: Series, bad: boolean): void {
  const ratio = window.devicePixelRatio || 1;
  const w = 120;
  const h = 24;
  if (canvas.width !== w * ratio) {
    canvas.width = w * ratio;
    canvas.height = h * ratio;
  }
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const n = series.v.length;
  if (n < 2) return;
  let min = Infinity;
  let max = -Infinity;
  for (const v of series.v) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const t0 = series.t[0] ?? 0;
  const span = Math.max(1, (series.t[n - 1] ?? t0) - t0);
  const range = max - min || 1;
  ctx.strokeStyle = bad ? '#c62828' : getComputedStyle(canvas).color || '#0b5cad';
  ctx.lineWidth = 1.25;
  ctx.beginPath();
  for (let i = 0; i < n; i++) {
    const x = (((series.t[i] ?? t0) - t0) / span) * (w - 2) + 1;
    const y = h - 2 - (((series.v[i] ?? min) - min) / range) * (h - 4);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  }
  ctx.stroke();
}

const PALETTE = ['#0b5cad', '#c62828', '#1a7f37', '#b26a00', '#6f42c1', '#d63384', '#0aa2c0', '#555'];

function chartWidth(target: HTMLElement): number {
  return Math.max(300, target.clientWidth - 8);
}

/** Outbox depth (left axis) and drain rate (right axis). */
export class OutboxChart {
  private plot: UPlotInstance | undefined;
  private lastS = 0;
  constructor(private readonly target: HTMLElement) {}

  update(depth: Series, drain: Series): void {
    const U = window.uPlot;
    if (!U || this.target.offsetParent === null) return;
    const data = [depth.t.map((t) => t / 1000), depth.v, drain.v];
    this.lastS = (depth.t.at(-1) ?? Date.now()) / 1000;
    if (!this.plot) {
      this.plot = new U(
        {
          width: chartWidth(this.target),
          height: 200,
          series: [
            {},
            { label: 'depth', stroke: PALETTE[0], scale: 'rows' },
            { label: 'drain/s', stroke: PALETTE[2], scale: 'rate' },
          ],
          axes: [{}, { scale: 'rows' }, { scale: 'rate', side: 1, grid: { show: false } }],
          // Always the last hour, however few points there are yet.
          scales: { x: { time: true, range: () => [this.lastS - 3600, this.lastS] } },
        },
        data,
        this.target,
      );
    } else this.plot.setData(data);
  }
}

/** One line per device, on 5-second buckets over the last ten minutes. */
export class LatencyChart {
  private plot: UPlotInstance | undefined;
  private names = '';
  constructor(private readonly target: HTMLElement) {}

  update(latency: ReadonlyMap<string, Series>, now: number): void {
    const U = window.uPlot;
    if (!U || this.target.offsetParent === null) return;
    const devices = [...latency.keys()].sort().slice(0, 30);
    const bucket = 5000;
    const end = Math.ceil(now / bucket) * bucket;
    const xs: number[] = [];
    for (let t = end - 120 * bucket; t <= end; t += bucket) xs.push(t);
    const data: Array<Array<number | null>> = [xs.map((t) => t / 1000)];
    for (const name of devices) {
      const row: Array<number | null> = xs.map(() => null);
      const s = latency.get(name);
      if (s)
        s.t.forEach((t, i) => {
          const at = Math.round((t - (xs[0] ?? 0)) / bucket);
          if (at >= 0 && at < row.length) row[at] = s.v[i] ?? null;
        });
      data.push(row);
    }
    const names = devices.join('\n');
    if (names !== this.names) {
      this.plot?.destroy();
      this.plot = undefined;
      this.names = names;
    }
    if (!this.plot) {
      this.plot = new U(
        {
          width: chartWidth(this.target),
          height: 200,
          series: [
            {},
            ...devices.map((d, i) => ({ label: d, stroke: PALETTE[i % PALETTE.length], spanGaps: true })),
          ],
        },
        data,
        this.target,
      );
    } else this.plot.setData(data);
  }
}
