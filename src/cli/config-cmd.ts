/**
 * `edge-agent reload` and `edge-agent config history|diff|rollback`. They find the history
 * through the local config file (reload.historyDir) and the running agent through the pid
 * file it writes there (`agent.pid`), falling back to systemd's MainPID; the agent answers
 * by writing its result into the history's state.json, which `reload` waits for.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { EdgeError } from '../core/errors.js';
import { checkConfigText, MAX_YAML_ALIAS_COUNT } from '../config/load.js';
import { reloadSchema } from '../config/sections/reload.js';
import { diffConfig, summarisePlan } from '../reload/diff.js';
import { ConfigHistory, type ReloadResult } from '../reload/history.js';
import { ROLLBACK_REQUEST } from '../reload/reloader.js';
import { PID_FILE, verifiedPid } from '../reload/pidfile.js';

export interface ConfigCliOptions {
  readonly config: string;
  readonly json: boolean;
  readonly timeoutMs: number;
}

/** Where the history is: from the file's reload section, even when the rest of it is invalid (the reload refuses it). */
function historyOf(file: string): ConfigHistory {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'), { maxAliasCount: MAX_YAML_ALIAS_COUNT });
  } catch (error) {
    throw new EdgeError('EDGE_ERR_CONFIG_READ', `cannot read ${file}: ${(error as Error).message}`);
  }
  const section = raw !== null && typeof raw === 'object' ? (raw as { reload?: unknown }).reload : undefined;
  const parsed = reloadSchema.safeParse(section ?? {});
  const reload = parsed.success ? parsed.data : reloadSchema.parse({});
  return new ConfigHistory(reload.historyDir, reload.keep);
}

/** The running agent: its pid file, else systemd's MainPID of edge-agent.service. */
function agentPid(history: ConfigHistory): number | undefined {
  // no pid file, a stale one, or one naming a process that is not its writer's: ask systemd
  const pid = verifiedPid(join(history.dir, PID_FILE));
  if (pid !== undefined) return pid;
  try {
    const out = execFileSync('systemctl', ['show', '-p', 'MainPID', '--value', 'edge-agent.service'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const pid = Number(out.trim());
    return pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function printResult(result: ReloadResult, json: boolean, out: (line: string) => void): number {
  if (json) out(JSON.stringify(result));
  else {
    out(
      `${result.status}${result.hash ? ` ${result.hash.slice(0, 12)}` : ''}${result.reason ? ` (${result.reason})` : ''}`,
    );
    for (const change of result.changes ?? []) out(`  ${change}`);
    for (const p of result.problems ?? []) out(`  ${p.path}: ${p.message}`);
  }
  return result.status === 'refused' ? 1 : 0;
}

/** Signals the agent and waits for the result it records (polling its state file). */
async function signalAndWait(
  history: ConfigHistory,
  options: ConfigCliOptions,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const pid = agentPid(history);
  if (pid === undefined)
    return (err(`no running agent (no ${join(history.dir, PID_FILE)}, no systemd MainPID)`), 2);
  const seq = history.readSync().last?.seq ?? 0;
  process.kill(pid, 'SIGHUP');
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    const last = history.readSync().last;
    if (last && last.seq > seq) return printResult(last, options.json, out);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  err(`sent SIGHUP to ${pid}; no result within ${options.timeoutMs} ms (see the agent's log)`);
  return 2;
}

export async function reloadCommand(
  options: ConfigCliOptions,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  return signalAndWait(historyOf(options.config), options, out, err);
}

export async function configCommand(
  sub: string | undefined,
  args: readonly string[],
  options: ConfigCliOptions,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const history = historyOf(options.config);
  const state = history.readSync();
  switch (sub) {
    case 'history': {
      if (options.json) return (out(JSON.stringify(state)), 0);
      for (const e of [...state.entries].reverse()) {
        const mark = e.hash === state.active?.hash ? '*' : ' ';
        const trial = state.trial?.hash === e.hash ? ' (on trial)' : '';
        out(
          `${mark} ${e.hash.slice(0, 12)} ${new Date(e.at).toISOString()} ${e.source}${e.version ? ` ${e.version}` : ''}${trial}`,
        );
      }
      return 0;
    }
    case 'diff': {
      const [a, b] = [args[0] ?? state.previous, args[1] ?? state.active?.hash];
      const ha = a && history.resolve(a);
      const hb = b && history.resolve(b);
      if (!ha || !hb) return (err('config diff [A] [B]: unknown hash (see config history)'), 1);
      const pa = checkConfigText(history.textSync(ha));
      const pb = checkConfigText(history.textSync(hb));
      if (!pa.ok || !pb.ok) return (err('a stored config no longer validates'), 2);
      const lines = summarisePlan(diffConfig(pa.config, pb.config));
      out(`${ha.slice(0, 12)} → ${hb.slice(0, 12)}`);
      for (const line of lines.length ? lines : ['no change']) out(`  ${line}`);
      return 0;
    }
    case 'rollback': {
      const wanted = args[0] ?? state.previous;
      const hash = wanted && history.resolve(wanted);
      if (!hash) return (err('config rollback [HASH]: nothing to roll back to (see config history)'), 1);
      // The agent's user owns this directory and the CLI runs as root: never write through a
      // link planted there (O_EXCL does not follow one, and fails instead).
      const request = join(history.dir, ROLLBACK_REQUEST);
      rmSync(request, { force: true });
      writeFileSync(request, `${hash}\n`, { flag: 'wx', mode: 0o644 });
      return signalAndWait(history, options, out, err);
    }
    default:
      err('config: history | diff [A] [B] | rollback [HASH]');
      return 1;
  }
}
