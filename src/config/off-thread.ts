/**
 * Config checks off the main isolate. The composed schema (every section's zod objects, the
 * YAML parser) would stay in the agent's heap for its whole life after one check at start;
 * here a one-shot worker thread imports it, checks, posts back the plain validated object
 * and exits, and its isolate goes with it. Results, paths and messages are load.ts's own
 * (test/config/off-thread.test.ts compares both on every firmware-config file). Runtime
 * code (run, reload, demo) checks configs here and imports load.ts and schema.ts as types
 * only.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { invalidError, readError, type ValidationResult } from './issues.js';
import type { EdgeConfig } from './schema.js';

export type CheckRequest = { readonly text: string } | { readonly raw: unknown };

const WORKER = new URL('./check-worker.js', import.meta.url);

function inWorker(request: CheckRequest): Promise<ValidationResult> {
  return new Promise((resolve, reject) => {
    // No node options: the process's (a test's load recorder, say) are not the check's business.
    const worker = new Worker(WORKER, { workerData: request, execArgv: [] });
    let result: ValidationResult | undefined;
    worker.once('message', (message: ValidationResult) => (result = message));
    worker.once('error', reject);
    worker.once('exit', (code) =>
      result ? resolve(result) : reject(new Error(`config check worker exited with code ${code}`)),
    );
  });
}

/** The same check in this isolate: when no worker can start (threads exhausted, say), a config is still checked. */
async function inProcess(request: CheckRequest): Promise<ValidationResult> {
  const load = await import('./load.js');
  return 'text' in request ? load.checkConfigText(request.text) : load.validateConfig(request.raw);
}

async function check(request: CheckRequest): Promise<ValidationResult> {
  const result = await inWorker(request).catch(() => inProcess(request));
  return result.ok ? { ok: true, config: Object.freeze(result.config) } : result;
}

/** load.ts `checkConfigText`, off the main isolate. */
export function checkConfigTextOffThread(text: string): Promise<ValidationResult> {
  return check({ text });
}

/** load.ts `validateConfig`, off the main isolate (raw must be structured-cloneable). */
export function validateConfigOffThread(raw: unknown): Promise<ValidationResult> {
  return check({ raw });
}

/** load.ts `loadConfigFile`, off the main isolate: throws EDGE_ERR_CONFIG_READ / _INVALID alike. */
export async function loadConfigFileOffThread(file: string): Promise<EdgeConfig> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw readError(file, error);
  }
  const result = await checkConfigTextOffThread(text);
  if (result.ok) return result.config;
  throw invalidError(file, result.issues);
}
