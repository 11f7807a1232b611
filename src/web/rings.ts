/**
 * Bounded time series for the page's pictures: fixed typed arrays, allocated once, and a
 * minimum spacing between points so a fast poll does not shorten the window shown.
 * 5000 tags × 120 points × 12 bytes ≈ 7 MB at most; a station with a few devices uses kB.
 */

export class Ring {
  private readonly ts: Float64Array;
  private readonly values: Float32Array;
  private next = 0;
  private size = 0;

  constructor(
    readonly capacity: number,
    /** Points closer than this to the previous one replace it (the newest value wins). */
    private readonly minSpacingMs: number,
  ) {
    this.ts = new Float64Array(capacity);
    this.values = new Float32Array(capacity);
  }

  push(ts: number, value: number): void {
    if (this.size > 0) {
      const last = (this.next - 1 + this.capacity) % this.capacity;
      if (ts - (this.ts[last] ?? 0) < this.minSpacingMs) {
        this.values[last] = value;
        return;
      }
    }
    this.ts[this.next] = ts;
    this.values[this.next] = value;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  get length(): number {
    return this.size;
  }

  /** Oldest first, as two plain arrays (the JSON the page reads); values as float32 shows them (7 significant digits: a counter of 12 345.6 stays that). */
  toJSON(last = this.capacity): [number[], number[]] {
    const t: number[] = [];
    const v: number[] = [];
    const count = Math.min(this.size, Math.max(0, last));
    const start = (this.next - count + this.capacity) % this.capacity;
    for (let i = 0; i < count; i++) {
      const at = (start + i) % this.capacity;
      t.push(this.ts[at] ?? 0);
      v.push(Number((this.values[at] ?? 0).toPrecision(7)));
    }
    return [t, v];
  }
}

/** A numeric reading for a sparkline: booleans as 0/1, everything else not drawn. */
export function plottable(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return undefined;
}
