/**
 * A box updated over the air from a release before the privilege split still has the old
 * layout: no root state directory, no edge-agent-ota units, /opt/edge-agent the agent's.
 * Nobody would serve the split's requests there, so OTA keeps working the old way (inline,
 * state in dataDir) until deploy/install.sh is run once. On a box installed with the split
 * the root-owned stateDir exists and the agent cannot remove it (its parent is root's),
 * so a compromised agent cannot bring this fallback about. Only the agent's own processes
 * (the agent, the old unit's boot-check as uid edge-agent) fall back.
 */
import { existsSync } from 'node:fs';
import type { OtaConfig } from '../config/sections/ota.js';

export function effectiveOtaConfig(
  config: OtaConfig,
  uid: number | undefined = process.getuid?.(),
): { config: OtaConfig; legacy: boolean } {
  // Never for root: root writing its state into the agent's directory is the very hole the
  // split closes (and `serve-requests` would copy a bundle onto itself). Root creates stateDir.
  if (uid === 0 || config.mode !== 'split' || existsSync(config.stateDir)) return { config, legacy: false };
  return { config: { ...config, mode: 'inline', stateDir: config.dataDir }, legacy: true };
}
