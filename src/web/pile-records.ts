/**
 * What the page shows of a pile beyond the status document, taken from the records the
 * agent stores: its last frames, latest values, charging session and faults. Kept apart
 * from model.ts because it is pure bookkeeping on one pile's entry: the model decides when
 * an entry is touched (and marks it dirty), these functions what a record changes in it.
 */
import type { TagScalar } from '../core/types.js';
import { num, obj, pushBounded, str, type Json, type PileBase } from './views.js';

const FRAMES_KEPT = 6;
const FAULTS_KEPT = 5;

export interface PileExtra {
  state: string | null;
  frames: Array<{ ts: number; kind: string; seq: number | null }>;
  values: Record<string, TagScalar>;
  session: { charging: boolean; startTs: number | null; energyWh: number | null };
  lastSession: Json | null;
  faults: Array<{ ts: number; code: number | null; detail: string }>;
}

export function newPileExtra(): PileExtra {
  return {
    state: null,
    frames: [],
    values: {},
    session: { charging: false, startTs: null, energyWh: null },
    lastSession: null,
    faults: [],
  };
}

/** A STATUS or BATT_TELEM frame stored as telemetry. */
export function pileFrame(extra: PileExtra, ts: number, body: Json): void {
  const values: Record<string, TagScalar> = {};
  for (const [tag, v] of Object.entries(body)) {
    const value = obj(v).v;
    if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean')
      values[tag] = value;
  }
  const kind = 'soc_pct' in values ? 'BATT_TELEM' : 'STATUS';
  pushBounded(extra.frames, { ts, kind, seq: num(values.msg_seq) }, FRAMES_KEPT);
  Object.assign(extra.values, values);
  if (kind === 'STATUS') {
    const charging = values.state === 'charging';
    if (charging && !extra.session.charging) extra.session.startTs = ts;
    extra.session.charging = charging;
    extra.session.energyWh = num(values.energy_wh);
  }
}

/** A `cip22-*` event of the pile. */
export function pileEvent(extra: PileExtra, ts: number, type: string, data: Json): void {
  if (type === 'cip22-state') extra.state = str(data.to) ?? extra.state;
  else if (type === 'cip22-charging-session') extra.lastSession = data;
  else if (type === 'cip22-fault')
    pushBounded(extra.faults, { ts, code: num(data.faultCode), detail: str(data.detail) ?? '' }, FAULTS_KEPT);
}

/** The pile's section: the status document's part, then what its records added. */
export function pileView(id: string, base: PileBase | undefined, extra: PileExtra | undefined): Json {
  return {
    id,
    state: extra?.state ?? base?.state ?? '?',
    online: base?.online ?? false,
    version: base?.version ?? null,
    remote: base?.remote ?? null,
    pendingCommands: base?.pendingCommands ?? 0,
    frames: extra?.frames ?? [],
    values: extra?.values ?? {},
    session: extra?.session ?? null,
    lastSession: extra?.lastSession ?? null,
    faults: extra?.faults ?? [],
  };
}
