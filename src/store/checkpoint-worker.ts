/**
 * Worker thread of the outbox's checkpoints (sqlite-checkpoint.ts): its own connection on
 * the WAL database runs `wal_checkpoint(PASSIVE)` when asked, so copying the WAL into the
 * database file and the two fsyncs that go with it never hold the event loop. PASSIVE
 * takes no writer lock: the outbox keeps committing meanwhile, and its next transaction
 * restarts the WAL from the start once everything is copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export type CheckpointReply =
  { readonly busy: number; readonly log: number; readonly checkpointed: number } | { readonly error: string };

const { path } = workerData as { path: string };
const db = new Database(path, { fileMustExist: true });
// NORMAL: the WAL is synced before it is copied, the database file after (WAL mode).
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');

function passive(): CheckpointReply {
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as {
      busy: number;
      log: number;
      checkpointed: number;
    }[];
    return row ?? { error: 'wal_checkpoint returned no row' };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

parentPort?.on('message', (msg: 'passive' | 'close') => {
  if (msg === 'close') {
    db.close();
    parentPort?.close();
    return;
  }
  parentPort?.postMessage(passive());
});
