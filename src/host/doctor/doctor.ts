/** `edge-agent doctor`: every check, in field order, and the exit code they add up to. */
import type { EdgeConfig } from '../../config/schema.js';
import type { SecretResolver } from '../../config-kit/secrets.js';
import type { CheckResult, DoctorEnv } from './env.js';
import { checkLed } from './gpio-checks.js';
import { checkBroker, checkCertificates } from './network-checks.js';
import { checkDisk } from './storage-checks.js';
import { checkClock, checkSerialPorts, checkWatchdog } from './system-checks.js';

export async function runDoctor(
  config: EdgeConfig,
  env: DoctorEnv,
  secrets?: SecretResolver,
): Promise<CheckResult[]> {
  const groups = [
    () => checkSerialPorts(config, env),
    () => checkLed(config, env),
    () => checkWatchdog(config, env),
    () => checkClock(env),
    () => checkDisk(config, env),
    () => checkBroker(config, env, secrets),
    () => checkCertificates(config, env),
  ];
  const results: CheckResult[] = [];
  for (const run of groups) {
    try {
      results.push(...(await run()));
    } catch (err) {
      // A check that breaks is itself a finding; the others still run.
      results.push({
        check: 'doctor',
        status: 'fail',
        message: `a check crashed: ${(err as Error).message}`,
        fix: 'report this as a bug',
      });
    }
  }
  return results;
}

/** 0 all ok, 1 warnings only, 2 any failure. */
export function doctorExitCode(results: readonly CheckResult[]): number {
  if (results.some((r) => r.status === 'fail')) return 2;
  if (results.some((r) => r.status === 'warn')) return 1;
  return 0;
}

export function formatResults(results: readonly CheckResult[]): string[] {
  const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;
  const width = Math.max(...results.map((r) => r.check.length));
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${mark[r.status]}  ${r.check.padEnd(width)}  ${r.message}`);
    if (r.fix) lines.push(`${' '.repeat(width + 8)}fix: ${r.fix}`);
  }
  const count = (s: CheckResult['status']): number => results.filter((r) => r.status === s).length;
  lines.push('', `${count('ok')} ok, ${count('warn')} warning(s), ${count('fail')} failure(s)`);
  return lines;
}
