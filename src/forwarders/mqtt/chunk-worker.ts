/**
 * Worker thread of the drain (chunk-reader.ts): its own read-only connection on the
 * outbox's WAL database reads a chunk of committed records and builds its messages, so
 * the thread that publishes and handles PUBACKs does no SQLite read and no payload build.
 * It never writes: deletes stay with the outbox (after the PUBACK). Chunks go back packed
 * (chunk-pack.ts): their bytes are moved, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import {
  FRAGMENT_SQL,
  packChunk,
  readChunk,
  transferList,
  type ChunkStatements,
  type PackedChunk,
} from './chunk-pack.js';
import { PayloadBuilder, type PayloadOptions } from './payload.js';
import type { ChunkReply, ChunkRequest } from './chunk-reader.js';

const { path, builder: options } = workerData as { path: string; builder: PayloadOptions };
const db = new Database(path, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');
const epoch = db.prepare("SELECT value FROM meta WHERE key = 'epoch'").pluck().get() as string;
const statements: ChunkStatements = {
  fragments: db.prepare(FRAGMENT_SQL).pluck(),
  records: db
    .prepare(
      'SELECT rowid, seq, device, cls, ts, body FROM records WHERE rowid > ? AND rowid < ? ORDER BY rowid LIMIT ?',
    )
    .raw(),
};
const builder = new PayloadBuilder(options);

function reply(req: ChunkRequest): void {
  let packed: PackedChunk;
  try {
    packed = packChunk(readChunk(statements, `${String(epoch)}-`, builder, req));
  } catch (e) {
    parentPort?.postMessage({ id: req.id, error: (e as Error).message } satisfies ChunkReply);
    return;
  }
  parentPort?.postMessage({ id: req.id, packed } satisfies ChunkReply, transferList(packed));
}

parentPort?.on('message', (msg: ChunkRequest | 'close') => {
  if (msg === 'close') {
    db.close();
    parentPort?.close();
    return;
  }
  reply(msg);
});
