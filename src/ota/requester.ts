/**
 * The agent's side of the split (uid edge-agent): downloads into its own staging area,
 * checks what it can (the command's hash, the manifest's signature and compatibility: a
 * fast refusal), and hands the privileged step a request. It writes nothing outside
 * `ota.dataDir`; root's state.json and floor are only read. Root re-verifies everything.
 */
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Clock } from '../core/clock.js';
import { toEdgeError, type EdgeErrorCode } from '../core/errors.js';
import type { Logger } from '../core/ports.js';
import type { AgentEvent } from '../core/types.js';
import type { OtaConfig } from '../config/sections/ota.js';
import type { OtaControl } from './control.js';
import type { ApplyRequest, ApplyResult, OtaProgress } from './engine.js';
import { fetchBundle, sha256File } from './fetch.js';
import { writeFileDurable } from './fs-sync.js';
import { admit, parseGuard, refusalReason, type GuardedDocument, type ReplayGuard } from './replay-guard.js';
import { requestsDir, writeRequest, type OtaRequest } from './requests.js';
import type { OtaState } from './state.js';
import { StateStore } from './store.js';
import { InstallLayout } from './switch.js';
import { readBundleHead } from './unpack.js';
import { checkCompatibility, loadKeyring, verifyManifest } from './verify.js';

export interface OtaRequesterDeps {
  readonly config: OtaConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly onProgress?: (progress: OtaProgress) => void;
  readonly downloadBackoffMs?: number;
  /** Crash points of the download (tests kill the process there, as the engine's). */
  readonly hook?: (point: string) => void | Promise<void>;
  /** Called after each request is written (tests run the privileged step here; systemd's .path unit does on a box). */
  readonly onRequest?: () => Promise<void>;
}

type Pending = Omit<ApplyRequest, 'onProgress'>;

const DISCARD: readonly EdgeErrorCode[] = [
  'EDGE_ERR_OTA_BUNDLE',
  'EDGE_ERR_OTA_HASH',
  'EDGE_ERR_OTA_SIGNATURE',
];

export class OtaRequester implements OtaControl {
  private readonly rootState: StateStore;
  private readonly layout: InstallLayout;
  private readonly dataDir: string;
  private readonly downloadsDir: string;
  private writing: Promise<unknown> = Promise.resolve();
  /** The events last read from root's state: what eventsEmitted(count) refers to. */
  private lastRead: readonly AgentEvent[] = [];

  constructor(private readonly deps: OtaRequesterDeps) {
    this.rootState = new StateStore(resolve(deps.config.stateDir));
    this.layout = new InstallLayout(resolve(deps.config.root));
    this.dataDir = resolve(deps.config.dataDir);
    this.downloadsDir = join(this.dataDir, 'downloads');
  }

  async readState(): Promise<OtaState> {
    return (await this.rootState.read()).state;
  }

  /** The agent's own replay guard (root keeps its own for `force`). */
  async recordCommand(doc: GuardedDocument): Promise<true | string> {
    const guard = await this.readGuard();
    const next = admit(guard.guard, doc, this.deps.clock.now());
    if (!next) return refusalReason(guard.guard, doc);
    await this.writeGuard(next);
    return true;
  }

  async ensureGuard(): Promise<void> {
    const guard = await this.readGuard();
    if (guard.lost) await this.writeGuard(guard.guard);
  }

  private get guardFile(): string {
    return join(this.dataDir, 'commands.json');
  }

  /** commands.json; missing or unreadable: a guard that starts now (replay-guard.ts). */
  private async readGuard(): Promise<{ guard: ReplayGuard; lost: boolean }> {
    const text = await readFile(this.guardFile, 'utf8').catch(() => undefined);
    const guard = text === undefined ? undefined : parseGuard(text);
    return guard ? { guard, lost: false } : { guard: { seen: [], since: this.deps.clock.now() }, lost: true };
  }

