/** A stand-in agent for Reloader tests: keeps the config and device stats it is handed. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/ports.js';
import { checkConfigText } from '../../src/config/load.js';
import type { EdgeConfig } from '../../src/config/schema.js';
import { createSecretResolver } from '../../src/config-kit/secrets.js';
import { ConfigHistory } from '../../src/reload/history.js';
import { Reloader } from '../../src/reload/reloader.js';
import type { PollerStats } from '../../src/core/poller.js';
import type { DeviceDriver } from '../../src/core/ports.js';
import type { AgentEvent } from '../../src/core/types.js';
import type { ReloadTarget } from '../../src/reload/apply.js';

export interface StandIn extends ReloadTarget {
  running: EdgeConfig;
  readonly events: AgentEvent[];
  /** Polls and polls with a bad value, per device started by an apply. */
  readonly stats: Map<string, { polls: number; pollErrors: number }>;
  forwarders: number;
}

const idle: DeviceDriver = {
  device: 'stand-in',
  init: () => undefined,
  tags: () => [],
  start: () => Promise.resolve(),
  poll: () => Promise.resolve([]),
  stop: () => Promise.resolve(),
  status: () => ({}),
};

export function standIn(config: EdgeConfig): StandIn {
  const target: StandIn = {
    running: config,
    events: [],
    stats: new Map(),
    forwarders: 0,
    config: () => target.running,
    build: (device) => Promise.resolve({ config: device, driver: idle }),
    replace: (remove, add, next) => {
      for (const name of remove) target.stats.delete(name);
      for (const built of add) target.stats.set(built.config.name, { polls: 0, pollErrors: 0 });
      target.running = next;
      return Promise.resolve();
    },
    replaceForwarder: (next) => {
      target.forwarders++;
      target.running = next;
      return Promise.resolve();
    },
    devices: () =>
      [...target.stats].map(([device, s]) => ({
        stats: { device, state: 'online', ...s } as unknown as PollerStats,
        driver: idle,
      })),
    emit: (event) => void target.events.push(event),
    channel: () => undefined,
  };
  return target;
}

export interface ReloaderSetup {
  reloader: Reloader;
  target: StandIn;
  clock: ManualClock;
  file: string;
  history: ConfigHistory;
}

/** A Reloader on a manual clock over a stand-in agent running `initial` (history in `<dir>/history`, 3 kept). */
export async function setupReloader(
  dir: string,
  problems: string[] | (() => string[]),
  initial: string,
  trialWindowMs: number,
): Promise<ReloaderSetup> {
  const file = join(dir, 'config.yaml');
  writeFileSync(file, initial);
  const parsed = checkConfigText(initial);
  assert.ok(parsed.ok);
  const target = standIn(parsed.config);
  const clock = new ManualClock(Date.now());
  const history = new ConfigHistory(join(dir, 'history'), 3);
  const reloader = new Reloader({
    target,
    history,
    file,
    secrets: createSecretResolver(),
    clock,
    logger: silentLogger,
    restart: () => assert.fail('no restart expected'),
    problems: typeof problems === 'function' ? problems : () => problems,
    trialWindowMs,
    activeText: initial,
  });
  await reloader.start();
  return { reloader, target, clock, file, history };
}
