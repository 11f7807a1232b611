/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/** Small DOM and formatting helpers for the station page (plain DOM, no framework). */

export type Attrs = Record<string, string | number | boolean | undefined>;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Array<Node | string | null | undefined>
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'class') node.className = String(v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

/** Sets text only when it changed: most cells are updated in place many times a second. */
export function setText(node: Element | null | undefined, text: string): void {
  if (node && node.textContent !== text) node.textContent = text;
}

export function setClass(node: Element | null | undefined, cls: string): void {
  if (node && node.className !== cls) node.className = cls;
}

export function fmtValue(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return String(v);
    const abs = Math.abs(v);
    return v.toFixed(abs >= 1000 ? 1 : abs >= 10 ? 2 : 3);
  }
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function fmtAge(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const s = Math.max(0, ms) / 1000;
  if (s < 1) return 'now';
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function fmtTime(ts: number): string {
  const d = new Date(ts);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A code that opens its docs/errors.md text (see app.ts). */
export function codeLink(code: string): HTMLAnchorElement {
  return el('a', { class: 'code', href: `#error:${code}`, 'data-code': code }, code);
}

/** Replaces a cell's content with code links, when the codes changed. */
export function setCodes(cell: Element | null | undefined, codes: readonly string[]): void {
  if (!cell) return;
  const key = codes.join(' ');
  if (cell.getAttribute('data-codes') === key) return;
  cell.setAttribute('data-codes', key);
  cell.replaceChildren(...codes.flatMap((c, i) => (i === 0 ? [codeLink(c)] : [' ', codeLink(c)])));
}

/** Cells showing an age: their timestamp is kept in data-ts and refreshed once a second. */
export function setAgeCell(cell: Element | null | undefined, ts: number | null, now: number): void {
  if (!cell) return;
  const value = ts === null ? '' : String(ts);
  if (cell.getAttribute('data-ts') !== value) cell.setAttribute('data-ts', value);
  setText(cell, ts === null ? '—' : fmtAge(now - ts));
}

export function refreshAges(root: ParentNode, now: number): void {
  for (const cell of root.querySelectorAll('[data-ts]')) {
    const ts = Number(cell.getAttribute('data-ts'));
    if (cell.getAttribute('data-ts') !== '' && Number.isFinite(ts)) setText(cell, fmtAge(now - ts));
  }
}

/** A keyed table body: one row per key, built once, updated in place. */
export function keyedRow(
  body: HTMLTableSectionElement,
  attr: string,
  key: string,
  build: () => HTMLTableRowElement,
): HTMLTableRowElement {
  // Rows by key, per table body: a device of 50 tags is not searched 50 times per frame.
  let rows = rowIndex.get(body);
  if (!rows) rowIndex.set(body, (rows = new Map<string, HTMLTableRowElement>()));
  const known = rows.get(key);
  if (known && known.parentNode === body) return known;
  const row = build();
  row.setAttribute(attr, key);
  body.append(row);
  rows.set(key, row);
  return row;
}

const rowIndex = new WeakMap<HTMLTableSectionElement, Map<string, HTMLTableRowElement>>();

export function table(headers: readonly string[]): {
  table: HTMLTableElement;
  body: HTMLTableSectionElement;
} {
  const body = el('tbody');
  const t = el('table', {}, el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', {}, h)))), body);
  return { table: t, body };
}
