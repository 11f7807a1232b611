/**
 * What the doctor's checks may look at, injected so tests run against fixture trees:
 * a filesystem root for system paths (/dev, /sys, /proc, /etc), the process environment,
 * the current user's groups, a command runner and a clock.
 */
import { execFile } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  readonly check: string;
  readonly status: CheckStatus;
  /** What was found (what is wrong, when not ok). */
  readonly message: string;
  /** How to fix it; absent when ok. */
  readonly fix?: string;
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
}

export interface DoctorEnv {
  /** Prefix for absolute system paths; '/' on a device. */
  readonly root: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly uid: number;
  readonly user: string;
  readonly groups: readonly number[];
  /** Runs a command; undefined when it is not installed. */
  exec(command: string, args: readonly string[]): Promise<ExecResult | undefined>;
  now(): number;
  /** Free and total bytes of the filesystem holding `path`. */
  diskSpace(path: string): Promise<{ free: number; total: number }>;
  /** Deadline of network checks. */
  readonly timeoutMs: number;
}

/** An absolute system path under the environment's root. */
export function sysPath(env: Pick<DoctorEnv, 'root'>, path: string): string {
  return join(env.root, path);
}

export function runCommand(command: string, args: readonly string[]): Promise<ExecResult | undefined> {
  return new Promise((resolve) => {
    execFile(command, [...args], { timeout: 5_000, encoding: 'utf8' }, (err, stdout) => {
      const code = (err as NodeJS.ErrnoException | null)?.code;
      if (code === 'ENOENT') return resolve(undefined);
      resolve({ code: err ? (typeof code === 'number' ? code : 1) : 0, stdout });
    });
  });
}

export function systemDoctorEnv(): DoctorEnv {
  return {
    root: '/',
    env: process.env,
    uid: process.getuid?.() ?? -1,
    user: process.env.USER ?? process.env.LOGNAME ?? String(process.getuid?.() ?? '?'),
    groups: process.getgroups?.() ?? [],
    exec: runCommand,
    now: () => Date.now(),
    diskSpace: async (path) => {
      const s = await statfs(path);
      return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
    },
    timeoutMs: 5_000,
  };
}

export const ok = (check: string, message: string): CheckResult => ({ check, status: 'ok', message });
export const warn = (check: string, message: string, fix: string): CheckResult => ({
  check,
  status: 'warn',
  message,
  fix,
});
export const fail = (check: string, message: string, fix: string): CheckResult => ({
  check,
  status: 'fail',
  message,
  fix,
});
