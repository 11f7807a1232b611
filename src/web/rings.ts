/**
 * Bounded time series for the page's pictures, with a minimum spacing between points, so a
 * fast poll does not shorten the window shown. Storage grows with the points actually
 * kept, up to `capacity` and to what `limit()` allows now: a tag's ring keeps only the
 * points a snapshot can send it (the tags share one budget), so 5000 tags cost
 * 5000 × 12 points × 16 bytes ≈ 1 MB, not 120 points each (7 MB) that no page ever reads.
 *
 * The points are a plain array of doubles (V8 keeps it on its heap), not a Float64Array:
 * a typed array of more than 64 bytes gets an ArrayBuffer, a backing store and a malloc
 * block of its own, ~330 bytes more per ring (1.6 MB at 5000 tags) for the same numbers.
 */

/** Points allocated at first: a ring that is never read costs little. */
const INITIAL_POINTS = 8;

export class Ring {
  /** Point i: its timestamp at [2i], its value as float32 holds it at [2i + 1] (one array per ring: 5000 tags, 5000 arrays fewer). */
  private points: number[];
  private next = 0;
  private size = 0;

  constructor(
    readonly capacity: number,
    /** Points closer than this to the previous one replace it (the newest value wins). */
    private readonly minSpacingMs: number,
    /** How many points may be kept now (read when the storage is full); default: capacity. */
    private readonly limit: () => number = () => capacity,
  ) {
    this.points = zeros(2 * Math.min(capacity, INITIAL_POINTS));
  }

  push(ts: number, value: number): void {
    const slots = this.allocated;
    if (this.size > 0) {
      const last = (this.next - 1 + slots) % slots;
      if (ts - (this.points[2 * last] ?? 0) < this.minSpacingMs) {
        this.points[2 * last + 1] = Math.fround(value);
        return;
      }
    }
    if (this.size === slots) this.grow();
    const room = this.allocated;
    this.points[2 * this.next] = ts;
    this.points[2 * this.next + 1] = Math.fround(value);
    this.next = (this.next + 1) % room;
    if (this.size < room) this.size++;
  }

  get length(): number {
    return this.size;
  }

  /** Points of storage held (not all of them filled). */
  get allocated(): number {
    return this.points.length / 2;
  }

  /** Oldest first, as two plain arrays (the JSON the page reads); values as float32 shows them (7 significant digits: a counter of 12 345.6 stays that). */
  toJSON(last = this.capacity): [number[], number[]] {
    const slots = this.allocated;
    const t: number[] = [];
    const v: number[] = [];
    const count = Math.min(this.size, Math.max(0, last));
    const start = (this.next - count + slots) % slots;
    for (let i = 0; i < count; i++) {
      const at = (start + i) % slots;
      t.push(this.points[2 * at] ?? 0);
      v.push(Number((this.points[2 * at + 1] ?? 0).toPrecision(7)));
    }
    return [t, v];
  }

  /** Full: doubles the storage (oldest first again) while capacity and limit allow more. */
  private grow(): void {
    const slots = this.allocated;
    const points = Math.min(this.capacity, Math.max(slots, this.limit()), slots * 2);
    if (points <= slots) return;
    const grown = zeros(2 * points);
    // Oldest first: the part from `next` to the end, then the part before it.
    const old = this.points;
    const from = 2 * this.next;
    for (let i = from; i < old.length; i++) grown[i - from] = old[i] ?? 0;
    for (let i = 0; i < from; i++) grown[old.length - from + i] = old[i] ?? 0;
    this.points = grown;
    this.next = slots;
  }
}

/** An array of doubles from the start (filled with 0 alone it would hold small integers, converted at the first timestamp). */
function zeros(n: number): number[] {
  return new Array<number>(n).fill(0.5).fill(0);
}

/** A numeric reading for a sparkline: booleans as 0/1, everything else not drawn. */
export function plottable(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return undefined;
}
