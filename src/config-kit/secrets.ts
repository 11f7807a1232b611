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
  http?: { auth?: { token?: SecretRef; password?: SecretRef } };
  devices?: readonly unknown[];
}): Array<{ field: string; ref: SecretRef }> {
  const refs: Array<{ field: string; ref: SecretRef }> = [];
  config.devices?.forEach((device, i) => collectRefs(device, `devices[${i}]`, refs));
  if (config.http?.auth?.token !== undefined)
    refs.push({ field: 'http.auth.token', ref: config.http.auth.token });
  if (config.http?.auth?.password !== undefined)
    refs.push({ field: 'http.auth.password', ref: config.http.auth.password });
  if (config.mqtt.password !== undefined) refs.push({ field: 'mqtt.password', ref: config.mqtt.password });
  if (config.mqtt.tls?.key !== undefined) refs.push({ field: 'mqtt.tls.key', ref: config.mqtt.tls.key });
  if (config.cip22?.enabled && config.cip22.tls !== undefined)
    refs.push({ field: 'cip22.tls.key', ref: config.cip22.tls.key });
  return refs;
}

/**
 * A driver's secrets (an OPC UA user's password, a key file) are found by their shape, the
 * `{env}` / `{file}` objects of secretRefSchema and keyRefSchema, so a new driver's secret
 * fields are checked by check-config and reload without a list to keep in step.
 */
function collectRefs(value: unknown, path: string, out: Array<{ field: string; ref: SecretRef }>): void {
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => collectRefs(item, `${path}[${i}]`, out));
    return;
  }
  const entries = Object.entries(value);
  const only = entries.length === 1 ? entries[0] : undefined;
  if (only && (only[0] === 'env' || only[0] === 'file') && typeof only[1] === 'string') {
    out.push({ field: path, ref: { [only[0]]: only[1] } as SecretRef });
    return;
  }
  for (const [key, child] of entries) collectRefs(child, `${path}.${key}`, out);
}
