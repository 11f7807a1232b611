/**
 * The error catalogue the page links codes to: docs/errors.md as JSON (code → nature,
 * summary, advice). The build writes it beside this module (errors.json) so it ships in
 * the bundle, which has no docs/; a development tree reads docs/errors.md itself, and
 * failing both, the catalogue's summaries in src/core/errors.ts still explain each code.
 */
import { existsSync, readFileSync } from 'node:fs';
import { errorCatalogue } from '../core/errors.js';

export interface ErrorDoc {
  readonly nature: string;
  readonly summary: string;
  readonly text: string;
}

/** `## CODE`, then `*nature* — summary`, then paragraphs of advice. */
export function parseErrorsDoc(markdown: string): Record<string, ErrorDoc> {
  const out: Record<string, ErrorDoc> = {};
  for (const section of markdown.split(/^## /m).slice(1)) {
    const [heading = '', ...rest] = section.split('\n');
    const code = heading.trim();
    if (!/^EDGE_ERR_[A-Z0-9_]+$/.test(code)) continue;
    const body = rest.join('\n').trim();
    const first = /^\*(\w+)\*\s*[—-]\s*(.*)$/m.exec(body);
    out[code] = {
      nature: first?.[1] ?? '',
      summary: first?.[2]?.trim() ?? '',
      text: (first ? body.slice(first.index + first[0].length) : body).trim(),
    };
  }
  return out;
}

export const ERRORS_JSON = new URL('./errors.json', import.meta.url);
const ERRORS_MD = new URL('../../../docs/errors.md', import.meta.url);

export function loadErrorsDoc(): Record<string, ErrorDoc> {
  if (existsSync(ERRORS_JSON))
    return JSON.parse(readFileSync(ERRORS_JSON, 'utf8')) as Record<string, ErrorDoc>;
  if (existsSync(ERRORS_MD)) return parseErrorsDoc(readFileSync(ERRORS_MD, 'utf8'));
  return Object.fromEntries(
    [...errorCatalogue()].map(([code, e]) => [code, { nature: e.nature, summary: e.summary, text: '' }]),
  );
}
