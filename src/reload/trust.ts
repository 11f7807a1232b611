/**
 * Trust anchors: the settings that decide who the station trusts (who signs releases and
 * OTA commands, which roots pile certificates must end in, where the replay guards live)
 * and the switches that would weaken those checks. A config signer may change what the
 * station does, never who it trusts: a pushed config that changes one of these is refused
 * with its path, and the station starts with the local file's values whatever config the
 * history holds. Only the local file (SIGHUP, `edge-agent reload`, a restart) changes them.
 * docs/remote-config.md lists them and why the others (broker CA, http.auth) are not here.
 */
import type { EdgeConfig } from '../config/schema.js';
import { stableJson } from './diff.js';
import type { ConfigProblem } from './validate.js';

/** Paths under the config; `reload` is not listed: that whole section is the local file's. */
export const TRUST_ANCHORS: readonly (readonly [string, string])[] = [
  ['ota', 'publicKeys'],
  ['ota', 'commandPublicKeys'],
  ['ota', 'allowDowngrade'],
  ['ota', 'mode'],
  ['ota', 'root'],
  ['ota', 'dataDir'],
  ['ota', 'stateDir'],
  ['ota', 'restartCommand'],
  ['cip22', 'roots'],
  ['cip22', 'crls'],
  ['cip22', 'allowRootIssuedPiles'],
  ['mqtt', 'allowInsecure'],
] as const;

/** The broker's certificate check: turning it off is refused like an anchor change. */
const MQTT_VERIFY = 'mqtt.tls.rejectUnauthorized';

function valueAt(config: EdgeConfig, [section, key]: readonly [string, string]): unknown {
  const part = (config as unknown as Record<string, Record<string, unknown> | undefined>)[section];
  return part?.[key];
}

function verifiesBroker(config: EdgeConfig): boolean {
  return config.mqtt.tls?.rejectUnauthorized !== false;
}

/** The trust anchors `after` changes from `before`, each a problem naming its path. */
export function trustAnchorChanges(before: EdgeConfig, after: EdgeConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const path of TRUST_ANCHORS)
    if (stableJson(valueAt(before, path)) !== stableJson(valueAt(after, path)))
      problems.push({
        path: path.join('.'),
        message: 'a trust anchor: a pushed config may not change it (edit the local file and reload)',
        code: 'EDGE_ERR_CONFIG_TRUST',
      });
  if (verifiesBroker(before) && !verifiesBroker(after))
    problems.push({
      path: MQTT_VERIFY,
      message: 'a pushed config may not turn off the broker certificate check',
      code: 'EDGE_ERR_CONFIG_TRUST',
    });
  return problems;
}

/**
 * `config` with the local file's trust anchors. The history may hold a config pushed by an
 * older agent that did not refuse anchor changes: the station still trusts only what the
 * local file names. Returns the paths it had to replace (logged).
 */
export function withLocalTrustAnchors(
  config: EdgeConfig,
  file: EdgeConfig,
): { config: EdgeConfig; replaced: string[] } {
  const replaced = trustAnchorChanges(file, config).map((p) => p.path);
  if (replaced.length === 0) return { config, replaced };
  const out = structuredClone(config) as unknown as Record<string, Record<string, unknown>>;
  const local = file as unknown as Record<string, Record<string, unknown> | undefined>;
  for (const [section, key] of TRUST_ANCHORS) {
    const value = local[section]?.[key];
    out[section] ??= {};
    if (value === undefined) delete out[section][key];
    else out[section][key] = structuredClone(value);
  }
  if (verifiesBroker(file) && !verifiesBroker(config))
    out.mqtt!.tls = { ...(out.mqtt!.tls as object), rejectUnauthorized: true };
  return { config: out as unknown as EdgeConfig, replaced };
}
