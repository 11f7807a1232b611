/** The privilege-split tests' unprivileged agent: a real uid (no account needed) through setpriv. */
import { spawnSync } from 'node:child_process';
import { chmodSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const AGENT_UID = 4242;

/** Why these tests cannot run here, or false when they can. */
export const needsRoot: string | false =
  process.getuid?.() === 0 ? false : 'needs root (chown to a real agent uid, setpriv)';

/**
 * Adds o+x (traverse, not list) to `path` and every ancestor lacking it. A checkout made by
 * `mktemp -d` is 0700: the agent uid could not load the test's child scripts or
 * node_modules from it, and each child died with "Cannot find module".
 */
export function letAgentReach(path: string): void {
  for (let dir = realpathSync(path); ; dir = dirname(dir)) {
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001);
    if (dirname(dir) === dir) return;
  }
}

if (needsRoot === false) {
  const root = fileURLToPath(new URL('../../../', import.meta.url)); // dist/test/helpers → checkout
  letAgentReach(`${root}/dist`);
  letAgentReach(`${root}/node_modules`);
}

/** setpriv's arguments that run `argv` as the agent uid and gid, without supplementary groups. */
export function agentArgv(argv: string[]): string[] {
  return [`--reuid=${AGENT_UID}`, `--regid=${AGENT_UID}`, '--clear-groups', '--', ...argv];
}

/** Runs `argv` as the agent (synchronously: nothing in this process can answer it meanwhile). */
export function asAgent(argv: string[]): { code: number | null; out: string } {
  const r = spawnSync('setpriv', agentArgv(argv), { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}
