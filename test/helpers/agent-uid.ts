/** The privilege-split tests' unprivileged agent: a real uid (no account needed) through setpriv. */
import { spawnSync } from 'node:child_process';

export const AGENT_UID = 4242;

/** Why these tests cannot run here, or false when they can. */
export const needsRoot: string | false =
  process.getuid?.() === 0 ? false : 'needs root (chown to a real agent uid, setpriv)';

/** setpriv's arguments that run `argv` as the agent uid and gid, without supplementary groups. */
export function agentArgv(argv: string[]): string[] {
  return [`--reuid=${AGENT_UID}`, `--regid=${AGENT_UID}`, '--clear-groups', '--', ...argv];
}

/** Runs `argv` as the agent (synchronously: nothing in this process can answer it meanwhile). */
export function asAgent(argv: string[]): { code: number | null; out: string } {
  const r = spawnSync('setpriv', agentArgv(argv), { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}