  private async writeGuard(guard: ReplayGuard): Promise<void> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o750 });
    await writeFileDurable(this.guardFile, JSON.stringify(guard));
  }

  async apply(request: ApplyRequest): Promise<ApplyResult> {
    const progress = (p: OtaProgress): void => {
      this.deps.onProgress?.(p);
      request.onProgress?.(p);
    };
    const pendingFile = join(this.dataDir, 'pending.json');
    await mkdir(this.dataDir, { recursive: true, mode: 0o750 });
    const { onProgress: _omit, ...pending } = request;
    await writeFileDurable(pendingFile, JSON.stringify(pending satisfies Pending));
    let version: string | undefined;
    let bundle: Awaited<ReturnType<typeof fetchBundle>> | undefined;
    try {
      bundle = await fetchBundle(request, {
        config: this.deps.config,
        downloadsDir: this.downloadsDir,
        clock: this.deps.clock,
        logger: this.deps.logger,
        backoffMs: this.deps.downloadBackoffMs ?? 1000,
        onProgress: (done, total) => progress({ stage: 'download', done, total }),
        point: async (name) => this.deps.hook?.(name),
      });
      progress({ stage: 'verify' });
      const head = await readBundleHead(bundle.file);
      const manifest = verifyManifest(
        head.manifestBytes,
        head.signature,
        loadKeyring(this.deps.config.publicKeys),
      );
      version = manifest.version;
      const from = await this.layout.currentVersion();
      checkCompatibility(manifest, {
        target: `linux-${process.arch}`,
        nodeAbi: process.versions.modules,
        installed: from,
        allowDowngrade: request.force === true || this.deps.config.allowDowngrade,
        floor: await this.rootState.readFloor(),
      });
      const sha256 = request.sha256 ?? (await sha256File(bundle.file));
      let name = basename(bundle.file);
      if (!bundle.downloaded) {
        // A local file (CLI): into the staging area under its hash, the only names root takes.
        name = `${sha256}.bundle`;
        await mkdir(this.downloadsDir, { recursive: true, mode: 0o750 });
        await copyFile(bundle.file, join(this.downloadsDir, name));
      }
      await this.request({
        op: 'apply',
        bundle: name,
        sha256,
        force: request.force === true,
        ...(request.commandId === undefined ? {} : { commandId: request.commandId }),
        ...(request.command === undefined ? {} : { command: request.command }),
      });
      await rm(pendingFile, { force: true });
      // Handed over: what follows (switch, restart, or a refusal event) is root's to report.
      progress({ stage: 'done', version, message: 'handed to the privileged update step' });
      return { version, from, bytesFetched: bundle.bytesFetched };
    } catch (error) {
      const e = toEdgeError(error, 'EDGE_ERR_OTA_STATE');
      if (bundle?.downloaded && DISCARD.includes(e.code)) await rm(bundle.file, { force: true });
      await rm(pendingFile, { force: true });
      progress({ stage: 'failed', code: e.code, message: e.message, version });
      throw e;
    }
  }

  async resume(onProgress?: (progress: OtaProgress) => void): Promise<ApplyResult | null> {
    const text = await readFile(join(this.dataDir, 'pending.json'), 'utf8').catch(() => null);
    if (text === null) return null;
    return this.apply({ ...(JSON.parse(text) as Pending), onProgress });
  }

  async healthy(version: string): Promise<void> {
    const state = await this.readState();
    if (state.step.phase === 'trial' && state.step.to === version)
      await this.request({ op: 'healthy', version });
  }

  async trialTimeout(version: string): Promise<void> {
    await this.request({ op: 'trial-timeout', version });
  }

  async pendingEvents(): Promise<readonly AgentEvent[]> {
    this.lastRead = (await this.readState()).events;
    return this.lastRead;
  }

  async eventsEmitted(count: number): Promise<void> {
    const last = this.lastRead.at(count - 1);
    if (count > 0 && last !== undefined)
      await this.request({ op: 'events-emitted', count, lastTs: last.ts, lastType: last.type });
  }

  /** One request at a time (seq numbers must not collide), then the trigger. */
  private async request(request: OtaRequest): Promise<void> {
    const run = this.writing.then(async () => {
      const done = (await this.readState()).requestsDone ?? 0;
      await writeRequest(requestsDir(this.dataDir), done, request);
    });
    this.writing = run.catch(() => undefined);
    await run;
    await this.deps.onRequest?.();
  }
}
