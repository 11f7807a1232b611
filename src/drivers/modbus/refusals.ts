/**
 * What a device refused, so that one unmapped register never blanks its neighbours.
 *
 * A coalesced read (maxGap) spans registers no tag needs; a device answers the whole read
 * with exception 02 when any of them is unmapped. On such a refusal the device splits the
 * read in halves until it finds the offending range: a tag that is refused alone is
 * quarantined (left out of reads, probed alone when its backoff expires), and a gap
 * between two tags that read fine apart is a hole the planner no longer reads across
 * (until the hole's own probe, a merged read, succeeds). Pure bookkeeping over the shared
 * Quarantine; the device does the I/O.
 */
import type { BackoffPolicy } from '../../core/backoff.js';
import { Quarantine } from '../../core/quarantine.js';
import type { Hole, ModbusRequest, PlannedTag, PlanTag } from './plan.js';

export type { Hole } from './plan.js';
// the codes this module names are registered there (their natures, link-down flags)
import './error-codes.js';

/** Exception answers that are about what was asked (always the same answer), not the device's state. */
const REFUSALS = new Set([
  'EDGE_ERR_MODBUS_ILLEGAL_FUNCTION',
  'EDGE_ERR_MODBUS_ILLEGAL_ADDRESS',
  'EDGE_ERR_MODBUS_ILLEGAL_VALUE',
]);

export function isRefusal(code: string): boolean {
  return REFUSALS.has(code);
}

const NO_HOLES: readonly Hole[] = Object.freeze([]);

const holeKey = (h: Hole): string => `${h.function}:${h.from}-${h.to}`;

/** A request for some of another request's tags: the span from the first to the last. */
export function subRequest<T extends PlanTag>(
  parent: ModbusRequest<T>,
  tags: readonly PlannedTag<T>[],
): ModbusRequest<T> {
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of tags) {
    lo = Math.min(lo, t.offset);
    hi = Math.max(hi, t.offset + t.count);
  }
  return {
    function: parent.function,
    address: parent.address + lo,
    length: hi - lo,
    tags: tags.map((t) => ({ ...t, offset: t.offset - lo })),
  };
}

export class Refusals {
  readonly tags: Quarantine;
  readonly holes: Quarantine;
  private readonly ranges = new Map<string, Hole>();

  constructor(policy: BackoffPolicy, random: () => number, now: () => number) {
    this.tags = new Quarantine(policy, random, now);
    this.holes = new Quarantine(policy, random, now);
  }

  get empty(): boolean {
    return this.tags.size === 0 && this.holes.size === 0;
  }

  /** Holes in force now; a hole due for its probe is left out, so the next plan reads across it. */
  barriers(): Hole[] {
    const out: Hole[] = [];
    for (const [key, hole] of this.ranges) if (!this.holes.isDue(key)) out.push(hole);
    return out;
  }

  /** Records a refused gap; true when it is new. */
  failHole(hole: Hole, code: string, reason: string, peerCode: number | undefined): boolean {
    const key = holeKey(hole);
    this.ranges.set(key, hole);
    return this.holes.fail(key, code, reason, peerCode);
  }

  /** Holes a good read of this request spanned: they are gone (the map was fixed, or it was a glitch). */
  clearedBy(request: ModbusRequest<PlanTag>): readonly Hole[] {
    if (this.ranges.size === 0) return NO_HOLES; // the usual case, once per read
    const cleared: Hole[] = [];
    const end = request.address + request.length;
    for (const [key, hole] of this.ranges) {
      if (hole.function !== request.function || hole.from < request.address || hole.to > end) continue;
      if (hole.from === hole.to && (hole.from === request.address || hole.from === end)) continue;
      this.ranges.delete(key);
      this.holes.release(key);
      cleared.push(hole);
    }
    return cleared;
  }

  holeList(): Array<Hole & { readonly modbusCode: number | null }> {
    return [...this.ranges].map(([key, h]) => ({ ...h, modbusCode: this.holes.peerCode(key) ?? null }));
  }
}
