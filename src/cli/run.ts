/** `edge-agent run --config FILE`: run until SIGTERM/SIGINT, then shut down cleanly. */
import { Agent } from '../agent.js';
import type { Logger } from '../core/ports.js';
import { createLogger } from '../observability/logger.js';
import { OTA_RESTART_EXIT_CODE } from '../ota/version.js';
import {
  initialInfo,
  loadStartupConfig,
  rollbackFailedStart,
  startReload,
  type ReloadRuntime,
} from '../reload/runtime.js';

export async function runCommand(file: string, _err: (line: string) => void): Promise<number> {
  const startup = loadStartupConfig(file);
  const config = startup.config;
  const logger = createLogger(config.log.level);
  // After an OTA switch or rollback, or a config change that is not live: stop cleanly as on
  // SIGTERM, then exit 75 so that systemd (Restart=on-failure) starts us again.
  let exitCode: number | undefined;
  const restart = (reason: string): void => {
    logger.warn({ reason, exitCode: OTA_RESTART_EXIT_CODE }, 'restarting (switched release or config)');
    exitCode = OTA_RESTART_EXIT_CODE;
    process.kill(process.pid, 'SIGTERM');
  };
  // Set once the agent runs; the closures below read it late.
  const live: { reload?: ReloadRuntime } = {};
  const info = initialInfo(startup.text, startup.history);
  const agent = new Agent({
    config,
    logger,
    ota: { restart },
    configInfo: () => live.reload?.reloader.info() ?? info,
  });
  // Handlers go in before start(): a SIGTERM during start-up must still flush and exit 0, and
  // a SIGHUP (whose default action ends the process) waits until the agent runs.
  const stopped = untilSignal(
    async () => {
      await live.reload?.stop();
      await agent.stop();
    },
    config.agent.shutdownTimeoutMs,
    logger,
  );
  let hups = 0;
  process.on('SIGHUP', () => (live.reload ? live.reload.hup() : hups++));
  try {
    await agent.start();
  } catch (error) {
    if (await rollbackFailedStart(startup, error, Date.now()).catch(() => false)) {
      await agent.stop().catch(() => undefined);
      logger.error(
        { err: String(error) },
        'config on trial failed to start: previous config restored, restarting',
      );
      return OTA_RESTART_EXIT_CODE;
    }
    throw error;
  }
  const reload = await startReload({ agent, file, startup, logger, restart, pidFile: true });
  live.reload = reload;
  if (hups > 0) reload.hup();
  logger.info(
    { config: file, devices: config.devices.length, http: agent.httpAddress(), configHash: info.hash },
    'edge-agent running',
  );
  const code = await stopped;
  return exitCode ?? code;
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
          // No argument: exit with process.exitCode, which may be the OTA restart code.
          setTimeout(() => process.exit(), 200).unref();
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
