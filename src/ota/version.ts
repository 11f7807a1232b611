import { readFileSync } from 'node:fs';

/** Exit code with which the agent asks systemd (Restart=on-failure) to start it again. */
export const OTA_RESTART_EXIT_CODE = 75;

/** Version of the release this code runs from: its package.json (dist/src/ota → root). */
export function runningVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
