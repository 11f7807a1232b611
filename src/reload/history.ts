/**
 * The configs this station ran, by hash, in `<dir>` (reload.historyDir):
 *   configs/<sha256>.yaml   the exact text of each config (written once, never changed)
 *   state.json              which one is active, the previous one, a trial under way,
 *                           the last N entries and results not yet reported
 * Every write is temp + fsync + rename + directory fsync, and the text is durable before
 * state.json names it, so a power cut during an apply leaves the old state or the new one:
 * the agent starts on one whole config, never a mix.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileDurable } from '../ota/fs-sync.js';
import { configHash } from './validate.js';

const HASH = /^[0-9a-f]{64}$/;
/**
 * A stored config is a copy of a config file, inline secrets included (mqtt.password may be a
 * plain string): the agent and its group only, whatever the directory's own mode.
 */
const PRIVATE = 0o640;

const entrySchema = z.strictObject({
  hash: z.string().regex(HASH),
  at: z.number(),
  source: z.enum(['file', 'reload', 'push', 'rollback', 'cli-rollback']),
  version: z.string().max(128).optional(),
  /** sha256 of the local config file when this entry became active (file edits win over it). */
  fileHash: z.string().regex(HASH).optional(),
});
export type HistoryEntry = z.infer<typeof entrySchema>;

const resultSchema = z.strictObject({
  status: z.enum(['applied', 'refused', 'rolled-back', 'restarting']),
  hash: z.string(),
  version: z.string().optional(),
  id: z.string().optional(),
  reason: z.string().optional(),
  problems: z
    .array(z.strictObject({ path: z.string(), message: z.string(), code: z.string().optional() }))
    .optional(),
  changes: z.array(z.string()).optional(),
  ts: z.number(),
});
export type ReloadResult = z.infer<typeof resultSchema>;

const stateSchema = z.strictObject({
  format: z.literal(1),
  active: entrySchema.optional(),
  previous: z.string().regex(HASH).optional(),
  /** A config on trial: if the agent is not healthy by `deadline`, `previous` comes back. */
  trial: z
    .strictObject({
      hash: z.string().regex(HASH),
      previous: z.string().regex(HASH),
      deadline: z.number(),
      /**
       * `previous` was itself on trial when this config replaced it, against this one: if
       * `previous` comes back, it is on trial again (a config never judged is not known good).
       */
      fallback: z.string().regex(HASH).optional(),
    })
    .optional(),
  entries: z.array(entrySchema),
  /** Results to publish once the agent runs (after a restart that carried them out). */
  pending: z.array(resultSchema),
  /** The last result, for `edge-agent reload` to print. */
  last: resultSchema.extend({ seq: z.number().int() }).optional(),
  /** Ids of signed config pushes already accepted, until their validity ends (replay guard). */
  seen: z.array(z.strictObject({ id: z.string(), expiresAt: z.number() })),
  /**
   * What the replay guard can no longer tell by id: pushes expiring at or before
   * `expiredUpTo` (ids pruned from `seen`: a clock stepped back would make them valid again),
   * and pushes issued at or before `issuedUpTo` (state.json was found unreadable: the ids
   * it held are lost). Both only grow.
   */
  guard: z.strictObject({ expiredUpTo: z.number().optional(), issuedUpTo: z.number().optional() }).optional(),
});
export type HistoryState = z.infer<typeof stateSchema>;

const EMPTY: HistoryState = { format: 1, entries: [], pending: [], seen: [] };

