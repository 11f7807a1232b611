/**
 * The running agent's side of the health gate. When the release it runs is on trial, it
 * checks health every `checkEveryMs`; the first healthy report commits, and a window that
 * passes without one rolls back (and restarts into the previous release). The window is
 * measured on the monotonic clock of this run: wall time may jump on a Pi without an RTC.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/ports.js';
import type { OtaControl } from './control.js';

export interface TrialHealth {
  readonly ok: boolean;
  readonly problems: readonly string[];
}

export interface TrialMonitorOptions {
  readonly engine: OtaControl;
  /** The version this process runs (its package.json). */
  readonly version: string;
  readonly windowMs: number;
  readonly checkEveryMs?: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly health: () => TrialHealth;
}

export type TrialOutcome = 'not-on-trial' | 'committed' | 'rolled-back' | 'stopped';

export class TrialMonitor {
  private timer: TimerHandle | undefined;
  private startedAt = 0;
  private settle: ((outcome: TrialOutcome) => void) | undefined;
  private lastProblems = '';
  private deadline: number | undefined;
  private verdict: 'healthy' | 'timed-out' | undefined;
  private markArmed: () => void = () => undefined;
  /** Resolves once start() has read the state and, if on trial, scheduled its first check. */
  readonly armed = new Promise<void>((resolve) => (this.markArmed = resolve));

  constructor(private readonly options: TrialMonitorOptions) {}

  /** Resolves when the trial is decided (or there is none, or stop() was called). */
  async start(): Promise<TrialOutcome> {
    try {
      return await this.begin();
    } finally {
      this.markArmed();
    }
  }

  private async begin(): Promise<TrialOutcome> {
    const state = await this.options.engine.readState();
    const step = state.step;
    if (step.phase !== 'trial') return 'not-on-trial';
    if (step.to !== this.options.version) {
      this.options.logger.warn(
        { trial: step.to, running: this.options.version },
        'a release is on trial but this process runs another version; not judging it',
      );
      return 'not-on-trial';
    }
    this.options.logger.info(
      { version: step.to, boots: step.boots, windowMs: this.options.windowMs },
      'release on trial: waiting for health',
    );
    this.startedAt = this.options.clock.monotonic();
    // For people (the status): the window itself runs on the monotonic clock.
    this.deadline = this.options.clock.now() + this.options.windowMs;
    const decided = new Promise<TrialOutcome>((resolve) => (this.settle = resolve));
    this.schedule(0);
    this.markArmed();
    return decided;
  }

  /**
   * The trial this monitor judges (or judged), the wall time its window ends and its verdict
   * once given: in the split root acts on the verdict a moment later. Undefined when none.
   */
  judging(): { version: string; deadline: number; verdict: 'healthy' | 'timed-out' | null } | undefined {
    if (this.deadline === undefined) return undefined;
    return { version: this.options.version, deadline: this.deadline, verdict: this.verdict ?? null };
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.finish('stopped');
  }

  private schedule(ms: number): void {
    this.timer = this.options.clock.setTimeout(() => void this.check(), ms);
  }

  private finish(outcome: TrialOutcome): void {
    const settle = this.settle;
    this.settle = undefined;
    settle?.(outcome);
  }

  private async check(): Promise<void> {
    if (!this.settle) return;
    const { engine, version, logger } = this.options;
    const health = this.options.health();
    try {
      if (health.ok) {
        await engine.healthy(version);
        this.verdict = 'healthy';
        logger.info({ version }, 'release healthy: committed');
        return this.finish('committed');
      }
      const elapsed = this.options.clock.monotonic() - this.startedAt;
      if (elapsed >= this.options.windowMs) {
        logger.error(
          { version, problems: health.problems, code: 'EDGE_ERR_OTA_ROLLBACK' },
          'release not healthy within the trial window: rolling back',
        );
        await engine.trialTimeout(version);
        this.verdict = 'timed-out';
        return this.finish('rolled-back');
      }
      const problems = health.problems.join('; ');
      if (problems !== this.lastProblems)
        logger.info({ problems: health.problems }, 'release on trial not healthy yet');
      this.lastProblems = problems;
      this.schedule(Math.min(this.options.checkEveryMs ?? 1000, this.options.windowMs - elapsed));
    } catch (error) {
      // The lock may be held by a CLI command for a moment: try again at the next tick.
      logger.warn({ err: (error as Error).message }, 'trial check failed; retrying');
      this.schedule(this.options.checkEveryMs ?? 1000);
    }
  }
}
