/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The station page: one EventSource (/events: a snapshot, then deltas), a copy of the
 * station (state.ts), views rendered on the next animation frame after a change, ages
 * refreshed once a second, error codes opening their docs/errors.md text.
 */
import { LatencyChart, OutboxChart } from './charts.js';
import { el, fmtValue, refreshAges, setClass, setText } from './dom.js';
import { Station, type Json } from './state.js';
import { renderDevices, renderEvents, renderLinks, renderOverview, renderPiles } from './views.js';

const VIEWS = ['overview', 'devices', 'links', 'piles', 'events'] as const;
type View = (typeof VIEWS)[number];

const station = new Station();
const byId = (id: string): HTMLElement => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} missing`);
  return node;
};
const outboxChart = new OutboxChart(byId('chart-outbox'));
const latencyChart = new LatencyChart(byId('chart-latency'));
let view: View = 'overview';
let rendered = -1;
let frame = 0;
let eventsShown = -1;

function currentView(): View {
  const hash = location.hash.replace(/^#/, '');
  return (VIEWS as readonly string[]).includes(hash) ? (hash as View) : view;
}

function render(): void {
  frame = 0;
  rendered = station.version;
  const ov = station.section('overview');
  if (ov) {
    setText(byId('station'), fmtValue(ov.id ?? 'edge-agent'));
    setText(byId('site'), `${fmtValue(ov.site ?? '')} · ${fmtValue(ov.version ?? '')}`);
  }
  switch (view) {
    case 'overview':
      renderOverview(byId('cards'), station);
      outboxChart.update(station.outbox.depth, station.outbox.drain);
      latencyChart.update(station.latency, station.now());
      break;
    case 'devices':
      renderDevices(byId('devices'), station);
      break;
    case 'links':
      renderLinks(byId('dtus'), byId('s7'), station);
      break;
    case 'piles':
      renderPiles(byId('piles'), station);
      break;
    case 'events':
      if (eventsShown !== station.events.length || station.events.length === 0) {
        renderEvents(byId('events'), station);
        eventsShown = station.events.length;
      }
      break;
  }
  document.body.setAttribute('data-version', String(station.version));
}

function schedule(): void {
  if (frame === 0 && rendered !== station.version) frame = requestAnimationFrame(render);
}

function show(next: View): void {
  view = next;
  eventsShown = -1;
  for (const v of VIEWS) {
    document.getElementById(`view-${v}`)?.classList.toggle('active', v === next);
    document.querySelector(`nav a[data-view="${v}"]`)?.classList.toggle('active', v === next);
  }
  rendered = -1;
  schedule();
}

function connect(): void {
  const live = byId('live');
  const source = new EventSource('/events');
  source.addEventListener('snapshot', (e) => {
    station.applySnapshot(JSON.parse((e as MessageEvent<string>).data) as Json);
    setText(live, 'live');
    setClass(live, 'badge good');
    schedule();
  });
  source.addEventListener('delta', (e) => {
    station.applyDelta(JSON.parse((e as MessageEvent<string>).data) as Json);
    schedule();
  });
  source.onerror = () => {
    setText(live, 'reconnecting');
    setClass(live, 'badge bad');
    // Login expired: the stream answers 401 and EventSource gives up; go to the login page.
    if (source.readyState === EventSource.CLOSED) location.assign('/');
  };
}

let errorDocs: Promise<Record<string, { nature: string; summary: string; text: string }>> | undefined;

async function showError(code: string): Promise<void> {
  errorDocs ??= fetch('/api/errors.json').then(
    (r) => r.json() as Promise<Record<string, { nature: string; summary: string; text: string }>>,
  );
  const doc = (await errorDocs)[code];
  setText(byId('errdoc-code'), code);
  setText(byId('errdoc-summary'), doc ? `${doc.nature} — ${doc.summary}` : 'not in docs/errors.md');
  byId('errdoc-text').replaceChildren(el('p', {}, doc?.text ?? ''));
  byId('errdoc').hidden = false;
}

document.addEventListener('click', (e) => {
  const link = (e.target as Element | null)?.closest('a[data-code]');
  if (!link) return;
  e.preventDefault();
  void showError(link.getAttribute('data-code') ?? '');
});
byId('errdoc-close').addEventListener('click', () => {
  byId('errdoc').hidden = true;
});
window.addEventListener('hashchange', () => show(currentView()));
setInterval(() => {
  refreshAges(document, station.now());
  if (view === 'overview') {
    rendered = -1;
    schedule();
  }
}, 1000);

show(currentView());
connect();