export class ConfigHistory {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly dir: string,
    private readonly keep = 10,
    /** Dates the replay guard of a lost state.json (tests give their clock). */
    private readonly now: () => number = Date.now,
  ) {}

  private get stateFile(): string {
    return join(this.dir, 'state.json');
  }

  configFile(hash: string): string {
    if (!HASH.test(hash)) throw new Error(`not a config hash: ${hash}`);
    return join(this.dir, 'configs', `${hash}.yaml`);
  }

  /**
   * The state as last written. Missing or unreadable: empty (the local file runs), and the
   * ids of accepted pushes are unknown (a deleted state.json looks like a fresh station), so
   * every push issued until now counts as seen: a replay must not pass because a file broke
   * or went. The guard is written with the first update (Reloader.start, at agent start).
   */
  readSync(): HistoryState {
    let text: string;
    try {
      text = readFileSync(this.stateFile, 'utf8');
    } catch {
      return this.lost();
    }
    try {
      return stateSchema.parse(JSON.parse(text));
    } catch {
      return this.lost();
    }
  }

  /**
   * The guard of a lost state: now, or the broken file's mtime when the clock was stepped
   * back since it was written.
   */
  private lost(): HistoryState {
    let written = 0;
    try {
      written = Math.ceil(statSync(this.stateFile).mtimeMs);
    } catch {
      // deleted: now it is
    }
    return { ...EMPTY, guard: { issuedUpTo: Math.max(this.now(), written) } };
  }

  textSync(hash: string): string {
    return readFileSync(this.configFile(hash), 'utf8');
  }

  async text(hash: string): Promise<string> {
    return readFile(this.configFile(hash), 'utf8');
  }

  /** The version a config was last recorded with (a rollback to it shows it again). */
  versionOf(hash: string): string | undefined {
    return [...this.readSync().entries].reverse().find((e) => e.hash === hash && e.version !== undefined)
      ?.version;
  }

  /** Finds a stored config by a unique hash prefix (the CLI accepts short hashes). */
  resolve(prefix: string): string | undefined {
    const hashes = [...new Set(this.readSync().entries.map((e) => e.hash))].filter((h) =>
      h.startsWith(prefix),
    );
    return hashes.length === 1 ? hashes[0] : undefined;
  }

  /** Stores the text (durable) before anything names it. */
  async store(text: string): Promise<string> {
    const hash = configHash(text);
    await mkdir(join(this.dir, 'configs'), { recursive: true, mode: 0o750 });
    const file = this.configFile(hash);
    const existing = await readFile(file, 'utf8').catch(() => undefined);
    if (existing !== text) await writeFileDurable(file, text, PRIVATE);
    return hash;
  }

  /** Read-modify-write of state.json, one at a time, durable on return. */
  update(change: (state: HistoryState) => HistoryState): Promise<HistoryState> {
    const run = this.queue.then(async () => {
      const next = change(this.readSync());
      mkdirSync(this.dir, { recursive: true, mode: 0o750 });
      await writeFileDurable(this.stateFile, `${JSON.stringify(next, null, 1)}\n`, PRIVATE);
      return next;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Makes `entry` the active config, optionally on trial until `trialDeadline`: it goes back
   * to `trial.previous` (default: the active one) if it fails; trims old entries and files.
   */
  async activate(
    entry: HistoryEntry,
    trialDeadline?: number,
    trial: { readonly previous?: string; readonly fallback?: string } = {},
  ): Promise<HistoryState> {
    const state = await this.update((s) => {
      const previous = s.active?.hash;
      const back = trial.previous ?? previous;
      const entries = [...s.entries, entry].slice(-this.keep);
      return {
        ...s,
        active: entry,
        previous: previous !== entry.hash ? previous : s.previous,
        trial:
          trialDeadline !== undefined && back !== undefined && back !== entry.hash
            ? {
                hash: entry.hash,
                previous: back,
                deadline: trialDeadline,
                ...(trial.fallback !== undefined && trial.fallback !== back
                  ? { fallback: trial.fallback }
                  : {}),
              }
            : undefined,
        entries,
      };
    });
    await this.prune(state);
    return state;
  }

  /** Deletes stored texts no entry, the active or the previous config names any more. */
  private async prune(state: HistoryState): Promise<void> {
    const keep = new Set([
      ...state.entries.map((e) => e.hash),
      state.active?.hash,
      state.previous,
      state.trial?.previous,
      state.trial?.fallback,
    ]);
    const names = await readdir(join(this.dir, 'configs')).catch(() => [] as string[]);
    for (const name of names) {
      const hash = name.replace(/\.yaml$/, '');
      if (HASH.test(hash) && !keep.has(hash)) await rm(join(this.dir, 'configs', name), { force: true });
    }
  }

  /** Records a result: the last one (for the CLI), and pending until published. */
  async result(result: ReloadResult, pending: boolean): Promise<void> {
    await this.update((s) => ({
      ...s,
      last: { ...result, seq: (s.last?.seq ?? 0) + 1 },
      pending: pending ? [...s.pending, result].slice(-20) : s.pending,
    }));
  }

  /**
   * Replay guard of signed pushes: false when the id was accepted before, or may have been
   * (its id pruned, or the state that held it lost: see `guard`).
   */
  async claimId(id: string, expiresAt: number, now: number, issuedAt = now): Promise<boolean> {
    let fresh = false;
    await this.update((s) => {
      const guard = s.guard ?? {};
      fresh =
        !s.seen.some((c) => c.id === id) &&
        expiresAt > (guard.expiredUpTo ?? -Infinity) &&
        issuedAt > (guard.issuedUpTo ?? -Infinity);
      if (!fresh) return s;
      const pruned = s.seen.filter((c) => c.expiresAt <= now);
      const expiredUpTo = Math.max(guard.expiredUpTo ?? -Infinity, ...pruned.map((c) => c.expiresAt));
      return {
        ...s,
        seen: [...s.seen.filter((c) => c.expiresAt > now), { id, expiresAt }],
        guard: { ...guard, ...(Number.isFinite(expiredUpTo) ? { expiredUpTo } : {}) },
      };
    });
    return fresh;
  }
}

/**
 * Which config text the agent starts on: the history's active one while the local file
 * is the one it was recorded against, else the local file (an operator edited it: the
 * edit wins, and becomes history's active entry at start).
 */
export function startupText(
  history: ConfigHistory,
  fileText: string,
): { text: string; fromHistory: boolean } {
  const state = history.readSync();
  const active = state.active;
  if (!active || active.fileHash !== configHash(fileText)) return { text: fileText, fromHistory: false };
  try {
    return { text: history.textSync(active.hash), fromHistory: true };
  } catch {
    return { text: fileText, fromHistory: false };
  }
}
