/**
 * Request planning (coalescing): the due tags of a device, grouped by function, sorted by
 * address and merged into as few reads as the per-request limits and `maxGap` allow.
 * A tag is never split across requests. Plans are cached per due set.
 */
import { EdgeError } from '../../core/errors.js';
import { registerCount, type ModbusFunction, type ModbusTagConfig } from './config.js';

/** Registers [from, to) of one function a request must not span; from === to: must not cross `from`. */
export interface Hole {
  readonly function: ModbusFunction;
  readonly from: number;
  readonly to: number;
}

/** True when a read from `end` (exclusive end of the previous tag) to `start` would span the hole. */
export function spansHole(hole: Hole, fn: ModbusFunction, end: number, start: number): boolean {
  if (hole.function !== fn) return false;
  if (hole.from === hole.to) return end <= hole.from && hole.from <= start;
  return hole.from < start && hole.to > end;
}

export interface PlanLimits {
  /** Registers per holding/input read (≤ 125). */
  readonly maxRegistersPerRequest: number;
  /** Bits per coil/discrete read (≤ 2000). */
  readonly maxBitsPerRequest: number;
  /** Unused registers (or bits) a request may span between two tags. */
  readonly maxGap: number;
}

/** The minimum a tag needs to be planned. */
export type PlanTag = Pick<ModbusTagConfig, 'name' | 'function' | 'address' | 'type' | 'length'>;

export interface PlannedTag<T extends PlanTag = PlanTag> {
  readonly tag: T;
  /** Index of the tag's first register/bit in the request's response. */
  readonly offset: number;
  readonly count: number;
}

export interface ModbusRequest<T extends PlanTag = PlanTag> {
  readonly function: ModbusFunction;
  readonly address: number;
  readonly length: number;
  readonly tags: readonly PlannedTag<T>[];
}

const FUNCTION_ORDER: readonly ModbusFunction[] = ['coil', 'discrete', 'holding', 'input'];

export function isBitFunction(fn: ModbusFunction): boolean {
  return fn === 'coil' || fn === 'discrete';
}

/** Registers (or bits, for coil/discrete) a tag occupies. */
export function tagSize(tag: PlanTag): number {
  return isBitFunction(tag.function) ? 1 : registerCount(tag.type, tag.length);
}

/** Coalesces the given tags into requests: by function, then address, never across a known hole. */
export function planRequests<T extends PlanTag>(
  tags: readonly T[],
  limits: PlanLimits,
  holes: readonly Hole[] = [],
): ModbusRequest<T>[] {
  const requests: ModbusRequest<T>[] = [];
  for (const fn of FUNCTION_ORDER) {
    const group = tags
      .filter((t) => t.function === fn)
      .map((tag) => ({ tag, start: tag.address, size: tagSize(tag) }))
      .sort((a, b) => a.start - b.start || b.size - a.size || (a.tag.name < b.tag.name ? -1 : 1));
    if (group.length === 0) continue;
    const limit = isBitFunction(fn) ? limits.maxBitsPerRequest : limits.maxRegistersPerRequest;
    let start = group[0]!.start;
    let end = start + group[0]!.size;
    let members = [group[0]];
    const flush = (): void => {
      requests.push({
        function: fn,
        address: start,
        length: end - start,
        tags: members.map((m) => ({ tag: m!.tag, offset: m!.start - start, count: m!.size })),
      });
    };
    for (let i = 1; i < group.length; i++) {
      const item = group[i]!;
      const newEnd = Math.max(end, item.start + item.size);
      const gap = item.start - end;
      const blocked = holes.some((h) => spansHole(h, fn, end, item.start));
      if (gap <= limits.maxGap && newEnd - start <= limit && !blocked) {
        end = newEnd;
        members.push(item);
      } else {
        flush();
        start = item.start;
        end = item.start + item.size;
        members = [item];
      }
    }
    flush();
  }
  return requests;
}

/** Checks that every tag fits in one request under the limits (else a tag would be split). */
export function checkTagsFit(tags: readonly PlanTag[], limits: PlanLimits, device?: string): void {
  tags.forEach((tag, i) => {
    const bits = isBitFunction(tag.function);
    const limit = bits ? limits.maxBitsPerRequest : limits.maxRegistersPerRequest;
    const size = tagSize(tag);
    if (size > limit) {
      throw new EdgeError(
        'EDGE_ERR_CONFIG_INVALID',
        `${device === undefined ? '' : `device ${device}: `}tags[${i}] "${tag.name}" needs ${size} ${bits ? 'bits' : 'registers'} ` +
          `but ${bits ? 'maxBitsPerRequest' : 'maxRegistersPerRequest'} is ${limit}`,
        { context: { device, tag: tag.name, field: `tags[${i}].length` } },
      );
    }
  });
}

const MAX_CACHED_PLANS = 256;

/** Plans per due set, cached by the set's key (sorted tag names). */
export class Planner<T extends PlanTag> {
  private readonly byName = new Map<string, T>();
  private readonly cache = new Map<string, ModbusRequest<T>[]>();
  /** Same plans keyed by the names exactly as asked (skips the sort on the hot path). */
  private readonly asked = new Map<string, ModbusRequest<T>[]>();
  /** Number of plans computed (cache misses); for tests. */
  computed = 0;

  constructor(
    tags: readonly T[],
    private readonly limits: PlanLimits,
  ) {
    for (const tag of tags) this.byName.set(tag.name, tag);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  plan(names: readonly string[], holes: readonly Hole[] = []): readonly ModbusRequest<T>[] {
    const holesKey = holes.map((h) => `${h.function}:${h.from}-${h.to}`).join(',');
    const askedKey = `${holesKey}|${names.join('\u0000')}`;
    const hit = this.asked.get(askedKey);
    if (hit) return hit;
    const unique = [...new Set(names)].sort();
    const key = `${holesKey}|${unique.join('\u0000')}`;
    let plan = this.cache.get(key);
    if (!plan) {
      const tags: T[] = [];
      for (const name of unique) {
        const tag = this.byName.get(name);
        if (tag) tags.push(tag);
      }
      plan = planRequests(tags, this.limits, holes);
      this.computed++;
      if (this.cache.size >= MAX_CACHED_PLANS) this.cache.clear();
      this.cache.set(key, plan);
    }
    if (this.asked.size >= MAX_CACHED_PLANS) this.asked.clear();
    this.asked.set(askedKey, plan);
    return plan;
  }

  get cacheSize(): number {
    return this.cache.size;
  }
}
