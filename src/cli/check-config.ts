/**
 * `edge-agent check-config FILE`: every problem with its path, exit non-zero on any. Past
 * the schema and the secrets it builds every device with the function `run` starts them
 * with (drivers/build.ts), so what it accepts `run` does not refuse.
 */
import { systemClock } from '../core/clock.js';
import { EdgeError } from '../core/errors.js';
import { silentLogger } from '../core/ports.js';
import { readConfigFile } from '../config/load.js';
import { createSecretResolver, listSecretRefs } from '../config-kit/secrets.js';

export interface CheckOptions {
  readonly schemaOnly: boolean;
}

export async function checkConfigCommand(
  file: string,
  options: CheckOptions,
  out: (line: string) => void,
): Promise<number> {
  let result;
  try {
    result = readConfigFile(file);
  } catch (error) {
    out(error instanceof EdgeError ? `${error.code}: ${error.message}` : String(error));
    return 2;
  }
  if (!result.ok) {
    out(`${file}: ${result.issues.length} problem${result.issues.length > 1 ? 's' : ''}`);
    for (const issue of result.issues) out(`  ${issue.path}: ${issue.message}`);
    return 1;
  }
  const problems: string[] = [];
  if (!options.schemaOnly) {
    const resolve = createSecretResolver();
    for (const { field, ref } of listSecretRefs(result.config)) {
      try {
        resolve(ref, field);
      } catch (error) {
        problems.push(error instanceof Error ? error.message : String(error));
      }
    }
  }
  if (problems.length > 0) {
    out(`${file}: ${problems.length} secret${problems.length > 1 ? 's' : ''} cannot be resolved`);
    for (const p of problems) out(`  ${p}`);
    return 1;
  }
  // Loaded on demand: the drivers are heavier than the schema, and `ota boot-check` needs neither.
  const { buildDevices } = await import('../drivers/build.js');
  const deps = { clock: systemClock, logger: silentLogger, random: Math.random };
  const built = await buildDevices(result.config, { ...deps, onEvent: () => undefined });
  await built.close();
  for (const w of built.warnings) out(`  warning: ${w.path}: ${w.message}`);
  if (built.problems.length > 0) {
    const n = built.problems.length;
    out(`${file}: ${n} device${n > 1 ? 's' : ''} cannot run`);
    for (const p of built.problems) out(`  ${p.path}: ${p.code}: ${p.message}`);
    return 1;
  }
  const devices = result.config.devices;
  const tags = devices.reduce((n, d) => n + d.tags.length, 0);
  out(
    `${file}: ok (${devices.length} device${devices.length === 1 ? '' : 's'}, ${tags} tag${tags === 1 ? '' : 's'})`,
  );
  return 0;
}
