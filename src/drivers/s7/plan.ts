/**
 * Read planning: points → ReadVar items (neighbours in the same area merged, through at
 * most `maxGap` unused bytes) → requests packed as full as the negotiated PDU allows.
 * Limits per request: the request PDU (12 bytes per item), the response PDU (4 bytes of
 * header per item plus its data, padded to even), and the PLC's items-per-request cap.
 * A point larger than one response is read in fragments and assembled. planRequests()
 * does both steps at once so that every request is filled (what the device uses).
 */
import { AREA_CODES } from './address.js';
import { pointBytes, type S7Point } from './codec.js';
import {
  ITEM_DATA_HEADER,
  ITEM_SPEC_BYTES,
  REQUEST_OVERHEAD,
  RESPONSE_OVERHEAD,
  type ItemSpec,
} from './protocol.js';

export interface PlanLimits {
  readonly pduSize: number;
  readonly maxItems: number;
  readonly maxGap: number;
}

/** Where a point's bytes sit in an item's answer. */
export interface Part {
  readonly point: S7Point;
  readonly itemOffset: number;
  readonly pointOffset: number;
  readonly length: number;
}

export interface PlannedItem {
  readonly spec: ItemSpec;
  readonly parts: readonly Part[];
  /** Bytes of the item's data in the answer (without its 4-byte header). */
  readonly dataBytes: number;
}

export interface PlannedRequest {
  readonly items: readonly PlannedItem[];
}

/** Most data one item can carry in a single-item answer. */
function maxItemBytes(pduSize: number): number {
  return pduSize - RESPONSE_OVERHEAD - ITEM_DATA_HEADER;
}

/** Items a request may hold by the request PDU size and the PLC's cap. */
export function itemsPerRequest(limits: PlanLimits): number {
  return Math.max(
    1,
    Math.min(limits.maxItems, Math.floor((limits.pduSize - REQUEST_OVERHEAD) / ITEM_SPEC_BYTES)),
  );
}

const isCounterOrTimer = (p: S7Point): boolean => p.address.area === 'T' || p.address.area === 'C';

function byteItem(p: S7Point, start: number, length: number, parts: Part[]): PlannedItem {
  return {
    spec: { areaCode: AREA_CODES[p.address.area], db: p.address.db, start, bit: 0, length, transport: 0x02 },
    parts,
    dataBytes: length,
  };
}

/** Items for these points; `merge: false` gives one item per point (quarantine probes). */
export function planItems(points: readonly S7Point[], limits: PlanLimits, merge = true): PlannedItem[] {
  const items: PlannedItem[] = [];
  const capacity = maxItemBytes(limits.pduSize);
  const byteAreas = points.filter((p) => !isCounterOrTimer(p));
  for (const p of points.filter(isCounterOrTimer)) {
    const spec: ItemSpec = {
      areaCode: AREA_CODES[p.address.area],
      db: 0,
      start: p.address.start,
      bit: 0,
      length: 1,
      transport: AREA_CODES[p.address.area],
    };
    items.push({ spec, parts: [{ point: p, itemOffset: 0, pointOffset: 0, length: 2 }], dataBytes: 2 });
  }
  const sorted = merge
    ? [...byteAreas].sort(
        (a, b) =>
          AREA_CODES[a.address.area] - AREA_CODES[b.address.area] ||
          a.address.db - b.address.db ||
          a.address.start - b.address.start,
      )
    : byteAreas;
  let run: { first: S7Point; start: number; end: number; parts: Part[] } | undefined;
  const flush = (): void => {
    if (run) items.push(byteItem(run.first, run.start, run.end - run.start, run.parts));
    run = undefined;
  };
  for (const p of sorted) {
    const length = pointBytes(p.address);
    const start = p.address.start;
    if (length > capacity) {
      flush();
      for (let done = 0; done < length; done += capacity) {
        const chunk = Math.min(capacity, length - done);
        items.push(
          byteItem(p, start + done, chunk, [{ point: p, itemOffset: 0, pointOffset: done, length: chunk }]),
        );
      }
      continue;
    }
    const joins =
      merge &&
      run !== undefined &&
      run.first.address.area === p.address.area &&
      run.first.address.db === p.address.db &&
      start <= run.end + limits.maxGap &&
      Math.max(run.end, start + length) - run.start <= capacity;
    if (joins && run) {
      run.parts.push({ point: p, itemOffset: start - run.start, pointOffset: 0, length });
      run.end = Math.max(run.end, start + length);
    } else {
      flush();
      run = {
        first: p,
        start,
        end: start + length,
        parts: [{ point: p, itemOffset: 0, pointOffset: 0, length }],
      };
    }
  }
  flush();
  return items;
}

