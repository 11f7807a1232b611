/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/** The page's views, each rendered into its container and updated in place (rows keyed by name). */
import { drawSpark } from './charts.js';
import {
  el,
  fmtAge,
  fmtBytes,
  fmtTime,
  fmtValue,
  keyedRow,
  setAgeCell,
  setClass,
  setCodes,
  setText,
  table,
} from './dom.js';
import type { Json, Station } from './state.js';

const n = (x: unknown): number | null => (typeof x === 'number' ? x : null);
const s = (x: unknown): string => (x === null || x === undefined ? '—' : fmtValue(x));
const o = (x: unknown): Json => (typeof x === 'object' && x !== null ? (x as Json) : {});

function stateClass(state: string): string {
  if (['online', 'up', 'CHARGING', 'STANDBY', 'running', 'closed'].includes(state)) return 'badge good';
  if (['offline', 'down', 'FAULT', 'OFFLINE', 'open', 'stopped'].includes(state)) return 'badge bad';
  return 'badge warn';
}

/** The OTA card: the state, and how long a release on trial has left to report healthy. */
function otaState(ota: Json, now: number): string {
  const deadline = n(ota.deadline);
  return `${s(ota.state)}${deadline === null ? '' : `, healthy within ${fmtAge(deadline - now)}`}`;
}

export function renderOverview(root: HTMLElement, st: Station): void {
  const ov = st.section('overview') ?? {};
  const health = o(ov.health);
  const broker = o(ov.broker);
  const outbox = o(ov.outbox);
  const devices = st.list('device:');
  const piles = st.list('pile:');
  const problems = Array.isArray(health.problems) ? (health.problems as string[]) : [];
  const cards: Array<[string, string, string, string?]> = [
    ['version', 'Agent version', s(ov.version)],
    ['uptime', 'Uptime', fmtAge(n(ov.uptimeMs)), ''],
    ['config', 'Config hash', ov.configHash ? s(ov.configHash).slice(0, 16) : '—'],
    [
      'health',
      'Health',
      health.ok === true ? 'ok' : problems.join('; ') || '…',
      health.ok === true ? 'good' : 'bad',
    ],
    [
      'broker',
      `Broker${broker.url ? ` ${s(broker.url)}` : ''}`,
      broker.connected === true
        ? 'connected'
        : broker.enabled === true
          ? 'disconnected'
          : 'none (store only)',
      broker.connected === true ? 'good' : 'bad',
    ],
    ['depth', 'Outbox depth', `${s(outbox.rows)} records · ${fmtBytes(n(outbox.bytes) ?? 0)}`],
    ['oldest', 'Oldest record', outbox.oldestTs ? fmtAge(st.now() - Number(outbox.oldestTs)) : 'none'],
    [
      'drain',
      'Drain rate',
      n(ov.drainPerS) === null ? '—' : `${(n(ov.drainPerS) ?? 0).toFixed(1)} records/s`,
    ],
    ['ota', 'OTA', otaState(o(ov.ota), st.now()), o(ov.ota).unknown === true ? 'warn' : ''],
    [
      'ota-last',
      'Last update',
      o(ov.ota).last
        ? `${s(o(ov.ota).last)} · ${fmtAge(st.now() - (n(o(ov.ota).lastAt) ?? NaN))} ago`
        : 'none recorded',
      o(ov.ota).lastBad === true ? 'bad' : '',
    ],
    ['led', 'LED pattern', s(ov.led)],
    [
      'devices',
      'Devices online',
      `${devices.filter((d) => d.state === 'online').length} / ${devices.length}`,
    ],
    ['piles', 'Piles online', `${piles.filter((p) => p.online === true).length} / ${piles.length}`],
  ];
  for (const [key, label, value, cls] of cards) {
    let card = root.querySelector(`[data-card="${key}"]`);
    if (!card) {
      card = el(
        'div',
        { class: 'card', 'data-card': key },
        el('div', { class: 'k' }, label),
        el('div', { class: 'v' }),
      );
      root.append(card);
    }
    setText(card.querySelector('.k'), label);
    const v = card.querySelector('.v');
    setText(v, value);
    setClass(v, `v ${cls ?? ''}`.trim());
  }
}

const TAG_HEADERS = ['tag', 'value', 'quality', 'code', 'age', 'last minutes'];

