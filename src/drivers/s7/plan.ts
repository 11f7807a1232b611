/**
 * Read planning: points → ReadVar items (neighbours in the same area merged, through at
 * most `maxGap` unused bytes) → requests packed as full as the negotiated PDU allows.
 * Limits per request: the request PDU (12 bytes per item), the response PDU (4 bytes of
 * header per item plus its data, padded to even), and the PLC's items-per-request cap.
 * A point larger than one response is read in fragments and assembled.
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

/** The fewest requests any packing of these items could use (for the benchmark). */
export function minimumRequests(items: readonly PlannedItem[], limits: PlanLimits): number {
  if (items.length === 0) return 0;
  const byCount = Math.ceil(items.length / itemsPerRequest(limits));
  const data = items.reduce((n, i) => n + ITEM_DATA_HEADER + i.dataBytes, 0);
  const byBytes = Math.ceil(data / (limits.pduSize - RESPONSE_OVERHEAD));
  return Math.max(byCount, byBytes);
}