const padded = (n: number): number => n + (n % 2);

/** Packs items into requests in order, each as full as the limits allow (the last item of an answer has no pad byte). */
export function packRequests(items: readonly PlannedItem[], limits: PlanLimits): PlannedRequest[] {
  const perRequest = itemsPerRequest(limits);
  const requests: PlannedRequest[] = [];
  let current: PlannedItem[] = [];
  let responseBytes = RESPONSE_OVERHEAD;
  for (const item of items) {
    const size = ITEM_DATA_HEADER + padded(item.dataBytes);
    if (
      current.length > 0 &&
      (current.length >= perRequest || responseBytes + size - (item.dataBytes % 2) > limits.pduSize)
    ) {
      requests.push({ items: current });
      current = [];
      responseBytes = RESPONSE_OVERHEAD;
    }
    current.push(item);
    responseBytes += size;
  }
  if (current.length > 0) requests.push({ items: current });
  return requests;
}

/** A request being filled: its items and the response bytes they take (the last item unpadded). */
class RequestBuilder {
  items: PlannedItem[] = [];
  /** Response bytes with every item padded. */
  private padded = RESPONSE_OVERHEAD;
  private lastOdd = false;

  constructor(private readonly limits: PlanLimits) {}

  /** Response bytes if an item of `dataBytes` were added at the end. */
  withItem(dataBytes: number): number {
    return this.padded + ITEM_DATA_HEADER + dataBytes;
  }

  canAdd(dataBytes: number): boolean {
    return (
      this.items.length === 0 ||
      (this.items.length < itemsPerRequest(this.limits) && this.withItem(dataBytes) <= this.limits.pduSize)
    );
  }

  /** Response bytes if the last item grew to `dataBytes`. */
  withLastAt(dataBytes: number): number {
    const last = this.items.at(-1);
    const base = this.padded - (last ? ITEM_DATA_HEADER + padded(last.dataBytes) : 0);
    return base + ITEM_DATA_HEADER + dataBytes;
  }

  add(item: PlannedItem): void {
    this.items.push(item);
    this.padded += ITEM_DATA_HEADER + padded(item.dataBytes);
    this.lastOdd = item.dataBytes % 2 === 1;
  }

  replaceLast(item: PlannedItem): void {
    const last = this.items.pop();
    if (last) this.padded -= ITEM_DATA_HEADER + padded(last.dataBytes);
    this.add(item);
  }

  get bytes(): number {
    return this.padded - (this.lastOdd ? 1 : 0);
  }
}

/**
 * Items and requests planned together: neighbours are merged into an item while the
 * request that carries it has room, and a run that does not fit is continued in the next
 * request at a point boundary (a value is never split across requests, so never torn;
 * only a point larger than one answer is fragmented, as planItems does). Filling every
 * request this way reaches minimumRequests() where planning items first (each capped at
 * one answer) and packing them afterwards left half-empty requests.
 */
