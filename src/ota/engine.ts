/**
 * The OTA executor: runs the pure state machine (state.ts) against the disk. Every new
 * state is persisted before its effects run, so after a power cut the state file names
 * the step that was under way and `bootCheck()` or `resume()` finishes or undoes it.
 * Crash points (`hook`) sit between all durable steps; tests kill the process there.
 */
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import { EdgeError, toEdgeError, type EdgeErrorCode } from '../core/errors.js';
import type { Logger } from '../core/ports.js';
import type { AgentEvent } from '../core/types.js';
import type { OtaConfig } from '../config/sections/ota.js';
import type { ApplyRequest, ApplyResult, OtaProgress } from './control.js';
import { fetchBundle } from './fetch.js';
import { raiseFloor } from './floor.js';
import { installRelease } from './install-release.js';
import type { Manifest } from './manifest.js';
import { transition, type OtaEffect, type OtaInput, type OtaState } from './state.js';
import { admit, refusalReason, type GuardedDocument } from './replay-guard.js';
import { StateStore } from './store.js';
import { InstallLayout } from './switch.js';
import { readBundleHead } from './unpack.js';
import { checkCompatibility, loadKeyring, verifyManifest, type Keyring } from './verify.js';

export type { ApplyRequest, ApplyResult, OtaProgress, OtaStage } from './control.js';

export interface OtaEngineDeps {
  readonly config: OtaConfig;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Pinned keys; default: loaded from `config.publicKeys`. */
  readonly keyring?: Keyring;
  /** Default `linux-${process.arch}` and `process.versions.modules`. */
  readonly target?: string;
  readonly nodeAbi?: string;
  /** Restarts the service so the release `current` points at runs. */
  readonly restart?: (reason: string) => void | Promise<void>;
  /** Called at each crash point (tests inject SIGKILL or observe the sequence). */
  readonly hook?: (point: string) => void | Promise<void>;
  readonly onProgress?: (progress: OtaProgress) => void;
  /** Base of the download retry backoff; default 1000 ms. */
  readonly downloadBackoffMs?: number;
}

export interface OtaStatus {
  readonly state: OtaState;
  readonly problem?: string;
  readonly current: string | null;
  readonly previous: string | null;
  readonly releases: readonly string[];
  /** Oldest version an update may install, raised by commits (null: none yet). */
  readonly floor: string | null;
}

/** Errors that mean the downloaded bundle itself is bad: drop it so a retry fetches anew. */
const DISCARD_BUNDLE: readonly EdgeErrorCode[] = [
  'EDGE_ERR_OTA_BUNDLE',
  'EDGE_ERR_OTA_HASH',
  'EDGE_ERR_OTA_SIGNATURE',
];

export class OtaEngine {
  readonly layout: InstallLayout;
  readonly store: StateStore;
  private readonly clock: Clock;
  private keyringCache: Keyring | undefined;
  private restarts: string[] = [];
  private requestProgress: ((progress: OtaProgress) => void) | undefined;
  private queue: Promise<void> = Promise.resolve();
  /** Where this process downloads bundles itself. */
  private readonly fetchDir: string;

  constructor(private readonly deps: OtaEngineDeps) {
    this.layout = new InstallLayout(resolve(deps.config.root));
    this.clock = deps.clock ?? systemClock;
    this.store = new StateStore(resolve(deps.config.stateDir), () => this.clock.now());
    // Split: this engine is root (CLI, privileged step); it never writes where the agent can
    // plant links, so a root `ota apply URL` downloads into root's own state directory.
    this.fetchDir =
      deps.config.mode === 'split'
        ? join(resolve(deps.config.stateDir), 'fetch')
        : join(resolve(deps.config.dataDir), 'downloads');
    this.keyringCache = deps.keyring;
  }

  async status(): Promise<OtaStatus> {
    const { state, problem } = await this.store.read();
    return {
      state,
      problem,
      current: await this.layout.currentVersion(),
      previous: await this.layout.previousVersion(),
      releases: await this.layout.releases(),
      floor: await this.store.readFloor(),
    };
  }

  async readState(): Promise<OtaState> {
    return (await this.store.read()).state;
  }

  /** The privileged step handled the agent's request `seq` (requests.ts): never again. */
  async requestDone(seq: number): Promise<void> {
    await this.locked(async () => {
      const { state } = await this.store.read();
      if ((state.requestsDone ?? 0) < seq) await this.store.write({ ...state, requestsDone: seq });
    });
  }

