/**
 * Secrets (broker password, private keys) come inline, from the environment or from a
 * file. They are resolved on use and never put into logs or status output.
 */
import { readFileSync } from 'node:fs';
import { EdgeError } from '../core/errors.js';
import type { SecretRef } from './common.js';

export type SecretResolver = (ref: SecretRef, field: string) => string;

export interface SecretSources {
  readonly env: NodeJS.ProcessEnv;
  readonly readFile: (path: string) => string;
}

const processSources: SecretSources = { env: process.env, readFile: (p) => readFileSync(p, 'utf8') };

export function createSecretResolver(sources: SecretSources = processSources): SecretResolver {
  return (ref, field) => {
    if (typeof ref === 'string') return ref;
    if ('env' in ref) {
      const value = sources.env[ref.env];
      if (value === undefined || value === '') {
        throw new EdgeError(
          'EDGE_ERR_CONFIG_SECRET',
          `${field}: environment variable ${ref.env} is not set`,
          { context: { field } },
        );
      }
      return value;
    }
    try {
      return sources.readFile(ref.file).replace(/\r?\n$/, '');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new EdgeError(
        'EDGE_ERR_CONFIG_SECRET',
        `${field}: cannot read secret file ${ref.file} (${reason})`,
        { context: { field } },
      );
    }
  };
}

/** Collects every secret reference in a config, with its path, for check-config. */
export function listSecretRefs(config: {
  mqtt: { password?: SecretRef; tls?: { key?: SecretRef } };
  cip22?: { enabled: boolean; tls?: { key: SecretRef } };
}): Array<{ field: string; ref: SecretRef }> {
  const refs: Array<{ field: string; ref: SecretRef }> = [];
  if (config.mqtt.password !== undefined) refs.push({ field: 'mqtt.password', ref: config.mqtt.password });
  if (config.mqtt.tls?.key !== undefined) refs.push({ field: 'mqtt.tls.key', ref: config.mqtt.tls.key });
  if (config.cip22?.enabled && config.cip22.tls !== undefined)
    refs.push({ field: 'cip22.tls.key', ref: config.cip22.tls.key });
  return refs;
}
