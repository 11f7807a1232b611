/**
 * Getting the bundle file an update names: a local file (CLI and the privileged step only)
 * or a resumable https download into the caller's downloads directory, then the sha256 a
 * signed command pinned. Shared by the inline engine and the agent's side of the split.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Clock } from '../core/clock.js';
import { EdgeError } from '../core/errors.js';
import type { Logger } from '../core/ports.js';
import type { OtaConfig } from '../config/sections/ota.js';
import { downloadResumable, redact } from './download.js';

export interface FetchRequest {
  readonly source: string;
  /** Who asked: local files are accepted from the CLI only. */
  readonly origin: 'cli' | 'command';
  readonly sha256?: string;
}

export interface FetchContext {
  readonly config: OtaConfig;
  readonly downloadsDir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly backoffMs: number;
  readonly onProgress: (done: number, total: number | null) => void;
  readonly point: (name: string) => Promise<void>;
}

export interface FetchedBundle {
  readonly file: string;
  readonly downloaded: boolean;
  readonly bytesFetched: number;
}

export async function fetchBundle(request: FetchRequest, ctx: FetchContext): Promise<FetchedBundle> {
  const { source } = request;
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(source);
  if (!isUrl || source.startsWith('file://')) {
    if (request.origin !== 'cli')
      throw new EdgeError(
        'EDGE_ERR_OTA_SOURCE',
        'a remote command must name an https:// URL, not a local file',
      );
    const file = source.startsWith('file://') ? new URL(source).pathname : resolve(source);
    await stat(file).catch((error: unknown) => {
      throw new EdgeError('EDGE_ERR_OTA_SOURCE', `cannot read bundle ${file}: ${(error as Error).message}`, {
        context: { file },
      });
    });
    await checkBundleHash(file, request.sha256);
    return { file, downloaded: false, bytesFetched: 0 };
  }
  if (!source.startsWith('https://') && !(source.startsWith('http://') && !ctx.config.requireHttps)) {
    throw new EdgeError(
      'EDGE_ERR_OTA_SOURCE',
      `${redact(source)}: only https:// URLs are allowed (ota.requireHttps)`,
    );
  }
  await mkdir(ctx.downloadsDir, { recursive: true, mode: 0o750 });
  const key = request.sha256 ?? createHash('sha256').update(source).digest('hex').slice(0, 32);
  const dest = join(ctx.downloadsDir, `${key}.bundle`);
  let first = true;
  const result = await downloadResumable(source, dest, {
    ca: ctx.config.tls.ca === undefined ? undefined : await readFile(ctx.config.tls.ca),
    idleTimeoutMs: ctx.config.downloadTimeoutMs,
    attempts: ctx.config.downloadAttempts,
    maxBytes: ctx.config.maxBundleBytes,
    backoffMs: ctx.backoffMs,
    clock: ctx.clock,
    logger: ctx.logger,
    onProgress: ctx.onProgress,
    onChunk: async () => {
      if (first) await ctx.point('download:chunk');
      first = false;
    },
  });
  await ctx.point('download:done');
  try {
    await checkBundleHash(dest, request.sha256);
  } catch (error) {
    await rm(dest, { force: true });
    throw error;
  }
  return { file: dest, downloaded: true, bytesFetched: result.bytesFetched };
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function checkBundleHash(file: string, sha256: string | undefined): Promise<void> {
  if (sha256 === undefined) return;
  const digest = await sha256File(file);
  if (digest !== sha256.toLowerCase())
    throw new EdgeError(
      'EDGE_ERR_OTA_HASH',
      `bundle sha256 ${digest.slice(0, 12)}… does not match the command's ${sha256.slice(0, 12)}…`,
    );
}