export function renderDevices(root: HTMLElement, st: Station): void {
  const now = st.now();
  const names = new Set<string>();
  for (const dev of st.list('device:')) {
    const name = String(dev.name);
    names.add(name);
    let block = root.querySelector<HTMLElement>(`.device[data-device="${CSS.escape(name)}"]`);
    if (!block) {
      const t = table(TAG_HEADERS);
      t.table.className = 'tags';
      block = el(
        'div',
        { class: 'device', 'data-device': name },
        el(
          'h3',
          {},
          el('span', {}, name),
          el('span', { class: 'state' }),
          el('span', { class: 'meta' }),
          el('span', { class: 'meta', 'data-field': 'poll' }),
          el('span', { class: 'codes' }),
        ),
        t.table,
      );
      root.append(block);
    }
    const state = String(dev.state);
    const head = block.querySelector('h3');
    setText(head?.querySelector('.state'), state);
    setClass(head?.querySelector('.state'), stateClass(state));
    setText(
      head?.querySelector('.meta'),
      `${s(dev.driver)} · source ${s(dev.source)} · breaker ${s(dev.breaker)} · ${s(dev.polls)} polls, ${s(dev.pollErrors)} with errors`,
    );
    const lastPoll = n(dev.lastPollTs);
    const poll = head?.querySelector('[data-field="poll"]');
    setText(
      poll,
      lastPoll === null
        ? 'never polled'
        : `last poll ${fmtAge(now - lastPoll)} ago (${(n(dev.lastPollMs) ?? 0).toFixed(1)} ms)`,
    );
    setCodes(head?.querySelector('.codes'), Object.keys(o(dev.errorsByCode)));
    const body = block.querySelector('tbody');
    const tags = st.tags.get(name);
    if (!body || !tags) continue;
    for (const [tag, ts] of tags) {
      const row = keyedRow(body, 'data-tag', tag, () =>
        el(
          'tr',
          { 'data-device': name },
          el('td', {}, tag),
          el('td', { class: 'v' }),
          el('td', { class: 'q' }),
          el('td', { class: 'code' }),
          el('td', { class: 'age' }),
          el('td', {}, el('canvas', { class: 'spark', width: 120, height: 24 })),
        ),
      );
      const v = ts.view;
      setAgeCell(row.querySelector('.age'), v.ts, now);
      if (!ts.dirty) continue;
      ts.dirty = false;
      setClass(row, `q-${v.q}`);
      setText(row.querySelector('.v'), v.q === 'good' ? fmtValue(v.v) : 'BAD');
      setText(row.querySelector('.q'), v.q + (v.src ? ` (${v.src})` : ''));
      setClass(row.querySelector('.q'), `q q-${v.q}`);
      setCodes(row.querySelector('.code'), v.code ? [v.code] : []);
      row.title = v.reason ?? '';
      const canvas = row.querySelector('canvas');
      if (canvas) drawSpark(canvas, ts.series, v.q === 'bad');
    }
  }
  for (const block of root.querySelectorAll<HTMLElement>('.device'))
    if (!names.has(block.dataset.device ?? '')) block.remove();
}

function keyedTable(root: HTMLElement, headers: readonly string[]): HTMLTableSectionElement {
  let body = root.querySelector('tbody');
  if (!body) {
    const t = table(headers);
    root.append(t.table);
    body = t.body;
  }
  return body;
}

function fillRow(
  body: HTMLTableSectionElement,
  attr: string,
  key: string,
  cells: ReadonlyArray<string | ((td: HTMLTableCellElement) => void)>,
): HTMLTableRowElement {
  const row = keyedRow(body, attr, key, () => el('tr', {}, ...cells.map(() => el('td'))));
  cells.forEach((cell, i) => {
    const td = row.cells[i];
    if (!td) return;
    if (typeof cell === 'string') setText(td, cell);
    else cell(td);
  });
  return row;
}

function pruneRows(body: HTMLTableSectionElement, attr: string, keep: ReadonlySet<string>): void {
  for (const row of [...body.rows]) if (!keep.has(row.getAttribute(attr) ?? '')) row.remove();
}

function badge(text: string): (td: HTMLTableCellElement) => void {
  return (td) => {
    let span = td.querySelector('span');
    if (!span) td.replaceChildren((span = el('span')));
    setClass(td, 'state');
    setText(span, text);
    setClass(span, stateClass(text));
  };
}

