/**
 * Bounded time series for the page's pictures: typed arrays with a minimum spacing between
 * points, so a fast poll does not shorten the window shown. Storage grows with the points
 * actually kept, up to `capacity` and to what `limit()` allows now: a tag's ring keeps only
 * the points a snapshot can send it (the tags share one budget), so 5000 tags cost
 * 5000 × 12 points × 12 bytes ≈ 0.7 MB, not 120 points each (7 MB) that no page ever reads.
 */

/** Points allocated at first: a ring that is never read costs little. */
const INITIAL_POINTS = 8;

export class Ring {
  private ts: Float64Array;
  private values: Float32Array;
  private next = 0;
  private size = 0;

  constructor(
    readonly capacity: number,
    /** Points closer than this to the previous one replace it (the newest value wins). */
    private readonly minSpacingMs: number,
    /** How many points may be kept now (read when the storage is full); default: capacity. */
    private readonly limit: () => number = () => capacity,
  ) {
    const points = Math.min(capacity, INITIAL_POINTS);
    this.ts = new Float64Array(points);
    this.values = new Float32Array(points);
  }

  push(ts: number, value: number): void {
    const slots = this.ts.length;
    if (this.size > 0) {
      const last = (this.next - 1 + slots) % slots;
      if (ts - (this.ts[last] ?? 0) < this.minSpacingMs) {
        this.values[last] = value;
        return;
      }
    }
    if (this.size === slots) this.grow();
    const room = this.ts.length;
    this.ts[this.next] = ts;
    this.values[this.next] = value;
    this.next = (this.next + 1) % room;
    if (this.size < room) this.size++;
  }

  get length(): number {
    return this.size;
  }

  /** Points of storage held (not all of them filled). */
  get allocated(): number {
    return this.ts.length;
  }

  /** Oldest first, as two plain arrays (the JSON the page reads); values as float32 shows them (7 significant digits: a counter of 12 345.6 stays that). */
  toJSON(last = this.capacity): [number[], number[]] {
    const slots = this.ts.length;
    const t: number[] = [];
    const v: number[] = [];
    const count = Math.min(this.size, Math.max(0, last));
    const start = (this.next - count + slots) % slots;
    for (let i = 0; i < count; i++) {
      const at = (start + i) % slots;
      t.push(this.ts[at] ?? 0);
      v.push(Number((this.values[at] ?? 0).toPrecision(7)));
    }
    return [t, v];
  }

  /** Full: doubles the storage (oldest first again) while capacity and limit allow more. */
  private grow(): void {
    const slots = this.ts.length;
    const points = Math.min(this.capacity, Math.max(slots, this.limit()), slots * 2);
    if (points <= slots) return;
    const [t, v] = [new Float64Array(points), new Float32Array(points)];
    for (let i = 0; i < slots; i++) {
      const at = (this.next + i) % slots;
      t[i] = this.ts[at] ?? 0;
      v[i] = this.values[at] ?? 0;
    }
    this.ts = t;
    this.values = v;
    this.next = slots;
  }
}

/** A numeric reading for a sparkline: booleans as 0/1, everything else not drawn. */
export function plottable(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return undefined;
}
