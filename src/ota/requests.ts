/**
 * The request queue between the agent (uid edge-agent) and the privileged step (root):
 * `<dataDir>/requests/<seq>.json`, written by the agent (temp + rename), read by root.
 * Root never writes, follows or deletes there: it opens each file with O_NOFOLLOW, takes it
 * only when fstat says it is a regular, single-link file of the agent's uid (so reading it
 * gives nothing the agent did not have), and records the highest handled seq in its own
 * state.json; the agent deletes handled requests itself.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { EdgeError } from '../core/errors.js';
import { fsyncDir } from './fs-sync.js';
import { VERSION_PATTERN } from './verify.js';

export const REQUEST_FILE = /^([0-9]{12})\.json$/;
/** The agent names a downloaded bundle by its hash (or the URL's): nothing path-like. */
export const BUNDLE_NAME = /^[0-9a-f]{32,64}\.bundle$/;
const MAX_REQUEST_BYTES = 64 * 1024;

const version = z.string().regex(VERSION_PATTERN);
export const requestSchema = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.literal('apply'),
    bundle: z.string().regex(BUNDLE_NAME),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    force: z.boolean(),
    commandId: z.string().max(128).optional(),
    /** The signed MQTT payload: root re-verifies it before it honours `force`. */
    command: z.string().max(16_384).optional(),
  }),
  z.strictObject({ op: z.literal('healthy'), version }),
  z.strictObject({ op: z.literal('trial-timeout'), version }),
  z.strictObject({
    op: z.literal('events-emitted'),
    count: z.number().int().min(1).max(10_000),
    /** ts and type of the last event the agent emitted: a repeated request drops nothing newer. */
    lastTs: z.number(),
    lastType: z.string().max(64),
  }),
]);
export type OtaRequest = z.infer<typeof requestSchema>;

export function requestsDir(dataDir: string): string {
  return join(dataDir, 'requests');
}

/** Pending requests (seq above `done`), oldest first. */
export async function listRequests(dir: string, done: number): Promise<{ seq: number; file: string }[]> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return [] as string[];
    throw error;
  });
  const out: { seq: number; file: string }[] = [];
  for (const name of names) {
    const match = REQUEST_FILE.exec(name);
    const seq = match?.[1] === undefined ? NaN : Number(match[1]);
    if (seq > done) out.push({ seq, file: join(dir, name) });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/** Agent side: the next request, durable before the privileged step is told (by the .path unit). */
export async function writeRequest(dir: string, done: number, request: OtaRequest): Promise<number> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  let last = done;
  for (const name of await readdir(dir)) {
    const seq = Number(REQUEST_FILE.exec(name)?.[1] ?? NaN);
    if (!Number.isFinite(seq)) continue;
    if (seq <= done) await rm(join(dir, name), { force: true });
    else last = Math.max(last, seq);
  }
  const seq = last + 1;
  const tmp = join(dir, `.req-${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', 0o640);
  try {
    await handle.writeFile(JSON.stringify(request));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, join(dir, `${String(seq).padStart(12, '0')}.json`));
  await fsyncDir(dir);
  return seq;
}

/**
 * Root side: opens a file the agent owns without following a link and refuses anything
 * that is not a regular single-link file of `uid` (a planted link or hard link to a root
 * file, a FIFO that would block, a file of another user).
 */
export async function openAgentFile(path: string, uid: number, maxBytes: number): Promise<FileHandle> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(
    (error: NodeJS.ErrnoException) => {
      throw new EdgeError(
        'EDGE_ERR_OTA_SOURCE',
        `${path}: ${error.code === 'ELOOP' ? 'a symbolic link, refused' : (error.code ?? error.message)}`,
        { context: { path } },
      );
    },
  );
  const stat = await handle.stat();
  const problem = !stat.isFile()
    ? 'not a regular file'
    : stat.uid !== uid
      ? `owned by uid ${stat.uid}, not the agent's ${uid}`
      : stat.nlink !== 1
        ? 'has other hard links'
        : stat.size > maxBytes
          ? `larger than ${maxBytes} bytes`
          : undefined;
  if (problem !== undefined) {
    await handle.close();
    throw new EdgeError('EDGE_ERR_OTA_SOURCE', `${path}: ${problem}, refused`, { context: { path } });
  }
  return handle;
}

export async function readRequest(path: string, uid: number): Promise<OtaRequest> {
  const handle = await openAgentFile(path, uid, MAX_REQUEST_BYTES);
  // Never readFile: the agent may grow the file after the size check, and readFile reads
  // whatever size it finds (or to EOF). One byte more than the bound is all root reads.
  const buf = Buffer.alloc(MAX_REQUEST_BYTES + 1);
  let size = 0;
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buf, size, buf.length - size, size);
      if (bytesRead === 0) break;
      size += bytesRead;
      if (size > MAX_REQUEST_BYTES)
        throw new EdgeError(
          'EDGE_ERR_OTA_SOURCE',
          `${path}: grew beyond ${MAX_REQUEST_BYTES} bytes, refused`,
          {
            context: { path },
          },
        );
    }
  } finally {
    await handle.close();
  }
  const text = buf.subarray(0, size).toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // Never echo the bytes: whatever they are, they go into a log root writes.
    throw new EdgeError('EDGE_ERR_OTA_COMMAND', `${path}: not JSON`, { context: { reason: 'malformed' } });
  }
  const parsed = requestSchema.safeParse(raw);
  if (!parsed.success)
    throw new EdgeError('EDGE_ERR_OTA_COMMAND', `${path}: not a valid request`, {
      context: { reason: 'malformed' },
    });
  return parsed.data;
}
