/**
 * The agent's watchdog: every tick it samples progress (event loop, store, pollers),
 * asks the health gate, and only when the gate says ok pings systemd (WATCHDOG=1) or
 * feeds /dev/watchdog. A stuck loop never runs the tick; a slow loop, a wedged store or
 * a stuck poller makes the tick withhold the ping, so systemd (or the hardware) restarts
 * us once WatchdogSec passes without one. It also reports READY=1, STATUS= and STOPPING=1.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';
import { EdgeError } from '../../core/errors.js';
import type { Logger } from '../../core/ports.js';
import type { WatchdogConfig, WatchdogMode } from '../config.js';
import { HealthGate, type GateVerdict, type ProgressSample } from './health-gate.js';
import { HistogramLagSource, timerDriftMs, type LagSource } from './loop-lag.js';
import { SystemdNotifyCli, type NotifySink } from './notify-sink.js';
import { pingIntervalMs, readSystemdEnv, resolveWatchdogMode, type SystemdEnv } from './systemd-env.js';
import { DevWatchdog, type WatchdogDevice } from './watchdog-device.js';

export type ProgressSampler = () => Omit<ProgressSample, 'loopLagMs'>;

export interface WatchdogParts {
  readonly mode: WatchdogMode;
  /** mode systemd: where messages go. */
  readonly sink?: NotifySink;
  /** mode device: the hardware device. */
  readonly device?: WatchdogDevice;
  /** Ping/feed interval; undefined in mode systemd without WATCHDOG_USEC (no pings expected). */
  readonly intervalMs: number | undefined;
  /** Logged at start when systemd's watchdog variables are present but not for us. */
  readonly note?: string;
}

export interface WatchdogDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly sample: ProgressSampler;
  readonly lag?: LagSource;
}

export interface WatchdogStats {
  readonly mode: WatchdogMode;
  readonly intervalMs: number | null;
  readonly pings: number;
  readonly withheld: number;
  readonly healthy: boolean;
  readonly reasons: readonly string[];
}

/** Picks the mode and builds its real sink or device from config and the environment. */
export function watchdogParts(
  config: WatchdogConfig,
  deps: { clock: Clock; logger: Logger },
  env: Readonly<Record<string, string | undefined>> = process.env,
  pid: number = process.pid,
): WatchdogParts {
  const sd: SystemdEnv = readSystemdEnv(env, pid);
  const mode = resolveWatchdogMode(config.mode, sd);
  if (mode === 'device')
    return { mode, device: new DevWatchdog(config.device), intervalMs: config.deviceFeedMs };
  if (mode === 'off') return { mode, intervalMs: undefined };
  if (!sd.notifySocket)
    return {
      mode: 'off',
      intervalMs: undefined,
      note: 'watchdog.mode systemd but NOTIFY_SOCKET is not set (not started by systemd as Type=notify?)',
    };
  const sink = new SystemdNotifyCli(
    { command: config.notifyCommand, socket: sd.notifySocket, timeoutMs: config.notifyTimeoutMs },
    deps,
  );
  return {
    mode,
    sink,
    intervalMs: sd.watchdogMs === undefined ? undefined : pingIntervalMs(sd.watchdogMs),
    note: sd.ignoredReason,
  };
}

export class Watchdog {
  private readonly gate: HealthGate;
  private readonly log: Logger;
  private readonly lag: LagSource;
  private readonly ownsLag: boolean;
  private timer: TimerHandle | undefined;
  private scheduledAt = 0;
  private running = false;
  private pings = 0;
  private withheld = 0;
  private verdict: GateVerdict = { ok: true, reasons: [] };

  constructor(
    config: Pick<WatchdogConfig, 'maxLoopLagMs' | 'storeStallMs'>,
    private readonly parts: WatchdogParts,
    private readonly deps: WatchdogDeps,
  ) {
    this.gate = new HealthGate(config);
    this.log = deps.logger.child({ component: 'watchdog' });
    this.ownsLag = deps.lag === undefined && parts.intervalMs !== undefined;
    this.lag =
      deps.lag ?? (this.ownsLag ? new HistogramLagSource() : { takeMaxMs: () => 0, close: () => undefined });
  }

  get mode(): WatchdogMode {
    return this.parts.mode;
  }

  /** Opens the device (mode device), tells systemd READY=1 and starts ticking. */
  async start(status = 'running'): Promise<void> {
    if (this.running) return;
    if (this.parts.note) this.log.warn({ mode: this.parts.mode }, this.parts.note);
    await this.parts.device?.open();
    this.running = true;
    await this.parts.sink?.notify(`READY=1\nSTATUS=${oneLine(status)}`);
    this.log.info({ mode: this.parts.mode, intervalMs: this.parts.intervalMs ?? null }, 'watchdog started');
    // Prime the gate so stall windows start now, not at the first tick.
    this.gate.check({ loopLagMs: 0, ...this.deps.sample() }, this.deps.clock.monotonic());
    this.schedule();
  }

  /** STATUS= line shown by `systemctl status`. */
  async status(text: string): Promise<void> {
    await this.parts.sink?.notify(`STATUS=${oneLine(text)}`);
  }

  /** STOPPING=1, stop ticking, magic-close the device. Idempotent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    if (this.ownsLag) this.lag.close();
    await this.parts.sink?.notify('STOPPING=1\nSTATUS=stopping');
    await this.parts.device?.close();
  }

  /** One check-and-ping; the timer calls it, tests may too. */
  async tick(driftMs = 0): Promise<GateVerdict> {
    const lagMs = Math.max(this.lag.takeMaxMs(), driftMs);
    const verdict = this.gate.check({ loopLagMs: lagMs, ...this.deps.sample() }, this.deps.clock.monotonic());
    const was = this.verdict;
    this.verdict = verdict;
    if (!verdict.ok) {
      this.withheld++;
      if (was.ok || was.reasons.join() !== verdict.reasons.join()) {
        const error = new EdgeError('EDGE_ERR_WATCHDOG_UNHEALTHY', verdict.reasons.join('; '));
        this.log.error(
          { code: error.code, reasons: verdict.reasons },
          'watchdog ping withheld: agent not making progress',
        );
        await this.parts.sink?.notify(`STATUS=unhealthy: ${oneLine(error.message)}`);
      }
      return verdict;
    }
    if (!was.ok) {
      this.log.info({}, 'agent makes progress again: watchdog pings resume');
      await this.parts.sink?.notify('STATUS=running');
    }
    await this.ping();
    return verdict;
  }

  stats(): WatchdogStats {
    return {
      mode: this.parts.mode,
      intervalMs: this.parts.intervalMs ?? null,
      pings: this.pings,
      withheld: this.withheld,
      healthy: this.verdict.ok,
      reasons: this.verdict.reasons,
    };
  }

  private async ping(): Promise<void> {
    try {
      if (this.parts.device) await this.parts.device.feed();
      else await this.parts.sink?.notify('WATCHDOG=1');
      this.pings++;
    } catch (err) {
      this.log.error({ code: (err as EdgeError).code, err: (err as Error).message }, 'watchdog feed failed');
    }
  }

  private schedule(): void {
    const interval = this.parts.intervalMs;
    if (!this.running || interval === undefined) return;
    this.scheduledAt = this.deps.clock.monotonic();
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.running) return;
      const drift = timerDriftMs(this.scheduledAt, this.deps.clock.monotonic(), interval);
      this.tick(drift)
        .catch((err: unknown) => this.log.error({ err: String(err) }, 'watchdog tick failed'))
        .finally(() => this.schedule());
    }, interval);
  }
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 200);
}
