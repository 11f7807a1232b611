/**
 * Resumable bundle download (curl -C - / wget -c semantics). The partial file lives beside
 * a small JSON note of the URL and validator (ETag or Last-Modified); a later attempt asks
 * for the rest with `Range` + `If-Range`, appends on 206, starts over on 200 (the file
 * changed or the server ignores ranges), and checks the final size against the total.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { delay, type Clock } from '../core/clock.js';
import { EdgeError } from '../core/errors.js';
import type { Logger } from '../core/ports.js';
import { writeFileDurable } from './fs-sync.js';

export interface DownloadOptions {
  /** PEM of the CA(s) trusted for the update server; absent: the system CAs. */
  readonly ca?: string | Buffer;
  /** Abort an attempt after this long without a byte. */
  readonly idleTimeoutMs: number;
  readonly attempts: number;
  readonly maxBytes: number;
  /** Wait before attempt n (1-based, n ≥ 2): `backoffMs * 2^(n-2)`, capped at 60 s. */
  readonly backoffMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly onProgress?: (received: number, total: number | null) => void;
  /** Called after each body chunk is written (crash injection in tests). */
  readonly onChunk?: (received: number) => void | Promise<void>;
}

export interface DownloadResult {
  readonly file: string;
  readonly size: number;
  /** Body bytes received over the network in all attempts. */
  readonly bytesFetched: number;
  readonly attempts: number;
}

interface PartNote {
  readonly url: string;
  readonly etag?: string;
  readonly lastModified?: string;
  readonly total?: number;
}

/** Downloads `url` to `dest`, resuming `dest.part` if an earlier attempt left one. */
export async function downloadResumable(
  url: string,
  dest: string,
  options: DownloadOptions,
): Promise<DownloadResult> {
  if ((await sizeOf(dest)) !== null)
    return { file: dest, size: (await sizeOf(dest)) ?? 0, bytesFetched: 0, attempts: 0 };
  const part = `${dest}.part`;
  const noteFile = `${dest}.part.json`;
  let fetched = 0;
  let lastError: EdgeError | undefined;
  for (let attempt = 1; attempt <= options.attempts; attempt++) {
    if (attempt > 1) await delay(options.clock, Math.min(60_000, options.backoffMs * 2 ** (attempt - 2)));
    try {
      const result = await attemptOnce(url, part, noteFile, options, (n) => (fetched += n));
      if (result === 'complete') {
        const size = (await sizeOf(part)) ?? 0;
        await rename(part, dest);
        await rm(noteFile, { force: true });
        return { file: dest, size, bytesFetched: fetched, attempts: attempt };
      }
    } catch (error) {
      lastError =
        error instanceof EdgeError
          ? error
          : new EdgeError('EDGE_ERR_OTA_DOWNLOAD', `${redact(url)}: ${(error as Error).message}`, {
              cause: error,
            });
      if (!lastError.retryable) throw lastError;
      options.logger.warn(
        { code: lastError.code, attempt, err: lastError.message },
        'bundle download interrupted; will resume',
      );
    }
  }
  throw lastError ?? new EdgeError('EDGE_ERR_OTA_DOWNLOAD', `${redact(url)}: no attempt completed`);
}

