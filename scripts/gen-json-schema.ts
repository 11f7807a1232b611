/** Writes docs/config.schema.json and docs/config.md from the zod schemas (run by `npm run build`). */
import { writeFileSync } from 'node:fs';
import { configJsonSchema, configJsonSchemaText } from '../src/config/json-schema.js';
import { configReference } from '../src/config/reference.js';

writeFileSync(new URL('../../docs/config.schema.json', import.meta.url), configJsonSchemaText());
writeFileSync(new URL('../../docs/config.md', import.meta.url), configReference(configJsonSchema()));
