/**
 * Child process for the crash-injection test: runs one OTA operation and SIGKILLs itself
 * at the named crash point, exactly where a power cut would stop it. Production code has
 * no such switch: the crash comes through the engine's `hook` dependency, injected here.
 *   node crash-child.js CONFIG_JSON OPERATION CRASH_POINT [SOURCE]
 */
import { readFileSync } from 'node:fs';
import { silentLogger } from '../../src/core/ports.js';
import type { OtaConfig } from '../../src/config/sections/ota.js';
import { OtaEngine } from '../../src/ota/engine.js';

const [configFile, operation, crashAt, source] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configFile!, 'utf8')) as OtaConfig;
const engine = new OtaEngine({
  config,
  logger: silentLogger,
  downloadBackoffMs: 0,
  restart: () => undefined,
  hook: (point) => {
    if (point === crashAt) process.kill(process.pid, 'SIGKILL');
  },
});

async function main(): Promise<void> {
  if (operation === 'apply')
    await engine.apply({ source: source!, origin: source!.startsWith('https:') ? 'command' : 'cli' });
  else if (operation === 'commit') await engine.healthy(source!);
  else if (operation === 'trial-timeout') await engine.trialTimeout(source!);
  else if (operation === 'boot') await engine.bootCheck();
  else throw new Error(`unknown operation ${operation}`);
}

main().then(
  () => process.stdout.write('finished without reaching the crash point\n'),
  (error: unknown) => {
    // Rethrown: the unhandled rejection ends this child with a non-zero status.
    process.stderr.write(`${String(error)}\n`);
    throw error;
  },
);
