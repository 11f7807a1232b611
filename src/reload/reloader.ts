/**
 * The running agent's reloads: from the local file (SIGHUP, `systemctl reload`,
 * `edge-agent reload`), from a signed push (remote.ts) and back (trial timeout, `edge-agent
 * config rollback`). One at a time: validate, diff, record in history, apply live or by a
 * controlled restart, watch the trial, report. Results go to `agent/config/result`
 * (best effort) and into the outbox as `config-result` events (durable).
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/ports.js';
import { checkConfigText } from '../config/load.js';
import type { SecretResolver } from '../config-kit/secrets.js';
import { applyLive, devicesVerdict, type ReloadTarget } from './apply.js';
import { diffConfig, summarisePlan } from './diff.js';
import type { ConfigHistory, HistoryEntry, ReloadResult } from './history.js';
import { trustAnchorChanges } from './trust.js';
import { configHash, validateConfigText, type ConfigProblem } from './validate.js';

export const CONFIG_RESULT_TOPIC = 'agent/config/result';
/** `edge-agent config rollback` leaves the wanted hash here, then sends SIGHUP. */
export const ROLLBACK_REQUEST = 'rollback-request';

export interface ReloaderDeps {
  readonly target: ReloadTarget;
  readonly history: ConfigHistory;
  /** The local config file (`run --config`). */
  readonly file: string;
  readonly secrets: SecretResolver;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Stops the agent cleanly and has it started again (systemd) on the active config. */
  readonly restart: (reason: string) => void;
  /** The agent's health problems (`mqtt: …`, `store: …`). */
  readonly problems: () => readonly string[];
  readonly trialWindowMs: number;
  /** The text the agent runs now. */
  readonly activeText: string;
  /** Called at each step of an apply; crash tests stop the process there (no production use). */
  readonly hook?: (point: 'validated' | 'stored' | 'activated' | 'applied') => void;
}

export interface ApplyMeta {
  readonly source: HistoryEntry['source'];
  readonly id?: string;
  readonly version?: string;
  readonly reason?: string;
}

