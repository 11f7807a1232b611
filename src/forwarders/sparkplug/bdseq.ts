/**
 * The Sparkplug birth/death sequence (`bdSeq`, 0–255) kept across restarts: a host pairs an
 * NDEATH with the NBIRTH of the same bdSeq, so a restarted agent must not reuse the value
 * of its previous session (a late will of that session would then kill the new one).
 * Written durably (temp + fsync + rename + fsync dir) before the connection that uses it.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EdgeError } from '../../core/errors.js';

export interface BdSeqStore {
  /** The bdSeq of the last session, undefined when none was kept. */
  load(): number | undefined;
  save(bdSeq: number): void;
}

export function fileBdSeqStore(file: string): BdSeqStore {
  return {
    load() {
      try {
        const parsed = JSON.parse(readFileSync(file, 'utf8')) as { bdSeq?: unknown };
        const n = parsed.bdSeq;
        return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 255 ? n : undefined;
      } catch {
        return undefined; // absent or torn: a fresh sequence; the host sees a new NBIRTH anyway
      }
    },
    save(bdSeq) {
      try {
        writeDurably(file, JSON.stringify({ bdSeq }));
      } catch (err) {
        // No connection without it: a reused bdSeq lets a late will of the old session kill the new one.
        throw new EdgeError('EDGE_ERR_SPARKPLUG_BDSEQ', `${file}: ${(err as Error).message}`, {
          cause: err,
          context: { field: 'mqtt.sparkplug.bdSeqFile' },
        });
      }
    },
  };
}

/** Temp + fsync + rename + fsync dir: readers see the old or the new file, whole. */
function writeDurably(file: string, text: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.tmp`);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

export function memoryBdSeqStore(initial?: number): BdSeqStore {
  let value = initial;
  return {
    load: () => value,
    save: (n) => {
      value = n;
    },
  };
}
