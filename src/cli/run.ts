/** `edge-agent run --config FILE`: run until SIGTERM/SIGINT, then shut down cleanly. */
import { Agent } from '../agent.js';
import { loadConfigFile } from '../config/load.js';
import type { Logger } from '../core/ports.js';
import { createLogger } from '../observability/logger.js';

export async function runCommand(file: string, _err: (line: string) => void): Promise<number> {
  const config = loadConfigFile(file);
  const logger = createLogger(config.log.level);
  const agent = new Agent({ config, logger });
  // Handlers go in before start(): a SIGTERM during start-up must still flush and exit 0.
  const stopped = untilSignal(() => agent.stop(), config.agent.shutdownTimeoutMs, logger);
  await agent.start();
  logger.info({ config: file, devices: config.devices.length, http: agent.httpAddress() }, 'edge-agent running');
  return stopped;
}

/**
 * Resolves with the exit code after the first SIGTERM/SIGINT and a clean stop. A second
 * signal, or a stop that outlives its deadline, ends the process at once: systemd's
 * TimeoutStopSec must never be what stops us.
 */
export function untilSignal(stop: () => Promise<void>, timeoutMs: number, logger: Logger): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const deadline = setTimeout(() => {
        logger.error({ code: 'EDGE_ERR_AGENT_SHUTDOWN', timeoutMs }, 'shutdown deadline passed: exiting');
        process.exit(1);
      }, timeoutMs);
      deadline.unref();
      stop().then(
        () => {
          clearTimeout(deadline);
          logger.info({}, 'stopped');
          resolve(0);
          // Native handles (serial ports, sockets of a peer that never answers) must not keep us alive.
          setTimeout(() => process.exit(0), 200).unref();
        },
        (error: unknown) => {
          logger.error({ err: error instanceof Error ? error.message : String(error) }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
