/** A stand-in agent for Reloader tests: keeps the config and device stats it is handed. */
import type { EdgeConfig } from '../../src/config/schema.js';
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
    build: (device) => ({ config: device, driver: idle }),
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
