/**
 * A new configuration is checked exactly as `run` checks it at start and as check-config
 * does: the YAML and the schema, every secret reference, then each device built and
 * init()ed by `buildDevices` (in throwaway families, no I/O). Every problem comes back with
 * its path, all at once; a config with any problem is refused whole.
 */
import { createHash } from 'node:crypto';
import { systemClock } from '../core/clock.js';
import { silentLogger } from '../core/ports.js';
import { checkConfigText } from '../config/load.js';
import type { EdgeConfig } from '../config/schema.js';
import { listSecretRefs, type SecretResolver } from '../config-kit/secrets.js';
import { buildDevices } from '../drivers/build.js';

export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
  readonly code?: string;
}

export type Validated =
  | { readonly ok: true; readonly config: EdgeConfig; readonly hash: string; readonly warnings: string[] }
  | { readonly ok: false; readonly hash: string; readonly problems: ConfigProblem[] };

/** sha256 of the exact text: what history, status and the result messages name a config by. */
export function configHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export async function validateConfigText(text: string, secrets: SecretResolver): Promise<Validated> {
  const hash = configHash(text);
  const parsed = checkConfigText(text);
  if (!parsed.ok) return { ok: false, hash, problems: parsed.issues };
  const config = parsed.config;
  const problems: ConfigProblem[] = [];
  for (const { field, ref } of listSecretRefs(config)) {
    try {
      secrets(ref, field);
    } catch (error) {
      problems.push({ path: field, message: (error as Error).message, code: 'EDGE_ERR_CONFIG_SECRET' });
    }
  }
  const deps = { clock: systemClock, logger: silentLogger, random: Math.random };
  const built = await buildDevices(config, { ...deps, onEvent: () => undefined });
  await built.close();
  for (const p of built.problems) problems.push({ path: p.path, message: p.message, code: p.code });
  if (problems.length > 0) return { ok: false, hash, problems };
  return { ok: true, config, hash, warnings: built.warnings.map((w) => `${w.path}: ${w.message}`) };
}
