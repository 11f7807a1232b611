/** `edge-agent check-config FILE`: every problem with its path, exit non-zero on any. */
import { EdgeError } from '../core/errors.js';
import { readConfigFile } from '../config/load.js';
import { createSecretResolver, listSecretRefs } from '../config/secrets.js';

export interface CheckOptions {
  readonly schemaOnly: boolean;
}

export function checkConfigCommand(file: string, options: CheckOptions, out: (line: string) => void): number {
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
  const devices = result.config.devices;
  const tags = devices.reduce((n, d) => n + d.tags.length, 0);
  out(
    `${file}: ok (${devices.length} device${devices.length === 1 ? '' : 's'}, ${tags} tag${tags === 1 ? '' : 's'})`,
  );
  return 0;
}