export function planRequests(points: readonly S7Point[], limits: PlanLimits): PlannedRequest[] {
  const capacity = maxItemBytes(limits.pduSize);
  const requests: PlannedRequest[] = [];
  let current = new RequestBuilder(limits);
  /** The item being grown: always the last item of `current`. */
  let run: { first: S7Point; start: number; end: number; parts: Part[] } | undefined;
  const place = (item: PlannedItem): void => {
    if (!current.canAdd(item.dataBytes)) {
      requests.push({ items: current.items });
      current = new RequestBuilder(limits);
    }
    current.add(item);
  };
  const byteAreas: S7Point[] = [];
  for (const p of points) {
    if (isCounterOrTimer(p)) for (const item of planItems([p], limits, false)) place(item);
    else byteAreas.push(p);
  }
  byteAreas.sort(
    (a, b) =>
      AREA_CODES[a.address.area] - AREA_CODES[b.address.area] ||
      a.address.db - b.address.db ||
      a.address.start - b.address.start,
  );
  for (const p of byteAreas) {
    const length = pointBytes(p.address);
    const start = p.address.start;
    if (length > capacity) {
      run = undefined;
      for (const item of planItems([p], limits, false)) place(item);
      continue;
    }
    if (
      run !== undefined &&
      run.first.address.area === p.address.area &&
      run.first.address.db === p.address.db &&
      start <= run.end + limits.maxGap
    ) {
      const end = Math.max(run.end, start + length);
      if (current.withLastAt(end - run.start) <= limits.pduSize) {
        run.parts.push({ point: p, itemOffset: start - run.start, pointOffset: 0, length });
        run.end = end;
        current.replaceLast(byteItem(run.first, run.start, run.end - run.start, run.parts));
        continue;
      }
    }
    run = {
      first: p,
      start,
      end: start + length,
      parts: [{ point: p, itemOffset: 0, pointOffset: 0, length }],
    };
    place(byteItem(p, start, length, run.parts));
  }
  if (current.items.length > 0) requests.push({ items: current.items });
  // Filling in address order can strand a large item behind small ones; first-fit
  // decreasing over the same items (each already whole or cut at a point boundary) does
  // better on mixed sizes. The fewer requests wins.
  const repacked = firstFitDecreasing(
    requests.flatMap((r) => r.items),
    limits,
  );
  return repacked.length < requests.length ? repacked : requests;
}

/** Bin packing of whole items; in each request an odd-length item goes last (it needs no pad byte). */
function firstFitDecreasing(items: readonly PlannedItem[], limits: PlanLimits): PlannedRequest[] {
  const perRequest = itemsPerRequest(limits);
  const bins: { items: PlannedItem[]; bytes: number; odd: boolean }[] = [];
  const sorted = [...items].sort((a, b) => b.dataBytes - a.dataBytes);
  for (const item of sorted) {
    const size = ITEM_DATA_HEADER + padded(item.dataBytes);
    const odd = item.dataBytes % 2 === 1;
    const fits = (b: (typeof bins)[number]): boolean =>
      b.items.length < perRequest && b.bytes + size - (b.odd || odd ? 1 : 0) <= limits.pduSize;
    let bin = bins.find(fits);
    if (!bin) bins.push((bin = { items: [], bytes: RESPONSE_OVERHEAD, odd: false }));
    bin.items.push(item);
    bin.bytes += size;
    bin.odd ||= odd;
  }
  return bins.map((b) => {
    const oddAt = b.items.findIndex((i) => i.dataBytes % 2 === 1);
    const ordered = [...b.items];
    if (oddAt >= 0) ordered.push(...ordered.splice(oddAt, 1));
    return { items: ordered };
  });
}

/**
 * The fewest requests any packing of these items could use (for the benchmark and the
 * tests): by the item cap, and by response bytes, where every odd-length item but the
 * last of each request carries a pad byte.
 */
export function minimumRequests(items: readonly PlannedItem[], limits: PlanLimits): number {
  if (items.length === 0) return 0;
  const byCount = Math.ceil(items.length / itemsPerRequest(limits));
  const data = items.reduce((n, i) => n + ITEM_DATA_HEADER + i.dataBytes, 0);
  const odd = items.filter((i) => i.dataBytes % 2 === 1).length;
  const room = limits.pduSize - RESPONSE_OVERHEAD;
  let byBytes = Math.ceil(data / room);
  while (byBytes * room < data + Math.max(0, odd - byBytes)) byBytes++;
  return Math.max(byCount, byBytes);
}