  /** Download (or take the file), verify, unpack, switch; then restart into the trial. */
  async apply(request: ApplyRequest): Promise<ApplyResult> {
    const result = await this.locked(async () => {
      this.requestProgress = request.onProgress;
      await this.layout.ensure();
      await this.run({
        type: 'apply',
        update: {
          source: request.source,
          sha256: request.sha256,
          commandId: request.commandId,
          force: request.force === true,
          startedAt: this.clock.now(),
        },
      });
      await this.point('apply:started');
      const staged = await this.stage(request);
      await this.run({ type: 'staged', from: staged.from, to: staged.manifest.version });
      // Switched: the bundle and any abandoned partial downloads are no longer needed. Only
      // what this process fetched itself: the privileged step never deletes the agent's files.
      await rm(this.store.downloadsDir, { recursive: true, force: true });
      if (staged.downloaded) await rm(this.fetchDir, { recursive: true, force: true });
      this.progress({ stage: 'done', version: staged.manifest.version });
      return { version: staged.manifest.version, from: staged.from, bytesFetched: staged.bytesFetched };
    });
    await this.performRestarts();
    return result;
  }

  /** Continues an update that a crash or power cut interrupted while staging. */
  async resume(onProgress?: (progress: OtaProgress) => void): Promise<ApplyResult | null> {
    const { state } = await this.store.read();
    if (state.step.phase !== 'staging') return null;
    const { update } = state.step;
    const origin = update.commandId === undefined ? 'cli' : 'command';
    return this.apply({
      source: update.source,
      origin,
      force: update.force,
      sha256: update.sha256,
      commandId: update.commandId,
      onProgress,
    });
  }

  /**
   * `ota boot-check`, before the service starts: counts trial boots, rolls back a crash
   * loop, finishes an interrupted switch or rollback. No network, no restart.
   */
  async bootCheck(): Promise<OtaState> {
    // Root's replay guard (signed force) exists from the first start on, not from the first command.
    await this.ensureGuard();
    let state = (await this.store.read()).state;
    for (let round = 0; round < 4; round++) {
      const current = await this.layout.currentVersion();
      const effects = await this.run({ type: 'boot', current });
      state = (await this.store.read()).state;
      if (effects.length === 0) break;
    }
    this.restarts = [];
    // A commit whose floor raise a power cut interrupted: raise it now (idempotent).
    if (state.step.phase === 'idle' && state.last?.outcome === 'committed' && state.last.version)
      await this.raiseFloor(state.last.version);
    return state;
  }

  private async raiseFloor(version: string): Promise<void> {
    const raised = await raiseFloor(this.store, this.layout, version);
    if (raised) this.deps.logger.info(raised, 'OTA version floor raised');
  }

  /** The running release reports healthy: commit it if it is the one on trial. */
  async healthy(version: string): Promise<void> {
    await this.locked(() => this.run({ type: 'healthy', version }));
  }

  async commit(): Promise<void> {
    await this.locked(() => this.run({ type: 'commit' }));
  }

  /** The trial window passed without a healthy report: roll back and restart. */
  async trialTimeout(version: string): Promise<void> {
    await this.locked(() => this.run({ type: 'trial-timeout', version }));
    await this.performRestarts();
  }

  async rollback(): Promise<void> {
    await this.locked(async () =>
      this.run({
        type: 'rollback',
        current: await this.layout.currentVersion(),
        previous: await this.layout.previousVersion(),
      }),
    );
    await this.performRestarts();
  }

  /** A request the privileged step refused before staging: recorded as a failed update (event included). */
  async recordRefusal(code: EdgeErrorCode, message: string): Promise<void> {
    await this.locked(async () => {
      await this.run({
        type: 'apply',
        update: { source: 'request', force: false, startedAt: this.clock.now() },
      });
      await this.run({ type: 'staging-failed', code, message });
    });
  }

  /** Events the state file carries until the outbox has them. */
  async pendingEvents(): Promise<readonly AgentEvent[]> {
    return (await this.store.read()).state.events;
  }

  async eventsEmitted(count: number): Promise<void> {
    if (count > 0) await this.locked(() => this.run({ type: 'events-emitted', count }));
  }

  /** Records a signed command's id: true, or why it is refused (a replay: replay-guard.ts). */
  async recordCommand(doc: GuardedDocument): Promise<true | string> {
    return this.locked(async () => {
      const { state } = await this.store.read();
      const guard = { seen: state.seenCommands, since: state.seenSince };
      const next = admit(guard, doc, this.clock.now());
      if (!next) return refusalReason(guard, doc);
      await this.store.write({ ...state, seenCommands: next.seen });
      return true;
    });
  }

  /** At agent start: a missing or unreadable state.json gets its guard now, not at the first command. */
  async ensureGuard(): Promise<void> {
    await this.locked(async () => {
      const read = await this.store.read();
      if (read.lost) await this.store.write(read.state);
    });
  }

  // --- internals -------------------------------------------------------------------

