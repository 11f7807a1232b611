/**
 * Reading a bundle (tar, gzip auto-detected) without trusting it. Pass 1 takes only
 * manifest.json and manifest.sig, so the signature is checked before anything is written.
 * Pass 2 writes regular files listed in the verified manifest into a fresh directory,
 * hashing each on the way and fsyncing it; anything else (an unlisted file, a link, a
 * device, a path outside `release/`) aborts the unpack.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { dirname, join } from 'node:path';
import type { ReadEntry } from 'tar';
import { EdgeError } from '../core/errors.js';
import { fsyncDir } from './fs-sync.js';
import type { Manifest, ManifestFile } from './manifest.js';
import { isSafeRelativePath } from './verify.js';

const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
/** Tar headers (pax included) and what the parser and inflater hold ahead of the reader. */
const SLACK_BYTES = 1024 * 1024;
/**
 * Decompressed bytes pass 1 may read: a gzip bomb must not keep root's step busy before the
 * manifest is even found (the request would block later ones until the unit's timeout).
 */
const HEAD_LIMIT_BYTES = MAX_MANIFEST_BYTES + SLACK_BYTES;
const TAR_BLOCK = 512;
const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

export interface BundleHead {
  readonly manifestBytes: Buffer;
  readonly signature: string;
}

type EntryHandler = (entry: ReadEntry, path: string) => Promise<void>;

/** Strips `./`, refuses absolute and `..` paths; returns the path in the archive. */
function entryPath(entry: ReadEntry): string {
  const raw = entry.path.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (raw === '' || raw === '.') return '.';
  if (!isSafeRelativePath(raw))
    throw new EdgeError(
      'EDGE_ERR_OTA_BUNDLE',
      `bundle entry ${JSON.stringify(entry.path)} has an unsafe path`,
    );
  return raw;
}

/**
 * Feeds the file through tar's parser with back-pressure; each entry goes to `handle`,
 * one at a time. The first error stops reading and is thrown.
 */
async function walkBundle(
  file: string,
  maxBytes: number,
  handle: EntryHandler,
  stopWhen?: () => boolean,
): Promise<void> {
  // tar is loaded when a bundle is read, not with the agent: most runs never install one.
  const { Parser } = await import('tar');
  const parser = new Parser({ strict: true });
  let failure: unknown;
  let onFailure: () => void = () => undefined;
  const failed = new Promise<void>((resolve) => (onFailure = resolve));
  const fail = (error: unknown): void => {
    failure ??= error;
    onFailure();
  };
  let active: ReadEntry | undefined;
  let chain = Promise.resolve();
  parser.on('entry', (entry: ReadEntry) => {
    chain = chain.then(async () => {
      if (failure !== undefined) return void entry.resume();
      active = entry;
      try {
        await handle(entry, entryPath(entry));
      } catch (error) {
        fail(error);
      }
      active = undefined;
      entry.resume();
    });
  });
  parser.on('error', fail);
  parser.on('warn', (_code: string, message: string) =>
    fail(new EdgeError('EDGE_ERR_OTA_BUNDLE', `bundle archive: ${message}`)),
  );
  // events.once would reject on 'error' too; errors go through `fail` instead.
  const ended = new Promise<void>((resolve) => parser.once('end', () => resolve()));
  const input = createReadStream(file, { highWaterMark: 256 * 1024 });
  // Inflated here, not by tar's auto-detection, so the bytes it yields can be counted.
  let source: Readable = input;
  if (await isGzip(file)) {
    const gunzip = createGunzip();
    input.on('error', (error) => gunzip.destroy(error));
    source = input.pipe(gunzip);
  }
  let total = 0;
  try {
    for await (const chunk of source) {
      if (failure !== undefined || stopWhen?.()) break;
      total += (chunk as Buffer).length;
      if (total > maxBytes) {
        fail(new EdgeError('EDGE_ERR_OTA_BUNDLE', `bundle decompresses to more than ${maxBytes} bytes`));
        break;
      }
      if (!parser.write(chunk as Buffer))
        await Promise.race([new Promise<void>((resolve) => parser.once('drain', () => resolve())), failed]);
    }
    if (failure === undefined && !stopWhen?.()) {
      parser.end();
      await Promise.race([ended, failed]);
    }
    // Stopped early: a handler still waiting for bytes that will never come is released.
    if (failure !== undefined || stopWhen?.()) active?.destroy(new Error('bundle reading stopped'));
    await chain;
  } catch (error) {
    fail(error);
    active?.destroy(new Error('bundle reading stopped'));
    await chain;
  } finally {
    source.destroy();
    input.destroy();
  }
  if (failure === undefined) return;
  if (failure instanceof EdgeError) throw failure;
  throw new EdgeError(
    'EDGE_ERR_OTA_BUNDLE',
    `bundle archive: ${failure instanceof Error ? failure.message : JSON.stringify(failure)}`,
    { cause: failure },
  );
}

async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead } = await handle.read(magic, 0, 2, 0);
    return bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

