/**
 * Counters of parts that a live reload replaces (a DTU link, the CIP-22 gateway, the
 * command router): the new part counts from zero, so what the old one counted is kept
 * here and added to it. /metrics then stays monotonic across the swap with nothing lost
 * (MonotonicTotals alone would treat the drop as a reset and miss what the old part
 * counted since the last scrape, and undercount when the new one passes the old value
 * before the next scrape), and /status.json shows totals since the agent started.
 */
export type Counts = Readonly<Record<string, number | undefined>>;

/** Field by field sum of the numeric fields. */
export function sumCounts(a: Counts, b: Counts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of [a, b])
    for (const [key, value] of Object.entries(part))
      if (typeof value === 'number') out[key] = (out[key] ?? 0) + value;
  return out;
}

/** What retired parts counted, by the name the next part takes (a link name; '' for one part). */
export class CarriedCounts {
  private readonly retired = new Map<string, Record<string, number>>();

  /** A part leaves: its `counts` are kept for the part that comes under `key`. */
  retire(key: string, counts: Counts): void {
    this.retired.set(key, sumCounts(this.retired.get(key) ?? {}, counts));
  }

  /** What the parts retired under `key` counted in `field`. */
  carried(key: string, field: string): number {
    return this.retired.get(key)?.[field] ?? 0;
  }

  /** `counts` of the part under `key` plus what the parts before it there counted. */
  plus<T extends object>(key: string, counts: T, fields?: readonly (keyof T & string)[]): T {
    const before = this.retired.get(key);
    if (!before) return counts;
    const out = { ...counts } as Record<string, unknown>;
    for (const [field, value] of Object.entries(before))
      if (fields === undefined || fields.includes(field as keyof T & string))
        out[field] = (typeof out[field] === 'number' ? out[field] : 0) + value;
    return out as T;
  }
}