export function renderLinks(dtuRoot: HTMLElement, s7Root: HTMLElement, st: Station): void {
  const now = st.now();
  const dtus = st.list('dtu:');
  const dtuBody = keyedTable(dtuRoot, [
    'DTU',
    'state',
    'mode',
    'remote',
    'up since',
    'last heartbeat',
    'registrations',
    'heartbeats',
    'bytes in/out',
    'timeouts',
    'CRC errors',
  ]);
  for (const d of dtus)
    fillRow(dtuBody, 'data-dtu', String(d.name), [
      String(d.name),
      badge(d.up === true ? 'up' : 'down'),
      s(d.mode),
      s(d.remote),
      (td) => setAgeCell(td, n(d.since), now),
      (td) => setAgeCell(td, n(d.lastHeartbeatAt), now),
      s(d.registrations),
      s(d.heartbeats),
      `${s(d.bytesIn)} / ${s(d.bytesOut)}`,
      s(d.timeouts),
      s(d.crcErrors),
    ]);
  pruneRows(dtuBody, 'data-dtu', new Set(dtus.map((d) => String(d.name))));
  const s7 = st.list('s7:');
  const s7Body = keyedTable(s7Root, [
    'PLC',
    'state',
    'PDU',
    'requests/cycle',
    'quarantined tags',
    'last error',
  ]);
  for (const c of s7)
    fillRow(s7Body, 'data-s7', String(c.name), [
      String(c.name),
      badge(s(c.state)),
      s(c.pduSize),
      s(c.requestsPerCycle),
      Array.isArray(c.quarantined) && c.quarantined.length > 0 ? c.quarantined.join(', ') : 'none',
      (td) => setCodes(td, c.lastError ? [s(c.lastError)] : []),
    ]);
  pruneRows(s7Body, 'data-s7', new Set(s7.map((c) => String(c.name))));
  if (dtus.length === 0) setText(dtuRoot.querySelector('tbody'), '');
}

export function renderPiles(root: HTMLElement, st: Station): void {
  const now = st.now();
  const piles = st.list('pile:');
  const body = keyedTable(root, [
    'pile',
    'state',
    'link',
    'session',
    'last charging session',
    'last frames',
    'faults',
    'version',
    'remote',
  ]);
  for (const p of piles) {
    const session = o(p.session);
    const values = o(p.values);
    const last = p.lastSession ? o(p.lastSession) : null;
    const frames = Array.isArray(p.frames) ? (p.frames as Json[]) : [];
    const faults = Array.isArray(p.faults) ? (p.faults as Json[]) : [];
    const state = s(p.state);
    fillRow(body, 'data-pile', String(p.id), [
      String(p.id),
      badge(state),
      p.online === true ? 'online' : 'offline',
      session.charging === true
        ? `charging ${s(values.energy_wh)} Wh · ${s(values.current_ma)} mA`
        : `${s(values.energy_wh)} Wh`,
      last
        ? `${s(last.energyWh)} Wh, ${fmtTime(Number(last.startTs))}–${fmtTime(Number(last.stopTs))} (${s(last.endCause)})`
        : '—',
      frames
        .slice(-3)
        .map((f) => `${s(f.kind)}#${s(f.seq)} ${fmtAge(now - Number(f.ts))}`)
        .join(' · ') || '—',
      (td) => {
        setText(
          td,
          faults.map((f) => `${s(f.code)} ${s(f.detail)} (${fmtTime(Number(f.ts))})`).join(' · ') || 'none',
        );
        setClass(td, faults.length > 0 ? 'bad' : '');
      },
      s(p.version),
      s(p.remote),
    ]);
  }
  pruneRows(body, 'data-pile', new Set(piles.map((p) => String(p.id))));
}

export function renderEvents(root: HTMLElement, st: Station): void {
  const t = table(['time', 'device', 'event', 'severity', 'code', 'detail']);
  for (const e of [...st.events].reverse().slice(0, 200)) {
    const code = el('td');
    setCodes(code, e.code ? [e.code] : []);
    t.body.append(
      el(
        'tr',
        { class: e.severity === 'error' ? 'bad' : e.severity === 'warning' ? 'warn' : '' },
        el('td', {}, fmtTime(e.ts)),
        el('td', {}, e.device),
        el('td', {}, e.type),
        el('td', {}, e.severity),
        code,
        el('td', {}, e.text),
      ),
    );
  }
  root.replaceChildren(t.table);
}
