/** The agent's command side: the router of device writes and the durable ledger of command ids. */
import type { Clock } from './core/clock.js';
import type { CommandLedger } from './core/command-guard.js';
import { CommandRouter } from './core/command-router.js';
import type { CommandChannel, Logger } from './core/ports.js';
import type { EdgeConfig } from './config/schema.js';
import type { SqliteOutbox } from './store/sqlite-outbox.js';
import type { PollerEntry } from './agent-devices.js';

/** Command ids kept in the store across restarts (tag writes and pile commands alike). */
export function commandLedger(outbox: SqliteOutbox, commands: EdgeConfig['commands']): CommandLedger {
  const { seenTtlMs, maxSeenIds, maxAgeMs, clockSkewMs } = commands;
  // An id is kept for room at least as long as a copy of its command can still be valid.
  return outbox.commandLedger({ seenTtlMs, maxKeys: maxSeenIds, protectMs: maxAgeMs + 2 * clockSkewMs });
}

export interface CommandRouterDeps {
  readonly channel: CommandChannel;
  readonly outbox: SqliteOutbox;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** A started router of the devices' writes (each device's allowWrites from its poller entry). */
export function startCommandRouter(
  pollers: readonly PollerEntry[],
  commands: EdgeConfig['commands'],
  deps: CommandRouterDeps,
): CommandRouter {
  const targets = pollers.map(({ poller, instance, allowWrites }) => ({
    device: poller.device,
    driver: instance,
    allowWrites,
  }));
  const router = new CommandRouter(targets, commands, {
    channel: deps.channel,
    sink: deps.outbox,
    clock: deps.clock,
    logger: deps.logger.child({ component: 'commands' }),
    ledger: commandLedger(deps.outbox, commands),
  });
  router.start();
  return router;
}
