/** `edge-agent doctor [--config FILE] [--json]`: checks the box for what the agent needs. */
import { EdgeError } from '../core/errors.js';
import { readConfigFile } from '../config/load.js';
import { configSchema, type EdgeConfig } from '../config/schema.js';
import { doctorExitCode, formatResults, runDoctor } from '../host/doctor/doctor.js';
import { systemDoctorEnv, type DoctorEnv } from '../host/doctor/env.js';

export const DEFAULT_CONFIG_FILE = '/etc/edge-agent/config.yaml';

export async function doctorCommand(
  file: string | undefined,
  options: { json: boolean; env?: DoctorEnv },
  out: (line: string) => void,
): Promise<number> {
  let config: EdgeConfig;
  const path = file ?? DEFAULT_CONFIG_FILE;
  try {
    const result = readConfigFile(path);
    if (!result.ok) {
      out(`${path}: invalid configuration (run edge-agent check-config ${path})`);
      return 2;
    }
    config = result.config;
  } catch (error) {
    if (file !== undefined) {
      out(error instanceof EdgeError ? `${error.code}: ${error.message}` : String(error));
      return 2;
    }
    out(`${path} not found: checking with default settings`);
    config = configSchema.parse({});
  }
  const results = await runDoctor(config, options.env ?? systemDoctorEnv());
  const code = doctorExitCode(results);
  if (options.json) out(JSON.stringify({ exitCode: code, checks: results }, null, 2));
  else for (const line of formatResults(results)) out(line);
  return code;
}
