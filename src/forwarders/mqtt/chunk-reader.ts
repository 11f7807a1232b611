/**
 * Reads and builds drain chunks of more than IN_LOOP_MAX_ROWS rows in a worker thread
 * (chunk-worker.ts) with its own read-only connection on the outbox's WAL file: the event
 * loop that publishes and takes PUBACKs keeps only the publish, the ack bookkeeping, the
 * outbox's batched delete and the small chunks (workerRequest).
 * One request per lane at a time (DrainWindow); replies come back in order.
 *
 * A worker that fails (cannot open the file, crashes) rejects what it had pending: the
 * drain treats it as a failed read (reconnect, re-read) and this reader stays broken, so
 * the forwarder falls back to reading on its own thread (`broken`).
 *
 * Idle: `idleMs` after its last reply with nothing asked since, the worker is ended (its
 * connection, its thread and their memory go); the next read starts a new one.
 */
import { Worker } from 'node:worker_threads';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { unpackChunk, type PackedChunk } from './chunk-pack.js';
import type { BuiltMessage, PayloadOptions } from './payload.js';
import { closeWorker } from '../../core/worker-close.js';

/**
 * Chunks whose rowid range holds at most this many rows are read on the event loop: a
 * commit's handful of live records (or a backlog's last few) costs less to read and build
 * in place than the worker's round trip (message, wake-up, pack, unpack), which was about
 * 6 % of a whole station's CPU on its budget.
 */
export const IN_LOOP_MAX_ROWS = 64;

/** A drained backlog leaves the worker this long before it is ended. */
export const READER_IDLE_MS = 30_000;

export interface ChunkReaderOptions {
  readonly clock: Clock;
  /** Ends the worker after this long without a request (default READER_IDLE_MS). */
  readonly idleMs?: number;
}

export interface ChunkRequest {
  readonly id: number;
  readonly afterRowid: number;
  readonly limit: number;
  readonly maxBytes: number;
  readonly beforeRowid: number | undefined;
  readonly replay: boolean;
}

export type ChunkReply =
  { readonly id: number; readonly packed: PackedChunk } | { readonly id: number; readonly error: string };

export interface Chunk {
  /** Rowid of the last record read; 0 when the range had none. */
  readonly last: number;
  readonly messages: BuiltMessage[];
}

interface Pending {
  resolve(chunk: Chunk): void;
  reject(error: Error): void;
}

/**
 * The request for the worker, bounded by `lastRowid` (the source's last durable rowid: the
 * worker's own connection sees commits not yet on disk); undefined when the range holds at
 * most `inLoopMaxRows` rows, read on the event loop instead.
 */
export function workerRequest<R extends Omit<ChunkRequest, 'id'>>(
  req: R,
  lastRowid: number,
  inLoopMaxRows = IN_LOOP_MAX_ROWS,
): R | undefined {
  const end = Math.min(req.beforeRowid ?? lastRowid + 1, lastRowid + 1);
  if (end - 1 - req.afterRowid <= inLoopMaxRows) return undefined;
  return { ...req, beforeRowid: end };
}

export class ChunkReader {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failed = false;
  private idleTimer: TimerHandle | undefined;
  private started = 0;
  private ended = 0;

  constructor(
    private readonly path: string,
    private readonly builder: PayloadOptions,
    private readonly opts: ChunkReaderOptions,
  ) {}

  /** Workers started and ended so far (an idle end counts). */
  get workers(): { readonly started: number; readonly ended: number } {
    return { started: this.started, ended: this.ended };
  }

  /** True once a worker failed: read on the main thread instead. */
  get broken(): boolean {
    return this.failed;
  }

  /**
   * Reads `req` in the worker when its range is large (workerRequest, bounded by the last
   * durable rowid); undefined when it is small or the worker failed: read it on the loop.
   */
  readOffLoop(req: Omit<ChunkRequest, 'id'>, lastRowid: number): Promise<Chunk> | undefined {
    if (this.failed) return undefined;
    const offLoop = workerRequest(req, lastRowid);
    return offLoop && this.read(offLoop);
  }

  read(req: Omit<ChunkRequest, 'id'>): Promise<Chunk> {
    if (this.failed) return Promise.reject(new Error('drain reader worker failed'));
    const id = ++this.nextId;
    this.idleTimer?.cancel();
    this.idleTimer = undefined;
    const worker = (this.worker ??= this.spawn());
    return new Promise<Chunk>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ ...req, id } satisfies ChunkRequest);
    });
  }

  /** Ends the worker (it closes its connection first); pending reads are rejected. */
  async close(): Promise<void> {
    this.idleTimer?.cancel();
    this.idleTimer = undefined;
    const worker = this.worker;
    this.worker = undefined;
    this.fail(new Error('drain reader closed'), false);
    if (!worker) return;
    await closeWorker(worker);
  }

  private spawn(): Worker {
    const worker = new Worker(new URL('./chunk-worker.js', import.meta.url), {
      workerData: { path: this.path, builder: this.builder },
    });
    worker.unref(); // the forwarder's socket keeps the process alive, not this
    this.started++;
    worker.once('exit', () => this.ended++);
    worker.on('message', (reply: ChunkReply) => this.settle(reply));
    worker.on('error', (e) => this.lost(worker, e));
    worker.on('exit', (code) => this.lost(worker, new Error(`drain reader worker exited with ${code}`)));
    return worker;
  }

  private settle(reply: ChunkReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.armIdle();
    if ('error' in reply) return p.reject(new Error(reply.error));
    p.resolve(unpackChunk(reply.packed));
  }

  private armIdle(): void {
    this.idleTimer?.cancel();
    this.idleTimer = this.opts.clock.setTimeout(() => {
      this.idleTimer = undefined;
      if (this.pending.size === 0) void this.close();
    }, this.opts.idleMs ?? READER_IDLE_MS);
  }

  private lost(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.fail(error, true);
  }

  private fail(error: Error, broken: boolean): void {
    if (broken) this.failed = true;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(error);
  }
}
