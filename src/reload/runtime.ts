/**
 * Wiring of reloads into `edge-agent run`: which config text the agent starts on (the
 * history's active one, unless the local file was edited since), the Reloader, the signed
 * push handler, SIGHUP and the pid file `edge-agent reload` signals.
 */
import { readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Agent } from '../agent.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/ports.js';
import { checkConfigText, loadConfigFile } from '../config/load.js';
import type { EdgeConfig } from '../config/schema.js';
import { createSecretResolver, type SecretResolver } from '../config-kit/secrets.js';
import { loadKeyring } from '../ota/verify.js';
import { ConfigHistory, startupText } from './history.js';
import { RemoteConfig } from './remote.js';
import { withLocalTrustAnchors } from './trust.js';
import { Reloader } from './reloader.js';
import { configHash } from './validate.js';
import { PID_FILE, pidFileText } from './pidfile.js';

export { PID_FILE } from './pidfile.js';

export interface StartupConfig {
  readonly config: EdgeConfig;
  readonly text: string;
  readonly history: ConfigHistory;
  /**
   * The PEM files of the keys that may sign configs, from the local file only (reload.
   * publicKeys, else its ota.commandPublicKeys, else ota.publicKeys): a pushed config must
   * not choose who may push the next one (nor lock every signer out).
   */
  readonly signingKeys?: readonly string[];
}

/** The local file decides where the history is; the history's active config runs if the file did not change since. */
export function loadStartupConfig(file: string): StartupConfig {
  const fileConfig = loadConfigFile(file);
  const fileText = readFileSync(file, 'utf8');
  const history = new ConfigHistory(fileConfig.reload.historyDir, fileConfig.reload.keep);
  const start = startupText(history, fileText);
  const signingKeys =
    fileConfig.reload.publicKeys ?? fileConfig.ota.commandPublicKeys ?? fileConfig.ota.publicKeys;
  if (start.fromHistory) {
    const parsed = checkConfigText(start.text);
    if (parsed.ok)
      return {
        config: { ...withLocalTrustAnchors(parsed.config, fileConfig).config, reload: fileConfig.reload },
        text: start.text,
        history,
        signingKeys,
      };
  }
  return { config: fileConfig, text: fileText, history, signingKeys };
}

/**
 * The agent could not start on a config on trial (its store path unwritable, a port taken):
 * the previous config becomes active again before the process exits, so the restart that
 * follows runs on it instead of looping on the broken one. The result is reported then.
 */
export async function rollbackFailedStart(
  startup: StartupConfig,
  error: unknown,
  now: number,
): Promise<boolean> {
  const { history } = startup;
  const state = history.readSync();
  const trial = state.trial;
  if (!trial || trial.hash !== configHash(startup.text)) return false;
  const fileHash = state.active?.fileHash;
  const version = history.versionOf(trial.previous);
  // The previous config was itself on trial (never judged): on trial again, against its fallback.
  await history.activate(
    {
      hash: trial.previous,
      at: now,
      source: 'rollback',
      ...(version !== undefined ? { version } : {}),
      ...(fileHash ? { fileHash } : {}),
    },
    trial.fallback !== undefined ? now + startup.config.reload.trialWindowSec * 1000 : undefined,
    { previous: trial.fallback },
  );
  const reason = `trial failed: the agent did not start (${error instanceof Error ? error.message : String(error)})`;
  await history.result({ status: 'rolled-back', hash: trial.previous, reason, ts: now }, true);
  return true;
}

export interface ReloadRuntimeDeps {
  readonly agent: Agent;
  readonly file: string;
  readonly startup: StartupConfig;
  readonly logger: Logger;
  readonly restart: (reason: string) => void;
  readonly clock?: Clock;
  readonly secrets?: SecretResolver;
  /** Write `<historyDir>/agent.pid` for `edge-agent reload` (run: yes; in-process tests: no). */
  readonly pidFile?: boolean;
}

export interface ReloadRuntime {
  readonly reloader: Reloader;
  readonly remote: RemoteConfig | undefined;
  /** SIGHUP: reload the local file, log the result. */
  hup(): void;
  /** Takes no more reloads and waits for the one under way (before the agent stops). */
  stop(): Promise<void>;
}

/**
 * Hash and version before the Reloader exists (the agent starts first and its births name
 * them): the version the history recorded for this text, if any.
 */
export function initialInfo(text: string, history?: ConfigHistory): { hash: string; version: string | null } {
  const hash = configHash(text);
  const active = history?.readSync().active;
  return { hash, version: active?.hash === hash ? (active.version ?? null) : null };
}

export async function startReload(deps: ReloadRuntimeDeps): Promise<ReloadRuntime> {
  const { agent, startup, logger } = deps;
  const { config, history } = startup;
  const clock = deps.clock ?? systemClock;
  const target = agent.reloadTarget();
  const reloader = new Reloader({
    target,
    history,
    file: deps.file,
    secrets: deps.secrets ?? createSecretResolver(),
    clock,
    logger: logger.child({ component: 'reload' }),
    restart: deps.restart,
    problems: () => agent.health().problems,
    trialWindowMs: config.reload.trialWindowSec * 1000,
    activeText: startup.text,
  });
  await reloader.start();
  let remote: RemoteConfig | undefined;
  const channel = agent.commandChannel();
  if (config.reload.commands && channel) {
    try {
      remote = new RemoteConfig({
        channel,
        reloader,
        history,
        keyring: loadKeyring(
          startup.signingKeys ??
            config.reload.publicKeys ??
            config.ota.commandPublicKeys ??
            config.ota.publicKeys,
        ),
        running: () => target.config(),
        maxTtlMs: config.ota.commandMaxTtlSec * 1000,
        clockSkewMs: config.ota.clockSkewSec * 1000,
        maxBytes: config.reload.maxBytes,
        clock,
        logger: logger.child({ component: 'reload' }),
      });
      remote.start();
    } catch (error) {
      logger.error({ err: (error as Error).message }, 'signed config pushes disabled');
    }
  } else if (config.reload.commands) logger.warn({}, 'reload.commands is on but no mqtt.url is configured');
  const pidFile = join(history.dir, PID_FILE);
  if (deps.pidFile === true) {
    mkdirSync(history.dir, { recursive: true, mode: 0o750 });
    writeFileSync(pidFile, pidFileText());
  }
  return {
    reloader,
    remote,
    hup: () => {
      logger.info({ file: deps.file }, 'SIGHUP: reloading the config');
      reloader.reloadFile().then(
        (r) =>
          logger.info(
            { hash: r.hash, changes: r.changes, problems: r.problems, reason: r.reason },
            `reload: ${r.status}`,
          ),
        (error: unknown) => logger.error({ err: String(error) }, 'reload failed'),
      );
    },
    stop: async () => {
      remote?.stop();
      if (deps.pidFile === true) rmSync(pidFile, { force: true });
      await reloader.stop();
    },
  };
}
