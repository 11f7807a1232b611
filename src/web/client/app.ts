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

/** Two keepalives (15 s each, hub.ts) without a word: the stream is dead even if no error came. */
const STALE_MS = 35_000;
let source: EventSource | undefined;
let lastMessage = Date.now();

/** Everything shown is from before the stream stopped: say so on every value, not only the badge. */
function stale(text: string): void {
  const live = byId('live');
  setText(live, text);
  setClass(live, 'badge bad');
  document.body.classList.add('stale');
}

function connect(): void {
  const live = byId('live');
  source?.close();
  const es = new EventSource('/events');
  source = es;
  lastMessage = Date.now();
  const heard = (): void => {
    lastMessage = Date.now();
  };
  es.addEventListener('snapshot', (e) => {
    heard();
    station.applySnapshot(JSON.parse((e as MessageEvent<string>).data) as Json);
    setText(live, 'live');
    setClass(live, 'badge good');
    document.body.classList.remove('stale');
    schedule();
  });
  es.addEventListener('delta', (e) => {
    heard();
    station.applyDelta(JSON.parse((e as MessageEvent<string>).data) as Json);
    schedule();
  });
  es.addEventListener('ping', (e) => {
    heard();
    const t = (JSON.parse((e as MessageEvent<string>).data) as Json).t;
    if (typeof t === 'number') station.skew = Date.now() - t;
  });
  es.onerror = () => {
    stale('reconnecting');
    if (es.readyState !== EventSource.CLOSED || es !== source) return;
    // EventSource gave up (401: login ended; 503: too many pages or the agent stopping).
    // A reload here looped as fast as the agent answered 503, and one made while the agent
    // was down left the browser's error page that never comes back: ask, then go on.
    window.setTimeout(() => {
      fetch('/events', { method: 'HEAD', cache: 'no-store' })
        .then((r) => (r.status === 401 ? location.assign('/') : connect()))
        .catch(() => connect());
    }, 3000);
  };
}

function watchStream(): void {
  if (source && source.readyState === EventSource.OPEN && Date.now() - lastMessage > STALE_MS) {
    stale(`stale: nothing for ${Math.round((Date.now() - lastMessage) / 1000)} s`);
    connect();
  }
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
  watchStream();
  refreshAges(document, station.now());
  if (view === 'overview') {
    rendered = -1;
    schedule();
  }
}, 1000);

show(currentView());
connect();
