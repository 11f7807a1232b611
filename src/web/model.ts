/**
 * The station as the page sees it: the status document's sections (refreshed once a
 * second), the latest value of every tag (from the readings themselves), pile frames and
 * events (from the records the agent stores; a pile's part in pile-records.ts), and bounded
 * rings for the pictures.
 * Deltas: each section is sent again only when its JSON changed since the last one sent;
 * tags only when read again; events once.
 */
import type { Clock } from '../core/clock.js';
import type { NewRecord, Reading, TagScalar, TagSource, TagValue } from '../core/types.js';
import { newPileExtra, pileEvent, pileFrame, pileView, type PileExtra } from './pile-records.js';
import { plottable, Ring } from './rings.js';
import {
  describe,
  deviceViews,
  dtuViews,
  num,
  obj,
  overviewView,
  pileBases,
  pushBounded,
  s7Views,
  str,
  type Json,
  type PileBase,
} from './views.js';

export interface ModelSources {
  readonly status: () => Json;
  /**
   * What refresh reads while no page is live, in the status document's shape:
   * `outbox.rows`, `forwarder.publishedRecords` and each device's `device`, `lastPollTs`,
   * `lastPollMs`. Building the whole status each second for nobody (every driver's link
   * status, the config history file, the outbox's SELECT and stat) was about 2.5 % of a
   * station's CPU. Default: the status.
   */
  readonly sample?: () => Json;
  readonly version: string;
  readonly brokerUrl: string | null;
  readonly clock: Clock;
}

export interface TagView {
  readonly v: TagScalar;
  readonly q: 'good' | 'bad';
  readonly ts: number;
  readonly code?: string;
  readonly reason?: string;
  readonly src?: string;
}

/**
 * A tag's latest reading, copied out of the driver's TagValue and overwritten in place: the
 * model holding the TagValue itself for a second kept 5,000 of them a second alive past a
 * scavenge (promoted, then dead in old space: major GCs). `num` is the value when it is a
 * number, so that field stays a double updated in place (no allocation per reading);
 * `other` holds the rest (string, boolean, null).
 */
interface TagEntry {
  num: number;
  other: string | boolean | null;
  isNum: boolean;
  good: boolean;
  code: string;
  reason: string;
  src: TagSource | undefined;
  ts: number;
  ring: Ring | undefined;
}

function newEntry(): TagEntry {
  return {
    num: 0.5,
    other: null,
    isNum: false,
    good: false,
    code: '',
    reason: '',
    src: undefined,
    ts: 0,
    ring: undefined,
  };
}

function store(entry: TagEntry, value: TagValue, ts: number): void {
  const v = value.value;
  if (typeof v === 'number') {
    entry.num = v;
    entry.isNum = true;
    entry.other = null;
  } else {
    entry.isNum = false;
    entry.other = v;
  }
  entry.good = value.quality === 'good';
  if (value.quality === 'bad') {
    entry.code = value.code;
    entry.reason = value.reason;
  }
  entry.src = value.source;
  entry.ts = ts;
}

const valueOf = (entry: TagEntry): TagScalar => (entry.isNum ? entry.num : entry.other);

function tagView(entry: TagEntry): TagView {
  const { ts } = entry;
  return entry.good
    ? { v: valueOf(entry), q: 'good', ts, ...(entry.src ? { src: entry.src } : {}) }
    : { v: null, q: 'bad', ts, code: entry.code, reason: entry.reason };
}

export interface EventView {
  readonly ts: number;
  readonly device: string;
  readonly type: string;
  readonly severity: string;
  readonly code: string | null;
  readonly text: string;
}

const TAG_POINTS = 120;
const TAG_SPACING_MS = 2_000;
const LATENCY_POINTS = 120;
/** One hour of outbox history at one point per 10 s. */
const OUTBOX_POINTS = 360;
const OUTBOX_SPACING_MS = 10_000;
const EVENTS_KEPT = 200;
/** Tag history points in one snapshot, all tags together; each tag gets at least the minimum. */
const SNAPSHOT_POINTS = 60_000;
const MIN_SNAPSHOT_POINTS = 10;

