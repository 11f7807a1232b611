/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/** The page's copy of the station: a snapshot, then the deltas of the live stream applied to it. */
import { pushPoint, type Series } from './charts.js';

export type Json = Record<string, unknown>;

export interface TagView {
  v: unknown;
  q: 'good' | 'bad';
  ts: number;
  code?: string;
  reason?: string;
  src?: string;
  h?: [number[], number[]];
}

export interface TagState {
  view: TagView;
  series: Series;
  /** Redraw the sparkline and the row. */
  dirty: boolean;
}

export interface EventView {
  ts: number;
  device: string;
  type: string;
  severity: string;
  code: string | null;
  text: string;
}

const TAG_POINTS = 120;
const TAG_SPACING_MS = 2000;
const EVENTS_KEPT = 200;

export class Station {
  readonly sections = new Map<string, Json>();
  readonly tags = new Map<string, Map<string, TagState>>();
  events: EventView[] = [];
  readonly latency = new Map<string, Series>();
  outbox: { depth: Series; drain: Series } = { depth: { t: [], v: [] }, drain: { t: [], v: [] } };
  /** Browser clock minus agent clock, so ages read right even when the laptop's clock is off. */
  skew = 0;
  /** Bumped on every change; views re-render when theirs moved. */
  version = 0;

  now(): number {
    return Date.now() - this.skew;
  }

  section(key: string): Json | undefined {
    return this.sections.get(key);
  }

  list(prefix: string): Json[] {
    const out: Json[] = [];
    for (const [key, value] of this.sections) if (key.startsWith(prefix)) out.push(value);
    return out;
  }

  applySnapshot(msg: Json): void {
    this.sections.clear();
    this.tags.clear();
    this.latency.clear();
    this.applyCommon(msg);
    const outbox = msg.outbox as { depth?: [number[], number[]]; drain?: [number[], number[]] } | undefined;
    this.outbox = { depth: toSeries(outbox?.depth), drain: toSeries(outbox?.drain) };
    for (const [device, ser] of Object.entries((msg.latency ?? {}) as Record<string, [number[], number[]]>))
      this.latency.set(device, toSeries(ser));
    this.events = ((msg.events ?? []) as EventView[]).slice(-EVENTS_KEPT);
  }

  applyDelta(msg: Json): void {
    this.applyCommon(msg);
    for (const key of (msg.del ?? []) as string[]) this.sections.delete(key);
    for (const [device, point] of Object.entries((msg.latency ?? {}) as Record<string, [number, number]>)) {
      let s = this.latency.get(device);
      if (!s) this.latency.set(device, (s = { t: [], v: [] }));
      pushPoint(s, point[0], point[1], 120);
    }
    const ob = msg.outbox as [number, number, number] | null | undefined;
    if (ob) {
      pushPoint(this.outbox.depth, ob[0], ob[1], 360, 10_000);
      pushPoint(this.outbox.drain, ob[0], ob[2], 360, 10_000);
    }
    const events = (msg.events ?? []) as EventView[];
    if (events.length > 0) this.events = [...this.events, ...events].slice(-EVENTS_KEPT);
  }

  private applyCommon(msg: Json): void {
    if (typeof msg.t === 'number') this.skew = Date.now() - msg.t;
    for (const [key, value] of Object.entries((msg.set ?? {}) as Record<string, Json>))
      this.sections.set(key, value);
    for (const [device, tags] of Object.entries(
      (msg.tags ?? {}) as Record<string, Record<string, TagView | [unknown, number]>>,
    )) {
      let map = this.tags.get(device);
      if (!map) this.tags.set(device, (map = new Map<string, TagState>()));
      for (const [name, sent] of Object.entries(tags)) {
        const view: TagView = Array.isArray(sent) ? { v: sent[0], q: 'good', ts: sent[1] } : sent;
        let state = map.get(name);
        if (!state) map.set(name, (state = { view, series: toSeries(view.h), dirty: true }));
        state.view = view;
        state.dirty = true;
        if (!view.h) {
          const point =
            typeof view.v === 'number' ? view.v : typeof view.v === 'boolean' ? Number(view.v) : null;
          if (point !== null) pushPoint(state.series, view.ts, point, TAG_POINTS, TAG_SPACING_MS);
        }
      }
    }
    this.version++;
  }
}

function toSeries(pair: [number[], number[]] | undefined): Series {
  return pair ? { t: [...pair[0]], v: [...pair[1]] } : { t: [], v: [] };
}
