/**
 * `edge-agent ota apply|resume|status|boot-check|commit|rollback`. The CLI changes the
 * install under `ota.root` and then restarts the service with `ota.restartCommand`
 * (systemctl by default); `--no-restart` leaves that to the operator.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { otaSchema, type OtaConfig } from '../config/sections/ota.js';
import { loadConfigFile } from '../config/load.js';
import { EdgeError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/ports.js';
import { systemClock } from '../core/clock.js';
import { OtaEngine, type OtaProgress } from '../ota/engine.js';
import { effectiveOtaConfig } from '../ota/legacy.js';
import { serveRequests } from '../ota/privileged.js';

export const DEFAULT_CONFIG_FILE = '/etc/edge-agent/config.yaml';

export interface OtaCliOptions {
  readonly config?: string;
  readonly force: boolean;
  readonly noRestart: boolean;
  readonly json: boolean;
}

type Line = (line: string) => void;

function loadOtaConfig(file: string | undefined): OtaConfig {
  return loadAgentConfig(file).ota;
}

function loadAgentConfig(file: string | undefined): {
  ota: OtaConfig;
  agent: { readonly id: string; readonly site: string };
} {
  const loaded =
    file !== undefined
      ? loadConfigFile(file)
      : existsSync(DEFAULT_CONFIG_FILE)
        ? loadConfigFile(DEFAULT_CONFIG_FILE)
        : { ota: otaSchema.parse({}), agent: { id: '', site: '' } };
  return { ota: effectiveOtaConfig(loaded.ota).config, agent: loaded.agent };
}

function stderrLogger(err: Line): Logger {
  const log = (level: string) => (obj: object, msg?: string) =>
    err(`${level}: ${msg ?? ''} ${JSON.stringify(obj)}`.trim());
  const logger: Logger = {
    debug: () => undefined,
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: () => logger,
  };
  return logger;
}

/** A bar on a terminal; on a pipe or journal, one line per stage and per 10 %. */
function progressPrinter(isTty: boolean, write: (text: string) => void): (p: OtaProgress) => void {
  let lastLine = '';
  let lastPct = -10;
  return (p) => {
    const pct = p.total ? Math.floor((100 * (p.done ?? 0)) / p.total) : null;
    const amount =
      p.stage === 'download' && p.done !== undefined
        ? ` ${(p.done / 1e6).toFixed(1)}${p.total ? `/${(p.total / 1e6).toFixed(1)}` : ''} MB`
        : '';
    if (isTty && pct !== null) {
      const filled = Math.round(pct / 5);
      write(
        `\r${p.stage.padEnd(8)} [${'#'.repeat(filled)}${'-'.repeat(20 - filled)}] ${String(pct).padStart(3)}%${amount}   `,
      );
      if (pct === 100) write('\n');
      return;
    }
    const line = `${p.stage}${pct === null ? '' : ` ${pct}%`}${amount}${p.version ? ` ${p.version}` : ''}${p.code ? ` ${p.code}: ${p.message ?? ''}` : ''}`;
    if (pct !== null && p.stage === lastLine.split(' ')[0] && pct < lastPct + 10 && pct !== 100) return;
    lastPct = pct ?? -10;
    if (line !== lastLine) write(`${line}\n`);
    lastLine = line;
  };
}

export async function otaCommand(
  sub: string | undefined,
  args: readonly string[],
  options: OtaCliOptions,
  out: Line,
  err: Line,
): Promise<number> {
  if (sub === 'boot-check') return bootCheck(options, out, err);
  const full = loadAgentConfig(options.config);
  const config = full.ota;
  const restart = options.noRestart
    ? undefined
    : (reason: string) => {
        out(`restarting the service (${reason}): ${config.restartCommand.join(' ')}`);
        execFileSync(config.restartCommand[0]!, config.restartCommand.slice(1), { stdio: 'inherit' });
      };
  const engine = new OtaEngine({
    config,
    logger: stderrLogger(err),
    restart,
    onProgress: progressPrinter(process.stderr.isTTY === true, (t) => void process.stderr.write(t)),
  });
  switch (sub) {
    case 'apply': {
      const source = args[0];
      if (!source) return (err('ota apply: missing URL or FILE'), 1);
      const result = await engine.apply({ source, origin: 'cli', force: options.force });
      out(
        `switched ${result.from ?? '(none)'} -> ${result.version}; on trial until healthy (edge-agent ota status)`,
      );
      return 0;
    }
    case 'resume': {
      const result = await engine.resume();
      out(result ? `switched ${result.from ?? '(none)'} -> ${result.version}` : 'nothing to resume');
      return 0;
    }
    case 'status': {
      const status = await engine.status();
      if (options.json) return (out(JSON.stringify(status, null, 2)), 0);
      out(
        `current:  ${status.current ?? '(none)'}\nprevious: ${status.previous ?? '(none)'}\nreleases: ${status.releases.join(', ') || '(none)'}`,
      );
      out(
        `phase:    ${status.state.step.phase}${status.state.step.phase === 'trial' ? ` (${status.state.step.to}, boot ${status.state.step.boots})` : ''}`,
      );
      if (status.state.last) out(`last:     ${JSON.stringify(status.state.last)}`);
      out(`floor:    ${status.floor ?? '(none)'}`);
      if (status.problem) out(`problem:  ${status.problem}`);
      return 0;
    }
    case 'serve-requests': {
      const result = await serveRequests({
        engine,
        config,
        site: full.agent.site,
        agentId: full.agent.id,
        clock: systemClock,
        logger: stderrLogger(err),
      });
      out(`ota serve-requests: ${result.handled} handled, ${result.failed} refused`);
      return 0;
    }
    case 'commit':
      await engine.commit();
      return (out('committed'), 0);
    case 'rollback':
      await engine.rollback();
      return (out(`rolled back to ${(await engine.status()).current ?? '(none)'}`), 0);
    default:
      throw new EdgeError(
        'EDGE_ERR_CONFIG_INVALID',
        `ota: unknown subcommand "${sub ?? ''}" (apply, resume, status, boot-check, serve-requests, commit, rollback)`,
      );
  }
}

/** ExecStartPre: never fails the unit. An internal error is logged and the start goes on. */
async function bootCheck(options: OtaCliOptions, out: Line, err: Line): Promise<number> {
  try {
    let config: OtaConfig;
    try {
      config = loadOtaConfig(options.config);
    } catch (error) {
      err(
        `ota boot-check: config unusable (${(error as Error).message.split('\n')[0]}); using the default OTA paths`,
      );
      config = effectiveOtaConfig(otaSchema.parse({})).config;
    }
    const state = await new OtaEngine({ config, logger: silentLogger }).bootCheck();
    const step = state.step;
    out(
      `ota boot-check: ${step.phase}${step.phase === 'trial' ? ` ${step.to} boot ${step.boots}/${config.maxTrialBoots}` : ''}${state.last ? ` (last: ${state.last.outcome}${state.last.reason ? `, ${state.last.reason}` : ''})` : ''}`,
    );
  } catch (error) {
    err(`ota boot-check: ${(error as Error).message}; starting anyway`);
  }
  return 0;
}