export class StationModel {
  private readonly tags = new Map<string, Map<string, TagEntry>>();
  private readonly piles = new Map<string, PileExtra>();
  private pileBase = new Map<string, PileBase>();
  private readonly events: EventView[] = [];
  private readonly latency = new Map<string, Ring>();
  /** Tag rings made so far (never removed): the snapshot's budget is shared between them. */
  private tagRings = 0;
  private readonly lastPollSeen = new Map<string, number>();
  private readonly outboxDepth = new Ring(OUTBOX_POINTS, OUTBOX_SPACING_MS);
  private readonly outboxDrain = new Ring(OUTBOX_POINTS, OUTBOX_SPACING_MS);
  private drainMark: { ts: number; published: number } | undefined;
  private drainPerS: number | null = null;
  private sections = new Map<string, string>();
  /**
   * A status was read while no page was live: the sections are out of date and are built
   * from a fresh status when a page connects. The status read each second is not kept
   * meanwhile: held for a second, every one of them outlived a scavenge (promoted, then
   * dead in old space).
   */
  private stale = true;
  private readonly sent = new Map<string, string>();
  private readonly dirtyTags = new Map<string, Set<string>>();
  private readonly dirtyPiles = new Set<string>();
  private pendingEvents: EventView[] = [];
  private newLatency: Record<string, [number, number]> = {};
  private newOutbox: [number, number, number] | undefined;
  private lastOutboxSent: [number, number, number] | undefined;
  /** True while pages are connected: only then are deltas collected. */
  live = false;

  constructor(private readonly sources: ModelSources) {}

  reading(reading: Reading): void {
    let device = this.tags.get(reading.device);
    if (!device) this.tags.set(reading.device, (device = new Map<string, TagEntry>()));
    const dirty = this.live ? this.dirtySet(reading.device) : undefined;
    const ts = reading.ts;
    for (const value of reading.values) {
      let entry = device.get(value.tag);
      if (!entry) device.set(value.tag, (entry = newEntry()));
      store(entry, value, ts);
      const point = plottable(value.value);
      if (point !== undefined) {
        entry.ring ??= this.tagRing();
        entry.ring.push(ts, point);
      }
      dirty?.add(value.tag);
    }
  }

  /** Records the agent stores besides readings: events, and the piles' frames. */
  record(record: NewRecord): void {
    let body: Json;
    try {
      body = obj(JSON.parse(record.body));
    } catch {
      return;
    }
    if (record.cls === 'telemetry') pileFrame(this.pile(record.device), record.ts, body);
    else this.event(record.device, record.ts, body);
  }

  /** The pile's entry, marked for the next delta while a page is live. */
  private pile(id: string): PileExtra {
    let extra = this.piles.get(id);
    if (!extra) this.piles.set(id, (extra = newPileExtra()));
    if (this.live) this.dirtyPiles.add(id);
    return extra;
  }

  private event(device: string, ts: number, body: Json): void {
    const type = str(body.type) ?? '?';
    const data = obj(body.data);
    if (type.startsWith('cip22-')) pileEvent(this.pile(device), ts, type, data);
    const code = str(data.code) ?? str(data.errorCode);
    const text = str(data.reason) ?? str(data.message) ?? str(data.detail) ?? describe(type, data);
    const view: EventView = {
      ts,
      device,
      type,
      severity: str(body.severity) ?? 'info',
      code,
      text: text.slice(0, 200),
    };
    pushBounded(this.events, view, EVENTS_KEPT);
    if (this.live) pushBounded(this.pendingEvents, view, EVENTS_KEPT);
  }

  private dirtySet(device: string): Set<string> {
    let set = this.dirtyTags.get(device);
    if (!set) this.dirtyTags.set(device, (set = new Set()));
    return set;
  }