export class Reloader {
  private activeHash: string;
  private activeVersion: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private trialTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private trialDone: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly deps: ReloaderDeps) {
    this.activeHash = configHash(deps.activeText);
    this.activeVersion = deps.history.readSync().active?.version;
  }

  /** Hash and version of the active config (status.json, the birth message). */
  info(): { hash: string; version: string | null; trial: boolean } {
    const trial = this.deps.history.readSync().trial;
    return {
      hash: this.activeHash,
      version: this.activeVersion ?? null,
      trial: trial?.hash === this.activeHash,
    };
  }

  /** Settles when the trial under way (if any) is decided; tests await it. */
  whenTrialDecided(): Promise<void> {
    return this.trialDone;
  }

  /** At agent start: record the running config, report what a restart carried out, resume a trial. */
  async start(): Promise<void> {
    const { history, clock } = this.deps;
    const state = history.readSync();
    if (state.active?.hash !== this.activeHash) {
      await history.store(this.deps.activeText);
      await history.activate({
        hash: this.activeHash,
        at: clock.now(),
        source: 'file',
        fileHash: await this.fileHash(),
      });
    }
    // Results carried across a restart go to the outbox now; the MQTT copy waits for the
    // broker, which is not connected this early after a start.
    for (const result of state.pending) this.report(result, false);
    this.publishLater(state.pending, 30);
    if (state.pending.length > 0) await history.update((s) => ({ ...s, pending: [] }));
    const trial = history.readSync().trial;
    // A trial a restart (or a power cut, maybe long ago) interrupted: judged a full window
    // after this start at the earliest. At once, nothing would be connected or polled yet,
    // and a good config would go back.
    if (trial?.hash === this.activeHash)
      this.armTrial(
        trial.previous,
        Math.max(trial.deadline, clock.now() + this.deps.trialWindowMs),
        undefined,
      );
  }

  /**
   * Takes no reload from now on (a SIGHUP stays wired while the agent stops), lets the one
   * under way finish, then ends the trial's timers: the agent stops after, on one config.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.queue;
    this.trialTimer?.cancel();
    this.trialTimer = undefined;
    this.retryTimer?.cancel();
  }

  /** A reload asked for after stop(): nothing recorded, nothing reported (the outbox is closing). */
  private stopping(): Promise<ReloadResult> {
    this.deps.logger.warn({}, 'reload refused: the agent is stopping');
    return Promise.resolve({
      status: 'refused',
      hash: this.activeHash,
      reason: 'the agent is stopping',
      ts: this.deps.clock.now(),
    });
  }

  /** SIGHUP: a rollback the CLI asked for, else the local file if it changed. */
  reloadFile(): Promise<ReloadResult> {
    if (this.stopped) return this.stopping();
    return this.serial(async () => {
      const request = join(this.deps.history.dir, ROLLBACK_REQUEST);
      const wanted = await readFile(request, 'utf8').catch(() => undefined);
      if (wanted !== undefined) {
        await rm(request, { force: true });
        return this.rollbackTo(wanted.trim(), {
          source: 'cli-rollback',
          reason: 'asked by edge-agent config rollback',
        });
      }
      const text = await readFile(this.deps.file, 'utf8');
      const active = this.deps.history.readSync().active;
      if (active && active.fileHash === configHash(text) && active.hash !== configHash(text)) {
        // The file did not change since a pushed config became active: keep the push.
        return this.result({
          status: 'applied',
          hash: this.activeHash,
          reason: 'local file unchanged since the active config',
        });
      }
      return this.applyNow(text, { source: 'reload' });
    });
  }

  /** A verified push (remote.ts): the same path as a reload. */
  applyText(text: string, meta: ApplyMeta): Promise<ReloadResult> {
    if (this.stopped) return this.stopping();
    return this.serial(() => this.applyNow(text, meta));
  }

  /** A push refused before its config was read (signature, site, window, replay). */
  refuse(result: Omit<ReloadResult, 'ts' | 'status'>): Promise<ReloadResult> {
    return this.result({ ...result, status: 'refused' });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async fileHash(): Promise<string | undefined> {
    const text = await readFile(this.deps.file, 'utf8').catch(() => undefined);
    return text === undefined ? undefined : configHash(text);
  }

  private async rollbackTo(hash: string, meta: ApplyMeta): Promise<ReloadResult> {
    const full = this.deps.history.resolve(hash) ?? hash;
    const text = await this.deps.history.text(full).catch(() => undefined);
    if (text === undefined)
      return this.result({ status: 'refused', hash, reason: `no stored config ${hash}`, ...ids(meta) });
    return this.applyNow(text, meta);
  }

  private async applyNow(text: string, meta: ApplyMeta): Promise<ReloadResult> {
    const { history, clock, logger, target } = this.deps;
    const validated = await validateConfigText(text, this.deps.secrets);
    if (!validated.ok) {
      const problems = bounded(validated.problems);
      logger.warn({ hash: validated.hash, problems }, 'config refused: the running config stays');
      return this.result({ status: 'refused', hash: validated.hash, problems, ...ids(meta) });
    }
    // Who the station trusts is the local file's to say (trust.ts): a signer cannot widen it.
    const anchors = meta.source === 'push' ? trustAnchorChanges(target.config(), validated.config) : [];
    if (anchors.length > 0) {
      logger.warn(
        { hash: validated.hash, paths: anchors.map((p) => p.path) },
        'pushed config changes a trust anchor: refused',
      );
      const reason = `trust anchors are set by the local file only: ${anchors.map((p) => p.path).join(', ')}`;
      return this.result({
        status: 'refused',
        hash: validated.hash,
        problems: anchors,
        reason,
        ...ids(meta),
      });
    }
    const rollback = meta.source === 'rollback' || meta.source === 'cli-rollback';
    // The reload section is the local file's (docs/remote-config.md): a pushed one is ignored.
    const config = { ...validated.config, reload: target.config().reload };
    const plan = diffConfig(target.config(), config);
    const changes = summarisePlan(plan);
    const previous = this.activeHash;
    // A config replaced while on trial was never judged: falling back to it must put it on
    // trial again (against its own fallback), or a broken config could stay for good.
    const trial = history.readSync().trial;
    const onTrial = trial?.hash === previous ? trial : undefined;
    let back: { previous?: string; fallback?: string } | undefined;
    if (!rollback && validated.hash !== previous) back = { previous, fallback: onTrial?.previous };
    else if (rollback && onTrial?.previous === validated.hash && onTrial.fallback !== undefined)
      back = { previous: onTrial.fallback };
    this.deps.hook?.('validated');
    await history.store(text);
    this.deps.hook?.('stored');
    const deadline = back ? clock.now() + this.deps.trialWindowMs : undefined;
    // Back to a config: with the version it was pushed with.
    const version = meta.version ?? (rollback ? history.versionOf(validated.hash) : undefined);
    meta = { ...meta, ...(version !== undefined ? { version } : {}) };
    const entry: HistoryEntry = {
      hash: validated.hash,
      at: clock.now(),
      source: meta.source,
      ...(version !== undefined ? { version } : {}),
      fileHash: await this.fileHash(),
    };
    // Durable before anything changes: a power cut from here starts on the new config, whole.
    await history.activate(entry, deadline, back);
    this.deps.hook?.('activated');
    const status = rollback ? 'rolled-back' : 'applied';
    if (plan.restart.length > 0) {
      const result: ReloadResult = { status, hash: validated.hash, changes, ...ids(meta), ts: clock.now() };
      await history.result(result, true);
      logger.warn({ hash: validated.hash, keys: plan.restart }, 'config needs a restart: restarting');
      // The outcome is reported after the restart; the broker hears now that one is coming.
      this.publishLater([{ ...result, status: 'restarting' }], 0);
      this.deps.restart(`config ${validated.hash.slice(0, 12)}: ${plan.restart.join(', ')}`);
      return { ...result, status: 'restarting' };
    }
    this.trialTimer?.cancel();
    let live;
    try {
      live = await applyLive(target, plan, config);
    } catch (error) {
      // Validated, yet the parts would not start (a TLS file gone meanwhile): go back now.
      const reason = `apply failed: ${(error as Error).message}`;
      logger.error({ hash: validated.hash, err: reason }, 'config apply failed: rolling back');
      if (rollback) throw error;
      return this.rollbackTo(previous, { source: 'rollback', reason });
    }
    this.activeHash = validated.hash;
    this.activeVersion = meta.version;
    this.deps.hook?.('applied');
    logger.info({ hash: validated.hash, changes }, 'config applied live');
    // Back to a config on trial again: the devices it started since its fallback (startedSince).
    if (deadline !== undefined && back?.previous !== undefined)
      this.armTrial(back.previous, deadline, back.previous === previous ? live.started : undefined);
    else this.trialDone = Promise.resolve();
    return this.result({ status, hash: validated.hash, changes, ...ids(meta) });
  }

  /**
   * Until `deadline` the config is on trial. At the deadline: healthy (the broker connected
   * when there is one; a device this config started polled good) → kept; else the previous
   * config comes back, by itself, and the result says why.
   */
  private armTrial(previous: string, deadline: number, started: readonly string[] | undefined): void {
    this.trialTimer?.cancel();
    let settle: () => void = () => undefined;
    this.trialDone = new Promise((resolve) => (settle = resolve));
    const hash = this.activeHash;
    this.trialTimer = this.deps.clock.setTimeout(
      () => {
        this.trialTimer = undefined;
        if (this.stopped) return settle();
        void this.serial(() => this.judgeTrial(hash, previous, started))
          .catch((error: unknown) =>
            this.deps.logger.error({ err: String(error) }, 'config trial check failed'),
          )
          .finally(settle);
      },
      Math.max(0, deadline - this.deps.clock.now()),
    );
  }

  private async judgeTrial(
    hash: string,
    previous: string,
    started: readonly string[] | undefined,
  ): Promise<void> {
    if (hash !== this.activeHash) return;
    const reasons = this.deps.problems().filter((p) => p.startsWith('mqtt:') || p.startsWith('store:'));
    const devices = devicesVerdict(this.deps.target, started ?? (await this.startedSince(previous)));
    if (!devices.ok) reasons.push(`devices: none of ${devices.bad.join(', ')} polled good`);
    if (reasons.length === 0) {
      await this.deps.history.update((s) => ({ ...s, trial: undefined }));
      this.deps.logger.info({ hash }, 'config trial passed');
      await this.result({ status: 'applied', hash, reason: 'trial passed' }, false);
      return;
    }
    const reason = `trial failed: ${reasons.join('; ')}`;
    this.deps.logger.error({ hash, previous, reasons }, 'config trial failed: rolling back');
    await this.rollbackTo(previous, { source: 'rollback', reason });
  }

  /** After a restart onto a config on trial: the devices it added or changed. */
  private async startedSince(previous: string): Promise<string[]> {
    const text = await this.deps.history.text(previous).catch(() => undefined);
    const parsed = text === undefined ? undefined : checkConfigText(text);
    if (!parsed?.ok) return [];
    const plan = diffConfig(parsed.config, this.deps.target.config());
    return [...plan.devices.added, ...plan.devices.changed.map((c) => c.name)];
  }

  private async result(partial: Omit<ReloadResult, 'ts'>, record = true): Promise<ReloadResult> {
    const result: ReloadResult = { ...partial, ts: this.deps.clock.now() };
    if (record) await this.deps.history.result(result, false);
    // The retained birth names the active config: an apply, a rollback or a trial's end changed it.
    if (result.status !== 'refused') this.deps.target.announce?.();
    this.report(result);
    return result;
  }

  /** To the outbox as an event (durable) and to MQTT (best effort). */
  private report(result: ReloadResult, publish = true): void {
    const severity = result.status === 'applied' ? 'info' : 'warning';
    const event = {
      device: 'agent',
      ts: result.ts,
      type: 'config-result',
      severity,
      data: { ...result },
    } as const;
    this.deps.target.emit(event);
    if (publish) this.publishLater([result], 0);
  }

  private publishLater(results: readonly ReloadResult[], retries: number): void {
    const channel = this.deps.target.channel();
    if (!channel || results.length === 0) return;
    Promise.all(results.map((r) => channel.publish(CONFIG_RESULT_TOPIC, JSON.stringify(r)))).then(
      () => undefined,
      () => {
        if (retries > 0)
          this.retryTimer = this.deps.clock.setTimeout(() => this.publishLater(results, retries - 1), 2000);
      },
    );
  }
}

/** Problems listed in one result (log, state.json, MQTT, the outbox event); the rest are counted. */
const MAX_PROBLEMS = 50;

/**
 * A refusal's problems, at most MAX_PROBLEMS and a count of the others: a fleet template
 * with one typo per device gives thousands, and a result of megabytes could exceed what the
 * broker takes and block the outbox behind its event.
 */
function bounded(problems: readonly ConfigProblem[]): ConfigProblem[] {
  if (problems.length <= MAX_PROBLEMS) return [...problems];
  const more = problems.length - MAX_PROBLEMS;
  return [
    ...problems.slice(0, MAX_PROBLEMS),
    { path: '(more)', message: `${more} more problems (fix these first, or see check-config)` },
  ];
}

function ids(meta: ApplyMeta): { id?: string; version?: string; reason?: string } {
  return {
    ...(meta.id !== undefined ? { id: meta.id } : {}),
    ...(meta.version !== undefined ? { version: meta.version } : {}),
    ...(meta.reason !== undefined ? { reason: meta.reason } : {}),
  };
}
