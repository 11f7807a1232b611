/**
 * Reading and validating configuration. Every problem is reported with its path in the
 * file (`devices[2].tags[5].address: …`), all at once, so a field engineer fixes a
 * config in one round trip.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { EdgeError } from '../core/errors.js';
import { DRIVER_NAMES } from '../drivers/registry.js';
import { configSchema, type EdgeConfig } from './schema.js';

export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

export type ValidationResult = { ok: true; config: EdgeConfig } | { ok: false; issues: ConfigIssue[] };

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

function toIssues(error: z.ZodError): ConfigIssue[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return {
        path: formatPath([...issue.path]),
        message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`,
      };
    }
    if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
      return { path: formatPath([...issue.path]), message: `unknown driver (known: ${knownDrivers()})` };
    }
    return { path: formatPath([...issue.path]), message: issue.message };
  });
}

function knownDrivers(): string {
  return DRIVER_NAMES.join(', ');
}

export function validateConfig(raw: unknown): ValidationResult {
  const result = configSchema.safeParse(raw ?? {});
  if (result.success) return { ok: true, config: Object.freeze(result.data) };
  return { ok: false, issues: toIssues(result.error) };
}

/**
 * Alias uses allowed while building the config (yaml counts each use times the aliases
 * inside what it names). yaml's default, 100, refused a station of more than 100 devices
 * sharing one anchored tag list; 10,000 allows that and still stops a nested alias bomb
 * (10 uses of 10 uses of … exceed it at the fifth level).
 */
export const MAX_YAML_ALIAS_COUNT = 10_000;

/** Parses YAML text; syntax errors become issues with line and column. */
function parseConfigText(text: string): { ok: true; value: unknown } | { ok: false; issues: ConfigIssue[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return {
          path: pos ? `line ${pos.line}, column ${pos.col}` : '(yaml)',
          message: e.message.split('\n')[0] ?? e.message,
        };
      }),
    };
  }
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT }) };
  } catch (e) {
    // yaml throws (a ReferenceError) for aliases that expand too far or name no anchor.
    const detail = (e as Error).message.split('\n')[0] ?? '';
    return {
      ok: false,
      issues: [
        {
          path: '(yaml)',
          message: `YAML aliases cannot be expanded (at most ${MAX_YAML_ALIAS_COUNT} alias uses, counting nesting): ${detail}`,
        },
      ],
    };
  }
}

export function checkConfigText(text: string): ValidationResult {
  const parsed = parseConfigText(text);
  return parsed.ok ? validateConfig(parsed.value) : parsed;
}

export function readConfigFile(file: string): ValidationResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new EdgeError('EDGE_ERR_CONFIG_READ', `cannot read ${file}: ${(error as Error).message}`, {
      context: { file },
    });
  }
  return checkConfigText(text);
}

/** Loads a file or throws EDGE_ERR_CONFIG_INVALID listing every issue. */
export function loadConfigFile(file: string): EdgeConfig {
  const result = readConfigFile(file);
  if (result.ok) return result.config;
  const lines = result.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
  throw new EdgeError('EDGE_ERR_CONFIG_INVALID', `${file} is invalid:\n${lines}`, {
    context: { file, issues: result.issues },
  });
}
