/**
 * What the running agent does for OTA, behind the config: hands the events the state file
 * carries (committed, rolled back, failed) to the outbox, judges a release on trial, and
 * (with `ota.commands`) takes signed commands and resumes an interrupted one. None of it
 * may stop the agent: OTA trouble is logged, the agent runs on.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import type { CommandChannel, Logger, OutboxSink } from '../core/ports.js';
import { eventToRecord } from '../core/record-codec.js';
import type { EdgeConfig } from '../config/schema.js';
import { OtaCommandHandler } from './command.js';
import type { OtaControl } from './control.js';
import { OtaEngine, type OtaProgress } from './engine.js';
import { effectiveOtaConfig } from './legacy.js';
import { OtaRequester } from './requester.js';
import { buildOtaStatus, type OtaStatusDoc } from './status.js';
import { initialState, type OtaState } from './state.js';
import { StateStore } from './store.js';
import { TrialMonitor, type TrialHealth } from './trial.js';
import { loadKeyring } from './verify.js';
import { runningVersion } from './version.js';

export interface OtaAgentSideDeps {
  readonly outbox: OutboxSink;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly health: () => TrialHealth;
  readonly channel?: CommandChannel;
  readonly version?: string;
  readonly restart?: (reason: string) => void;
  /** Told when an update starts and ends (the status LED's `ota` pattern). */
  readonly onActive?: (active: boolean) => void;
}

/** The status re-reads the state file when asked after this long (status.json, the page: once a second). */
const STATUS_MAX_AGE_MS = 5_000;

/** Whether an update is under way at this progress step: from download to switch. */
export function otaActive(stage: OtaProgress['stage']): boolean {
  return stage !== 'done' && stage !== 'failed';
}

