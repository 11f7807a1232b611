/**
 * What a config check returns and how a failed load is reported, without zod or the schema:
 * shared by the in-process check (load.ts) and the one off the main isolate (off-thread.ts),
 * so both report the same way.
 */
import { EdgeError } from '../core/errors.js';
import type { EdgeConfig } from './schema.js';

export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

export type ValidationResult = { ok: true; config: EdgeConfig } | { ok: false; issues: ConfigIssue[] };

export function readError(file: string, error: unknown): EdgeError {
  return new EdgeError('EDGE_ERR_CONFIG_READ', `cannot read ${file}: ${(error as Error).message}`, {
    context: { file },
  });
}

export function invalidError(file: string, issues: ConfigIssue[]): EdgeError {
  const lines = issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
  return new EdgeError('EDGE_ERR_CONFIG_INVALID', `${file} is invalid:\n${lines}`, {
    context: { file, issues },
  });
}