  /**
   * Reads the status document (once a second) into the latency and outbox rings, which a
   * page opened later draws from. The sections' JSON is built only while a page is live,
   * else at the next connect from a fresh status (most stations are never looked at).
   */
  refresh(): void {
    const now = this.sources.clock.now();
    const status = this.live ? this.sources.status() : (this.sources.sample ?? this.sources.status)();
    this.sampleOutbox(now, status);
    const devices = deviceViews(status);
    for (const d of devices) {
      if (d.lastPollTs === null || d.lastPollMs === null || this.lastPollSeen.get(d.name) === d.lastPollTs)
        continue;
      this.lastPollSeen.set(d.name, d.lastPollTs);
      let ring = this.latency.get(d.name);
      if (!ring) this.latency.set(d.name, (ring = new Ring(LATENCY_POINTS, 0)));
      ring.push(d.lastPollTs, d.lastPollMs);
      if (this.live) this.newLatency[d.name] = [d.lastPollTs, d.lastPollMs];
    }
    if (this.live) this.buildSections(status, devices, pileBases(status));
    else this.stale = true;
  }

  /** The sections' JSON from a fresh status, when a status was read without building them. */
  private buildStale(): void {
    if (!this.stale) return;
    const status = this.sources.status();
    this.buildSections(status, deviceViews(status), pileBases(status));
  }

  private buildSections(status: Json, devices: ReturnType<typeof deviceViews>, bases: PileBase[]): void {
    this.stale = false;
    // The status's pile state wins over the last cip22-state event seen.
    for (const base of bases) {
      const extra = this.piles.get(base.id);
      if (extra) extra.state = base.state;
    }
    this.pileBase = new Map(bases.map((p) => [p.id, p]));
    const next = new Map<string, string>();
    const overview = overviewView(status, {
      version: this.sources.version,
      brokerUrl: this.sources.brokerUrl,
      drainPerS: this.drainPerS,
    });
    next.set('overview', JSON.stringify(overview));
    for (const d of devices) next.set(`device:${d.name}`, JSON.stringify(d));
    for (const l of dtuViews(status)) next.set(`dtu:${l.name}`, JSON.stringify(l));
    for (const st of s7Views(status)) next.set(`s7:${st.name}`, JSON.stringify(st));
    for (const id of new Set([...this.pileBase.keys(), ...this.piles.keys()]))
      next.set(`pile:${id}`, JSON.stringify(pileView(id, this.pileBase.get(id), this.piles.get(id))));
    this.sections = next;
  }

  private sampleOutbox(now: number, status: Json): void {
    const rows = num(obj(status.outbox).rows) ?? 0;
    const published = num(obj(status.forwarder).publishedRecords) ?? 0;
    if (!this.drainMark || published < this.drainMark.published) this.drainMark = { ts: now, published };
    else if (now - this.drainMark.ts >= OUTBOX_SPACING_MS) {
      this.drainPerS = ((published - this.drainMark.published) * 1000) / (now - this.drainMark.ts);
      this.drainMark = { ts: now, published };
    }
    this.outboxDepth.push(now, rows);
    this.outboxDrain.push(now, this.drainPerS ?? 0);
    const point: [number, number, number] = [now, rows, this.drainPerS ?? 0];
    const last = this.lastOutboxSent;
    // A page draws one point per 10 s: send when it moves or a new point starts.
    if (
      this.live &&
      (!last || last[1] !== rows || last[2] !== point[2] || now - last[0] >= OUTBOX_SPACING_MS)
    ) {
      this.newOutbox = point;
      this.lastOutboxSent = point;
    }
  }

  /** A tag's history points a snapshot sends now; the tags' rings keep no more than this. */
  private tagPoints(): number {
    return Math.min(
      TAG_POINTS,
      Math.max(MIN_SNAPSHOT_POINTS, Math.floor(SNAPSHOT_POINTS / Math.max(1, this.tagRings))),
    );
  }