async function attemptOnce(
  url: string,
  part: string,
  noteFile: string,
  options: DownloadOptions,
  count: (n: number) => void,
): Promise<'complete' | 'retry'> {
  const note = await readNote(noteFile, url);
  let have = note ? ((await sizeOf(part)) ?? 0) : 0;
  if (!note) await rm(part, { force: true });
  const headers: Record<string, string> = { 'user-agent': 'edge-agent-ota' };
  const validator = note?.etag && !note.etag.startsWith('W/') ? note.etag : note?.lastModified;
  if (have > 0 && validator) {
    headers.range = `bytes=${have}-`;
    headers['if-range'] = validator;
  } else have = 0;
  const res = await get(url, headers, options);
  try {
    if (res.statusCode === 416 && note?.total !== undefined && have === note.total) return 'complete';
    if (res.statusCode === 416) {
      await rm(noteFile, { force: true });
      throw new EdgeError('EDGE_ERR_OTA_DOWNLOAD', `${redact(url)}: range not satisfiable; starting over`);
    }
    if (res.statusCode !== 200 && res.statusCode !== 206) {
      const status = res.statusCode ?? 0;
      throw new EdgeError('EDGE_ERR_OTA_DOWNLOAD', `${redact(url)}: HTTP ${status}`, {
        nature: status >= 400 && status < 500 && status !== 408 && status !== 429 ? 'fatal' : 'retry',
        context: { status },
      });
    }
    const { start, total } =
      res.statusCode === 206
        ? parseContentRange(res.headers['content-range'])
        : { start: 0, total: lengthOf(res) };
    if (res.statusCode === 206 && start !== have)
      throw new EdgeError(
        'EDGE_ERR_OTA_DOWNLOAD',
        `${redact(url)}: server resumed at ${start}, expected ${have}`,
      );
    if (total !== null && total > options.maxBytes) {
      throw new EdgeError(
        'EDGE_ERR_OTA_SOURCE',
        `${redact(url)}: bundle of ${total} bytes exceeds ota.maxBundleBytes ${options.maxBytes}`,
        { context: { total } },
      );
    }
    await writeFileDurable(noteFile, JSON.stringify(newNote(url, res, total)));
    const size = await appendBody(res, part, start, total, options, count);
    if (total !== null && size !== total)
      throw new EdgeError(
        'EDGE_ERR_OTA_DOWNLOAD',
        `${redact(url)}: connection ended at ${size} of ${total} bytes`,
      );
    return 'complete';
  } finally {
    res.destroy();
  }
}

async function appendBody(
  res: IncomingMessage,
  part: string,
  start: number,
  total: number | null,
  options: DownloadOptions,
  count: (n: number) => void,
): Promise<number> {
  const handle = await open(part, start === 0 ? 'w' : 'r+', 0o600);
  let size = start;
  try {
    await handle.truncate(start);
    for await (const chunk of res) {
      const bytes = chunk as Buffer;
      await handle.write(bytes, 0, bytes.length, size);
      size += bytes.length;
      count(bytes.length);
      if (size > options.maxBytes)
        throw new EdgeError('EDGE_ERR_OTA_SOURCE', `bundle exceeds ota.maxBundleBytes ${options.maxBytes}`);
      options.onProgress?.(size, total);
      await options.onChunk?.(size);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return size;
}

function get(
  url: string,
  headers: Record<string, string>,
  options: DownloadOptions,
): Promise<IncomingMessage> {
  const https = url.startsWith('https:');
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(
      url,
      { headers, ...(https ? { ca: options.ca, minVersion: 'TLSv1.3' as const } : {}) },
      resolve,
    );
    req.setTimeout(options.idleTimeoutMs, () =>
      req.destroy(
        new EdgeError('EDGE_ERR_OTA_DOWNLOAD', `${redact(url)}: no data for ${options.idleTimeoutMs} ms`),
      ),
    );
    req.on('error', (error) =>
      reject(
        error instanceof EdgeError
          ? error
          : new EdgeError('EDGE_ERR_OTA_DOWNLOAD', `${redact(url)}: ${error.message}`, { cause: error }),
      ),
    );
    req.end();
  });
}

function parseContentRange(header: string | undefined): { start: number; total: number | null } {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header ?? '');
  if (!match)
    throw new EdgeError(
      'EDGE_ERR_OTA_DOWNLOAD',
      `206 with a bad Content-Range ${JSON.stringify(header ?? null)}`,
    );
  return { start: Number(match[1]), total: match[3] === '*' ? null : Number(match[3]) };
}

function lengthOf(res: IncomingMessage): number | null {
  const value = res.headers['content-length'];
  return value === undefined || !/^\d+$/.test(value) ? null : Number(value);
}

function newNote(url: string, res: IncomingMessage, total: number | null): PartNote {
  const etag = res.headers.etag;
  const lastModified = res.headers['last-modified'];
  return {
    url,
    ...(etag ? { etag } : {}),
    ...(lastModified ? { lastModified } : {}),
    ...(total === null ? {} : { total }),
  };
}

async function readNote(file: string, url: string): Promise<PartNote | undefined> {
  try {
    const note = JSON.parse(await readFile(file, 'utf8')) as PartNote;
    return note.url === url ? note : undefined;
  } catch {
    return undefined;
  }
}

async function sizeOf(file: string): Promise<number | null> {
  try {
    return (await stat(file)).size;
  } catch {
    return null;
  }
}

/** URLs may carry tokens in their query or userinfo: never log those. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(bad url)';
  }
}
