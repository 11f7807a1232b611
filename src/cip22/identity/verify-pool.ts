/**
 * Signature verification off the event loop. A forged SM2 chain costs ~17 ms of pure-JS
 * curve arithmetic (several times that on a Pi) before the peer has proven anything; on
 * the event loop a few sources sending them stall polling and can trip the watchdog.
 * Jobs go to a small worker_threads pool through one bounded queue per source address,
 * served round-robin, so one source cannot starve the others and a flood is refused
 * (VerifyBusy) instead of queued without bound.
 */
import { Worker } from 'node:worker_threads';
import { runJob, type KeysJob, type VerifyJob, type VerifyOutcome } from './verify-job.js';

/** A job Node's crypto verifies natively (ECDSA P-256): no curve arithmetic in JS. */
function isNative(job: VerifyJob): boolean {
  if (job.kind === 'cert+auth') return isNative(job.cert) && isNative(job.auth);
  if (job.kind === 'auth') return job.alg === 'ecdsa-p256';
  return job.keyAlg === 'ecdsa-p256' && (job.sigAlg === 'ecdsa-sha256' || job.sigAlg === 'ecdsa-sha384');
}

/** A worker's answer as a VerifyOutcome: `ok` strictly a true boolean, only the fields a job can set. */
function outcomeOf(msg: VerifyOutcome): VerifyOutcome {
  const ok = msg.ok === true;
  const auth = msg.auth ? { auth: outcomeOf(msg.auth) } : {};
  if (Array.isArray(msg.keys)) return { ok, keys: msg.keys };
  return msg.z ? { ok, z: msg.z, ...auth } : { ok, ...auth };
}

export class VerifyBusy extends Error {
  constructor(readonly scope: 'total' | 'source') {
    super(`signature verification queue full (${scope})`);
  }
}

export interface VerifyPoolOptions {
  /** Worker threads; 0 runs jobs inline on the caller's thread (tests, tiny boxes). */
  readonly workers: number;
  /** Jobs queued (not yet running) at most, all sources together. */
  readonly maxQueue: number;
  /** Jobs queued at most per source address. */
  readonly maxQueuePerSource: number;
}

interface Pending {
  readonly job: VerifyJob | KeysJob;
  readonly resolve: (outcome: VerifyOutcome) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  worker: Worker | undefined;
  busy: Pending | undefined;
}

export class VerifyPool {
  /** Per source, in round-robin order: the first key is served next. */
  private readonly queues = new Map<string, Pending[]>();
  private queued = 0;
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private closed = false;
  /** Work ahead of need (prefetch), run only by a worker no check waits for. */
  private idle: Pending | undefined;
  readonly counters = {
    jobs: 0,
    inline: 0,
    refusedTotal: 0,
    refusedSource: 0,
    workerErrors: 0,
    prefetched: 0,
  };

  constructor(private readonly options: VerifyPoolOptions) {
    for (let i = 0; i < options.workers; i++) this.slots.push({ worker: undefined, busy: undefined });
  }

  /**
   * Verifies off the event loop; inline (a boolean) when the pool has no workers and for
   * P-256 (native, ~0.2 ms: less than the two thread hops a worker costs, and those hops
   * were the p99 of a handshake on a loaded box). Rejects with VerifyBusy.
   */
  verify(job: VerifyJob, source: string): boolean | Promise<boolean> {
    const outcome = this.run(job, source);
    return outcome instanceof Promise ? outcome.then((o) => o.ok) : outcome.ok;
  }

  /** As verify, with the job's ECDH secret when it asked for one (VerifyOutcome.z). */
  run(job: VerifyJob, source: string): VerifyOutcome | Promise<VerifyOutcome> {
    this.counters.jobs++;
    if (this.slots.length === 0 || isNative(job)) {
      this.counters.inline++;
      return runJob(job);
    }
    if (this.closed) return Promise.reject(new Error('verify pool closed'));
    const queue = this.queues.get(source) ?? [];
    if (this.queued >= this.options.maxQueue) {
      this.counters.refusedTotal++;
      return Promise.reject(new VerifyBusy('total'));
    }
    if (queue.length >= this.options.maxQueuePerSource) {
      this.counters.refusedSource++;
      return Promise.reject(new VerifyBusy('source'));
    }
    return new Promise<VerifyOutcome>((resolve, reject) => {
      queue.push({ job, resolve, reject });
      this.queued++;
      if (!this.queues.has(source)) this.queues.set(source, queue);
      this.dispatch();
    });
  }

  /**
   * Runs `job` on a worker that is free while no check is queued, so that work made ahead
   * of need never delays a handshake's check. One at a time: undefined while one is
   * pending, with no workers (the caller makes its own inline) and once closed.
   */
  prefetch(job: KeysJob): Promise<VerifyOutcome> | undefined {
    if (this.slots.length === 0 || this.closed || this.idle) return undefined;
    this.counters.prefetched++;
    return new Promise<VerifyOutcome>((resolve, reject) => {
      this.idle = { job, resolve, reject };
      this.dispatch();
    });
  }

  /** Jobs can run on worker threads (false: every job runs inline). */
  get threaded(): boolean {
    return this.slots.length > 0;
  }

  get queueLength(): number {
    return this.queued;
  }

  /** Terminates the workers; queued and running jobs reject. */
  async close(): Promise<void> {
    this.closed = true;
    const gone = new Error('verify pool closed');
    for (const q of this.queues.values()) for (const p of q) p.reject(gone);
    this.queues.clear();
    this.idle?.reject(gone);
    this.idle = undefined;
    this.queued = 0;
    await Promise.all(
      this.slots.map(async (slot) => {
        slot.busy?.reject(gone);
        slot.busy = undefined;
        const w = slot.worker;
        slot.worker = undefined;
        if (w) await w.terminate();
      }),
    );
  }

  private next(): Pending | undefined {
    for (const [source, queue] of this.queues) {
      const p = queue.shift();
      this.queues.delete(source);
      if (queue.length > 0) this.queues.set(source, queue); // to the back of the rotation
      if (p) {
        this.queued--;
        return p;
      }
    }
    const idle = this.idle;
    this.idle = undefined;
    return idle;
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.busy || this.closed) continue;
      const p = this.next();
      if (!p) return;
      slot.busy = p;
      const worker = (slot.worker ??= this.spawn(slot));
      worker.postMessage({ id: this.nextId++, job: p.job });
    }
  }

  private spawn(slot: Slot): Worker {
    const worker = new Worker(new URL('./verify-worker.js', import.meta.url));
    // The pool never keeps the process alive by itself: its users' sockets do.
    worker.unref();
    worker.on('message', (msg: VerifyOutcome) => {
      const p = slot.busy;
      slot.busy = undefined;
      p?.resolve(outcomeOf(msg));
      this.dispatch();
    });
    const lost = (error: Error): void => {
      if (slot.worker !== worker) return;
      this.counters.workerErrors++;
      slot.worker = undefined;
      const p = slot.busy;
      slot.busy = undefined;
      p?.reject(error);
      this.dispatch();
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`verify worker exited with ${code}`)));
    return worker;
  }
}