async function readAll(entry: ReadEntry, limit: number, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of entry) {
    size += chunk.length;
    if (size > limit) throw new EdgeError('EDGE_ERR_OTA_BUNDLE', `${name} exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Pass 1: manifest.json and manifest.sig, nothing written to disk. */
export async function readBundleHead(file: string): Promise<BundleHead> {
  let manifestBytes: Buffer | undefined;
  let signature: string | undefined;
  await walkBundle(
    file,
    HEAD_LIMIT_BYTES,
    async (entry, path) => {
      // Entries the parser had already queued when the head was complete are not read.
      if (path === '.' || signature !== undefined) return;
      // The packer writes them first; anything before them is bytes read unverified.
      if (manifestBytes === undefined && path === 'manifest.json' && FILE_TYPES.has(entry.type))
        manifestBytes = await readAll(entry, MAX_MANIFEST_BYTES, path);
      else if (manifestBytes !== undefined && path === 'manifest.sig' && FILE_TYPES.has(entry.type))
        signature = (await readAll(entry, 1024, path)).toString('utf8');
      else
        throw new EdgeError(
          'EDGE_ERR_OTA_BUNDLE',
          `bundle entry ${path} comes before manifest.json and manifest.sig, which must be the first entries`,
        );
    },
    () => manifestBytes !== undefined && signature !== undefined,
  );
  if (!manifestBytes || signature === undefined) {
    throw new EdgeError(
      'EDGE_ERR_OTA_BUNDLE',
      `bundle ${file} lacks ${manifestBytes ? 'manifest.sig' : 'manifest.json'}`,
    );
  }
  return { manifestBytes, signature };
}

export interface UnpackHooks {
  /** Called after each file is written and fsynced (progress, crash injection). */
  readonly onFile?: (path: string, index: number, total: number) => void | Promise<void>;
}

/**
 * Pass 2: writes `release/…` into `dest` (which must not exist), verifying every file's
 * size and sha256 against the manifest, then fsyncs every directory bottom-up.
 */
export async function unpackRelease(
  file: string,
  manifest: Manifest,
  dest: string,
  hooks: UnpackHooks = {},
): Promise<void> {
  const expected = new Map<string, ManifestFile>(manifest.files.map((f) => [f.path, f]));
  const directories = manifestDirectories(manifest);
  const written = new Set<string>();
  await mkdir(dest, { mode: 0o755 });
  await walkBundle(file, releaseTarBytes(manifest), async (entry, path) => {
    if (path === 'manifest.json' || path === 'manifest.sig' || path === '.') return;
    if (path !== 'release' && !path.startsWith('release/'))
      throw new EdgeError('EDGE_ERR_OTA_BUNDLE', `bundle entry ${path} is outside release/`);
    const rel = path === 'release' ? '' : path.slice('release/'.length);
    if (entry.type === 'Directory') {
      if (rel === '') return;
      // An empty directory the signature does not vouch for is content too (issue 12 item 8).
      if (!directories.has(rel))
        throw new EdgeError('EDGE_ERR_OTA_BUNDLE', `bundle directory ${rel}/ is not in the manifest`);
      return void (await mkdir(join(dest, rel), { recursive: true, mode: 0o755 }));
    }
    if (!FILE_TYPES.has(entry.type))
      throw new EdgeError(
        'EDGE_ERR_OTA_BUNDLE',
        `bundle entry ${path} is a ${entry.type}; only files and directories are allowed`,
      );
    const spec = expected.get(rel);
    if (!spec) throw new EdgeError('EDGE_ERR_OTA_BUNDLE', `bundle file ${rel} is not in the manifest`);
    if (written.has(rel)) throw new EdgeError('EDGE_ERR_OTA_BUNDLE', `bundle holds ${rel} twice`);
    written.add(rel);
    await writeVerified(entry, join(dest, rel), spec);
    await hooks.onFile?.(rel, written.size, expected.size);
  });
  const missing = manifest.files.filter((f) => !written.has(f.path));
  if (missing.length > 0)
    throw new EdgeError(
      'EDGE_ERR_OTA_HASH',
      `bundle lacks ${missing.length} file(s) of the manifest, e.g. ${missing[0]!.path}`,
      { context: { path: missing[0]!.path } },
    );
  await fsyncTree(dest);
}

/**
 * The most a bundle with this manifest can decompress to: the head, each file's header and
 * padded body, each directory's header, the end blocks. More is bytes nobody signed.
 */
function releaseTarBytes(manifest: Manifest): number {
  let total = HEAD_LIMIT_BYTES + 20 * TAR_BLOCK;
  for (const file of manifest.files) total += 3 * TAR_BLOCK + Math.ceil(file.size / TAR_BLOCK) * TAR_BLOCK;
  total += (manifestDirectories(manifest).size + 1) * 3 * TAR_BLOCK;
  return total;
}

/** Every directory a listed file lives in: the only directories a release may have. */
export function manifestDirectories(manifest: Manifest): Set<string> {
  const dirs = new Set<string>();
  for (const file of manifest.files) {
    const parts = file.path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return dirs;
}

async function writeVerified(entry: ReadEntry, target: string, spec: ManifestFile): Promise<void> {
  await mkdir(dirname(target), { recursive: true, mode: 0o755 });
  // Only permission bits a release needs: no setuid/setgid/sticky, no group/other write.
  const handle = await open(target, 'wx', spec.mode & 0o755);
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of entry) {
      size += chunk.length;
      if (size > spec.size)
        throw new EdgeError(
          'EDGE_ERR_OTA_HASH',
          `${spec.path} is larger than its manifest size ${spec.size}`,
          { context: { path: spec.path } },
        );
      hash.update(chunk);
      await handle.write(chunk);
    }
    await handle.chmod(spec.mode & 0o755);
    await handle.sync();
  } finally {
    await handle.close();
  }
  const digest = hash.digest('hex');
  if (size !== spec.size || digest !== spec.sha256) {
    throw new EdgeError(
      'EDGE_ERR_OTA_HASH',
      `${spec.path} does not match the manifest (size ${size}/${spec.size}, sha256 ${digest.slice(0, 12)}…)`,
      {
        context: { path: spec.path },
      },
    );
  }
}

/** fsync every directory under `dir`, children first, then `dir` itself. */
export async function fsyncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await fsyncTree(join(dir, entry.name));
  }
  await fsyncDir(dir);
}
