/**
 * Durable file-system steps. A rename is atomic but not durable until the directory that
 * holds it is fsynced; a file's bytes are not durable until the file is fsynced. Every OTA
 * step that must survive a power cut goes through these.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readlink, rename, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** fsync of a directory: makes the renames and creations inside it durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Write temp + fsync + rename + fsync dir: readers see the old or the new file, whole. */
export async function writeFileDurable(file: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  await fsyncDir(dirname(file));
}

/**
 * Points `link` at `target` atomically: a new symlink beside it renamed over it, then the
 * directory fsynced. At no instant does `link` not exist (if it existed before).
 */
export async function replaceSymlink(link: string, target: string): Promise<void> {
  const tmp = `${link}.tmp`;
  await rm(tmp, { force: true });
  await symlink(target, tmp);
  await rename(tmp, link);
  await fsyncDir(dirname(link));
}

/** The symlink's target as written, or null when the link does not exist. */
export async function readLinkOrNull(link: string): Promise<string | null> {
  try {
    return await readlink(link);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Removes a tree so that it never looks half-present: rename aside first, then delete. */
export async function removeTreeAtomically(dir: string, trashName: string): Promise<void> {
  const trash = join(dirname(dir), trashName);
  try {
    await rename(dir, trash);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await fsyncDir(dirname(dir));
  await rm(trash, { recursive: true, force: true });
}
