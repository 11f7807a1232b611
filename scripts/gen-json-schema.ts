/**
 * Writes docs/config.schema.json and docs/config.md from the zod schemas, and the drivers'
 * block of docs/errors.md from their definitions (run by `npm run build`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { configJsonSchema, configJsonSchemaText } from '../src/config/json-schema.js';
import { configReference } from '../src/config/reference.js';
import { withDriverErrorDocs } from '../src/drivers/error-docs.js';

writeFileSync(new URL('../../docs/config.schema.json', import.meta.url), configJsonSchemaText());
writeFileSync(new URL('../../docs/config.md', import.meta.url), configReference(configJsonSchema()));
const errorsDoc = new URL('../../docs/errors.md', import.meta.url);
writeFileSync(errorsDoc, withDriverErrorDocs(readFileSync(errorsDoc, 'utf8')));
