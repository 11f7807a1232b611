/**
 * The install layout and its atomic changes:
 *   <root>/releases/<version>/   complete, verified release trees (never modified in place)
 *   <root>/current  -> releases/<version>   what the service runs
 *   <root>/previous -> releases/<version>   what a rollback returns to
 * Symlink targets are relative, so the tree can be inspected or moved under another root.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compareVersions } from './manifest.js';
import { fsyncDir, readLinkOrNull, removeTreeAtomically, replaceSymlink } from './fs-sync.js';

/** `releases/<v>` as we write it, or an absolute `/…/releases/<v>` as an installer may. */
const RELEASE_LINK = /(?:^|\/)releases\/([^/]+)\/?$/;

export class InstallLayout {
  readonly releasesDir: string;

  constructor(readonly root: string) {
    this.releasesDir = join(root, 'releases');
  }

  releaseDir(version: string): string {
    return join(this.releasesDir, version);
  }

  async ensure(): Promise<void> {
    await mkdir(this.releasesDir, { recursive: true, mode: 0o755 });
  }

  /** Version `current` points at; null when there is no `current` (fresh machine). */
  currentVersion(): Promise<string | null> {
    return this.linkVersion('current');
  }

  previousVersion(): Promise<string | null> {
    return this.linkVersion('previous');
  }

  private async linkVersion(name: 'current' | 'previous'): Promise<string | null> {
    const target = await readLinkOrNull(join(this.root, name));
    if (target === null) return null;
    const match = RELEASE_LINK.exec(target);
    return match ? match[1]! : target;
  }

  /** `previous` first (when asked), then `current`; each an atomic rename, dir fsynced. */
  async setCurrent(
    version: string,
    previous?: string,
    beforeCurrent?: () => void | Promise<void>,
  ): Promise<void> {
    if (previous !== undefined) await replaceSymlink(join(this.root, 'previous'), `releases/${previous}`);
    await beforeCurrent?.();
    await replaceSymlink(join(this.root, 'current'), `releases/${version}`);
  }

  /** Moves a finished unpack into releases/<version>, replacing an unreferenced older copy. */
  async install(
    tmpDir: string,
    version: string,
    protectedVersions: readonly (string | null)[],
  ): Promise<void> {
    const dest = this.releaseDir(version);
    if (await exists(dest)) {
      if (protectedVersions.includes(version)) throw new Error(`releases/${version} is in use`);
      await removeTreeAtomically(dest, `.trash-${version}-${randomBytes(4).toString('hex')}`);
    }
    await rename(tmpDir, dest);
    await fsyncDir(this.releasesDir);
  }

  /** A fresh temporary directory name under releases/ for an unpack. */
  tmpDirFor(version: string): string {
    return join(this.releasesDir, `.tmp-${version}-${randomBytes(4).toString('hex')}`);
  }

  /** Leftovers of interrupted unpacks and deletions (names starting with a dot). */
  async removeLeftovers(): Promise<void> {
    for (const name of await this.entries()) {
      // Already dot-named: nothing ever points at them, so a plain delete is safe.
      if (name.startsWith('.tmp-') || name.startsWith('.trash-'))
        await rm(join(this.releasesDir, name), { recursive: true, force: true });
    }
  }

  /** Keeps `keep` plus the newest releases up to `keepReleases` in all; deletes the rest. */
  async cleanup(keep: readonly string[], keepReleases: number): Promise<string[]> {
    const releases = (await this.entries())
      .filter((n) => !n.startsWith('.'))
      .sort((a, b) => compareVersions(b, a));
    const kept = new Set(keep);
    for (const name of releases) if (kept.size < keepReleases) kept.add(name);
    const removed: string[] = [];
    for (const name of releases) {
      if (kept.has(name)) continue;
      await removeTreeAtomically(this.releaseDir(name), `.trash-${name}-${randomBytes(4).toString('hex')}`);
      removed.push(name);
    }
    return removed;
  }

  async releases(): Promise<string[]> {
    return (await this.entries()).filter((n) => !n.startsWith('.')).sort(compareVersions);
  }

  private async entries(): Promise<string[]> {
    try {
      return await readdir(this.releasesDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
