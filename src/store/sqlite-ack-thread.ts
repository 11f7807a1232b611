/**
 * The ack worker thread (ack-worker.ts) seen from the event loop: deletes of PUBACKed rows,
 * run in order, each answered with what it deleted. A worker that cannot start or dies
 * rejects what it had pending and reports it once (`onLost`); the outbox then deletes in
 * the loop as before. `idleMs` after its last delete the worker is ended (its connection,
 * its thread and their memory go); the next delete starts a new one.
 */
import { Worker } from 'node:worker_threads';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { AckReply, AckRequest } from './ack-worker.js';
import type { Deleted } from './sqlite-delivered.js';
import { closeWorker } from '../core/worker-close.js';

interface Pending {
  resolve(deleted: Deleted): void;
  reject(error: Error): void;
}

export class AckThread {
  private worker: Worker | undefined;
  private lost = false;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly idle: (() => void)[] = [];
  private idleTimer: TimerHandle | undefined;

  constructor(
    private readonly path: string,
    private readonly opts: {
      readonly clock: Clock;
      readonly idleMs: number;
      /** The outbox connection's wal_autocheckpoint: the worker checkpoints as it would. */
      readonly autocheckpoint: () => number;
      readonly onLost: (reason: string) => void;
    },
  ) {}

  /** False once the worker failed or was closed. */
  get usable(): boolean {
    return !this.lost;
  }

  /** Deletes `sorted` (ascending rowids; its buffer is moved to the worker) in one transaction. */
  delete(sorted: Float64Array): Promise<Deleted> {
    if (this.lost) return Promise.reject(new Error('ack worker is gone'));
    const id = ++this.nextId;
    this.idleTimer?.cancel();
    this.idleTimer = undefined;
    return new Promise<Deleted>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        (this.worker ??= this.spawn()).postMessage({ id, rowids: sorted } satisfies AckRequest, [
          sorted.buffer as ArrayBuffer,
        ]);
      } catch (e) {
        this.fail(`ack worker cannot start: ${(e as Error).message}`);
      }
    });
  }

  /** Resolves once no delete is pending (close, tests). */
  settled(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Lets the pending deletes finish, then ends the worker (it closes its connection first). */
  async close(): Promise<void> {
    await this.settled();
    this.lost = true;
    await this.end();
  }

  private async end(): Promise<void> {
    this.idleTimer?.cancel();
    this.idleTimer = undefined;
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await closeWorker(worker);
  }

  private spawn(): Worker {
    const worker = new Worker(new URL('./ack-worker.js', import.meta.url), {
      workerData: { path: this.path, autocheckpoint: this.opts.autocheckpoint() },
    });
    worker.unref(); // the agent's sockets and timers keep the process alive, not this
    worker.on('message', (reply: AckReply) => this.reply(reply));
    worker.on('error', (e) => this.workerGone(worker, e.message));
    worker.on('exit', (code) => this.workerGone(worker, `exited with ${code}`));
    return worker;
  }

  private reply(reply: AckReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if ('error' in reply) p.reject(new Error(reply.error));
    else p.resolve({ rows: reply.rows, bytes: reply.bytes });
    if (this.pending.size > 0) return;
    for (const resolve of this.idle.splice(0)) resolve();
    this.idleTimer?.cancel();
    this.idleTimer = this.opts.clock.setTimeout(() => {
      this.idleTimer = undefined;
      if (this.pending.size === 0) void this.end();
    }, this.opts.idleMs);
  }

  private workerGone(worker: Worker, why: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.fail(`ack worker ${why}`);
  }

  private fail(reason: string): void {
    if (this.lost) return;
    this.lost = true;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(new Error(reason));
    for (const resolve of this.idle.splice(0)) resolve();
    this.opts.onLost(reason);
  }
}