export class OtaAgentSide {
  /** The inline engine, or in the split (the default) the requester that asks root. */
  readonly engine: OtaControl;
  private trial: TrialMonitor | undefined;
  private commands: OtaCommandHandler | undefined;
  private timers: TimerHandle[] = [];
  /** Settles when the trial (if any) is decided; tests await it. */
  trialOutcome: Promise<string> = Promise.resolve('not-on-trial');
  private readonly mode: 'split' | 'inline';
  /** The state file as the status reads it (root's in the split: read only). */
  private readonly stateStore: StateStore;
  private running: string | null = null;
  private progress: OtaProgress | undefined;
  private read: { state: OtaState; problem?: string; floor: string | null; at: number } | undefined;
  private readMonotonic = -Infinity;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly config: EdgeConfig,
    private readonly deps: OtaAgentSideDeps,
  ) {
    const onProgress = (progress: OtaProgress): void => {
      deps.onActive?.(otaActive(progress.stage));
      this.progress = otaActive(progress.stage) ? progress : undefined;
      if (!otaActive(progress.stage)) void this.refreshStatus();
    };
    const { config: ota, legacy } = effectiveOtaConfig(config.ota);
    this.mode = ota.mode;
    this.stateStore = new StateStore(ota.stateDir);
    if (legacy)
      deps.logger.warn(
        { stateDir: config.ota.stateDir },
        'OTA privileged step not installed (old layout): updating in-process until deploy/install.sh is run',
      );
    this.engine =
      ota.mode === 'inline'
        ? new OtaEngine({
            config: ota,
            logger: deps.logger,
            clock: deps.clock,
            restart: deps.restart,
            onProgress,
          })
        : new OtaRequester({ config: ota, logger: deps.logger, clock: deps.clock, onProgress });
  }

  async start(): Promise<void> {
    const { logger } = this.deps;
    await this.emitPendingEvents().catch((error: unknown) =>
      logger.warn({ err: String(error) }, 'OTA events not emitted; kept for the next start'),
    );
    let version: string;
    try {
      version = this.deps.version ?? runningVersion();
    } catch (error) {
      void this.refreshStatus();
      return void logger.error(
        { err: (error as Error).message },
        'running version unknown: OTA trial and commands disabled',
      );
    }
    this.running = version;
    this.trial = new TrialMonitor({
      engine: this.engine,
      version,
      windowMs: this.config.ota.trialWindowSec * 1000,
      clock: this.deps.clock,
      logger,
      health: this.deps.health,
    });
    this.trialOutcome = this.trial.start().then(
      async (outcome) => {
        void this.refreshStatus();
        if (outcome === 'committed') {
          await this.emitPendingEvents().catch(() => undefined);
          // Split: root commits a moment later; pick its ota-committed event up then.
          if (this.config.ota.mode === 'split')
            for (const ms of [5_000, 30_000])
              this.timers.push(
                this.deps.clock.setTimeout(() => void this.emitPendingEvents().catch(() => undefined), ms),
              );
        }
        return outcome;
      },
      (error: unknown) => {
        logger.warn({ err: String(error) }, 'OTA trial check failed');
        return 'error';
      },
    );
    if (this.config.ota.commands) await this.startCommands();
    await this.trial.armed;
    await this.refreshStatus();
  }

  /**
   * The `ota` part of the status, synchronous: from the last read of the state file, which
   * is read again in the background when older than a few seconds (`readAt` says when).
   */
  status(): OtaStatusDoc {
    if (this.deps.clock.monotonic() - this.readMonotonic >= STATUS_MAX_AGE_MS) void this.refreshStatus();
    return buildOtaStatus({
      mode: this.mode,
      running: this.running,
      state: this.read?.state ?? null,
      problem: this.read ? this.read.problem : 'the state file was not read yet',
      floor: this.read?.floor ?? null,
      readAt: this.read?.at ?? null,
      progress: this.progress,
      judging: this.trial?.judging(),
    });
  }

  /** Reads the state file and the floor again; never throws (an unreadable file is a problem shown). */
  refreshStatus(): Promise<void> {
    this.reading ??= (async () => {
      try {
        const { state, problem } = await this.stateStore.read();
        const floor = await this.stateStore.readFloor();
        this.read = { state, problem, floor, at: this.deps.clock.now() };
      } catch (error) {
        const at = this.deps.clock.now();
        this.read = { state: initialState(), floor: null, problem: String(error), at };
      } finally {
        this.readMonotonic = this.deps.clock.monotonic();
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  stop(): void {
    this.trial?.stop();
    for (const timer of this.timers) timer.cancel();
    this.timers = [];
    this.commands?.stop();
  }

  private async startCommands(): Promise<void> {
    const { logger, channel } = this.deps;
    if (!channel)
      return void logger.warn({}, 'ota.commands is on but no command channel (mqtt.url) is configured');
    try {
      const keyring = loadKeyring(this.config.ota.commandPublicKeys ?? this.config.ota.publicKeys);
      this.commands = new OtaCommandHandler({
        channel,
        engine: this.engine,
        keyring,
        site: this.config.agent.site,
        agentId: this.config.agent.id,
        maxTtlMs: this.config.ota.commandMaxTtlSec * 1000,
        clockSkewMs: this.config.ota.clockSkewSec * 1000,
        clock: this.deps.clock,
        logger,
        outbox: this.deps.outbox,
      });
      // The guard exists from the start: a command issued after it passes, one seen before
      // a lost guard file does not (replay-guard.ts).
      await this.engine
        .ensureGuard()
        .catch((error: unknown) => logger.error({ err: String(error) }, 'OTA replay guard not created'));
      this.commands.start();
      this.commands.resumeInterrupted();
    } catch (error) {
      logger.error({ err: (error as Error).message }, 'OTA commands disabled');
    }
  }

  /** Durable first, then dropped from the state file: at least once, never lost. */
  private async emitPendingEvents(): Promise<void> {
    const events = await this.engine.pendingEvents();
    if (events.length === 0) return;
    for (const event of events) await this.deps.outbox.appendDurable(eventToRecord(event));
    await this.engine.eventsEmitted(events.length);
  }
}
