/** Writes dist/src/web/errors.json from docs/errors.md (run by `npm run build`): the page's error texts ship in the bundle. */
import { readFileSync, writeFileSync } from 'node:fs';
import { ERRORS_JSON, parseErrorsDoc } from '../src/web/errors-doc.js';

const doc = parseErrorsDoc(readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8'));
writeFileSync(ERRORS_JSON, JSON.stringify(doc));
