/**
 * state.json and the update lock. The state file is replaced atomically and durably on
 * every change; an unreadable one is reported and treated as idle, because `boot-check`
 * must never keep the service from starting.
 */
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgeError } from '../core/errors.js';
import { writeFileDurable } from './fs-sync.js';
import { initialState, type OtaState } from './state.js';
import { VERSION_PATTERN } from './verify.js';

export class StateStore {
  readonly file: string;
  readonly downloadsDir: string;
  readonly floorFile: string;
  private readonly lockFile: string;

  /** `dir` is root's in the split mode (ota.stateDir): the agent reads state.json, writes nothing. */
  /** `now` dates a replay guard re-created because state.json was missing or unreadable. */
  constructor(
    readonly dir: string,
    private readonly now: () => number = Date.now,
  ) {
    this.file = join(dir, 'state.json');
    // The privileged step's own copies of requested bundles (never the agent's files).
    this.downloadsDir = join(dir, 'downloads');
    this.floorFile = join(dir, 'floor');
    this.lockFile = join(dir, 'lock');
  }

  /** The version floor, or null when none was ever set or the file is unreadable. */
  async readFloor(): Promise<string | null> {
    const text = await readFile(this.floorFile, 'utf8').catch(() => null);
    const floor = text?.trim() ?? '';
    return VERSION_PATTERN.test(floor) ? floor : null;
  }

  async writeFloor(version: string): Promise<void> {
    await this.ensure();
    await writeFileDurable(this.floorFile, `${version}\n`);
  }

  async ensure(): Promise<void> {
    // state.json must stay readable for the agent; the bundle copies are root's alone.
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    await mkdir(this.downloadsDir, { recursive: true, mode: 0o700 });
  }

  /**
   * The state, or the initial one when there is none; `problem` says why it was unreadable.
   * `lost`: there was no readable state, so the ids of accepted commands are unknown and
   * the state's replay guard starts now (`seenSince`): whatever writes it next keeps that.
   */
  async read(): Promise<{ state: OtaState; problem?: string; lost?: true }> {
    const read = await this.readFile();
    return read.state ? { state: read.state } : { state: this.lostState(), lost: true, ...read };
  }

  private lostState(): OtaState {
    return { ...initialState(), seenSince: this.now() };
  }

  private async readFile(): Promise<{ state?: OtaState; problem?: string }> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      return { problem: `cannot read ${this.file}: ${(error as Error).message}` };
    }
    try {
      const state = JSON.parse(text) as OtaState;
      if (
        state.format !== 1 ||
        typeof state.step?.phase !== 'string' ||
        !Array.isArray(state.events) ||
        !Array.isArray(state.seenCommands)
      ) {
        return { problem: `${this.file} has an unknown format` };
      }
      return { state };
    } catch (error) {
      return { problem: `${this.file} is not JSON: ${(error as Error).message}` };
    }
  }

  async write(state: OtaState): Promise<void> {
    await this.ensure();
    await writeFileDurable(this.file, `${JSON.stringify(state, null, 2)}\n`);
  }

  /**
   * One mutating OTA operation at a time across processes (the agent and the CLI). A lock
   * left by a killed process is taken over: its pid no longer runs.
   */
  async lock(): Promise<() => Promise<void>> {
    await this.ensure();
    for (let tries = 0; tries < 2; tries++) {
      try {
        const handle = await open(this.lockFile, 'wx', 0o644);
        await handle.writeFile(String(process.pid));
        await handle.close();
        return () => rm(this.lockFile, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const holder = Number((await readFile(this.lockFile, 'utf8').catch(() => '')).trim());
        if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isRunning(holder)) {
          throw new EdgeError('EDGE_ERR_OTA_BUSY', `another update is running (pid ${holder})`, {
            context: { pid: holder },
          });
        }
        await rm(this.lockFile, { force: true });
      }
    }
    throw new EdgeError('EDGE_ERR_OTA_BUSY', 'cannot take the update lock');
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
