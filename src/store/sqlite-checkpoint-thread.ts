/**
 * The checkpoint worker thread (checkpoint-worker.ts) seen from the event loop: one
 * PASSIVE checkpoint at a time; a worker that cannot start or dies reports it once
 * (`onLost`), and the outbox checkpoints in the loop from then on.
 */
import { Worker } from 'node:worker_threads';
import type { CheckpointReply } from './checkpoint-worker.js';
import { closeWorker } from '../core/worker-close.js';

export class CheckpointThread {
  private worker: Worker | undefined;
  private running = false;
  private again = false;
  private lost = false;
  private readonly idle: (() => void)[] = [];

  constructor(
    private readonly path: string,
    private readonly done: (reply: CheckpointReply) => void,
    private readonly onLost: (reason: string) => void,
  ) {}

  /** True while a checkpoint runs. */
  get busy(): boolean {
    return this.running;
  }

  /** False once the worker failed. */
  get usable(): boolean {
    return !this.lost;
  }

  /** Asks for a PASSIVE checkpoint; one asked while one runs follows it. */
  request(): void {
    if (this.lost) return;
    if (this.running) return void (this.again = true);
    this.running = true;
    try {
      (this.worker ??= this.spawn()).postMessage('passive');
    } catch (e) {
      this.fail(`checkpoint worker cannot start: ${(e as Error).message}`);
    }
  }

  /** Resolves when no checkpoint runs (tests, close). */
  settled(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  async close(): Promise<void> {
    await this.settled();
    const worker = this.worker;
    this.worker = undefined;
    this.lost = true;
    if (!worker) return;
    await closeWorker(worker);
  }

  private spawn(): Worker {
    const worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), {
      workerData: { path: this.path },
    });
    worker.unref(); // the agent's sockets and timers keep the process alive, not this
    worker.on('message', (reply: CheckpointReply) => this.reply(reply));
    worker.on('error', (e) => this.workerGone(worker, e.message));
    worker.on('exit', (code) => this.workerGone(worker, `exited with ${code}`));
    return worker;
  }

  private reply(reply: CheckpointReply): void {
    this.running = false;
    this.done(reply);
    if (this.again && !this.lost) {
      this.again = false;
      this.request();
    }
    if (!this.running) for (const resolve of this.idle.splice(0)) resolve();
  }

  private workerGone(worker: Worker, why: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.fail(`checkpoint worker ${why}`);
  }

  private fail(reason: string): void {
    if (this.lost) return;
    this.lost = true;
    this.running = false;
    for (const resolve of this.idle.splice(0)) resolve();
    this.onLost(reason);
  }
}
