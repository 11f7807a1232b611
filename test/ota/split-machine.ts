/** A machine laid out as install.sh leaves it under the root/agent split (test/ota/split.test.ts). */
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import type { OtaConfig } from '../../src/config/sections/ota.js';
import { OtaEngine } from '../../src/ota/engine.js';
import { serveRequests } from '../../src/ota/privileged.js';
import { AGENT_UID, asAgent } from '../helpers/agent-uid.js';
import { factoryInstall, testOtaConfig, type TestKey } from './helpers.js';

const CHILD = fileURLToPath(new URL('./split-agent-child.js', import.meta.url));

export interface SplitMachine {
  readonly config: OtaConfig;
  readonly configFile: string;
  readonly engine: OtaEngine;
  readonly restarts: string[];
  readonly serve: () => ReturnType<typeof serveRequests>;
  /** The agent child's command line (for an asynchronous spawn through setpriv). */
  readonly agentCommand: (...args: string[]) => string[];
  /** Runs the agent's half as uid 4242. */
  readonly agent: (...args: string[]) => { code: number | null; out: string };
}

/** A machine as install.sh leaves it: root's releases and state, the agent's staging area. */
export function splitMachine(
  dir: string,
  key: TestKey,
  overrides: Partial<OtaConfig> = {},
  /** Runs where systemctl would restart the agent (the agent's next start). */
  onRestart?: (m: SplitMachine) => void,
): SplitMachine {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const config = testOtaConfig(dir, key, { mode: 'split', ...overrides });
  factoryInstall(config, '1.0.0');
  mkdirSync(config.dataDir, { recursive: true });
  chownSync(config.dataDir, AGENT_UID, AGENT_UID);
  const configFile = join(dir, 'ota.json');
  writeFileSync(configFile, JSON.stringify(config));
  const restarts: string[] = [];
  const engine = new OtaEngine({
    config,
    logger: silentLogger,
    restart: (r) => {
      restarts.push(r);
      onRestart?.(machine);
    },
  });
  const serve = () =>
    serveRequests({
      engine,
      config,
      site: 'site-1',
      agentId: 'agent-1',
      clock: systemClock,
      logger: silentLogger,
    });
  const machine: SplitMachine = {
    config,
    configFile,
    engine,
    restarts,
    serve,
    agentCommand: (...args) => [process.execPath, CHILD, configFile, ...args],
    agent: (...args) => asAgent([process.execPath, CHILD, configFile, ...args]),
  };
  return machine;
}
