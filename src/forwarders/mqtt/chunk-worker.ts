/**
 * Worker thread of the drain (chunk-reader.ts): its own read-only connection on the
 * outbox's WAL database reads a chunk of committed records and builds its messages, so
 * the thread that publishes and handles PUBACKs does no SQLite read and no payload build.
 * It never writes: deletes stay with the outbox (after the PUBACK).
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { readPage } from '../../store/sqlite-read.js';
import { PayloadBuilder, type PayloadOptions } from './payload.js';
import type { ChunkReply, ChunkRequest } from './chunk-reader.js';

const { path, builder: options } = workerData as { path: string; builder: PayloadOptions };
const db = new Database(path, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');
const epoch = db.prepare("SELECT value FROM meta WHERE key = 'epoch'").pluck().get() as string;
const read = db
  .prepare(
    'SELECT rowid, seq, device, cls, ts, body FROM records WHERE rowid > ? AND rowid < ? ORDER BY rowid LIMIT ?',
  )
  .raw();
const builder = new PayloadBuilder(options);

function handle(req: ChunkRequest): ChunkReply {
  try {
    const records = readPage(read, `${String(epoch)}-`, 0, req);
    const last = records.at(-1)?.rowid ?? 0;
    return { id: req.id, last, messages: records.length > 0 ? builder.build(records, req.replay) : [] };
  } catch (e) {
    return { id: req.id, error: (e as Error).message };
  }
}

parentPort?.on('message', (msg: ChunkRequest | 'close') => {
  if (msg === 'close') {
    db.close();
    parentPort?.close();
    return;
  }
  parentPort?.postMessage(handle(msg));
});
