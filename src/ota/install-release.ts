/**
 * Pass 2 of an update: unpack the verified bundle into a fresh temporary tree under
 * releases/, keep the verified manifest and signature with it (.edge-ota/: ExecStartPre
 * checks the release against them), make it all durable, then rename it into place.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { OtaProgress } from './engine.js';
import { fsyncDir, writeFileDurable } from './fs-sync.js';
import type { Manifest } from './manifest.js';
import type { InstallLayout } from './switch.js';
import { fsyncTree, unpackRelease } from './unpack.js';
import { RELEASE_META_DIR } from './verify.js';

export interface VerifiedBundle {
  readonly file: string;
  readonly manifest: Manifest;
  readonly manifestBytes: Buffer;
  readonly signature: string;
  /** The version `current` points at (protected from replacement). */
  readonly from: string | null;
}

export async function installRelease(
  layout: InstallLayout,
  bundle: VerifiedBundle,
  hooks: { progress: (p: OtaProgress) => void; point: (name: string) => Promise<void> },
): Promise<void> {
  const { manifest } = bundle;
  const version = manifest.version;
  await layout.removeLeftovers();
  const tmp = layout.tmpDirFor(version);
  let first = true;
  try {
    hooks.progress({ stage: 'unpack', done: 0, total: manifest.files.length, version });
    await unpackRelease(bundle.file, manifest, tmp, {
      onFile: async (_path, index, total) => {
        hooks.progress({ stage: 'unpack', done: index, total, version });
        if (first) await hooks.point('unpack:file');
        first = false;
      },
    });
    const meta = join(tmp, RELEASE_META_DIR);
    await mkdir(meta, { mode: 0o755 });
    await writeFileDurable(join(meta, 'manifest.json'), bundle.manifestBytes);
    await writeFileDurable(join(meta, 'manifest.sig'), `${bundle.signature.trim()}\n`);
    await fsyncTree(meta);
    await fsyncDir(tmp);
    await hooks.point('unpack:done');
    hooks.progress({ stage: 'switch', version });
    await layout.install(tmp, version, [bundle.from, await layout.previousVersion()]);
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
  await hooks.point('unpack:installed');
}
