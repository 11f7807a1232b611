/**
 * Where sd_notify messages go. Node has no AF_UNIX datagram sockets (nodejs/node#29339),
 * so the real sink runs the `systemd-notify` CLI (no native code to cross-build). Since
 * systemd v246 the CLI sends, then waits on sd_notify_barrier() until the manager has
 * processed the message, so the PID-attribution race is closed as long as it is called
 * without --no-block; the sender is the CLI's own PID, hence the unit needs
 * NotifyAccess=all. See docs/host.md.
 */
import { spawn } from 'node:child_process';
import type { Clock } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
import { LogLimiter } from '../log-limiter.js';

/** One sd_notify message: newline-separated assignments, e.g. "READY=1\nSTATUS=running". */
export interface NotifySink {
  /** Resolves once delivered or given up (failures are the sink's to log); never rejects. */
  notify(state: string): Promise<void>;
}

/** Records every message; for tests. */
export class MemoryNotifySink implements NotifySink {
  readonly messages: string[] = [];

  async notify(state: string): Promise<void> {
    this.messages.push(state);
  }

  count(assignment: string): number {
    return this.messages.filter((m) => m.split('\n').includes(assignment)).length;
  }
}

export interface CliResult {
  readonly ok: boolean;
  /** Exit code, signal or spawn error, plus stderr: for the log. */
  readonly detail: string;
}

/** Runs `command args…` with NOTIFY_SOCKET set; resolves how it ended. */
export type RunNotify = (
  command: string,
  args: readonly string[],
  socket: string,
  timeoutMs: number,
) => Promise<CliResult>;

export const runSystemdNotify: RunNotify = (command, args, socket, timeoutMs) =>
  new Promise((resolve) => {
    let stderr = '';
    const child = spawn(command, args, {
      env: { ...process.env, NOTIFY_SOCKET: socket },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < 2000) stderr += chunk;
    });
    child.once('error', (err) => resolve({ ok: false, detail: err.message }));
    child.once('close', (code, signal) => {
      if (code === 0) return resolve({ ok: true, detail: '' });
      const how = signal ? `killed by ${signal} (timeout ${timeoutMs} ms?)` : `exit ${code}`;
      resolve({ ok: false, detail: `${how}${stderr ? `: ${stderr.trim()}` : ''}` });
    });
  });

export interface SystemdNotifyOptions {
  readonly command: string;
  readonly socket: string;
  readonly timeoutMs: number;
  /** Minimum gap between two logged failures. */
  readonly logEveryMs?: number;
}

export interface SystemdNotifyDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly run?: RunNotify;
}

/** Splits a state into CLI arguments, one assignment each; newlines inside STATUS cannot survive. */
function notifyArgs(state: string): string[] {
  return state
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line));
}

/**
 * The systemd-notify CLI as a sink. Never more than one process in flight: messages that
 * arrive meanwhile are merged into one queued message (later values of a variable win),
 * sent when the running one ends.
 */
export class SystemdNotifyCli implements NotifySink {
  private readonly run: RunNotify;
  private readonly limiter: LogLimiter;
  private inFlight = false;
  private queued: { assignments: Map<string, string>; done: Array<() => void> } | undefined;
  private failures = 0;

  constructor(
    private readonly options: SystemdNotifyOptions,
    private readonly deps: SystemdNotifyDeps,
  ) {
    this.run = deps.run ?? runSystemdNotify;
    this.limiter = new LogLimiter(deps.clock, options.logEveryMs ?? 60_000);
  }

  /** Failed deliveries since start. */
  get failureCount(): number {
    return this.failures;
  }

  notify(state: string): Promise<void> {
    return new Promise((resolve) => {
      const queued = (this.queued ??= {
        assignments: new Map<string, string>(),
        done: [] as Array<() => void>,
      });
      for (const arg of notifyArgs(state)) {
        const eq = arg.indexOf('=');
        queued.assignments.set(arg.slice(0, eq), arg.slice(eq + 1));
      }
      queued.done.push(resolve);
      if (!this.inFlight) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.inFlight = true;
    while (this.queued) {
      const { assignments, done } = this.queued;
      this.queued = undefined;
      const args = [...assignments].map(([k, v]) => `${k}=${v}`);
      if (args.length > 0) await this.deliver(args);
      for (const resolve of done) resolve();
    }
    this.inFlight = false;
  }

  private async deliver(args: string[]): Promise<void> {
    let result: CliResult;
    try {
      result = await this.run(this.options.command, args, this.options.socket, this.options.timeoutMs);
    } catch (err) {
      result = { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
    if (result.ok) {
      if (this.failures > 0) this.limiter.reset();
      return;
    }
    this.failures++;
    const slot = this.limiter.take();
    if (!slot) return;
    const error = new EdgeError(
      'EDGE_ERR_WATCHDOG_NOTIFY',
      `${this.options.command} ${args.join(' ')}: ${result.detail}`,
    );
    this.deps.logger.warn(
      { code: error.code, err: error.message, suppressed: slot.suppressed },
      'sd_notify message not delivered',
    );
  }
}
