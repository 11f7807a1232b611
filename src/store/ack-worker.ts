/**
 * Worker thread of the outbox's acks (sqlite-ack-thread.ts): its own connection on the WAL
 * database deletes PUBACKed rows, each batch in one transaction of contiguous rowid ranges,
 * so the event loop that takes PUBACKs and commits appends never runs a delete (about half
 * the drain's CPU on that thread). Like the in-loop ack it commits synchronous=NORMAL (a
 * lost ack only sends its records again), checkpoints as the outbox's connection would
 * (its wal_autocheckpoint: 0 when the checkpoint thread does it) and waits for the
 * outbox's own transactions (busy_timeout).
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { deleteRanges, type DeleteStatements } from './sqlite-delivered.js';

export interface AckRequest {
  readonly id: number;
  /** Ascending rowids. */
  readonly rowids: Float64Array;
}

export type AckReply =
  | { readonly id: number; readonly rows: number; readonly bytes: number }
  | { readonly id: number; readonly error: string };

const { path, autocheckpoint } = workerData as { path: string; autocheckpoint: number };
const db = new Database(path, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
db.pragma(`wal_autocheckpoint = ${Math.max(0, Math.trunc(autocheckpoint))}`);
db.pragma('busy_timeout = 5000');
const statements: DeleteStatements = {
  ackSum: db
    .prepare('SELECT count(*), total(octet_length(body)) FROM records WHERE rowid BETWEEN ? AND ?')
    .raw(),
  ackDelete: db.prepare('DELETE FROM records WHERE rowid BETWEEN ? AND ?'),
};
const deleteAll = db.transaction((sorted: Float64Array) => deleteRanges(statements, sorted));

function reply(req: AckRequest): AckReply {
  try {
    // IMMEDIATE: takes the write lock first, so a busy store waits here, never mid-delete.
    const { rows, bytes } = deleteAll.immediate(req.rowids);
    return { id: req.id, rows, bytes };
  } catch (e) {
    return { id: req.id, error: (e as Error).message };
  }
}

parentPort?.on('message', (msg: AckRequest | 'close') => {
  if (msg === 'close') {
    db.close();
    parentPort?.close();
    return;
  }
  parentPort?.postMessage(reply(msg));
});