  /**
   * Operations of this engine run one after another (the trial check, a command's replay
   * guard and an apply may overlap in the agent); the lock file keeps other processes out.
   */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      const unlock = await this.store.lock();
      try {
        return await fn();
      } finally {
        await unlock();
      }
    });
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** One transition: persist, perform effects, then the follow-up the new phase implies. */
  private async run(input: OtaInput): Promise<readonly OtaEffect[]> {
    const { state, problem } = await this.store.read();
    if (problem) this.deps.logger.warn({ problem }, 'OTA state unreadable; treated as idle');
    const result = transition(state, input, {
      now: this.clock.now(),
      maxTrialBoots: this.deps.config.maxTrialBoots,
    });
    if (!result.ok)
      throw new EdgeError(result.code, result.message, {
        context: { phase: state.step.phase, input: input.type },
      });
    if (result.state !== state) await this.store.write(result.state);
    const phase = result.state.step.phase;
    await this.point(`state:${phase}`);
    for (const effect of result.effects) await this.perform(effect, phase);
    if (input.type === 'boot') return result.effects;
    if (phase === 'switching' && input.type === 'staged') await this.run({ type: 'switched' });
    if (phase === 'rolling-back' && input.type !== 'rolled-back') await this.run({ type: 'rolled-back' });
    if (result.state.last !== state.last && result.state.last)
      this.deps.logger.info({ ota: result.state.last }, `OTA ${result.state.last.outcome}`);
    return result.effects;
  }

  private async perform(effect: OtaEffect, phase: string): Promise<void> {
    switch (effect.type) {
      case 'set-current': {
        const prefix = phase === 'rolling-back' ? 'rollback' : 'switch';
        await this.layout.setCurrent(effect.version, effect.previous, () => this.point(`${prefix}:previous`));
        await this.point(`${prefix}:current`);
        return;
      }
      case 'restart':
        this.restarts.push(effect.reason);
        return;
      case 'cleanup': {
        const committed = (await this.store.read()).state.last?.version;
        if (committed !== undefined) await this.raiseFloor(committed);
        const keep = [...effect.keep];
        for (const v of [await this.layout.currentVersion(), await this.layout.previousVersion()])
          if (v !== null) keep.push(v);
        const removed = await this.layout.cleanup(keep, this.deps.config.keepReleases);
        await this.layout.removeLeftovers();
        if (removed.length > 0) this.deps.logger.info({ removed }, 'old releases removed');
        await this.point('cleanup:done');
        return;
      }
    }
  }

  private async performRestarts(): Promise<void> {
    const reasons = this.restarts;
    this.restarts = [];
    if (reasons.length === 0) return;
    const reason = reasons.join('; ');
    if (!this.deps.restart)
      return void this.deps.logger.warn({ reason }, 'restart the service to run the new release');
    await this.deps.restart(reason);
  }

  private async point(name: string): Promise<void> {
    await this.deps.hook?.(name);
  }

  private progress(progress: OtaProgress): void {
    this.deps.onProgress?.(progress);
    this.requestProgress?.(progress);
  }

  /** Everything before the switch; on failure the state goes back to idle with the reason. */
  private async stage(request: ApplyRequest): Promise<{
    manifest: Manifest;
    from: string | null;
    file: string;
    downloaded: boolean;
    bytesFetched: number;
  }> {
    let version: string | undefined;
    let bundle: { file: string; downloaded: boolean; bytesFetched: number } | undefined;
    try {
      bundle = await fetchBundle(request, {
        config: this.deps.config,
        downloadsDir: this.fetchDir,
        clock: this.clock,
        logger: this.deps.logger,
        backoffMs: this.deps.downloadBackoffMs ?? 1000,
        onProgress: (done, total) => this.progress({ stage: 'download', done, total }),
        point: (name) => this.point(name),
      });
      this.progress({ stage: 'verify' });
      const head = await readBundleHead(bundle.file);
      const manifest = verifyManifest(head.manifestBytes, head.signature, this.keyring());
      version = manifest.version;
      const from = await this.layout.currentVersion();
      checkCompatibility(manifest, {
        target: this.deps.target ?? `linux-${process.arch}`,
        nodeAbi: this.deps.nodeAbi ?? process.versions.modules,
        installed: from,
        allowDowngrade: request.force === true || this.deps.config.allowDowngrade,
        floor: await this.store.readFloor(),
      });
      if (from === manifest.version)
        throw new EdgeError('EDGE_ERR_OTA_DOWNGRADE', `version ${from} is already installed and current`, {
          context: { version: from },
        });
      await this.point('verify:done');
      await installRelease(
        this.layout,
        { file: bundle.file, manifest, ...head, from },
        {
          progress: (p) => this.progress(p),
          point: (name) => this.point(name),
        },
      );
      return { manifest, from, ...bundle };
    } catch (error) {
      const e = toEdgeError(error, 'EDGE_ERR_OTA_STATE');
      if (bundle?.downloaded && DISCARD_BUNDLE.includes(e.code)) await rm(bundle.file, { force: true });
      await this.run({ type: 'staging-failed', code: e.code, message: e.message, version });
      this.progress({ stage: 'failed', code: e.code, message: e.message, version });
      throw e;
    }
  }

  private keyring(): Keyring {
    this.keyringCache ??= loadKeyring(this.deps.config.publicKeys);
    return this.keyringCache;
  }
}
