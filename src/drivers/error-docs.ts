/**
 * The drivers' part of docs/errors.md, generated from their definitions' `errors` (run by
 * `npm run build` through scripts/gen-json-schema.ts; test/drivers/seam.test.ts checks it
 * is current). The core codes above the block stay hand-written beside src/core/errors.ts.
 */
import type { ErrorSpec } from '../core/errors.js';
import { DRIVERS } from './registry.js';
import type { AnyDriverDefinition } from './types.js';

export const DRIVER_DOCS_BEGIN =
  "<!-- BEGIN driver codes: generated from each driver's definition (`errors`), edit src/drivers/<name>/ -->";
export const DRIVER_DOCS_END = '<!-- END driver codes -->';

function entry(code: string, spec: ErrorSpec): string {
  const head = `## ${code}\n\n*${spec.nature}* — ${spec.summary}.${spec.linkDown ? ' Link down: the device goes offline.' : ''}`;
  return spec.docs ? `${head}\n\n${spec.docs}\n` : `${head}\n`;
}

/** The generated block, markers included. */
export function driverErrorDocs(): string {
  const parts = (DRIVERS as readonly AnyDriverDefinition[]).map((d) => {
    const entries = Object.entries(d.errors).map(([code, spec]) => entry(code, spec));
    return `# Driver \`${d.name}\`\n\n${entries.join('\n')}`;
  });
  return `${DRIVER_DOCS_BEGIN}\n\n${parts.join('\n')}\n${DRIVER_DOCS_END}\n`;
}

/** docs/errors.md with its driver block replaced by (or, the first time, appended as) the generated one. */
export function withDriverErrorDocs(doc: string): string {
  const begin = doc.indexOf(DRIVER_DOCS_BEGIN);
  const end = doc.indexOf(DRIVER_DOCS_END);
  if (begin < 0 || end < begin) return `${doc.trimEnd()}\n\n${driverErrorDocs()}`;
  return doc.slice(0, begin) + driverErrorDocs() + doc.slice(end + DRIVER_DOCS_END.length + 1);
}
