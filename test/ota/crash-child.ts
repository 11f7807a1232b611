/**
 * Child process for the crash-injection tests: runs one OTA operation and SIGKILLs itself
 * at the named crash point. With POWERCUT_MOUNT set it first cuts the power of that ext4
 * file system (test/helpers/powercut.ts), so what was not synced is lost as well. Production
 * code has no such switch: the crash comes through the engine's `hook` dependency.
 *   node crash-child.js CONFIG_JSON OPERATION CRASH_POINT [SOURCE]
 * OPERATION serve runs the privileged step (serveRequests) of the split.
 */
import { readFileSync } from 'node:fs';
import { silentLogger } from '../../src/core/ports.js';
import type { OtaConfig } from '../../src/config/sections/ota.js';
import { OtaEngine } from '../../src/ota/engine.js';
import { serveRequests } from '../../src/ota/privileged.js';
import { systemClock } from '../../src/core/clock.js';
import { powerCut } from '../helpers/powercut.js';

const [configFile, operation, crashAt, source] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configFile!, 'utf8')) as OtaConfig;
const engine = new OtaEngine({
  config,
  logger: silentLogger,
  downloadBackoffMs: 0,
  restart: () => undefined,
  hook: (point) => {
    if (point !== crashAt) return;
    if (process.env.POWERCUT_MOUNT) powerCut(process.env.POWERCUT_MOUNT);
    process.kill(process.pid, 'SIGKILL');
  },
});

async function main(): Promise<void> {
  if (operation === 'apply')
    await engine.apply({ source: source!, origin: source!.startsWith('https:') ? 'command' : 'cli' });
  else if (operation === 'commit') await engine.healthy(source!);
  else if (operation === 'trial-timeout') await engine.trialTimeout(source!);
  else if (operation === 'boot') await engine.bootCheck();
  else if (operation === 'serve')
    await serveRequests({
      engine,
      config,
      site: 's',
      agentId: 'a',
      clock: systemClock,
      logger: silentLogger,
    });
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
