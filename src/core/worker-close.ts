import type { Worker } from 'node:worker_threads';

/**
 * Asks a worker that owns a resource (an SQLite connection) to close it and exit, and
 * terminates it when it has not exited within `graceMs`: closing first keeps its file
 * state clean, the deadline keeps a stuck worker from holding the agent's stop.
 */
export async function closeWorker(worker: Worker, graceMs = 2000): Promise<void> {
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage('close');
  const timer = setTimeout(() => void worker.terminate(), graceMs);
  await exited;
  clearTimeout(timer);
}