  /** One limit function for every tag's ring (a closure and a context each cost 5,000 tags ~0.4 MB). */
  private readonly tagLimit = (): number => this.tagPoints();

  private tagRing(): Ring {
    this.tagRings++;
    return new Ring(TAG_POINTS, TAG_SPACING_MS, this.tagLimit);
  }

  /** Points of tag history held in memory, all tags together (allocated, filled or not). */
  tagHistoryAllocated(): number {
    let points = 0;
    for (const entries of this.tags.values())
      for (const entry of entries.values()) points += entry.ring?.allocated ?? 0;
    return points;
  }

  /** Everything, for a page that just connected. */
  snapshot(): Json {
    // The tags' history shares a budget: a station of 5000 tags sends each one's last
    // points (about 1 MB in all), not 4 minutes of every one (10 MB) to every page opened.
    const points = this.tagPoints();
    const tags: Record<string, Record<string, TagView & { h?: [number[], number[]] }>> = {};
    for (const [device, entries] of this.tags) {
      const out: Record<string, TagView & { h?: [number[], number[]] }> = {};
      for (const [tag, entry] of entries)
        out[tag] = { ...tagView(entry), ...(entry.ring ? { h: entry.ring.toJSON(points) } : {}) };
      tags[device] = out;
    }
    this.buildStale();
    const set: Json = {};
    for (const [key, json] of this.sections) set[key] = JSON.parse(json) as unknown;
    return {
      t: this.sources.clock.now(),
      set,
      tags,
      events: this.events,
      latency: Object.fromEntries([...this.latency].map(([d, r]) => [d, r.toJSON()])),
      outbox: { depth: this.outboxDepth.toJSON(), drain: this.outboxDrain.toJSON() },
    };
  }

  /** What changed since the last delta, or undefined when nothing did. */
  takeDelta(): Json | undefined {
    const set: Json = {};
    let changed = false;
    for (const id of this.dirtyPiles) {
      if (!this.pileBase.has(id) && !this.piles.has(id)) continue;
      this.sections.set(
        `pile:${id}`,
        JSON.stringify(pileView(id, this.pileBase.get(id), this.piles.get(id))),
      );
    }
    this.dirtyPiles.clear();
    for (const [key, json] of this.sections) {
      if (this.sent.get(key) === json) continue;
      this.sent.set(key, json);
      set[key] = JSON.parse(json) as unknown;
      changed = true;
    }
    const del = [...this.sent.keys()].filter((key) => !this.sections.has(key));
    for (const key of del) this.sent.delete(key);
    const tags: Record<string, Record<string, TagView | [TagScalar, number]>> = {};
    for (const [device, names] of this.dirtyTags) {
      const entries = this.tags.get(device);
      const out: Record<string, TagView | [TagScalar, number]> = {};
      for (const name of names) {
        const entry = entries?.get(name);
        if (!entry) continue;
        // A good value from the primary source, the usual case, goes as [value, ts]: a third of the bytes.
        out[name] = entry.good && entry.src === undefined ? [valueOf(entry), entry.ts] : tagView(entry);
      }
      tags[device] = out;
      changed = true;
    }
    this.dirtyTags.clear();
    const events = this.pendingEvents;
    const latency = this.newLatency;
    const outbox = this.newOutbox;
    this.pendingEvents = [];
    this.newLatency = {};
    this.newOutbox = undefined;
    changed ||=
      events.length > 0 || del.length > 0 || Object.keys(latency).length > 0 || outbox !== undefined;
    if (!changed) return undefined;
    return { t: this.sources.clock.now(), set, del, tags, events, latency, outbox: outbox ?? null };
  }

  /** A page connected after a quiet time: what it gets as a snapshot is already "sent". */
  markAllSent(): void {
    this.buildStale();
    for (const [key, json] of this.sections) this.sent.set(key, json);
  }
}
